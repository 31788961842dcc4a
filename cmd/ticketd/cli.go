package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"ticketd/desk"
	"ticketd/store"
)

func cmdCheck(_ context.Context, e *env, args []string) error {
	fs, path := flags(e, "check")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: ok (%d mailboxes, %d queues)\n", *path, len(cfg.Mailboxes), len(cfg.Queues))
	return nil
}

// cmdIngest stores mail from files or stdin. Every failure that is not the
// mail's fault exits 75 (EX_TEMPFAIL), so an MTA keeps the mail and retries.
func cmdIngest(ctx context.Context, e *env, args []string) error {
	fs, path := flags(e, "ingest")
	mailbox := fs.String("mailbox", "", "the configured mailbox `name` the mail counts as received by (its queue and dedup scope)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError("ingest", "no file given (use - for stdin)")
	}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return &exitError{exitTempFail, err}
	}
	if *mailbox != "" && cfg.Mailbox(*mailbox) == nil {
		return usageError("ingest", "mailbox %q is not configured", *mailbox)
	}
	err = withBackend(cfg, func(b backend) error {
		var failed error
		for _, name := range fs.Args() {
			out, err := ingestOne(ctx, e, b, name, *mailbox)
			if err != nil {
				fmt.Fprintf(e.stderr, "%s: %v\n", name, err)
				failed = errReported
				continue
			}
			fmt.Fprintf(e.stdout, "%s: %s\n", name, describeOutcome(out))
		}
		return failed
	})
	if err != nil {
		return &exitError{exitTempFail, err}
	}
	return nil
}

func ingestOne(ctx context.Context, e *env, b backend, name, mailbox string) (desk.Outcome, error) {
	var r io.Reader = e.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return desk.Outcome{}, err
		}
		defer f.Close()
		r = f
	}
	return b.Ingest(ctx, r, mailbox)
}

func describeOutcome(o desk.Outcome) string {
	switch {
	case o.Quarantine != 0:
		return fmt.Sprintf("quarantined as %d: %s", o.Quarantine, o.Reason)
	case o.Duplicate && o.Reason != "":
		return "already quarantined: " + o.Reason
	case o.Duplicate:
		return fmt.Sprintf("already stored in ticket #%d", o.Ticket)
	case o.NewTicket:
		return fmt.Sprintf("new ticket #%d", o.Ticket)
	}
	return fmt.Sprintf("added to ticket #%d", o.Ticket)
}

func cmdTickets(_ context.Context, e *env, args []string) error {
	fs, path := flags(e, "tickets")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError("tickets", "list or show?")
	}
	sub := subFlags(e, "tickets", fs.Arg(0))
	asJSON := sub.Bool("json", false, "print JSON")
	if err := parseFlags(sub, fs.Args()[1:]); err != nil {
		return err
	}
	var number uint64
	switch fs.Arg(0) {
	case "list":
		if sub.NArg() != 0 {
			return usageError("tickets", "list takes no arguments")
		}
	case "show":
		n, err := strconv.ParseUint(sub.Arg(0), 10, 64)
		if sub.NArg() != 1 || err != nil {
			return usageError("tickets", "show needs one ticket number")
		}
		number = n
	default:
		return usageError("tickets", "unknown subcommand %q", fs.Arg(0))
	}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return err
	}
	return withBackend(cfg, func(b backend) error {
		if fs.Arg(0) == "list" {
			tks, err := b.Tickets()
			if err != nil {
				return err
			}
			if *asJSON {
				return printJSON(e.stdout, tks)
			}
			printTickets(e.stdout, tks)
			return nil
		}
		tk, err := b.Ticket(number)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no ticket #%d", number)
		}
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.stdout, tk)
		}
		printTicket(e.stdout, tk)
		return nil
	})
}

func cmdQuarantine(_ context.Context, e *env, args []string) error {
	fs, path := flags(e, "quarantine")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.Arg(0) != "list" {
		return usageError("quarantine", "only list is known")
	}
	sub := subFlags(e, "quarantine", "list")
	asJSON := sub.Bool("json", false, "print JSON")
	if err := parseFlags(sub, fs.Args()[1:]); err != nil {
		return err
	}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return err
	}
	return withBackend(cfg, func(b backend) error {
		qs, err := b.Quarantine()
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.stdout, qs)
		}
		w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tSTORED\tCHANNEL\tMAILBOX\tUID\tSIZE\tREASON")
		for _, q := range qs {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%d\t%s\n", q.ID, q.StoredAt.Format(time.DateTime), q.Origin.Channel,
				dash(q.Origin.Mailbox), q.Origin.UID, q.Size, q.Reason)
		}
		return w.Flush()
	})
}

// subFlags is the FlagSet of a sub-subcommand (tickets list -json).
func subFlags(e *env, cmd, sub string) *flag.FlagSet {
	fs := flag.NewFlagSet("ticketd "+cmd+" "+sub, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printTickets(w io.Writer, tks []desk.TicketSummary) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tSTATUS\tQUEUE\tCREATED\tMSGS\tREQUESTER\tSUBJECT")
	for _, t := range tks {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", t.Number, t.Status, t.Queue, t.CreatedAt.Local().Format(time.DateTime),
			t.Messages, t.Requester.Email, oneLine(t.Subject, 60))
	}
	tw.Flush()
}

func printTicket(w io.Writer, t *desk.TicketDetail) {
	fmt.Fprintf(w, "Ticket #%d: %s\n", t.Number, t.Subject)
	fmt.Fprintf(w, "Status:    %s\nQueue:     %s\nRequester: %s\n", t.Status, t.Queue, formatPerson(t.Requester))
	fmt.Fprintf(w, "Created:   %s\nOrigin:    %s, mailbox %s, Message-ID <%s>, received %s, stored %s\n",
		t.CreatedAt.Local().Format(time.DateTime), t.Origin.Channel, dash(t.Origin.Mailbox), t.Origin.MessageID,
		t.Origin.ReceivedAt.Local().Format(time.DateTime), t.Origin.StoredAt.Local().Format(time.DateTime))
	for i, m := range t.Messages {
		fmt.Fprintf(w, "\n--- message %d of %d (id %d, %s, from %s", i+1, len(t.Messages), m.ID, m.Origin.StoredAt.Local().Format(time.DateTime), m.From.Email)
		if m.ThreadedBy != "" {
			fmt.Fprintf(w, ", threaded by %s", m.ThreadedBy)
		}
		fmt.Fprintln(w, ")")
		fmt.Fprintf(w, "Subject: %s\n\n%s\n", m.Subject, strings.TrimRight(m.Text, "\n"))
		for _, a := range m.Attachments {
			fmt.Fprintf(w, "[attachment %q, %s, %d bytes]\n", a.Filename, a.ContentType, a.Size)
		}
	}
}

func formatPerson(p desk.Person) string {
	if p.Name == "" {
		return p.Email
	}
	return fmt.Sprintf("%s <%s>", p.Name, p.Email)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine shortens s to n runes on one line.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
