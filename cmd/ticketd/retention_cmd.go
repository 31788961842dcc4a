package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"ticketd/desk"
	"ticketd/retention"
	"ticketd/store"
)

// ticketd purge, ticketd hold and ticketd tickets close|reopen: the deletion
// concept from the command line (see package retention).

func init() {
	commands["purge"] = command{"purge [-config FILE] [-dry-run] [-at TIME] [-json]",
		"apply the retention rules now, or list what would go (at TIME, RFC 3339 or YYYY-MM-DD, with -dry-run)", cmdPurge}
	commands["hold"] = command{"hold [-config FILE] add TICKET CATEGORY | release TICKET CATEGORY | list [-json]",
		"put a ticket under a legal hold, release one, or list the holds in force", cmdHold}
	ops["purge"] = opPurge
	ops["hold.add"] = func(_ context.Context, env *opEnv, args url.Values, out io.Writer) error {
		return holdOp(env, args, out, true)
	}
	ops["hold.release"] = func(_ context.Context, env *opEnv, args url.Values, out io.Writer) error {
		return holdOp(env, args, out, false)
	}
	ops["hold.list"] = opHoldList
	ops["tickets.status"] = opTicketStatus
}

func opPurge(ctx context.Context, env *opEnv, args url.Values, out io.Writer) error {
	db := env.desk.DB
	opts := retention.PurgeOptions{DryRun: args.Get("dry_run") == "1", Actor: "admin"}
	if s := args.Get("at"); s != "" {
		at, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("%w: at: %w", errBadRequest, err)
		}
		opts.At = at
	}
	if now := db.Now(); !opts.DryRun && opts.At.After(now) {
		return fmt.Errorf("%w: a purge cannot run for a time in the future (%s); use -dry-run to see what will go then",
			errBadRequest, opts.At.Local().Format(time.DateTime))
	}
	asJSON := args.Get("json") == "1"
	if !asJSON {
		opts.Progress = func(done, total int) { fmt.Fprintf(out, "purge: %d of %d tickets checked\n", done, total) }
	}
	rep, err := retention.Purge(ctx, db, env.desk.Config(), opts)
	if rep != nil {
		var perr error
		if asJSON {
			perr = printJSON(out, rep)
		} else {
			perr = printPurgeReport(out, rep)
		}
		err = errors.Join(err, perr)
	}
	return err
}

func printPurgeReport(w io.Writer, rep *retention.Report) error {
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

// holdOp adds or releases the hold args["category"] on ticket args["ticket"].
func holdOp(env *opEnv, args url.Values, out io.Writer, add bool) error {
	n, err := ticketArg(args.Get("ticket"))
	if err != nil {
		return err
	}
	category := args.Get("category")
	var h store.Hold
	var tk *store.Ticket
	err = env.desk.DB.Update(func(tx *store.Tx) error {
		var err error
		if add {
			h, err = retention.AddHold(tx, env.desk.Config(), n, category, "admin")
		} else {
			err = retention.ReleaseHold(tx, n, category, "admin")
		}
		if err != nil {
			return err
		}
		tk, err = tx.Ticket(n)
		return err
	})
	if err != nil {
		return retentionError(n, err)
	}
	if add {
		_, err = fmt.Fprintf(out, "ticket #%d is under hold %s until %s\n", n, category, h.Until.Local().Format(time.DateTime))
		return err
	}
	_, err = fmt.Fprintf(out, "hold %s on ticket #%d released; purge planned: %s\n", category, n, planned(tk.PurgeAt))
	return err
}

func opHoldList(_ context.Context, env *opEnv, args url.Values, out io.Writer) error {
	var holds []retention.ActiveHold
	err := env.desk.DB.View(func(tx *store.Tx) error {
		var err error
		holds, err = retention.ActiveHolds(tx, tx.Now())
		return err
	})
	if err != nil {
		return err
	}
	if args.Get("json") == "1" {
		return printJSON(out, holds)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TICKET\tCATEGORY\tSINCE\tUNTIL\tBY")
	for _, h := range holds {
		fmt.Fprintf(tw, "#%d\t%s\t%s\t%s\t%s\n", h.Ticket, h.Category, h.Since.Local().Format(time.DateTime), h.Until.Local().Format(time.DateTime), h.By)
	}
	return tw.Flush()
}

func opTicketStatus(_ context.Context, env *opEnv, args url.Values, out io.Writer) error {
	n, err := ticketArg(args.Get("ticket"))
	if err != nil {
		return err
	}
	change := retention.ReopenTicket
	if args.Get("status") == store.StatusClosed {
		change = retention.CloseTicket
	}
	var tk *store.Ticket
	err = env.desk.DB.Update(func(tx *store.Tx) error {
		tk, err = change(tx, n, "admin")
		return err
	})
	if err != nil {
		return retentionError(n, err)
	}
	_, err = fmt.Fprintf(out, "ticket #%d is %s; purge planned: %s\n", n, tk.Status, planned(tk.PurgeAt))
	return err
}

// retentionError gives the errors of package retention the kind the CLI reports.
func retentionError(n uint64, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("no ticket #%d: %w", n, store.ErrNotFound)
	case errors.Is(err, retention.ErrUnknownHold), errors.Is(err, retention.ErrAlreadyHeld),
		errors.Is(err, retention.ErrNotHeld), errors.Is(err, retention.ErrAnonymized), errors.Is(err, retention.ErrStatusIsSame):
		return fmt.Errorf("%w: %w", errBadRequest, err)
	}
	return err
}

// ticketArg parses a ticket number, "12" or "#12".
func ticketArg(s string) (uint64, error) {
	n, err := strconv.ParseUint(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%w: %q is not a ticket number", errBadRequest, s)
	}
	return n, nil
}

func cmdPurge(ctx context.Context, e *env, args []string) error {
	fs, path := flags(e, "purge")
	dry := fs.Bool("dry-run", false, "list what would be anonymized or deleted, and why, without changing anything")
	at := fs.String("at", "", "with -dry-run: the `time` to plan for, RFC 3339 (2027-01-01T03:00:00+01:00) or a date (2027-01-01, local midnight)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError("purge", "takes no arguments")
	}
	q := url.Values{}
	if *at != "" {
		t, err := parseTime(*at)
		if err != nil {
			return usageError("purge", "-at: %v", err)
		}
		q.Set("at", t.Format(time.RFC3339Nano))
	}
	if *dry {
		q.Set("dry_run", "1")
	}
	if *asJSON {
		q.Set("json", "1")
	}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return err
	}
	return callOp(ctx, cfg, "purge", q, e.stdout)
}

// parseTime reads RFC 3339 or a date (local midnight).
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, time.Local); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is neither RFC 3339 (2027-01-01T03:00:00Z) nor a date (2027-01-01)", s)
}

func cmdHold(ctx context.Context, e *env, args []string) error {
	fs, path := flags(e, "hold")
	if err := parseCommand(fs, args); err != nil {
		return err
	}
	sub := subFlags(e, "hold", fs.Arg(0), path)
	asJSON := sub.Bool("json", false, "print JSON (list)")
	if err := parseFlags(sub, fs.Args()[min(1, fs.NArg()):]); err != nil {
		return err
	}
	q := url.Values{}
	name := ""
	switch fs.Arg(0) {
	case "add", "release":
		if sub.NArg() != 2 {
			return usageError("hold", "%s needs a TICKET and a CATEGORY", fs.Arg(0))
		}
		q.Set("ticket", sub.Arg(0))
		q.Set("category", sub.Arg(1))
		name = "hold." + fs.Arg(0)
	case "list":
		if sub.NArg() != 0 {
			return usageError("hold", "list takes no arguments")
		}
		if *asJSON {
			q.Set("json", "1")
		}
		name = "hold.list"
	default:
		return usageError("hold", "add, release or list?")
	}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return err
	}
	return callOp(ctx, cfg, name, q, e.stdout)
}

// cmdTicketStatus is ticketd tickets close N and ticketd tickets reopen N.
func cmdTicketStatus(ctx context.Context, e *env, sub string, args []string, path *string) error {
	fs := subFlags(e, "tickets", sub, path)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError("tickets", "%s needs one ticket number", sub)
	}
	status := store.StatusOpen
	if sub == "close" {
		status = store.StatusClosed
	}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return err
	}
	return callOp(ctx, cfg, "tickets.status", url.Values{"ticket": {fs.Arg(0)}, "status": {status}}, e.stdout)
}

// statusLine is a ticket's status with what retention and consent did to it.
func statusLine(t desk.TicketSummary, now time.Time) string {
	s := t.Status
	if held(t.Holds, now) {
		s += ",held"
	}
	if t.Restricted != nil {
		s += ",restricted"
	}
	if !t.Objected.IsZero() {
		s += ",objected"
	}
	if !t.AnonymizedAt.IsZero() {
		s += ",anonymized"
	}
	return s
}

func held(holds []store.Hold, now time.Time) bool {
	for _, h := range holds {
		if h.Active(now) {
			return true
		}
	}
	return false
}

// printRetention prints the lines of tickets show about closing, holds,
// restriction, objection, anonymization and the planned purge.
func printRetention(w io.Writer, t *desk.TicketSummary, now time.Time) {
	if !t.ClosedAt.IsZero() {
		fmt.Fprintf(w, "Closed:    %s\n", t.ClosedAt.Local().Format(time.DateTime))
	}
	for _, h := range t.Holds {
		state := "until"
		if !h.Active(now) {
			state = "ended"
		}
		fmt.Fprintf(w, "Hold:      %s since %s, %s %s (by %s)\n", h.Category, h.Since.Local().Format(time.DateTime), state,
			h.Until.Local().Format(time.DateTime), h.By)
	}
	if r := t.Restricted; r != nil {
		fmt.Fprintf(w, "Restricted: %s (since %s): the ticket is kept, but not processed (Art. 18)\n", r.Reason, r.Since.Local().Format(time.DateTime))
	}
	if !t.Objected.IsZero() {
		fmt.Fprintf(w, "Objected:  %s: the customer objected to the processing (Art. 21)\n", t.Objected.Local().Format(time.DateTime))
	}
	if !t.AnonymizedAt.IsZero() {
		fmt.Fprintf(w, "Anonymized: %s\n", t.AnonymizedAt.Local().Format(time.DateTime))
	}
	fmt.Fprintf(w, "Purge:     %s\n", planned(t.PurgeAt))
	if !t.ConsentDue.IsZero() {
		fmt.Fprintf(w, "Consent:   none yet; without_consent applies %s\n", t.ConsentDue.Local().Format(time.DateTime))
	}
}

// column formats a time for a table; zero is "-".
func column(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.DateTime)
}

// planned formats a planned time; zero is "not planned".
func planned(t time.Time) string {
	if t.IsZero() {
		return "not planned"
	}
	return t.Local().Format(time.DateTime)
}
