package desk

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"ticketd/config/configtest"
	"ticketd/mail/mime"
	"ticketd/store"
)

// agentTOML: two queues, three agents (anna and ben work support, carl
// billing), one supervisor (sue, of support), and a hold category.
const agentTOML = `
[[queue]]
name = "support"
purpose = "support"
response_time = "8h"
agents = ["anna@example.com", "Ben@Example.com"]
supervisors = ["sue@example.com"]

[[queue]]
name = "billing"
purpose = "support"
response_time = "2d"
agents = ["carl@example.com"]
notify = "minimal"

[[hold]]
name = "dispute"
duration = "1y"

[[route]]
queue = "billing"
subject = ["invoice"]
`

func newAgentDesk(t *testing.T) *fileDesk {
	t.Helper()
	cfg := configtest.Parse(t, fmt.Sprintf(testTOML, "127.0.0.1", 1), agentTOML)
	cfg.Server.DataDir, cfg.Server.MasterKeyFile = t.TempDir(), filepath.Join(t.TempDir(), "master.key")
	return openFileDesk(t, cfg)
}

// sentMail is one outbox item, parsed.
type sentMail struct {
	it  *store.OutboxItem
	msg *mime.Message
	raw string
}

// sent returns the outbox items queued after the first skip ones, parsed.
func (fd *fileDesk) sent(skip int) []sentMail {
	fd.t.Helper()
	var out []sentMail
	for _, it := range fd.outbox()[skip:] {
		m, err := mime.Parse(bytes.NewReader(it.Raw), discard{}, mime.ParseOptions{KeepHeaders: []string{"Reply-To", "Auto-Submitted"}})
		if err != nil {
			fd.t.Fatal(err)
		}
		out = append(out, sentMail{it: it, msg: m, raw: string(it.Raw)})
	}
	return out
}

// kinds lists outbox kinds and recipients.
func kinds(ms []sentMail) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.it.Kind+" "+strings.Join(m.it.To, ","))
	}
	slices.Sort(out)
	return out
}

// replyTo is the reply address of the notification to agent to.
func replyTo(t *testing.T, ms []sentMail, to string) string {
	t.Helper()
	for _, m := range ms {
		if m.it.To[0] == to && strings.HasPrefix(m.it.Kind, "agent ") {
			if len(m.msg.ReplyTo) != 1 {
				t.Fatalf("notification to %s has Reply-To %v", to, m.msg.ReplyTo)
			}
			return m.msg.ReplyTo[0].Email
		}
	}
	t.Fatalf("no notification to %s", to)
	return ""
}

// agentRaw is a reply of an agent: from, to the reply address, with body.
func agentRaw(id, from, to, subject, body string) []byte {
	return routeMail(id, "From: "+from+"\nTo: "+to+"\nSubject: "+subject, body)
}

// customerTicket files a new ticket from Erika and returns its number and
// the notifications it made.
func (fd *fileDesk) customerTicket(id, subject, body string) (uint64, []sentMail) {
	fd.t.Helper()
	before := len(fd.outbox())
	out := fd.ingestInto("support", routeMail(id, "From: Erika Mustermann <erika@example.org>\nTo: support@example.com\nSubject: "+subject, body))
	if !out.NewTicket {
		fd.t.Fatalf("outcome %+v, want a new ticket", out)
	}
	return out.Ticket, fd.sent(before)
}

func TestNotificationGoesToTheQueuesAgents(t *testing.T) {
	fd := newAgentDesk(t)
	n, ms := fd.customerTicket("c1@example.org", "Drucker kaputt", "Der Drucker druckt nicht.\nBitte helfen.")
	want := []string{"acknowledgement erika@example.org", "agent new ticket anna@example.com", "agent new ticket ben@example.com"}
	if got := kinds(ms); !slices.Equal(got, want) {
		t.Fatalf("queued %v, want %v", got, want)
	}
	for _, m := range ms[1:] {
		h := m.msg
		if !strings.Contains(h.Subject, fmt.Sprintf("[#%d]", n)) || !strings.Contains(h.Text, "Der Drucker druckt nicht.") {
			t.Errorf("notification subject %q, text %q", h.Subject, h.Text)
		}
		if len(h.References) != 1 || !strings.Contains(h.References[0], fmt.Sprintf("thread%d.", n)) ||
			len(h.InReplyTo) != 1 || h.InReplyTo[0] != h.References[0] {
			t.Errorf("notification threading: In-Reply-To %v References %v", h.InReplyTo, h.References)
		}
		if strings.Contains(strings.Join(m.it.To, ","), "erika") {
			t.Errorf("a notification went to the customer: %v", m.it.To)
		}
		if !strings.HasPrefix(h.ReplyTo[0].Email, fmt.Sprintf("support+t%d.a", n)) {
			t.Errorf("Reply-To %v", h.ReplyTo)
		}
	}
	tk := fd.ticket(n)
	if len(tk.Notified) != 2 || tk.Notified[0].Content != "full" || tk.DueAt.IsZero() {
		t.Errorf("ticket records notified %+v, due %v", tk.Notified, tk.DueAt)
	}
	if want := fd.now.Add(8 * time.Hour); !tk.DueAt.Equal(want) {
		t.Errorf("due %v, want %v", tk.DueAt, want)
	}

	// The customer's reply goes to the same agents, threaded the same way.
	before := len(fd.outbox())
	fd.ingestInto("support", routeMail("c2@example.org", "From: erika@example.org\nTo: support@example.com\nIn-Reply-To: <c1@example.org>\nSubject: Re: Drucker", "Noch da?"))
	ms2 := fd.sent(before)
	if got := kinds(ms2); !slices.Equal(got, []string{"agent customer message anna@example.com", "agent customer message ben@example.com"}) {
		t.Errorf("on the reply: %v", got)
	}

	// Minimal notifications in billing carry an excerpt only.
	before = len(fd.outbox())
	long := strings.Repeat("Rechnung falsch. ", 40) + "GEHEIMES ENDE"
	fd.ingestInto("support", routeMail("c3@example.org", "From: erika@example.org\nTo: support@example.com\nSubject: invoice", long))
	for _, m := range fd.sent(before) {
		if m.it.Kind == "agent new ticket" && strings.Contains(m.msg.Text, "GEHEIMES ENDE") {
			t.Errorf("minimal notification carries the whole text")
		}
	}
}

// reply sends an agent mail and returns its outcome and what it queued.
func (fd *fileDesk) reply(raw []byte) (Outcome, []sentMail) {
	fd.t.Helper()
	before := len(fd.outbox())
	out := fd.ingestInto("support", raw)
	return out, fd.sent(before)
}

func TestAgentReplyIsRelayed(t *testing.T) {
	fd := newAgentDesk(t)
	n, ms := fd.customerTicket("c1@example.org", "Drucker kaputt", "Der Drucker druckt nicht.")
	ra := replyTo(t, ms, "anna@example.com")
	body := "Bitte starten Sie ihn neu.\n\nViele Grüße\nAnna\n\nAm 23.11.2026 um 10:00 schrieb Support <support@example.com>:\n> Der Drucker druckt nicht.\n"
	out, sent := fd.reply(agentRaw("a1@example.com", "Anna <anna@example.com>", ra, fmt.Sprintf("Re: [#%d] Drucker kaputt", n), body))
	if out.AgentReply != store.DirectionOut || out.NewTicket || out.Ticket != n {
		t.Fatalf("outcome %+v", out)
	}
	if len(sent) != 1 || sent[0].it.Kind != "answer" || sent[0].it.To[0] != "erika@example.org" {
		t.Fatalf("queued %v", kinds(sent))
	}
	m := sent[0].msg
	if m.From.Email != "support@example.com" || m.Subject != fmt.Sprintf("Re: [#%d] Drucker kaputt", n) ||
		len(m.InReplyTo) != 1 || m.InReplyTo[0] != "c1@example.org" || !slices.Contains(m.References, "c1@example.org") {
		t.Errorf("answer header: from %v subject %q in-reply-to %v references %v", m.From, m.Subject, m.InReplyTo, m.References)
	}
	if !strings.Contains(m.Text, "Bitte starten Sie ihn neu.") || strings.Contains(m.Text, "> Der Drucker") || strings.Contains(m.Text, "schrieb") {
		t.Errorf("answer text %q: want the agent's text without the quote", m.Text)
	}
	if strings.Contains(sent[0].raw, "Auto-Submitted") || strings.Contains(sent[0].raw, "anna@example.com") {
		t.Errorf("the answer is a person's mail from the support address:\n%s", sent[0].raw)
	}
	tk := fd.ticket(n)
	if tk.Status != store.StatusOpen || tk.AnsweredAt.IsZero() {
		t.Errorf("ticket status %s answered %v", tk.Status, tk.AnsweredAt)
	}
	msgs := fd.messages(n)
	last := msgs[len(msgs)-1]
	if last.Direction != store.DirectionOut || last.Agent != "anna@example.com" || last.OutboxID != sent[0].it.ID {
		t.Errorf("stored answer %+v", last)
	}
	// The customer's answer to it threads into the ticket.
	again := fd.ingestInto("support", routeMail("c2@example.org", "From: erika@example.org\nTo: support@example.com\nIn-Reply-To: <"+sent[0].it.MessageID+">\nSubject: Re: x", "Danke"))
	if again.Ticket != n || again.NewTicket {
		t.Errorf("customer's reply to the answer: %+v", again)
	}
}

func (fd *fileDesk) messages(n uint64) []*store.Message {
	var out []*store.Message
	fd.db.View(func(tx *store.Tx) (err error) { out, err = tx.TicketMessages(n); return err })
	return out
}

func TestForgedAgentRepliesAreRefused(t *testing.T) {
	fd := newAgentDesk(t)
	n, ms := fd.customerTicket("c1@example.org", "Drucker", "Hilfe")
	_, msb := fd.customerTicket("c3@example.org", "invoice", "Rechnung")
	anna := replyTo(t, ms, "anna@example.com")
	ben := replyTo(t, ms, "ben@example.com")
	carl := replyTo(t, msb, "carl@example.com")
	flip := func(s string) string {
		i := strings.IndexByte(s, '@') - 1
		c := byte('a')
		if s[i] == 'a' {
			c = 'b'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	for _, tc := range []struct {
		name, from, to string
		check          string // the refusal's check
		refusalTo      string // who gets a refusal, "" for nobody
	}{
		{"forged From with a valid token", "Mallory <mallory@evil.example>", anna, "refused: sender", "mallory@evil.example"},
		{"another agent's token", "anna@example.com", ben, "refused: sender", "anna@example.com"},
		{"token altered by one character", "anna@example.com", flip(anna), "refused: reply address", "anna@example.com"},
		{"forged token from a stranger", "x@evil.example", flip(anna), "refused: reply address", ""},
		{"an agent of another queue with its agent's token", "anna@example.com", carl, "refused: sender", "anna@example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, sent := fd.reply(agentRaw(strings.ReplaceAll(tc.name, " ", ".")+"@x", tc.from, tc.to, "Re: x", "Hier ist die Antwort."))
			if out.AgentReply != tc.check {
				t.Errorf("outcome %+v, want %s", out, tc.check)
			}
			for _, s := range sent {
				if s.it.Kind == "answer" || slices.Contains(s.it.To, "erika@example.org") {
					t.Fatalf("a refused reply reached the customer: %v", kinds(sent))
				}
			}
			got := ""
			if len(sent) == 1 && sent[0].it.Kind == "refusal" {
				got = sent[0].it.To[0]
			}
			if got != tc.refusalTo || len(sent) > 1 {
				t.Errorf("queued %v, want a refusal to %q", kinds(sent), tc.refusalTo)
			}
			if len(sent) == 1 && strings.Contains(sent[0].msg.Text, "Hier ist die Antwort") {
				t.Errorf("the refusal quotes the mail")
			}
		})
	}
	// A refused mail with a genuine token is stored on its ticket (the
	// first two here); one with a forged token is quarantined.
	refused := 0
	for _, m := range fd.messages(n) {
		if m.Direction == store.DirectionRefused {
			refused++
		}
	}
	if refused != 2 {
		t.Errorf("%d refused messages on ticket %d, want 2 (forged From, another agent's token)", refused, n)
	}
	if tk := fd.ticket(n); tk.Status != store.StatusNew || !tk.AnsweredAt.IsZero() {
		t.Errorf("refused replies changed the ticket: status %s, answered %v", tk.Status, tk.AnsweredAt)
	}
	if len(fd.quarantined()) != 2 {
		t.Errorf("quarantined %d, want 2 (the altered tokens)", len(fd.quarantined()))
	}
	var events []string
	fd.db.View(func(tx *store.Tx) error {
		return tx.AuditEvents(func(e *store.AuditEvent) bool {
			if e.Action == store.ActionAgentRefused {
				events = append(events, e.Detail)
				if e.Actor != store.ActorSystem {
					t.Errorf("a reply that failed its check is recorded as %s's: %+v", e.Actor, e)
				}
			}
			return true
		})
	})
	if len(events) != 5 {
		t.Errorf("agent.refused events %v, want 5", events)
	}
}

func (fd *fileDesk) quarantined() []*store.Quarantine {
	var out []*store.Quarantine
	fd.db.View(func(tx *store.Tx) error {
		return tx.Quarantined(func(q *store.Quarantine) bool { out = append(out, q); return true })
	})
	return out
}

// TestAgentOutsideItsQueues: an agent's token can only come from a
// notification of its own queue; after a #queue move the old token stays
// valid but the ticket is no longer the agent's, and nothing of its mail
// reaches the ticket.
func TestAgentOutsideItsQueues(t *testing.T) {
	fd := newAgentDesk(t)
	n, ms := fd.customerTicket("c1@example.org", "Drucker", "Hilfe")
	anna := replyTo(t, ms, "anna@example.com")
	sueRA := fd.issue(n, "sue@example.com")
	out, _ := fd.reply(agentRaw("s1@x", "sue@example.com", sueRA, "Re: x", "#queue billing"))
	if out.AgentReply != store.DirectionNote || fd.ticket(n).Queue != "billing" {
		t.Fatalf("supervisor's #queue: %+v, queue %s", out, fd.ticket(n).Queue)
	}
	before := len(fd.messages(n))
	out, sent := fd.reply(agentRaw("a1@x", "anna@example.com", anna, "Re: x", "Antwort"))
	if out.AgentReply != "refused: permission" || len(fd.messages(n)) != before {
		t.Errorf("anna on billing's ticket: %+v, messages %d -> %d", out, before, len(fd.messages(n)))
	}
	if len(sent) != 1 || sent[0].it.Kind != "refusal" {
		t.Errorf("queued %v", kinds(sent))
	}
}

// issue makes agent addr's reply address for ticket n, as a notification would.
func (fd *fileDesk) issue(n uint64, addr string) string {
	fd.t.Helper()
	var ra string
	err := fd.db.Update(func(tx *store.Tx) error {
		tk, err := tx.Ticket(n)
		if err != nil {
			return err
		}
		ra, _, err = fd.d.replyAddress(tx, fd.d.rt.Load(), tk, addr)
		return err
	})
	if err != nil {
		fd.t.Fatal(err)
	}
	return ra
}

func TestAgentCommands(t *testing.T) {
	fd := newAgentDesk(t)
	n, ms := fd.customerTicket("c1@example.org", "Drucker", "Hilfe")
	anna := replyTo(t, ms, "anna@example.com")
	ben := replyTo(t, ms, "ben@example.com")
	sue := fd.issue(n, "sue@example.com")
	id := 0
	send := func(from, to, body string) (Outcome, []sentMail) {
		id++
		return fd.reply(agentRaw(fmt.Sprintf("cmd%d@x", id), from, to, "Re: x", body))
	}
	// A reply that is only commands sends nothing to the customer.
	out, sent := send("anna@example.com", anna, "#assign anna@example.com\n#hold dispute\n\n> quoted\n")
	tk := fd.ticket(n)
	if out.AgentReply != store.DirectionNote || tk.Assignee != "anna@example.com" || len(tk.Holds) != 1 || len(sent) != 0 {
		t.Fatalf("only commands: %+v, assignee %q, holds %v, queued %v", out, tk.Assignee, tk.Holds, kinds(sent))
	}
	// Ben may not take a ticket assigned to anna; one bad command refuses all.
	out, sent = send("ben@example.com", ben, "#close\n#assign ben@example.com\nDone.")
	if out.AgentReply != "refused: command" || fd.ticket(n).Status == store.StatusClosed {
		t.Errorf("ben's reassign: %+v, status %s", out, fd.ticket(n).Status)
	}
	if len(sent) != 1 || sent[0].it.Kind != "refusal" || !strings.Contains(sent[0].msg.Text, "einem anderen Agenten zugewiesen") {
		t.Errorf("refusal %v", kinds(sent))
	}
	// Unknown commands, #queue by an agent, wrong names.
	for _, body := range []string{"#frobnicate\nHallo", "#queue billing", "#purpose nosuch", "#hold nosuch", "#release dispute-x", "#assign mallory@evil.example"} {
		out, sent = send("anna@example.com", anna, body)
		if out.AgentReply != "refused: command" || len(sent) != 1 || sent[0].it.Kind != "refusal" {
			t.Errorf("%q: %+v, queued %v", body, out, kinds(sent))
		}
	}
	// Now assigned, notifications go to anna only.
	before := len(fd.outbox())
	fd.ingestInto("support", routeMail("c2@example.org", "From: erika@example.org\nTo: support@example.com\nIn-Reply-To: <c1@example.org>\nSubject: Re", "Und?"))
	if got := kinds(fd.sent(before)); !slices.Equal(got, []string{"agent customer message anna@example.com"}) {
		t.Errorf("after #assign, notified %v", got)
	}
	// #note is stored, never sent.
	out, sent = send("anna@example.com", anna, "#note\nKunde ist VIP.")
	msgs := fd.messages(n)
	if out.AgentReply != store.DirectionNote || len(sent) != 0 || msgs[len(msgs)-1].Text != "Kunde ist VIP." {
		t.Errorf("#note: %+v, queued %v, stored %q", out, kinds(sent), msgs[len(msgs)-1].Text)
	}
	// #show mails the full ticket to the asker.
	out, sent = send("anna@example.com", anna, "#show")
	if len(sent) != 1 || sent[0].it.To[0] != "anna@example.com" || !strings.Contains(sent[0].msg.Text, "Kunde ist VIP.") {
		t.Errorf("#show queued %v", kinds(sent))
	}
	// #release, #purpose, #close, #reopen by the assignee; the supervisor reassigns.
	for _, body := range []string{"#release dispute", "#close", "#reopen"} {
		if out, _ := send("anna@example.com", anna, body); out.AgentReply != store.DirectionNote {
			t.Errorf("%q: %+v", body, out)
		}
	}
	if out, _ := send("sue@example.com", sue, "#assign ben@example.com"); out.AgentReply != store.DirectionNote || fd.ticket(n).Assignee != "ben@example.com" {
		t.Errorf("supervisor's #assign: %+v, assignee %q", out, fd.ticket(n).Assignee)
	}
	// A command with an answer: close and answer at once.
	out, sent = send("ben@example.com", ben, "#close\nErledigt.")
	if out.AgentReply != store.DirectionOut || len(sent) != 1 || sent[0].it.Kind != "answer" || fd.ticket(n).Status != store.StatusClosed {
		t.Errorf("#close with answer: %+v, queued %v, status %s", out, kinds(sent), fd.ticket(n).Status)
	}
	var actions []string
	fd.db.View(func(tx *store.Tx) error {
		return tx.AuditEvents(func(e *store.AuditEvent) bool {
			if strings.HasPrefix(string(e.Actor), "agent:") {
				actions = append(actions, string(e.Action))
			}
			return true
		})
	})
	for _, a := range []store.Action{store.ActionTicketAssigned, store.ActionTicketHoldAdded, store.ActionTicketHoldReleased,
		store.ActionTicketClosed, store.ActionTicketReopened, store.ActionTicketShown, store.ActionAgentRefused} {
		if !slices.Contains(actions, string(a)) {
			t.Errorf("no %s event by an agent in %v", a, actions)
		}
	}
}

func TestRestrictedTicketIsNotRelayed(t *testing.T) {
	fd := newAgentDesk(t)
	n, ms := fd.customerTicket("c1@example.org", "Drucker", "Hilfe")
	anna := replyTo(t, ms, "anna@example.com")
	fd.db.Update(func(tx *store.Tx) error {
		tk, _ := tx.Ticket(n)
		tk.Restricted = &store.Restriction{Since: tx.Now(), Reason: store.RestrictedNoConsent}
		return tx.UpdateTicket(tk, store.TicketRestricted(n, store.ActorSystem))
	})
	out, sent := fd.reply(agentRaw("a1@x", "anna@example.com", anna, "Re: x", "Antwort"))
	if out.AgentReply != "refused: restricted" || len(sent) != 1 || sent[0].it.Kind != "refusal" ||
		!strings.Contains(sent[0].msg.Text, "eingeschränkt") {
		t.Errorf("answer on a restricted ticket: %+v, queued %v", out, kinds(sent))
	}
	// A command alone still works.
	if out, _ := fd.reply(agentRaw("a2@x", "anna@example.com", anna, "Re: x", "#close")); out.AgentReply != store.DirectionNote {
		t.Errorf("#close on a restricted ticket: %+v", out)
	}
}

func TestAgentWithoutTokenGetsAHint(t *testing.T) {
	fd := newAgentDesk(t)
	before := len(fd.outbox())
	out := fd.ingestInto("support", routeMail("a1@x", "From: Anna <anna@example.com>\nTo: support@example.com\nSubject: Re: [#1] Drucker", "Antwort ohne Token"))
	if out.NewTicket || out.Quarantine == 0 || len(fd.tickets()) != 0 {
		t.Fatalf("outcome %+v, tickets %d: want no ticket", out, len(fd.tickets()))
	}
	sent := fd.sent(before)
	if got := kinds(sent); !slices.Equal(got, []string{"hint anna@example.com"}) {
		t.Errorf("queued %v, want one hint", got)
	}
}

func (fd *fileDesk) tickets() []*store.Ticket {
	var out []*store.Ticket
	fd.db.View(func(tx *store.Tx) error {
		return tx.Tickets(func(tk *store.Ticket) bool { out = append(out, tk); return true })
	})
	return out
}

func TestAgentAutoReplyIsNeitherRelayedNorAnswered(t *testing.T) {
	fd := newAgentDesk(t)
	_, ms := fd.customerTicket("c1@example.org", "Drucker", "Hilfe")
	anna := replyTo(t, ms, "anna@example.com")
	raw := routeMail("ooo@x", "From: anna@example.com\nTo: "+anna+"\nSubject: Abwesend\nAuto-Submitted: auto-replied", "Ich bin bis Montag nicht im Büro.")
	out, sent := fd.reply(raw)
	if out.AgentReply != "refused: automatic reply" || len(sent) != 0 {
		t.Errorf("out of office: %+v, queued %v", out, kinds(sent))
	}
}

func TestCustomerReplyReopensOrFollows(t *testing.T) {
	fd := newAgentDesk(t)
	n, _ := fd.customerTicket("c1@example.org", "Drucker", "Hilfe")
	if _, err := fd.d.CloseTicket(n); err != nil {
		t.Fatal(err)
	}
	fd.now = fd.now.Add(10 * 24 * time.Hour)
	out := fd.ingestInto("support", routeMail("c2@example.org", "From: erika@example.org\nTo: support@example.com\nIn-Reply-To: <c1@example.org>\nSubject: Re", "Wieder kaputt"))
	if out.NewTicket || out.Ticket != n || fd.ticket(n).Status != store.StatusOpen {
		t.Fatalf("reply within reopen_within: %+v, status %s", out, fd.ticket(n).Status)
	}
	fd.d.CloseTicket(n)
	fd.now = fd.now.Add(31 * 24 * time.Hour)
	out = fd.ingestInto("support", routeMail("c3@example.org", "From: erika@example.org\nTo: support@example.com\nIn-Reply-To: <c2@example.org>\nSubject: Re", "Schon wieder"))
	if !out.NewTicket || out.Ticket == n || fd.ticket(out.Ticket).Follows != n || fd.ticket(n).Status != store.StatusClosed {
		t.Errorf("reply after reopen_within: %+v, follows %d", out, fd.ticket(out.Ticket).Follows)
	}
}

func TestRemindersEscalationsAndDigest(t *testing.T) {
	fd := newAgentDesk(t)
	n, _ := fd.customerTicket("c1@example.org", "Drucker", "Hilfe")
	due := fd.ticket(n).DueAt
	run := func(at time.Time) (*ServiceReport, []sentMail) {
		before := len(fd.outbox())
		fd.now = at
		rep, err := fd.d.RemindAndEscalate(at)
		if err != nil {
			t.Fatal(err)
		}
		return rep, fd.sent(before)
	}
	if rep, sent := run(due.Add(-3 * time.Hour)); len(rep.Reminded)+len(rep.Escalated) != 0 || len(sent) != 0 {
		t.Errorf("3h before due: %+v", rep)
	}
	rep, sent := run(due.Add(-time.Hour))
	if !slices.Equal(rep.Reminded, []uint64{n}) || !slices.Equal(kinds(sent), []string{"agent reminder anna@example.com", "agent reminder ben@example.com"}) {
		t.Errorf("1h before due: %+v, %v", rep, kinds(sent))
	}
	if rep, _ := run(due.Add(-time.Minute)); len(rep.Reminded) != 0 {
		t.Errorf("reminded twice: %+v", rep)
	}
	rep, sent = run(due.Add(time.Minute))
	if !slices.Equal(rep.Escalated, []uint64{n}) || !slices.Equal(kinds(sent), []string{"agent escalation sue@example.com"}) {
		t.Errorf("overdue: %+v, %v", rep, kinds(sent))
	}
	if rep, _ := run(due.Add(time.Hour)); len(rep.Escalated) != 0 {
		t.Errorf("escalated twice: %+v", rep)
	}
	before := len(fd.outbox())
	drep, err := fd.d.SendDigests(due.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	got := kinds(fd.sent(before))
	if drep.Agents != 3 || !slices.Equal(got, []string{"agent digest anna@example.com", "agent digest ben@example.com", "agent digest sue@example.com"}) {
		t.Errorf("digest: %+v %v", drep, got)
	}
}

// TestAgentCopiesAreReported: the mails with a person's data that went to
// agents are listed in the export and the erasure report, which cannot
// delete them.
func TestAgentCopiesAreReported(t *testing.T) {
	fd := newAgentDesk(t)
	n, ms := fd.customerTicket("c1@example.org", "Drucker", "Hilfe")
	anna := replyTo(t, ms, "anna@example.com")
	fd.reply(agentRaw("a1@x", "anna@example.com", anna, "Re: x", "#note\nKunde anrufen."))
	doc, _, err := collectExport(fd.db, fd.d.Config(), "erika@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.AgentCopies) != 2 || doc.AgentCopies[0].Ticket != n || doc.AgentCopies[0].Content != "full" {
		t.Errorf("export agent copies %+v", doc.AgentCopies)
	}
	notes := 0
	for _, m := range doc.Tickets[0].Messages {
		if m.Direction == store.DirectionNote {
			notes++
		}
	}
	if notes != 1 {
		t.Errorf("the export holds %d internal notes about the person's ticket, want 1", notes)
	}
	rec, err := fd.d.Record()
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.AgentCopies) != 2 || rec.AgentCopies[0].Agent != "anna@example.com" || rec.AgentCopies[0].Full != 1 ||
		!slices.Equal(rec.AgentCopies[0].Tickets, []uint64{n}) {
		t.Errorf("record of processing, copies at agents: %+v", rec.AgentCopies)
	}
	var md strings.Builder
	rec.WriteMarkdown(&md)
	if !strings.Contains(md.String(), "| anna@example.com | 1 | 1 | #1 | 2026-11-23 | 2026-11-23 |") {
		t.Errorf("record of processing:\n%s", md.String())
	}
	rep, err := fd.d.Erase(t.Context(), "erika@example.org", true)
	if err != nil {
		t.Fatal(err)
	}
	var agents []string
	for _, c := range rep.NotReachable.AgentCopies {
		agents = append(agents, c.Agent)
	}
	slices.Sort(agents)
	if !slices.Equal(agents, []string{"anna@example.com", "ben@example.com"}) {
		t.Errorf("erasure report agent copies %+v", rep.NotReachable.AgentCopies)
	}
	var b strings.Builder
	rep.WriteText(&b)
	if !strings.Contains(b.String(), "ask these agents to delete it") || !strings.Contains(b.String(), "anna@example.com: ticket #1, new ticket (full)") {
		t.Errorf("report text:\n%s", b.String())
	}
}

// TestBusinessHoursDueAndPromise: in a queue with business hours a ticket
// of Friday evening is due on Monday, and the acknowledgement says when.
func TestBusinessHoursDueAndPromise(t *testing.T) {
	cfg := configtest.Parse(t, fmt.Sprintf(testTOML, "127.0.0.1", 1), `
[[queue]]
name = "support"
purpose = "support"
response_time = "2h"
agents = ["anna@example.com"]

[queue.business_hours]
start = "09:00"
end = "17:00"
time_zone = "Europe/Berlin"
`)
	cfg.Server.DataDir, cfg.Server.MasterKeyFile = t.TempDir(), filepath.Join(t.TempDir(), "master.key")
	fd := openFileDesk(t, cfg)
	fd.now = time.Date(2026, 11, 27, 17, 30, 0, 0, time.UTC) // Friday 18:30 in Berlin
	n, ms := fd.customerTicket("c1@example.org", "Drucker", "Hilfe")
	berlin, _ := time.LoadLocation("Europe/Berlin")
	if want := time.Date(2026, 11, 30, 11, 0, 0, 0, berlin); !fd.ticket(n).DueAt.Equal(want) {
		t.Errorf("due %v, want %v", fd.ticket(n).DueAt, want)
	}
	if !strings.Contains(strings.Join(strings.Fields(ms[0].msg.Text), " "), "30.11.2026 um 11:00 Uhr (CET)") {
		t.Errorf("acknowledgement does not state the due time:\n%s", ms[0].msg.Text)
	}
}

// TestOwnMailNotifiesNoOne: ticketd's own mail come back (an agent's
// mailbox forwarding a notification to the support address) starts no
// notification, so nothing loops.
func TestOwnMailNotifiesNoOne(t *testing.T) {
	fd := newAgentDesk(t)
	_, ms := fd.customerTicket("c1@example.org", "Drucker", "Hilfe")
	before := len(fd.outbox())
	fd.ingestInto("support", ms[1].it.Raw)
	if sent := fd.sent(before); len(sent) != 0 {
		t.Errorf("a notification that came back queued %v", kinds(sent))
	}
}

var (
	reAgentMsgID = regexp.MustCompile(`ticketd\.(a|r|thread)(\d+)\.[a-z0-9]{12,16}@`)
	reReplyMAC   = regexp.MustCompile(`(\+t\d+\.a\d+\.)[a-z2-7]{16}@`)
)

// TestAgentMailGolden: a notification and the answer relayed to the
// customer, as sent (header and decoded text), with the random parts replaced.
func TestAgentMailGolden(t *testing.T) {
	fd := newAgentDesk(t)
	n, ms := fd.customerTicket("c1@example.org", "Drucker kaputt", "Der Drucker druckt nicht.\r\nBitte helfen.")
	ra := replyTo(t, ms, "anna@example.com")
	_, sent := fd.reply(agentRaw("a1@example.com", "Anna <anna@example.com>", ra, fmt.Sprintf("Re: [#%d] Drucker kaputt", n),
		"Bitte starten Sie ihn neu.\r\n\r\n-- \r\nAnna\r\n\r\nAm 23.11.2026 um 10:30 schrieb Beispiel GmbH <support@example.com>:\r\n> Der Drucker druckt nicht."))
	for name, raw := range map[string][]byte{"agent-notification.golden": ms[1].it.Raw, "agent-answer.golden": sent[0].it.Raw} {
		head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
		m, err := mime.Parse(bytes.NewReader(raw), discard{}, mime.ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s := strings.ReplaceAll(string(head), "\r\n", "\n") + "\n\n" + m.Text
		s = reAgentMsgID.ReplaceAllString(s, "ticketd.$1$2.RANDOM@")
		s = reReplyMAC.ReplaceAllString(s, "${1}SIGNATURE@")
		s = reInstance.ReplaceAllString(s, "$1 INSTANCE")
		golden(t, name, s)
	}
}

// TestAgentKeyOfAnOlderStore: a store from before agent replies has no
// agent.key; it is made on first use. Once reply addresses went out, a
// missing key stops the desk from opening instead of making a new one.
func TestAgentKeyOfAnOlderStore(t *testing.T) {
	cfg := configtest.Parse(t, fmt.Sprintf(testTOML, "127.0.0.1", 1), agentTOML)
	cfg.Server.DataDir, cfg.Server.MasterKeyFile = t.TempDir(), filepath.Join(t.TempDir(), "master.key")
	fd := openFileDesk(t, cfg)
	key := filepath.Join(cfg.Server.DataDir, "agent.key")
	fd.db.Close()
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	fd = openFileDesk(t, cfg) // an existing store without a key
	if _, err := os.Stat(key); err == nil {
		t.Fatal("opening an existing store made an agent key")
	}
	_, ms := fd.customerTicket("c1@example.org", "Drucker", "Hilfe")
	if replyTo(t, ms, "anna@example.com") == "" {
		t.Fatal("no reply address")
	}
	if _, err := os.Stat(key); err != nil {
		t.Fatalf("the first reply address made no key: %v", err)
	}
	fd.db.Close()
	os.Remove(key)
	db, err := store.Open(cfg.Server.DataDir, store.Options{MasterKeyFile: cfg.Server.MasterKeyFile})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := New(db, cfg, testLogger(t)); err == nil || !strings.Contains(err.Error(), "agent key") {
		t.Errorf("a store whose reply addresses went out opened without its key: %v", err)
	}
}

// TestReminderReachesTicketsBehindAFullBatch: tickets already reminded and
// awaiting their escalation fill more than one batch of the service index;
// a ticket due after them still gets its reminder.
func TestReminderReachesTicketsBehindAFullBatch(t *testing.T) {
	fd := newAgentDesk(t)
	start := fd.now
	for i := range serviceBatch + 1 {
		fd.customerTicket(fmt.Sprintf("early%d@example.org", i), "Drucker", "Hilfe")
	}
	if rep, err := fd.d.RemindAndEscalate(start.Add(7 * time.Hour)); err != nil || len(rep.Reminded) != serviceBatch+1 {
		t.Fatalf("first run: %d reminded, %v", len(rep.Reminded), err)
	}
	fd.now = start.Add(30 * time.Minute)
	late, _ := fd.customerTicket("late@example.org", "Scanner", "Hilfe")
	rep, err := fd.d.RemindAndEscalate(fd.ticket(late).DueAt.Add(-time.Hour))
	if err != nil || !slices.Equal(rep.Reminded, []uint64{late}) || len(rep.Escalated) != 0 {
		t.Errorf("second run: reminded %v, escalated %v, %v; want only ticket %d reminded", rep.Reminded, rep.Escalated, err, late)
	}
}
