package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"ticketd/desk"
	"ticketd/mail/redact"
	"ticketd/templates"
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
	if _, err := templates.Load(cfg.Server.TemplatesDir); err != nil {
		fmt.Fprintln(e.stderr, err)
		return &exitError{exitConfig, errReported}
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(e.stderr, w)
	}
	warnings := ""
	switch n := len(cfg.Warnings); n {
	case 0:
	case 1:
		warnings = ", 1 warning"
	default:
		warnings = fmt.Sprintf(", %d warnings", n)
	}
	fmt.Fprintf(e.stdout, "%s: ok (%d mailboxes, %d queues, %d routes, %d purposes%s)\n", *path,
		len(cfg.Mailboxes), len(cfg.Queues), len(cfg.Routes), len(cfg.Purposes), warnings)
	return nil
}

// cmdIngest stores mail from files or stdin. Its exit codes are those of
// sysexits.h: 66 when an input file is missing or unreadable, 65 when an
// input holds no mail, 78 for a bad configuration, 75 for everything else
// that is not the mail's fault; with several inputs the most urgent wins
// (75, then 66, then 65). Reading stdin (an MTA's pipe) a bad configuration
// exits 75 too: an MTA bounces mail on 78 (Postfix: 5.3.5), and on 75 it
// keeps the mail and tries again once the configuration is mended.
func cmdIngest(ctx context.Context, e *env, args []string) error {
	fs, path := flags(e, "ingest")
	mailbox := fs.String("mailbox", "", "the configured mailbox `name` the mail counts as received by (its queue and dedup scope)")
	silent := fs.Bool("silent", false, "send no acknowledgement for new tickets (a migration of old mail)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError("ingest", "no file given (use - for stdin)")
	}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		if slices.Contains(fs.Args(), "-") {
			return &exitError{exitTempFail, err}
		}
		return err
	}
	if *mailbox != "" && cfg.Mailbox(*mailbox) == nil {
		return usageError("ingest", "mailbox %q is not configured", *mailbox)
	}
	c, done, err := connect(cfg, true)
	if err != nil {
		return &exitError{exitTempFail, err}
	}
	defer done()
	code := 0
	for _, name := range fs.Args() {
		out, err := ingestOne(ctx, e, c, name, desk.IngestRequest{Mailbox: *mailbox, Silent: *silent})
		if err != nil {
			fmt.Fprintf(e.stderr, "%s: %v\n", name, err)
			code = moreUrgent(code, ingestExit(err))
			continue
		}
		fmt.Fprintf(e.stdout, "%s: %s\n", name, describeOutcome(out))
	}
	if code != 0 {
		return &exitError{code, errReported}
	}
	return nil
}

// errNoInput marks an input file that cannot be read; errNoMail an input
// without a byte.
var (
	errNoInput = errors.New("cannot read the input")
	errNoMail  = errors.New("the input is empty, it holds no mail")
)

// ingestExit is the exit code for the failure of one input.
func ingestExit(err error) int {
	switch {
	case errors.Is(err, errNoInput):
		return exitNoInput
	case errors.Is(err, errNoMail):
		return exitDataErr
	}
	return exitTempFail // whatever the daemon answered: an MTA keeps the mail
}

// moreUrgent is the exit code of two failures that matters more to the
// caller: a temporary one (try again) before a missing input before bad data.
func moreUrgent(a, b int) int {
	rank := map[int]int{0: 0, exitDataErr: 1, exitNoInput: 2, exitTempFail: 3}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

func init() {
	register("ingest", func(ctx context.Context, env *opEnv, args desk.IngestRequest, req *opRequest, out io.Writer) error {
		body := req.body
		if body == nil {
			body = strings.NewReader("") // no mail, as an empty body through the socket
		}
		o, err := env.desk.IngestFrom(ctx, body, args)
		if err != nil {
			return err
		}
		return json.NewEncoder(out).Encode(o)
	})
	register("tickets.show", func(_ context.Context, env *opEnv, args listArgs, _ *opRequest, out io.Writer) error {
		tk, err := env.desk.ShowTicket(args.ID)
		return render(out, args.JSON, tk, err, printTicket)
	})
	register("outbox.list", func(_ context.Context, env *opEnv, args listArgs, _ *opRequest, out io.Writer) error {
		items, err := env.desk.ListOutbox()
		return render(out, args.JSON, items, err, printOutbox)
	})
	register("outbox.retry", func(_ context.Context, env *opEnv, args listArgs, _ *opRequest, out io.Writer) error {
		if err := env.desk.RetryOutbox(args.ID); err != nil {
			return err
		}
		_, err := fmt.Fprintf(out, "outbox item %d is due now\n", args.ID)
		return err
	})
}

// listArgs are the arguments of the ops that list or show records.
type listArgs struct {
	ID   uint64 `json:"id,omitempty"` // of the one to show
	JSON bool   `json:"json,omitempty"`
}

// ingestOne stores the mail of the file name, or of stdin for "-".
func ingestOne(ctx context.Context, e *env, c adminClient, name string, req desk.IngestRequest) (desk.Outcome, error) {
	var (
		r     io.Reader = e.stdin
		mtime time.Time
	)
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return desk.Outcome{}, fmt.Errorf("%w: %w", errNoInput, err)
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return desk.Outcome{}, fmt.Errorf("%w: %w", errNoInput, err)
		}
		if fi.IsDir() {
			return desk.Outcome{}, fmt.Errorf("%w: is a directory", errNoInput)
		}
		r, mtime = f, fi.ModTime()
	}
	req.Modified = mtime
	// An input without a byte is the one failure that is the mail's own
	// (65); it is seen here, before the daemon is asked, so that every
	// answer of the daemon's stays temporary to an MTA (75).
	br := bufio.NewReader(r)
	if _, err := br.Peek(1); err == io.EOF {
		return desk.Outcome{}, errNoMail
	}
	var buf bytes.Buffer
	if err := c.call(ctx, "ingest", req, br, &buf); err != nil {
		return desk.Outcome{}, err
	}
	var o desk.Outcome
	if err := json.Unmarshal(buf.Bytes(), &o); err != nil {
		return desk.Outcome{}, fmt.Errorf("ingest: %w", err)
	}
	return o, nil
}

func describeOutcome(o desk.Outcome) string {
	switch {
	case o.Quarantine != 0:
		return fmt.Sprintf("quarantined as %d: %s", o.Quarantine, o.Reason)
	case o.Duplicate && o.Reason != "":
		return "already quarantined: " + o.Reason
	case o.Duplicate:
		return fmt.Sprintf("already stored in ticket #%d", o.Ticket)
	case o.NewTicket && o.AckQueued:
		return fmt.Sprintf("new ticket #%d, acknowledgement queued", o.Ticket)
	case o.NewTicket:
		return fmt.Sprintf("new ticket #%d, no acknowledgement: %s", o.Ticket, o.AckReason)
	}
	return fmt.Sprintf("added to ticket #%d", o.Ticket)
}

func cmdTickets(ctx context.Context, e *env, args []string) error {
	fs, path := flags(e, "tickets")
	if err := parseCommand(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError("tickets", "list, show, close or reopen?")
	}
	if fs.Arg(0) == "close" || fs.Arg(0) == "reopen" {
		return cmdTicketStatus(ctx, e, fs.Arg(0), fs.Args()[1:], path)
	}
	if fs.Arg(0) == "list" {
		return cmdTicketsList(ctx, e, fs.Args()[1:], path)
	}
	q, err := listOrOne(e, "tickets", fs, path, "show", "one ticket number")
	if err != nil {
		return err
	}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return err
	}
	err = callOp(ctx, cfg, "tickets."+fs.Arg(0), q, e.stdout)
	if errors.Is(err, desk.ErrNotFound) {
		return fmt.Errorf("no ticket #%d", q.ID)
	}
	return err
}

// listOrOne parses the subcommand in fs.Arg(0) of cmd: "list [-json]", or
// one [-json] ID (tickets show N, outbox retry ID); what names the ID in the
// usage error.
func listOrOne(e *env, cmd string, fs *flag.FlagSet, path *string, one, what string) (listArgs, error) {
	sub := subFlags(e, cmd, fs.Arg(0), path)
	asJSON := sub.Bool("json", false, "print JSON")
	if err := parseFlags(sub, fs.Args()[1:]); err != nil {
		return listArgs{}, err
	}
	q := listArgs{JSON: *asJSON}
	switch fs.Arg(0) {
	case "list":
		if sub.NArg() != 0 {
			return q, usageError(cmd, "list takes no arguments")
		}
	case one:
		n, err := strconv.ParseUint(sub.Arg(0), 10, 64)
		if sub.NArg() != 1 || err != nil {
			return q, usageError(cmd, "%s needs %s", one, what)
		}
		q.ID = n
	default:
		return q, usageError(cmd, "unknown subcommand %q", fs.Arg(0))
	}
	return q, nil
}

func cmdOutbox(ctx context.Context, e *env, args []string) error {
	fs, path := flags(e, "outbox")
	if err := parseCommand(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError("outbox", "list or retry?")
	}
	q, err := listOrOne(e, "outbox", fs, path, "retry", "one outbox id")
	if err != nil {
		return err
	}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return err
	}
	err = callOp(ctx, cfg, "outbox."+fs.Arg(0), q, e.stdout)
	if errors.Is(err, desk.ErrNotFound) {
		return fmt.Errorf("no outbox item %d", q.ID)
	}
	return err
}

func printOutbox(out io.Writer, items []desk.OutboxView) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tTICKET\tKIND\tSTATUS\tATTEMPTS\tCREATED\tTO\tLAST ERROR")
	for _, it := range items {
		status := it.Status
		if !it.NextAttempt.IsZero() {
			status += " (next " + it.NextAttempt.Local().Format(time.DateTime) + ")"
		}
		fmt.Fprintf(w, "%d\t#%d\t%s\t%s\t%d\t%s\t%s\t%s\n", it.ID, it.Ticket, it.Kind, status, it.Attempts,
			it.CreatedAt.Local().Format(time.DateTime), strings.Join(it.To, ","), oneLine(it.LastError, 60))
	}
	return w.Flush()
}

// subFlags is the FlagSet of a subcommand (tickets list -json); it takes
// -config too, so that it may stand on either side of the subcommand. Parse
// it with parseFlags, so its flags may stand anywhere among its operands.
func subFlags(e *env, cmd, sub string, config *string) *flag.FlagSet {
	fs := flag.NewFlagSet("ticketd "+cmd+" "+sub, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: ticketd %s\n", commands[cmd].usage)
		fs.PrintDefaults()
	}
	fs.StringVar(config, "config", *config, "configuration `file` (env TICKETD_CONFIG)")
	return fs
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printTickets(w io.Writer, tks []desk.TicketSummary) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tSTATUS\tQUEUE\tASSIGNEE\tDUE\tCREATED\tMSGS\tREQUESTER\tPURGE\tSUBJECT")
	for _, t := range tks {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", t.Number, statusLine(t, time.Now()), t.Queue,
			printable(dash(t.Assignee)), dueColumn(t), t.CreatedAt.Local().Format(time.DateTime),
			t.Messages, printable(dash(t.Requester.Email)), column(t.PurgeAt), printable(oneLine(t.Subject, 60)))
	}
	return tw.Flush()
}

func printTicket(out io.Writer, t *desk.TicketDetail) error {
	w := &bytes.Buffer{}
	fmt.Fprintf(w, "Ticket #%d: %s\n", t.Number, t.Subject)
	fmt.Fprintf(w, "Status:    %s\nQueue:     %s\n", t.Status, t.Queue)
	if t.RoutedBy != "" {
		fmt.Fprintf(w, "Routed:    %s\n", t.RoutedBy)
	}
	fmt.Fprintf(w, "Requester: %s\n", desk.FormatAddress(t.Requester))
	printService(w, &t.TicketSummary)
	printRetention(w, &t.TicketSummary, time.Now())
	if t.Ack != nil {
		ack := ackLine(t.Ack)
		fmt.Fprintf(w, "Purpose:   %s\nAck:       %s\n", t.Purpose, ack)
	}
	fmt.Fprintf(w, "Created:   %s\nOrigin:    %s, mailbox %s, Message-ID <%s>, received %s, stored %s\n",
		t.CreatedAt.Local().Format(time.DateTime), t.Origin.Channel, dash(t.Origin.Mailbox), t.Origin.MessageID,
		t.Origin.ReceivedAt.Local().Format(time.DateTime), t.Origin.StoredAt.Local().Format(time.DateTime))
	for i, m := range t.Messages {
		fmt.Fprintf(w, "\n--- message %d of %d (id %d, %s, %s, from %s", i+1, len(t.Messages), m.ID, dash(m.Direction),
			m.Origin.StoredAt.Local().Format(time.DateTime), m.From.Email)
		if m.Agent != "" {
			fmt.Fprintf(w, ", agent %s", m.Agent)
		}
		if m.ThreadedBy != "" {
			fmt.Fprintf(w, ", threaded by %s", m.ThreadedBy)
		}
		fmt.Fprintln(w, ")")
		if len(m.Commands) > 0 {
			fmt.Fprintf(w, "Commands: %s\n", printable(strings.Join(m.Commands, "; ")))
		}
		if m.Refused != "" {
			fmt.Fprintf(w, "Refused: %s\n", printable(oneLine(m.Refused, 200)))
		}
		if len(m.Redacted) > 0 {
			fmt.Fprintf(w, "Redacted: %s\n", printable(redact.Counts(m.Redacted).String()))
		}
		fmt.Fprintf(w, "Subject: %s\n\n%s\n", m.Subject, strings.TrimRight(m.Text, "\n"))
		for _, a := range m.Attachments {
			fmt.Fprintf(w, "[attachment %q, %s, %d bytes]\n", a.Filename, a.ContentType, a.Size)
		}
		for _, d := range m.Dropped {
			fmt.Fprintf(w, "[dropped attachment %q, %s (declared %s), %d bytes: %s]\n", d.Filename, d.ContentType, dash(d.Declared), d.Size, d.Reason)
		}
		if m.Original != nil {
			fmt.Fprintf(w, "[original mail kept (keep_original), %d bytes]\n", m.Original.Size)
		}
	}
	printNotified(w, t.Notified)
	_, err := io.WriteString(out, terminalSafe(w.String()))
	return err
}

// terminalSafe replaces the control characters of s but line feeds and
// tabs: text from mail (subjects, bodies, file names) must not reach the
// admin's terminal as escape sequences.
func terminalSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' {
			return r
		}
		return printableRune(r)
	}, s)
}

// printable replaces every control character of s but tabs, line feeds
// too: for a value that must stay on one line.
func printable(s string) string { return strings.Map(printableRune, s) }

func printableRune(r rune) rune {
	if r < 0x20 && r != '\t' || r == 0x7f || r >= 0x80 && r < 0xa0 {
		return '\uFFFD'
	}
	return r
}

// ackLine is what became of a ticket's acknowledgement: suppressed with the
// reason, or the outbox's state (queued, sent at, failed with the error).
func ackLine(a *desk.AckView) string {
	if a.Status == desk.AckSuppressed {
		return a.Status + ": " + a.Reason
	}
	var s string
	switch a.Status {
	case desk.AckSent:
		s = "sent " + a.SentAt.Local().Format(time.DateTime)
	case desk.AckFailed:
		s = fmt.Sprintf("failed: %s; at %s", oneLine(a.Error, 200), a.FailedAt.Local().Format(time.DateTime))
	case desk.AckQueued:
		s = "queued"
		if a.Attempts > 0 {
			s += fmt.Sprintf(", attempts %d, next %s: %s", a.Attempts, a.NextAttempt.Local().Format(time.DateTime), oneLine(a.Error, 200))
		}
	case desk.AckGone:
		s = "erased from the outbox"
	default:
		s = a.Status
	}
	return s + fmt.Sprintf(" (outbox %d, %s, notice %.12s)", a.OutboxID, a.Language, a.NoticeHash)
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
