package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"ticketd/desk"
	"ticketd/store"
)

// ticketd tickets list with its filters, and the lines of tickets show
// about the agents' work: assignee, due time, answer, and the copies of the
// ticket's personal data mailed to agents.

func init() {
	register("tickets.list", func(_ context.Context, env *opEnv, args ticketListArgs, _ *opRequest, out io.Writer) error {
		pg, err := env.desk.ListTickets(desk.ListOptions{Queue: args.Queue, Overdue: args.Overdue, Assignee: args.Assignee,
			Limit: args.Limit, After: args.After})
		return render(out, args.JSON, pg, err, printTicketPage)
	})
}

// printTicketPage prints a page of tickets list and, when more follow,
// the flag that shows the next page.
func printTicketPage(w io.Writer, pg *desk.TicketPage) error {
	if err := printTickets(w, pg.Tickets); err != nil {
		return err
	}
	if pg.Next != 0 {
		_, err := fmt.Fprintf(w, "more: -after %d shows the next page\n", pg.Next)
		return err
	}
	return nil
}

// ticketListArgs are the arguments of the op tickets.list.
type ticketListArgs struct {
	JSON     bool   `json:"json,omitempty"`
	Queue    string `json:"queue,omitempty"`
	Overdue  bool   `json:"overdue,omitempty"`
	Assignee string `json:"assignee,omitempty"`
	Limit    int    `json:"limit,omitempty"`
	After    uint64 `json:"after,omitempty"`
}

// cmdTicketsList is ticketd tickets list [-json] [-queue NAME] [-overdue]
// [-assignee ADDRESS] [-limit N] [-after NUMBER]; the filters combine. A
// page holds the -limit tickets (default 50) numbered above -after, oldest
// first; -json prints {"tickets": [...], "next": NUMBER}, next being the
// -after of the next page (absent on the last).
func cmdTicketsList(ctx context.Context, e *env, args []string, path *string) error {
	fs := subFlags(e, "tickets", "list", path)
	asJSON := fs.Bool("json", false, "print JSON")
	queue := fs.String("queue", "", "only the tickets of this queue")
	overdue := fs.Bool("overdue", false, "only the open tickets not answered by their due time")
	assignee := fs.String("assignee", "", "only the tickets assigned to this agent address")
	limit := fs.Int("limit", desk.DefaultPageSize, fmt.Sprintf("tickets per page, 1 to %d", desk.MaxPageSize))
	after := fs.Uint64("after", 0, "the number of the last ticket of the page before (the first page: 0)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *limit < 1 || *limit > desk.MaxPageSize {
		return usageError("tickets", "-limit %d: a page holds 1 to %d tickets", *limit, desk.MaxPageSize)
	}
	if fs.NArg() != 0 {
		return usageError("tickets", "list takes no arguments")
	}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return err
	}
	if *queue != "" && cfg.Queue(*queue) == nil {
		return usageError("tickets", "no queue %q; the queues are %s", printable(*queue), strings.Join(desk.QueueNames(cfg), ", "))
	}
	return callOp(ctx, cfg, "tickets.list", ticketListArgs{JSON: *asJSON, Queue: *queue, Overdue: *overdue, Assignee: strings.TrimSpace(*assignee),
		Limit: *limit, After: *after}, e.stdout)
}

// dueColumn is the DUE column of tickets list: the due time, marked when
// it passed without an answer.
func dueColumn(t desk.TicketSummary) string {
	s := column(t.DueAt)
	if t.Overdue {
		s += " (overdue)"
	}
	return s
}

// printService prints the lines of tickets show about the agents' work.
func printService(w io.Writer, t *desk.TicketSummary) {
	fmt.Fprintf(w, "Assignee:  %s\n", printable(dash(t.Assignee)))
	due := "none"
	if !t.DueAt.IsZero() {
		due = t.DueAt.Local().Format(time.DateTime)
		switch {
		case !t.AnsweredAt.IsZero():
			due += ", answered " + t.AnsweredAt.Local().Format(time.DateTime)
		case t.Overdue:
			due += ", overdue"
		}
	} else if !t.AnsweredAt.IsZero() {
		due += ", answered " + t.AnsweredAt.Local().Format(time.DateTime)
	}
	fmt.Fprintf(w, "Due:       %s\n", due)
	if t.Follows != 0 {
		fmt.Fprintf(w, "Follows:   #%d\n", t.Follows)
	}
}

// printNotified prints which agent address got which message's text, when
// and how much of it.
func printNotified(w io.Writer, ns []store.Notified) {
	if len(ns) == 0 {
		fmt.Fprintf(w, "\nMailed to agents: none\n")
		return
	}
	fmt.Fprintf(w, "\nMailed to agents (copies of this ticket's data outside the store):\n")
	for _, n := range ns {
		msg := "-"
		if n.Message != 0 {
			msg = fmt.Sprintf("message id %d", n.Message)
		}
		fmt.Fprintf(w, "  %s  %s  %s, %s, %s\n", n.At.Local().Format(time.DateTime), printable(n.Agent), printable(n.Kind), msg, printable(n.Content))
	}
}
