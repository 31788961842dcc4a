package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"ticketd/desk"
)

// ticketd purge, ticketd hold and ticketd tickets close|reopen: the deletion
// concept from the command line (see package retention).

func init() {
	commands["purge"] = command{"purge [-config FILE] [-dry-run] [-at TIME] [-json]",
		"apply the retention rules now, or list what would go (at TIME, RFC 3339 or YYYY-MM-DD, with -dry-run)", cmdPurge}
	commands["hold"] = command{"hold [-config FILE] add TICKET CATEGORY | release TICKET CATEGORY | list [-json]",
		"put a ticket under a legal hold, release one, or list the holds in force", cmdHold}
	register("purge", opPurge)
	register("hold.add", opHoldAdd)
	register("hold.release", opHoldRelease)
	register("hold.list", opHoldList)
	register("tickets.status", opTicketStatus)
}

// purgeArgs are the arguments of the op purge.
type purgeArgs struct {
	DryRun bool      `json:"dry_run,omitempty"`
	At     time.Time `json:"at,omitzero"`
	JSON   bool      `json:"json,omitempty"`
}

func opPurge(ctx context.Context, env *opEnv, args purgeArgs, _ *opRequest, out io.Writer) error {
	req := desk.PurgeRequest{DryRun: args.DryRun, At: args.At}
	if !args.JSON {
		req.Progress = func(done, total int) { fmt.Fprintf(out, "purge: %d of %d tickets checked\n", done, total) }
	}
	rep, err := env.desk.Purge(ctx, req)
	if rep != nil {
		err = errors.Join(err, writeReport(out, args.JSON, rep))
	}
	return err
}

// holdArgs are the arguments of the ops hold.add, hold.release and hold.list.
type holdArgs struct {
	Ticket   string `json:"ticket,omitempty"`
	Category string `json:"category,omitempty"`
	JSON     bool   `json:"json,omitempty"`
}

func opHoldAdd(_ context.Context, env *opEnv, args holdArgs, _ *opRequest, out io.Writer) error {
	n, err := ticketArg(args.Ticket)
	if err != nil {
		return err
	}
	h, err := env.desk.AddHold(n, args.Category)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "ticket #%d is under hold %s until %s\n", n, args.Category, h.Until.Local().Format(time.DateTime))
	return err
}

func opHoldRelease(_ context.Context, env *opEnv, args holdArgs, _ *opRequest, out io.Writer) error {
	n, err := ticketArg(args.Ticket)
	if err != nil {
		return err
	}
	tk, err := env.desk.ReleaseHold(n, args.Category)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "hold %s on ticket #%d released; purge planned: %s\n", args.Category, n, planned(tk.PurgeAt))
	return err
}

func opHoldList(_ context.Context, env *opEnv, args holdArgs, _ *opRequest, out io.Writer) error {
	holds, err := env.desk.Holds()
	if err != nil {
		return err
	}
	if args.JSON {
		return printJSON(out, holds)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TICKET\tCATEGORY\tSINCE\tUNTIL\tBY")
	for _, h := range holds {
		fmt.Fprintf(tw, "#%d\t%s\t%s\t%s\t%s\n", h.Ticket, h.Category, h.Since.Local().Format(time.DateTime), h.Until.Local().Format(time.DateTime), h.By)
	}
	return tw.Flush()
}

// ticketStatusArgs are the arguments of the op tickets.status.
type ticketStatusArgs struct {
	Ticket string `json:"ticket"`
	Close  bool   `json:"close,omitempty"` // else reopen
}

func opTicketStatus(_ context.Context, env *opEnv, args ticketStatusArgs, _ *opRequest, out io.Writer) error {
	n, err := ticketArg(args.Ticket)
	if err != nil {
		return err
	}
	change := env.desk.ReopenTicket
	if args.Close {
		change = env.desk.CloseTicket
	}
	tk, err := change(n)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "ticket #%d is %s; purge planned: %s\n", n, tk.Status, planned(tk.PurgeAt))
	return err
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
	q := purgeArgs{DryRun: *dry, JSON: *asJSON}
	if *at != "" {
		t, err := parseTime(*at)
		if err != nil {
			return usageError("purge", "-at: %v", err)
		}
		q.At = t
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
	q := holdArgs{JSON: *asJSON}
	name := ""
	switch fs.Arg(0) {
	case "add", "release":
		if sub.NArg() != 2 {
			return usageError("hold", "%s needs a TICKET and a CATEGORY", fs.Arg(0))
		}
		q.Ticket, q.Category = sub.Arg(0), sub.Arg(1)
		name = "hold." + fs.Arg(0)
	case "list":
		if sub.NArg() != 0 {
			return usageError("hold", "list takes no arguments")
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
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return err
	}
	return callOp(ctx, cfg, "tickets.status", ticketStatusArgs{Ticket: fs.Arg(0), Close: sub == "close"}, e.stdout)
}

// statusLine is a ticket's status with what retention and consent did to it.
func statusLine(t desk.TicketSummary, now time.Time) string {
	s := t.Status
	if t.Held(now) {
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
