package retention

import (
	"context"
	"errors"
	"fmt"
	"time"

	"ticketd/config"
	"ticketd/store"
)

// What the consent sweep did to a ticket.
const (
	Restricted     = "restricted"
	Erased         = "erased"
	HeldRestricted = "restricted, erasure held" // erase was configured, a hold kept the ticket
)

// ConsentReport says what a consent sweep did.
type ConsentReport struct {
	At      time.Time       `json:"at"`
	Tickets []ConsentAction `json:"tickets"`
	// Restricted, Erased and HeldRestricted count Tickets by what was done.
	Restricted     int `json:"restricted"`
	Erased         int `json:"erased"`
	HeldRestricted int `json:"held_restricted"`
	// Replanned counts tickets the index had as due that were not, checked again.
	Replanned int               `json:"replanned"`
	Scrub     *store.ScrubStats `json:"scrub,omitempty"`
}

// ConsentAction is one ticket the sweep restricted or erased.
type ConsentAction struct {
	Ticket    uint64    `json:"ticket"`
	Person    uint64    `json:"person"`
	Purpose   string    `json:"purpose"`
	Done      string    `json:"done"` // Restricted, Erased or HeldRestricted
	Reason    string    `json:"reason"`
	HeldUntil time.Time `json:"held_until,omitzero"`
}

// SweepConsent applies the without_consent action of each purpose based on
// consent to the tickets whose grace period ended without a grant at now, or
// whose consent was withdrawn (GDPR Art. 6(1)(a), 7(3)): "restrict" keeps the
// ticket and marks it restricted (Art. 18), "erase" deletes the requester's
// due tickets of that purpose, except those under a hold, which are restricted
// instead. The free pages are scrubbed after an erasure.
func SweepConsent(ctx context.Context, db *store.DB, cfg *config.Config, now time.Time) (*ConsentReport, error) {
	rep := &ConsentReport{At: now, Tickets: []ConsentAction{}}
	err := sweep(ctx, db, cfg, now, rep)
	if rep.Erased > 0 {
		st, serr := db.Scrub()
		rep.Scrub = &st
		err = errors.Join(err, serr)
	}
	return rep, err
}

func sweep(ctx context.Context, db *store.DB, cfg *config.Config, now time.Time, rep *ConsentReport) error {
	var part ConsentReport
	w := dueWalk{kind: store.PlanConsent, at: now, batch: DefaultBatch, budget: DefaultBatchTime,
		begin: func() { part = ConsentReport{} },
		one: func(tx *store.Tx, n uint64) (int, bool, error) {
			left := true
			ids := group(tx, n)
			for _, m := range ids {
				ok, err := sweepOne(tx, cfg, m, now, &part)
				if err != nil {
					return 0, false, fmt.Errorf("consent sweep, ticket %d: %w", m, err)
				}
				if m == n {
					left = ok
				}
			}
			return len(ids), left, nil
		},
		done: func(int) {
			rep.Tickets = append(rep.Tickets, part.Tickets...)
			rep.Restricted += part.Restricted
			rep.Erased += part.Erased
			rep.HeldRestricted += part.HeldRestricted
			rep.Replanned += part.Replanned
		},
	}
	return w.run(ctx, db)
}

// group is ticket n and the other tickets its requester opened for the same
// purpose: consent is given per person and purpose, so a withdrawal reaches
// them all at once.
func group(tx *store.Tx, n uint64) []uint64 {
	tk, err := tx.Ticket(n)
	if err != nil || tk.RequesterID == 0 {
		return []uint64{n}
	}
	out := []uint64{n}
	for _, m := range tx.TicketsOf(tk.RequesterID) {
		if m == n {
			continue
		}
		if o, err := tx.Ticket(m); err == nil && o.RequesterID == tk.RequesterID && o.Purpose == tk.Purpose {
			out = append(out, m)
		}
	}
	return out
}

// sweepOne applies the without_consent action to ticket n if it is due at
// now, and otherwise plans it anew. It reports false when the ticket stays due
// in the index anyway.
func sweepOne(tx *store.Tx, cfg *config.Config, n uint64, now time.Time, rep *ConsentReport) (bool, error) {
	tk, err := tx.Ticket(n)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	v := evaluate(tx, cfg, tk)
	if !due(v.ConsentDue, now) {
		if tk.ConsentDue.Equal(v.ConsentDue) {
			return true, nil // a sibling that is not due
		}
		rep.Replanned++
		if err := tx.Replan(n); err != nil {
			return false, err
		}
		tk, err = tx.Ticket(n)
		return err == nil && !due(tk.ConsentDue, now), err
	}
	act := ConsentAction{Ticket: n, Person: tk.RequesterID, Purpose: tk.Purpose, Reason: v.ConsentReason}
	if cfg.Purpose(tk.Purpose).WithoutConsent == "erase" {
		if act.HeldUntil = tk.HeldUntil(now); act.HeldUntil.IsZero() {
			act.Done = Erased
			rep.Erased++
			rep.Tickets = append(rep.Tickets, act)
			return true, tx.DeleteTicket(n, store.ActorScheduler, "no consent: purpose "+tk.Purpose)
		}
		act.Done = HeldRestricted
		rep.HeldRestricted++
	} else {
		act.Done = Restricted
		rep.Restricted++
	}
	rep.Tickets = append(rep.Tickets, act)
	tk.Restricted = &store.Restriction{Since: now, Reason: store.RestrictedNoConsent}
	return true, tx.UpdateTicket(tk, store.TicketRestricted(tk.Number, store.ActorScheduler))
}
