package desk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"ticketd/metrics"
	"ticketd/retention"
	"ticketd/store"
)

// The admin's operations on one ticket's life: closing and reopening it,
// legal holds, and the retention purge (see package retention). The audit
// actor of each is "admin".

// Errors of CloseTicket and ReopenTicket besides ErrNotFound.
var (
	ErrAnonymized   = errors.New("the ticket is anonymized")
	ErrStatusIsSame = errors.New("the ticket already has this status")
)

// CloseTicket closes ticket n: retention counted from closing starts now.
func (d *Desk) CloseTicket(n uint64) (*store.Ticket, error) {
	return d.setStatus(n, store.StatusClosed)
}

// ReopenTicket opens a closed ticket n again: its retention counted from
// closing no longer runs.
func (d *Desk) ReopenTicket(n uint64) (*store.Ticket, error) {
	return d.setStatus(n, store.StatusOpen)
}

func (d *Desk) setStatus(n uint64, status string) (*store.Ticket, error) {
	var tk *store.Ticket
	err := d.DB.Update(func(tx *store.Tx) error {
		var err error
		if tk, err = tx.Ticket(n); err != nil {
			return err
		}
		if !tk.AnonymizedAt.IsZero() {
			return fmt.Errorf("ticket %d: %w", n, ErrAnonymized)
		}
		if (status == store.StatusClosed) == (tk.Status == store.StatusClosed) {
			return fmt.Errorf("ticket %d is %s: %w", n, tk.Status, ErrStatusIsSame)
		}
		return changeStatus(tx, tk, status, actorAdmin)
	})
	if err != nil {
		return nil, ticketError(n, err)
	}
	return tk, nil
}

// AddHold puts ticket n under the hold category from now on, for the
// category's duration (retention.AddHold).
func (d *Desk) AddHold(n uint64, category string) (store.Hold, error) {
	var h store.Hold
	err := d.DB.Update(func(tx *store.Tx) (err error) {
		h, err = retention.AddHold(tx, d.Config(), n, category, actorAdmin)
		return err
	})
	return h, ticketError(n, err)
}

// ReleaseHold ends the hold category on ticket n now and returns the ticket
// as it is planned anew (retention.ReleaseHold).
func (d *Desk) ReleaseHold(n uint64, category string) (*store.Ticket, error) {
	var tk *store.Ticket
	err := d.DB.Update(func(tx *store.Tx) error {
		if err := retention.ReleaseHold(tx, n, category, actorAdmin); err != nil {
			return err
		}
		var err error
		tk, err = tx.Ticket(n)
		return err
	})
	if err != nil {
		return nil, ticketError(n, err)
	}
	return tk, nil
}

// Holds lists the holds in force now on every ticket, by ticket.
func (d *Desk) Holds() ([]retention.ActiveHold, error) {
	var holds []retention.ActiveHold
	err := d.DB.View(func(tx *store.Tx) (err error) {
		holds, err = retention.ActiveHolds(tx, tx.Now())
		return err
	})
	return holds, err
}

// ticketError names the ticket in a not-found error.
func ticketError(n uint64, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no ticket #%d: %w", n, store.ErrNotFound)
	}
	return err
}

// PurgeRequest is what ticketd purge asks for.
type PurgeRequest struct {
	DryRun bool
	// At is the moment to plan for (zero: now); only a dry run may look
	// into the future.
	At time.Time
	// Progress, when set, is called on long runs with the tickets handled so far.
	Progress func(done, total int)
}

// PurgeReport is what a purge did or, in a dry run, would do.
type PurgeReport struct{ *retention.Report }

// Purge applies the retention rules now, as the admin (retention.Purge),
// or with DryRun lists what would go at At. A purge that changes data
// cannot run for a time in the future (ErrBadRequest): that would delete
// what must still be kept. The report is returned with the error of a run
// that stopped part way.
func (d *Desk) Purge(ctx context.Context, req PurgeRequest) (*PurgeReport, error) {
	if !req.DryRun && req.At.After(d.DB.Now()) {
		return nil, badRequest("a purge cannot run for a time in the future (%s); use -dry-run to see what will go then",
			req.At.Local().Format(time.DateTime))
	}
	rep, err := retention.Purge(ctx, d.DB, d.Config(), retention.PurgeOptions{DryRun: req.DryRun, At: req.At,
		Actor: actorAdmin, Progress: req.Progress})
	if rep == nil {
		return nil, err
	}
	if !req.DryRun {
		d.countPurge(metrics.PurgeAdmin, rep, err)
	}
	return &PurgeReport{rep}, err
}

// WriteText writes the report for a person to read.
func (r *PurgeReport) WriteText(w io.Writer) error {
	rep := r.Report
	mode := ""
	if rep.DryRun {
		mode = " (dry run: nothing is changed)"
	}
	fmt.Fprintf(w, "Purge at %s%s\n", rep.At.Local().Format(time.DateTime), mode)
	if rep.FullScan {
		fmt.Fprintln(w, "The plans were computed with an earlier configuration: every ticket was checked.")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(rep.Tickets) > 0 {
		fmt.Fprintln(tw, "\nTICKET\tPURPOSE\tACTION\tREASON")
		for _, t := range rep.Tickets {
			fmt.Fprintf(tw, "#%d\t%s\t%s\t%s\n", t.Ticket, t.Purpose, t.Action, t.Reason)
		}
	}
	if len(rep.Held) > 0 {
		fmt.Fprintln(tw, "\nKEPT UNDER A HOLD\tPURPOSE\tHOLD\tUNTIL\tTHEN")
		for _, h := range rep.Held {
			fmt.Fprintf(tw, "#%d\t%s\t%s\t%s\t%s\n", h.Ticket, h.Purpose, h.Category, h.Until.Local().Format(time.DateTime), h.Reason)
		}
	}
	if len(rep.Quarantine) > 0 {
		fmt.Fprintln(tw, "\nQUARANTINE\tSTORED\tREASON")
		for _, q := range rep.Quarantine {
			fmt.Fprintf(tw, "%d\t%s\t%s\n", q.ID, q.StoredAt.Local().Format(time.DateTime), q.Reason)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	verb := ""
	if rep.DryRun {
		verb = "would be "
	}
	_, err := fmt.Fprintf(w, "\n%d %sanonymized, %d %sdeleted, %d kept under a hold, %d quarantined mails %sdeleted\n",
		rep.Anonymized, verb, rep.Deleted, verb, len(rep.Held), len(rep.Quarantine), verb)
	if err == nil && rep.Scrub != nil {
		_, err = fmt.Fprintf(w, "free pages overwritten: %d (%d bytes)\n", rep.Scrub.Pages, rep.Scrub.Bytes)
	}
	return err
}
