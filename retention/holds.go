package retention

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"ticketd/config"
	"ticketd/store"
)

// Errors of the hold operations; callers test them with errors.Is.
var (
	ErrUnknownHold = errors.New("retention: no such [[hold]] category")
	ErrAlreadyHeld = errors.New("retention: the ticket is already under this hold")
	ErrNotHeld     = errors.New("retention: the ticket is not under this hold")
)

// ApplyHoldRules adds to a new ticket the holds whose rule picks it: its
// queue is one of the hold's queues, or its subject matches the hold's
// subject_pattern. Each runs from now for the hold's duration, By store.ActorRule.
func ApplyHoldRules(cfg *config.Config, tk *store.Ticket, now time.Time) {
	for i := range cfg.Holds {
		h := &cfg.Holds[i]
		if slices.Contains(h.Queues, tk.Queue) || h.Subject != nil && h.Subject.MatchString(tk.Subject) {
			tk.Holds = append(tk.Holds, store.Hold{Category: h.Name, Since: now, Until: h.Until(now), By: store.ActorRule})
		}
	}
}

// AddHold puts ticket n under the hold category from now on, for the
// category's duration. A ticket already under an active hold of that category
// keeps it (ErrAlreadyHeld).
func AddHold(tx *store.Tx, cfg *config.Config, n uint64, category string, actor store.Actor) (store.Hold, error) {
	h := cfg.Hold(category)
	if h == nil {
		return store.Hold{}, fmt.Errorf("hold %q: %w", category, ErrUnknownHold)
	}
	tk, err := tx.Ticket(n)
	if err != nil {
		return store.Hold{}, err
	}
	now := tx.Now()
	for _, x := range tk.Holds {
		if x.Category == category && x.Active(now) {
			return x, fmt.Errorf("ticket %d, hold %q until %s: %w", n, category, day(x.Until), ErrAlreadyHeld)
		}
	}
	hold := store.Hold{Category: category, Since: now, Until: h.Until(now), By: actor}
	tk.Holds = append(tk.Holds, hold)
	return hold, tx.UpdateTicket(tk, store.TicketHoldAdded(n, category, hold.Until, actor))
}

// ReleaseHold ends the active holds of category on ticket n now; they stay in
// the ticket's history with their new end, and the ticket is planned anew:
// its purpose's rule applies again.
func ReleaseHold(tx *store.Tx, n uint64, category string, actor store.Actor) error {
	tk, err := tx.Ticket(n)
	if err != nil {
		return err
	}
	now, released := tx.Now(), false
	for i := range tk.Holds {
		if tk.Holds[i].Category == category && tk.Holds[i].Active(now) {
			tk.Holds[i].Until, released = now, true
		}
	}
	if !released {
		return fmt.Errorf("ticket %d, hold %q: %w", n, category, ErrNotHeld)
	}
	return tx.UpdateTicket(tk, store.TicketHoldReleased(n, category, actor))
}

// ActiveHold is one hold in force on a ticket.
type ActiveHold struct {
	Ticket uint64 `json:"ticket"`
	store.Hold
}

// ActiveHolds lists the holds in force at now on every ticket, by ticket.
// It reads every ticket: an administrator's listing, not a hot path.
func ActiveHolds(tx *store.Tx, now time.Time) ([]ActiveHold, error) {
	out := []ActiveHold{}
	err := tx.Tickets(func(tk *store.Ticket) bool {
		for _, h := range tk.Holds {
			if h.Active(now) {
				out = append(out, ActiveHold{Ticket: tk.Number, Hold: h})
			}
		}
		return true
	})
	return out, err
}
