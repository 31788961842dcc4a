package desk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"ticketd/config"
	"ticketd/mail"
	"ticketd/mail/mailtest"
	"ticketd/mail/smtp"
	"ticketd/store"
)

// TestAckShowsOutboxState: a ticket shows what the outbox did with its
// acknowledgement (sent at, failed with the reason), not only that it was queued.
func TestAckShowsOutboxState(t *testing.T) {
	sink := mailtest.StartSMTPSink(t)
	fd := newFileDesk(t, func(c *config.Config) {
		host, port := splitAddr(t, sink.Addr)
		c.SMTP.Host, c.SMTP.Port = host, port
	})
	cfg := fd.d.Config()
	ob := &smtp.Outbox{DB: fd.db, Log: testLogger(t), Now: func() time.Time { return fd.now },
		Send: smtp.NewSender(&cfg.SMTP, "help.example.com", testLogger(t))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ob.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, mail.ErrStopped) {
			t.Errorf("outbox: %v", err)
		}
	}()
	fd.d.Wake = ob.Wake

	show := func(n uint64, want string) *AckView {
		t.Helper()
		mailtest.WaitFor(t, 10*time.Second, "acknowledgement "+want, func() bool {
			d, err := fd.d.ShowTicket(n)
			return err == nil && d.Ack != nil && d.Ack.Status == want
		})
		d, err := fd.d.ShowTicket(n)
		if err != nil {
			t.Fatal(err)
		}
		// The JSON of tickets show says the same, and reads back the same.
		raw, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var back TicketDetail
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(raw), `"status":"`+want+`"`) || back.Ack.Status != want || back.Ack.OutboxID != d.Ack.OutboxID {
			t.Errorf("JSON: %s", raw)
		}
		return d.Ack
	}

	out := fd.ingest(msg{Subject: "Drucker", MessageID: "a1@example.org", Body: "Hallo"}.raw())
	a := show(out.Ticket, AckSent)
	if !a.SentAt.Equal(fd.now) || a.Attempts != 1 || a.Error != "" || a.OutboxID == 0 || a.NoticeHash == "" {
		t.Errorf("sent: %+v", a)
	}
	if pg, err := fd.d.ListTickets(ListOptions{}); err != nil || len(pg.Tickets) != 1 || pg.Tickets[0].Ack.Status != AckSent {
		t.Errorf("list: %+v %v", pg, err)
	}

	sink.Fail("RCPT", mailtest.SMTPErr(550, "no such user"))
	out = fd.ingest(msg{From: "Otto <otto@example.net>", Subject: "Scanner", MessageID: "a2@example.org", Body: "Hallo"}.raw())
	a = show(out.Ticket, AckFailed)
	if !a.FailedAt.Equal(fd.now) || !strings.Contains(a.Error, "no such user") || !a.SentAt.IsZero() {
		t.Errorf("failed: %+v", a)
	}

	// A suppressed acknowledgement says so; one whose outbox item was erased too.
	out = fd.ingest(msg{From: "Otto <otto@example.net>", Subject: "Auto", MessageID: "a3@example.org", Extra: "Auto-Submitted: auto-replied\r\n", Body: "x"}.raw())
	if d, err := fd.d.ShowTicket(out.Ticket); err != nil || d.Ack.Status != AckSuppressed || d.Ack.Reason == "" {
		t.Errorf("suppressed: %+v %v", d.Ack, err)
	}
	fd.db.Update(func(tx *store.Tx) error { return tx.DeleteOutboxItem(a.OutboxID, "admin", "test") })
	if d, err := fd.d.ShowTicket(2); err != nil || d.Ack.Status != AckGone {
		t.Errorf("erased outbox item: %+v %v", d.Ack, err)
	}
}

// TestListTicketsFilters: -queue, -overdue and -assignee combine; overdue
// is computed at the desk's clock; the assignee compares case-insensitively;
// an unknown queue is a bad request naming the queues.
func TestListTicketsFilters(t *testing.T) {
	fd := newAgentDesk(t)
	a, ms := fd.customerTicket("f1@example.org", "Drucker", "Hilfe")     // support, will be assigned to ben
	b, _ := fd.customerTicket("f2@example.org", "Monitor", "Hilfe")      // support, unassigned
	c, _ := fd.customerTicket("f3@example.org", "invoice 7", "Rechnung") // billing
	d, msd := fd.customerTicket("f4@example.org", "Tastatur", "Hilfe")   // support, answered
	ben := replyTo(t, ms, "ben@example.com")
	if out, _ := fd.reply(agentRaw("as1@x", "ben@example.com", ben, "Re: x", "#assign Ben@Example.com")); out.AgentReply != store.DirectionNote {
		t.Fatalf("assign: %+v", out)
	}
	anna := replyTo(t, msd, "anna@example.com")
	if out, _ := fd.reply(agentRaw("an1@x", "anna@example.com", anna, "Re: x", "Erledigt.")); out.AgentReply != store.DirectionOut {
		t.Fatalf("answer: %+v", out)
	}
	if fd.ticket(c).Queue != "billing" {
		t.Fatalf("ticket %d in queue %s", c, fd.ticket(c).Queue)
	}
	numbers := func(opt ListOptions) []uint64 {
		t.Helper()
		pg, err := fd.d.ListTickets(opt)
		if err != nil {
			t.Fatal(err)
		}
		var ns []uint64
		for _, tk := range pg.Tickets {
			ns = append(ns, tk.Number)
		}
		return ns
	}
	check := func(name string, opt ListOptions, want ...uint64) {
		t.Helper()
		if got := numbers(opt); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	check("all", ListOptions{}, a, b, c, d)
	check("queue support", ListOptions{Queue: "support"}, a, b, d)
	check("queue billing", ListOptions{Queue: "billing"}, c)
	check("overdue before any due time", ListOptions{Overdue: true})
	check("assignee, other case", ListOptions{Assignee: "BEN@example.COM"}, a)
	check("assignee nobody", ListOptions{Assignee: "carl@example.com"})

	// 8h later the support tickets are due; billing's 2d are not.
	fd.now = fd.ticket(a).DueAt.Add(time.Minute)
	check("overdue", ListOptions{Overdue: true}, a, b)
	check("overdue and support and ben", ListOptions{Overdue: true, Queue: "support", Assignee: "ben@example.com"}, a)
	check("overdue and billing", ListOptions{Overdue: true, Queue: "billing"})
	pg, _ := fd.d.ListTickets(ListOptions{Queue: "support"})
	tks := pg.Tickets
	if !tks[0].Overdue || tks[0].Assignee != "ben@example.com" || tks[0].DueAt.IsZero() || !tks[0].AnsweredAt.IsZero() ||
		tks[2].Overdue || tks[2].AnsweredAt.IsZero() {
		t.Errorf("summaries: %+v\n%+v", tks[0], tks[2])
	}
	// A closed ticket is not overdue.
	if _, err := fd.d.CloseTicket(b); err != nil {
		t.Fatal(err)
	}
	check("overdue after closing one", ListOptions{Overdue: true}, a)

	_, err := fd.d.ListTickets(ListOptions{Queue: "nosuch"})
	if KindOf(err) != KindBadRequest || !strings.Contains(err.Error(), `"nosuch"`) || !strings.Contains(err.Error(), "billing, support") {
		t.Errorf("unknown queue: %v", err)
	}
}

// TestShowTicketAgentFields: tickets show has the assignee, the due time,
// the answer, each message's direction, agent and commands, a refusal's
// reason, and the copies mailed to agents.
func TestShowTicketAgentFields(t *testing.T) {
	fd := newAgentDesk(t)
	n, ms := fd.customerTicket("s1@example.org", "Drucker", "Hilfe")
	anna := replyTo(t, ms, "anna@example.com")
	fd.reply(agentRaw("sa1@x", "anna@example.com", anna, "Re: x", "#assign anna@example.com\n\nIch schaue nach."))
	fd.reply(agentRaw("sa2@x", "mallory@evil.example", anna, "Re: x", "Hallo"))
	v, err := fd.d.ShowTicket(n)
	if err != nil {
		t.Fatal(err)
	}
	if v.Assignee != "anna@example.com" || v.DueAt.IsZero() || v.AnsweredAt.IsZero() || v.Overdue {
		t.Errorf("fields: assignee %q due %v answered %v overdue %v", v.Assignee, v.DueAt, v.AnsweredAt, v.Overdue)
	}
	var dirs []string
	for _, m := range v.Messages {
		dirs = append(dirs, m.Direction)
	}
	if !slices.Equal(dirs, []string{store.DirectionIn, store.DirectionOut, store.DirectionRefused}) {
		t.Fatalf("directions %v", dirs)
	}
	if out := v.Messages[1]; out.Agent != "anna@example.com" || !slices.Equal(out.Commands, []string{"#assign anna@example.com"}) {
		t.Errorf("answer: agent %q commands %q", out.Agent, out.Commands)
	}
	if v.Messages[2].Refused == "" {
		t.Errorf("refused message without a reason: %+v", v.Messages[2])
	}
	var got []string
	for _, c := range v.Notified {
		got = append(got, c.Agent+" "+c.Kind+" "+c.Content)
	}
	if !slices.Equal(got, []string{"anna@example.com new ticket full", "ben@example.com new ticket full"}) {
		t.Errorf("notified %v", got)
	}
}

// TestListTicketsPages: a page holds Limit tickets (DefaultPageSize by
// default) by number; Next is the After of the next page and 0 on the
// last; the filters page too; a limit out of range is a bad request.
func TestListTicketsPages(t *testing.T) {
	fd := newAgentDesk(t)
	var all, billing []uint64
	for i := range 7 {
		subject := "Drucker"
		if i%3 == 0 {
			subject = "invoice " + string(rune('a'+i))
		}
		n, _ := fd.customerTicket(fmt.Sprintf("p%d@example.org", i), subject, "Hilfe")
		all = append(all, n)
		if i%3 == 0 {
			billing = append(billing, n)
		}
	}
	pages := func(opt ListOptions) (got [][]uint64) {
		t.Helper()
		for range 20 {
			pg, err := fd.d.ListTickets(opt)
			if err != nil {
				t.Fatal(err)
			}
			var ns []uint64
			for _, tk := range pg.Tickets {
				ns = append(ns, tk.Number)
			}
			got = append(got, ns)
			if pg.Next == 0 {
				return got
			}
			if pg.Next != ns[len(ns)-1] {
				t.Fatalf("next %d, the page ends at %d", pg.Next, ns[len(ns)-1])
			}
			opt.After = pg.Next
		}
		t.Fatal("no last page")
		return nil
	}
	if got, want := pages(ListOptions{Limit: 3}), [][]uint64{all[:3], all[3:6], all[6:]}; !reflect.DeepEqual(got, want) {
		t.Errorf("pages of 3: %v, want %v", got, want)
	}
	if got, want := pages(ListOptions{Limit: 7}), [][]uint64{all}; !reflect.DeepEqual(got, want) {
		t.Errorf("one full page: %v, want %v", got, want)
	}
	if got, want := pages(ListOptions{}), [][]uint64{all}; !reflect.DeepEqual(got, want) {
		t.Errorf("default page: %v, want %v", got, want)
	}
	if got, want := pages(ListOptions{Queue: "billing", Limit: 2}), [][]uint64{billing[:2], billing[2:]}; !reflect.DeepEqual(got, want) {
		t.Errorf("billing pages of 2: %v, want %v", got, want)
	}
	if got, want := pages(ListOptions{After: all[5]}), [][]uint64{all[6:]}; !reflect.DeepEqual(got, want) {
		t.Errorf("after %d: %v, want %v", all[5], got, want)
	}
	for _, l := range []int{-1, MaxPageSize + 1} {
		if _, err := fd.d.ListTickets(ListOptions{Limit: l}); KindOf(err) != KindBadRequest {
			t.Errorf("limit %d: %v, want a bad request", l, err)
		}
	}
}
