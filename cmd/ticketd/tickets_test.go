package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ticketd/desk"
	"ticketd/store"
)

const billingTOML = `
[[queue]]
name = "billing"
purpose = "support"
response_time = "2d"
agents = ["carl@example.com"]

[[route]]
queue = "billing"
subject = ["invoice"]
`

// TestTicketsListFilters: tickets list -queue, -overdue and -assignee, in
// text and -json; an unknown queue is a usage error naming the queues.
func TestTicketsListFilters(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "127.0.0.1:143", billingTOML)
	for i, subject := range []string{"Drucker", "invoice 7"} {
		file := filepath.Join(dir, "m.eml")
		os.WriteFile(file, []byte("From: Erika <erika@example.org>\r\nTo: support@example.com\r\nSubject: "+subject+"\r\nMessage-ID: <l"+itoa(uint64(i))+"@example.org>\r\n\r\nText\r\n"), 0o600)
		runWant(t, 0, "ingest", "-config", cfg, "-silent", file)
	}
	list := func(args ...string) []desk.TicketSummary {
		t.Helper()
		var pg desk.TicketPage
		out := runWant(t, 0, append([]string{"tickets", "-config", cfg, "list", "-json"}, args...)...)
		if err := json.Unmarshal([]byte(out), &pg); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return pg.Tickets
	}
	if tks := list("-queue", "billing"); len(tks) != 1 || tks[0].Queue != "billing" || tks[0].DueAt.IsZero() || tks[0].Overdue {
		t.Errorf("-queue billing: %+v", tks)
	}
	if tks := list("-queue", "support"); len(tks) != 1 || tks[0].Subject != "Drucker" {
		t.Errorf("-queue support: %+v", tks)
	}
	if tks := list("-overdue"); len(tks) != 0 {
		t.Errorf("-overdue on fresh tickets: %+v", tks)
	}
	if tks := list("-assignee", "carl@example.com", "-queue", "billing"); len(tks) != 0 {
		t.Errorf("-assignee of unassigned tickets: %+v", tks)
	}
	if tks := list(); len(tks) != 2 {
		t.Errorf("no filter: %d tickets", len(tks))
	}
	out := runWant(t, 0, "tickets", "list", "-config", cfg, "-queue", "billing")
	if !strings.Contains(out, "ASSIGNEE") || !strings.Contains(out, "DUE") || !strings.Contains(out, "invoice 7") || strings.Contains(out, "Drucker") {
		t.Errorf("text list -queue billing:\n%s", out)
	}
	out = runWant(t, exitUsage, "tickets", "list", "-config", cfg, "-queue", "nosuch\x1b[2J")
	if !strings.Contains(out, "billing, support") || strings.Contains(out, "\x1b") {
		t.Errorf("unknown queue:\n%q", out)
	}
	runWant(t, exitUsage, "tickets", "list", "-config", cfg, "extra")
	runWant(t, 0, "tickets", "list", "-config", cfg, "-h")
}

// TestPrintTicketsAgentWork: the list's ASSIGNEE and DUE columns and what
// tickets show says of the agents' work (golden files).
func TestPrintTicketsAgentWork(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.ParseInLocation(time.DateTime, s, time.Local)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	esc := "\x1b[2J"
	sum := desk.TicketSummary{Number: 7, Subject: "Drucker", Status: store.StatusOpen, Queue: "support",
		Requester: store.Address{Name: "Erika", Email: "erika@example.org"}, CreatedAt: at("2026-12-07 08:00:00"),
		Messages: 4, Purpose: "support", Assignee: "anna@example.com", DueAt: at("2026-12-07 16:00:00"), Overdue: true, Follows: 3,
		Origin: store.Origin{Channel: "email", Mailbox: "support", MessageID: "c1@example.org", ReceivedAt: at("2026-12-07 08:00:00"), StoredAt: at("2026-12-07 08:00:01")}}
	other := desk.TicketSummary{Number: 8, Subject: "Monitor", Status: store.StatusOpen, Queue: "billing",
		CreatedAt: at("2026-12-07 09:00:00"), Messages: 1, DueAt: at("2026-12-09 09:00:00"), AnsweredAt: at("2026-12-07 10:00:00")}
	var list strings.Builder
	if err := printTickets(&list, []desk.TicketSummary{sum, other}); err != nil {
		t.Fatal(err)
	}
	golden(t, "tickets-list-agents.golden", []byte(list.String()))

	msg := func(id uint64, dir, from, agent, text string) *store.Message {
		return &store.Message{ID: id, Direction: dir, From: store.Address{Email: from}, Agent: agent, Subject: "Re: [#7] Drucker", Text: text,
			Origin: store.Origin{StoredAt: at("2026-12-07 08:00:00").Add(time.Duration(id) * time.Minute)}}
	}
	note := msg(3, store.DirectionNote, "anna@example.com", "anna@example.com", "Ruft morgen an.")
	note.Commands = []string{"#note", "#assign anna@example.com"}
	refused := msg(4, store.DirectionRefused, "mallory@evil.example", "", "Hallo")
	refused.Refused = "sender: the From address is not the agent of the reply address" + esc
	detail := &desk.TicketDetail{TicketSummary: sum, Messages: []*store.Message{
		msg(1, store.DirectionIn, "erika@example.org", "", "Der Drucker druckt nicht."),
		msg(2, store.DirectionOut, "anna@example.com", "anna@example.com", "Bitte neu starten."),
		note, refused},
		Notified: []store.Notified{
			{Agent: "anna@example.com", Kind: store.NotifyNew, Message: 1, Content: "full", At: at("2026-12-07 08:00:02")},
			{Agent: "ben@example.com", Kind: store.NotifyNew, Message: 1, Content: "excerpt", At: at("2026-12-07 08:00:02")},
			{Agent: "sue@example.com", Kind: store.NotifyEscalation, Content: "facts", At: at("2026-12-07 16:05:00")},
		}}
	var show strings.Builder
	if err := printTicket(&show, detail); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(show.String(), "\x1b") {
		t.Errorf("tickets show passes an escape:\n%q", show.String())
	}
	golden(t, "tickets-show-agents.golden", []byte(show.String()))
}

// TestTicketsListPages: -limit and -after page the list, the same through
// the admin socket and without it; -json carries next, the text a line
// naming the next page's -after; a bad -limit is a usage error.
func TestTicketsListPages(t *testing.T) {
	remote, local, _ := adminPair(t)
	ctx := context.Background()
	for i := range 3 {
		raw := "From: Erika <erika@example.org>\r\nSubject: Frage\r\nMessage-ID: <p" + itoa(uint64(i)) + "@example.org>\r\n\r\nText\r\n"
		if err := remote.call(ctx, "ingest", desk.IngestRequest{Silent: true}, strings.NewReader(raw), io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	page := func(c adminClient, args ticketListArgs) (desk.TicketPage, string) {
		t.Helper()
		var out bytes.Buffer
		if err := c.call(ctx, "tickets.list", args, nil, &out); err != nil {
			t.Fatal(err)
		}
		var pg desk.TicketPage
		if args.JSON {
			if err := json.Unmarshal(out.Bytes(), &pg); err != nil {
				t.Fatalf("%v: %s", err, out.String())
			}
		}
		return pg, out.String()
	}
	for name, c := range map[string]adminClient{"socket": remote, "no daemon": local} {
		pg, _ := page(c, ticketListArgs{JSON: true, Limit: 2})
		if len(pg.Tickets) != 2 || pg.Tickets[0].Number != 1 || pg.Tickets[1].Number != 2 || pg.Next != 2 {
			t.Errorf("%s: first page %+v", name, pg)
		}
		pg, raw := page(c, ticketListArgs{JSON: true, Limit: 2, After: pg.Next})
		if len(pg.Tickets) != 1 || pg.Tickets[0].Number != 3 || pg.Next != 0 || strings.Contains(raw, "next") {
			t.Errorf("%s: last page %+v\n%s", name, pg, raw)
		}
		if _, text := page(c, ticketListArgs{Limit: 1}); !strings.Contains(text, "more: -after 1 ") {
			t.Errorf("%s: text page of 1:\n%s", name, text)
		}
		if _, text := page(c, ticketListArgs{}); strings.Contains(text, "more:") {
			t.Errorf("%s: text page of all:\n%s", name, text)
		}
	}
}

func TestTicketsListBadLimit(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "127.0.0.1:143", "")
	ingestMail(t, dir, cfg, "Erika <erika@example.org>", "l1")
	for _, l := range []string{"0", "-3", "10001", "x"} {
		runWant(t, exitUsage, "tickets", "list", "-config", cfg, "-limit", l)
	}
	if out := runWant(t, 0, "tickets", "list", "-config", cfg, "-limit", "1", "-after", "1"); strings.Contains(out, "erika") {
		t.Errorf("-after 1 shows ticket 1:\n%s", out)
	}
}
