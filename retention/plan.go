package retention

import (
	"time"

	"ticketd/config"
	"ticketd/store"
)

// Actions on expiry.
const (
	Anonymize = "anonymize"
	Delete    = "delete"
)

// verdict is what the retention rules say about one ticket.
type verdict struct {
	// PurgeAt is when the purge acts on the ticket (zero: not scheduled):
	// Base, or the end of the latest hold when that is later.
	PurgeAt time.Time
	// Base is when the purpose's retention or the requester's offboarding
	// applies, holds aside; Action and Reason say what happens then and why.
	Base   time.Time
	Action string
	Reason string
	// Offboarded is set when Base is the requester's offboarding.
	Offboarded bool
	// Hold is the hold of the ticket that ends last (nil: none).
	Hold *store.Hold
	// ConsentDue is when the purpose's without_consent action applies (zero:
	// never), and ConsentReason why.
	ConsentDue    time.Time
	ConsentReason string
}

// Planner returns the store's Planner: it sets each written ticket's PurgeAt
// and ConsentDue from the configuration cfg returns at that moment. It reads
// the requester and their latest consent decision, nothing else, so it stays
// cheap on every write.
func Planner(cfg func() *config.Config) store.Planner {
	return func(tx *store.Tx, tk *store.Ticket) {
		v := evaluate(tx, cfg(), tk)
		tk.PurgeAt, tk.ConsentDue = v.PurgeAt, v.ConsentDue
	}
}

// evaluate applies the rules of cfg to tk.
//
// Purge: an anonymized ticket is never purged again. Otherwise the purpose's
// retention counts from closing (counted_from = "closed"; an open ticket is
// kept) or from collection ("collected"), and on_expiry says what happens.
// When the requester was offboarded, the ticket is anonymized then if that is
// earlier. A hold postpones the purge to its end (GDPR Art. 17(3)(b): a
// statutory duty to keep); a ticket the rules keep anyway stays unscheduled.
//
// Consent: for a purpose whose legal basis is consent, on a ticket neither
// restricted nor anonymized, the without_consent action is due when the grace
// period after creation ends without a grant, or at once when consent was
// withdrawn after the ticket was created (a withdrawal before it leaves the
// new ticket its own grace period, its acknowledgement carries a new link).
func evaluate(tx *store.Tx, cfg *config.Config, tk *store.Ticket) verdict {
	var v verdict
	if !tk.AnonymizedAt.IsZero() {
		return v
	}
	p := cfg.Purpose(tk.Purpose)
	if p != nil {
		v.Base, v.Reason = retentionEnd(p, tk)
		v.Action = p.OnExpiry
	}
	if off := offboarded(tx, tk.RequesterID); !off.IsZero() && (v.Base.IsZero() || off.Before(v.Base)) {
		v.Base, v.Action, v.Offboarded = off, Anonymize, true
		v.Reason = "requester offboarded on " + day(off)
	}
	v.Base = ceilSecond(v.Base)
	v.PurgeAt = v.Base
	for i, h := range tk.Holds {
		if v.Hold == nil || h.Until.After(v.Hold.Until) {
			v.Hold = &tk.Holds[i]
		}
	}
	if v.Hold != nil && !v.Base.IsZero() && v.Hold.Until.After(v.Base) {
		v.PurgeAt = ceilSecond(v.Hold.Until)
	}
	if p != nil && p.LegalBasis == config.BasisConsent && tk.Restricted == nil {
		v.ConsentDue, v.ConsentReason = consentDue(tx, p, tk)
		v.ConsentDue = ceilSecond(v.ConsentDue)
	}
	return v
}

// retentionEnd is when the purpose's retention of tk ends, and why (zero: kept).
func retentionEnd(p *config.Purpose, tk *store.Ticket) (time.Time, string) {
	if p.CountedFrom == "collected" {
		// Collected when the mail came in: mail imported long after it was
		// received (a migration) counts from its receipt, not its import.
		from := tk.CreatedAt
		if r := tk.Origin.ReceivedAt; !r.IsZero() && r.Before(from) {
			from = r
		}
		end := p.Retention.AddTo(from)
		return end, "retention " + p.Retention.String() + " counted from collection on " + day(from) + " ended " + day(end)
	}
	if tk.Status != store.StatusClosed {
		return time.Time{}, ""
	}
	closed := tk.ClosedAt
	if closed.IsZero() {
		closed = tk.UpdatedAt // closed before ClosedAt was recorded
	}
	end := p.Retention.AddTo(closed)
	return end, "retention " + p.Retention.String() + " counted from closing on " + day(closed) + " ended " + day(end)
}

// offboarded is when the person left (zero: not offboarded, or unknown).
func offboarded(tx *store.Tx, person uint64) time.Time {
	if person == 0 {
		return time.Time{}
	}
	pr, err := tx.Person(person)
	if err != nil {
		return time.Time{}
	}
	return pr.Offboarded
}

func consentDue(tx *store.Tx, p *config.Purpose, tk *store.Ticket) (time.Time, string) {
	grace := tk.CreatedAt.Add(p.Grace.Duration)
	why := "no consent within " + p.Grace.String() + " of " + day(tk.CreatedAt)
	rec, err := tx.LatestConsent(tk.RequesterID, tk.Purpose)
	if err != nil || rec == nil {
		return grace, why
	}
	switch rec.Decision {
	case store.ConsentGranted:
		return time.Time{}, ""
	case store.ConsentWithdrawn:
		if !rec.At.Before(tk.CreatedAt) {
			return rec.At, "consent withdrawn on " + day(rec.At)
		}
	}
	return grace, why
}

// ceilSecond rounds t up to a whole second: the plan index keeps seconds,
// and a ticket must never be acted on before its time.
func ceilSecond(t time.Time) time.Time {
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}

// due reports whether a planned time has come at at (zero never comes).
func due(planned, at time.Time) bool { return !planned.IsZero() && !planned.After(at) }

func day(t time.Time) string { return t.Format(time.DateOnly) }
