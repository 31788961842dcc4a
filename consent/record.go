package consent

import (
	"fmt"

	"ticketd/store"
)

// Record stores one decision of a person about a purpose and applies it to
// the person's tickets, all in tx. It is the one place a decision is
// recorded, whichever channel it came through:
//
//   - the decision is appended to the person's history (tx.RecordConsent),
//     never overwriting an earlier one (GDPR Art. 7(1)); the store plans the
//     person's tickets anew with it, so the grace-period sweep sees it;
//   - a grant lifts a restriction of the person's own tickets (those they
//     opened) for this purpose that was set because consent was missing
//     (store.RestrictedNoConsent);
//   - an objection (Art. 21) marks the person's own tickets for this
//     purpose as objected, keeping the time of the first objection.
//
// rec.Seq and rec.At are set.
func Record(tx *store.Tx, rec *store.ConsentRecord, actor store.Actor) error {
	switch rec.Decision {
	case store.ConsentGranted, store.ConsentWithdrawn, store.ConsentObjected:
	default:
		return fmt.Errorf("record consent: unknown decision %q", rec.Decision)
	}
	if err := tx.RecordConsent(rec, actor); err != nil {
		return fmt.Errorf("record consent of person %d for %s: %w", rec.Person, rec.Purpose, err)
	}
	for _, n := range tx.TicketsOf(rec.Person) {
		tk, err := tx.Ticket(n)
		if err != nil {
			return fmt.Errorf("record consent: %w", err)
		}
		if tk.Purpose != rec.Purpose {
			continue
		}
		if err := applyDecision(tx, tk, rec, actor); err != nil {
			return fmt.Errorf("record consent: ticket %d: %w", n, err)
		}
	}
	return nil
}

// applyDecision updates one ticket with the purpose of rec.
func applyDecision(tx *store.Tx, tk *store.Ticket, rec *store.ConsentRecord, actor store.Actor) error {
	own := tk.RequesterID == rec.Person
	switch {
	case own && rec.Decision == store.ConsentGranted && tk.Restricted != nil && tk.Restricted.Reason == store.RestrictedNoConsent:
		tk.Restricted = nil
		return tx.UpdateTicket(tk, store.TicketRestrictionLifted(tk.Number, actor))
	case own && rec.Decision == store.ConsentObjected && tk.Objected.IsZero():
		tk.Objected = rec.At
		return tx.UpdateTicket(tk, store.TicketObjected(tk.Number, actor))
	}
	return nil
}
