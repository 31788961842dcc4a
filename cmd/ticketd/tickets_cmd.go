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
		tks, err := env.desk.ListTickets(desk.ListOptions{Queue: args.Queue, Overdue: args.Overdue, Assignee: args.Assignee})
		return render(out, args.JSON, tks, err, printTickets)
	})
}

// ticketListArgs are the arguments of the op tickets.list.
type ticketListArgs struct {
	JSON     bool   `json:"json,omitempty"`
	Queue    string `json:"queue,omitempty"`
	Overdue  bool   `json:"overdue,omitempty"`
	Assignee string `json:"assignee,omitempty"`
}

// cmdTicketsList is ticketd tickets list [-json] [-queue NAME] [-overdue]
// [-assignee ADDRESS]; the filters combine.
func cmdTicketsList(ctx context.Context, e *env, args []string, path *string) error {
	fs := subFlags(e, "tickets", "list", path)
	asJSON := fs.Bool("json", false, "print JSON")
	queue := fs.String("queue", "", "only the tickets of this queue")
	overdue := fs.Bool("overdue", false, "only the open tickets not answered by their due time")
	assignee := fs.String("assignee", "", "only the tickets assigned to this agent address")
	if err := parseFlags(fs, args); err != nil {
		return err
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
	return callOp(ctx, cfg, "tickets.list", ticketListArgs{JSON: *asJSON, Queue: *queue, Overdue: *overdue, Assignee: strings.TrimSpace(*assignee)}, e.stdout)
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
