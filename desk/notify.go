package desk

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"ticketd/config"
	"ticketd/sla"
	"ticketd/store"
	"ticketd/templates"
)

// Mail to agents: the notification of new customer mail, the full ticket
// on #show, the reminder of a ticket due soon, the escalation of an
// overdue one and the daily digest. Each is a copy of personal data
// outside the store, beyond its purges: the ticket lists every one in
// Notified, which the erasure report, the subject export and the record
// of processing show, so the controller can reach those copies.

// excerptLen is how much of the customer's text a minimal notification
// carries.
const excerptLen = 200

// dueAt is when the first answer to a ticket of q created at created is due.
func dueAt(q *config.Queue, created time.Time) time.Time {
	if q == nil || q.ResponseTime.Duration <= 0 {
		return time.Time{}
	}
	return sla.Due(created, q.ResponseTime.Duration, q.BusinessHours)
}

// agentsOf are the agents mail about tk goes to: its assignee, or every
// agent of its queue.
func agentsOf(rt *setup, tk *store.Ticket) []string {
	if tk.Assignee != "" && rt.mayWork(tk.Assignee, tk.Queue) {
		return []string{tk.Assignee}
	}
	var out []string
	if q := rt.cfg.Queue(tk.Queue); q != nil {
		for _, a := range q.Agents {
			out = append(out, store.NormalizeEmail(a))
		}
	}
	return out
}

// agentFacts are the facts of tk an agent mail shows.
func agentFacts(tx *store.Tx, rt *setup, tk *store.Ticket) (templates.AgentTicket, error) {
	now := tx.Now()
	f := templates.AgentTicket{Number: tk.Number, Subject: tk.Subject, Queue: tk.Queue, Purpose: tk.Purpose,
		Status: tk.Status, Assignee: tk.Assignee, Due: tk.DueAt, Answered: !tk.AnsweredAt.IsZero(),
		Requester: "[erased]"}
	f.Overdue = overdue(tk, now)
	if tk.Restricted != nil {
		f.Restricted = tk.Restricted.Reason
	}
	f.Consent = "not needed"
	if p := rt.cfg.Purpose(tk.Purpose); p != nil && p.LegalBasis == config.BasisConsent {
		f.Consent = "pending"
		rec, err := tx.LatestConsent(tk.RequesterID, tk.Purpose)
		if err != nil {
			return f, err
		}
		if rec != nil {
			f.Consent = rec.Decision
		}
	}
	if !tk.Objected.IsZero() {
		f.Consent = store.ConsentObjected
	}
	if tk.AnonymizedAt.IsZero() {
		if p, err := tx.Person(tk.RequesterID); err == nil {
			f.Requester = mailbox(store.Address{Name: p.Name, Email: p.Email})
		}
	}
	return f, nil
}

// mailbox writes an address as "Name <email>" (name one line, shortened).
func mailbox(a store.Address) string {
	if n := templates.EchoName(a.Name); n != "" {
		return n + " <" + a.Email + ">"
	}
	return a.Email
}

// attachmentLines describe attachments for an agent mail.
func attachmentLines(atts []store.Attachment) []string {
	var out []string
	for _, a := range atts {
		name := templates.EchoName(a.Filename)
		if name == "" {
			name = "(no name)"
		}
		out = append(out, fmt.Sprintf("%s (%s, %d bytes)", name, a.ContentType, a.Size))
	}
	return out
}

// excerpt is the start of text, on one line, at most excerptLen characters.
func excerpt(text string) string {
	s := strings.Join(strings.Fields(text), " ")
	if utf8.RuneCountInString(s) <= excerptLen {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:excerptLen])) + " …"
}

// notifyAgents mails the agents of tk (its assignee, or its queue's
// agents) of customer message sm, each with its own reply address, and
// records the copies on the ticket.
func (d *Desk) notifyAgents(tx *store.Tx, rt *setup, tk *store.Ticket, sm *store.Message, isNew bool) (bool, error) {
	to := agentsOf(rt, tk)
	if len(to) == 0 {
		return false, nil
	}
	facts, err := agentFacts(tx, rt, tk)
	if err != nil {
		return false, err
	}
	n := templates.Notification{Lang: rt.cfg.Server.Language, Ticket: facts, New: isNew, From: mailbox(sm.From),
		Text: sm.Text, Attachments: attachmentLines(sm.Attachments)}
	content := "full"
	switch {
	case facts.Restricted != "":
		n.Text, n.Attachments, content = "", nil, "facts"
	case rt.cfg.Queue(tk.Queue).Notify == config.NotifyMinimal:
		n.Text, n.Excerpt, content = excerpt(sm.Text), true, "excerpt"
	}
	subject, text, err := rt.templates.Notification(n)
	if err != nil {
		return false, fmt.Errorf("render notification of ticket %d: %w", tk.Number, err)
	}
	kind := store.NotifyMessage
	if isNew {
		kind = store.NotifyNew
	}
	return true, d.mailAgents(tx, rt, tk, to, kind, sm.ID, content, subject, text)
}

// mailAgents queues one mail about tk for each address of to, with its
// reply address, records each copy on the ticket and audits them as one
// event.
func (d *Desk) mailAgents(tx *store.Tx, rt *setup, tk *store.Ticket, to []string, kind string, message uint64, content, subject, text string) error {
	support := supportAddress(rt.cfg, tk)
	now := tx.Now()
	var ids []uint64
	for _, addr := range to {
		ra, id, err := d.replyAddress(tx, rt, tk, addr)
		if err != nil {
			return err
		}
		if _, err := d.queueAgentMail(tx, rt, agentMail{ticket: tk.Number, kind: "agent " + kind, to: addr, replyTo: ra,
			subject: subject, text: text, from: support}); err != nil {
			return err
		}
		ids = append(ids, id)
		tk.Notified = append(tk.Notified, store.Notified{Agent: addr, Kind: kind, Message: message, Content: content, At: now})
	}
	return tx.UpdateTicket(tk, store.TicketNotified(tk.Number, kind, ids, store.ActorSystem))
}

// showTicket mails the whole ticket to the agent who asked with #show.
func (d *Desk) showTicket(tx *store.Tx, rt *setup, tk *store.Ticket, addr string, agentID uint64) error {
	facts, err := agentFacts(tx, rt, tk)
	if err != nil {
		return err
	}
	sh := templates.Show{Lang: rt.cfg.Server.Language, Ticket: facts}
	content := "full"
	if facts.Restricted == "" {
		msgs, err := tx.TicketMessages(tk.Number)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			kind := map[string]string{store.DirectionIn: "customer", store.DirectionOut: "answer",
				store.DirectionNote: "note", store.DirectionRefused: "refused"}[m.Direction]
			if kind == "" {
				kind = "customer"
			}
			text := m.Text
			if m.Direction == store.DirectionRefused {
				text = "(not sent: " + m.Refused + ")"
			}
			if len(m.Commands) > 0 {
				text = strings.TrimSpace(strings.Join(m.Commands, "\n") + "\n" + text)
			}
			sh.Messages = append(sh.Messages, templates.ShownMessage{At: m.Origin.StoredAt, Kind: kind,
				From: mailbox(m.From), Text: text, Attachments: attachmentLines(m.Attachments)})
		}
	} else {
		content = "facts"
	}
	subject, text, err := rt.templates.Show(sh)
	if err != nil {
		return fmt.Errorf("render ticket %d: %w", tk.Number, err)
	}
	if err := tx.Audit(store.TicketShown(tk.Number, store.ActorAgent(agentID))); err != nil {
		return err
	}
	return d.mailAgents(tx, rt, tk, []string{addr}, store.NotifyShow, 0, content, subject, text)
}

// ServiceReport is what one service-level run sent.
type ServiceReport struct {
	Reminded  []uint64 `json:"reminded"`  // tickets whose agents were reminded
	Escalated []uint64 `json:"escalated"` // tickets escalated to supervisors
}

// serviceBatch bounds the tickets one transaction of a service run handles.
const serviceBatch = 100

// RemindAndEscalate looks at the tickets awaiting their first answer: one
// due within [agents] remind_before gets a reminder to its agents (its
// assignee, or the queue's agents), one overdue an escalation to the
// queue's supervisors (to its agents when it has none); each once per
// ticket and due time.
func (d *Desk) RemindAndEscalate(now time.Time) (*ServiceReport, error) {
	rep := &ServiceReport{}
	rt := d.rt.Load()
	soon := now.Add(rt.cfg.Agents.RemindBefore.Duration)
	// The tickets due by soon, read once: a reminded ticket stays in the
	// index until its escalation, so a batch that starts over from the
	// index's head could see only those and never reach the rest.
	var due []uint64
	if err := d.DB.View(func(tx *store.Tx) (err error) {
		due, err = tx.Due(store.PlanService, soon, 0)
		return err
	}); err != nil {
		return rep, err
	}
	for batch := range slices.Chunk(due, serviceBatch) {
		err := d.DB.Update(func(tx *store.Tx) error {
			for _, n := range batch {
				tk, err := tx.Ticket(n)
				if errors.Is(err, store.ErrNotFound) {
					continue // purged or erased since
				}
				if err != nil {
					return err
				}
				kind := ""
				switch {
				case tk.ServiceAt.IsZero():
					continue // answered or closed since
				case !now.Before(tk.DueAt) && !tk.EscalatedFor.Equal(tk.DueAt):
					kind = store.NotifyEscalation
				case !tk.RemindedFor.Equal(tk.DueAt):
					kind = store.NotifyReminder
				default:
					continue // reminded; the escalation is still to come
				}
				if err := d.remind(tx, rt, tk, kind); err != nil {
					return err
				}
				if kind == store.NotifyEscalation {
					rep.Escalated = append(rep.Escalated, n)
				} else {
					rep.Reminded = append(rep.Reminded, n)
				}
			}
			return nil
		})
		if err != nil {
			return rep, err
		}
	}
	if len(rep.Reminded)+len(rep.Escalated) > 0 {
		d.wake()
	}
	return rep, nil
}

// remind sends the reminder or escalation of kind for tk and marks it sent.
func (d *Desk) remind(tx *store.Tx, rt *setup, tk *store.Ticket, kind string) error {
	to := agentsOf(rt, tk)
	if kind == store.NotifyEscalation {
		tk.EscalatedFor = tk.DueAt
		tk.RemindedFor = tk.DueAt // an overdue ticket needs no reminder any more
		if q := rt.cfg.Queue(tk.Queue); q != nil && len(q.Supervisors) > 0 {
			to = nil
			for _, a := range q.Supervisors {
				to = append(to, store.NormalizeEmail(a))
			}
		}
	} else {
		tk.RemindedFor = tk.DueAt
	}
	facts, err := agentFacts(tx, rt, tk)
	if err != nil {
		return err
	}
	subject, text, err := rt.templates.Reminder(templates.Reminder{Lang: rt.cfg.Server.Language, Ticket: facts,
		Escalation: kind == store.NotifyEscalation})
	if err != nil {
		return err
	}
	if len(to) == 0 {
		return tx.UpdateTicket(tk, store.TicketNotified(tk.Number, kind, nil, store.ActorScheduler))
	}
	return d.mailAgents(tx, rt, tk, to, kind, 0, "facts", subject, text)
}

// DigestReport is what one digest run sent.
type DigestReport struct {
	Agents int `json:"agents"` // digests queued
}

// SendDigests mails each agent the digest of its queues: the overdue, the
// due-soon and the other open tickets. An agent with no open ticket gets
// none.
func (d *Desk) SendDigests(now time.Time) (*DigestReport, error) {
	rt := d.rt.Load()
	cfg := rt.cfg
	soon := now.Add(cfg.Agents.RemindBefore.Duration)
	type lists struct{ overdue, soon, open []templates.AgentTicket }
	byAgent := map[string]*lists{}
	err := d.DB.View(func(tx *store.Tx) error {
		var ferr error
		// The open tickets only, by their index.
		err := eachTicketWhere(tx, store.TicketFilter{Open: true}, func(tk *store.Ticket) bool {
			var f templates.AgentTicket
			if f, ferr = agentFacts(tx, rt, tk); ferr != nil {
				return false
			}
			// A digest lists tickets, not people: no customer name or
			// address, no text.
			f.Requester = ""
			for addr, s := range rt.staff {
				if !s.agentOf[tk.Queue] && !s.supervises[tk.Queue] {
					continue
				}
				if tk.Assignee != "" && tk.Assignee != addr && !s.supervises[tk.Queue] {
					continue
				}
				l := byAgent[addr]
				if l == nil {
					l = &lists{}
					byAgent[addr] = l
				}
				switch {
				case f.Overdue:
					l.overdue = append(l.overdue, f)
				case !f.Due.IsZero() && !f.Answered && f.Due.Before(soon):
					l.soon = append(l.soon, f)
				default:
					l.open = append(l.open, f)
				}
			}
			return true
		})
		if ferr != nil {
			return ferr
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	rep := &DigestReport{}
	addrs := make([]string, 0, len(byAgent))
	for a := range byAgent {
		addrs = append(addrs, a)
	}
	slices.Sort(addrs)
	support := cfg.SMTP.From
	if len(cfg.Mailboxes) > 0 {
		support = cfg.Mailboxes[0].Address
	}
	err = d.DB.Update(func(tx *store.Tx) error {
		for _, addr := range addrs {
			l := byAgent[addr]
			subject, text, err := rt.templates.Digest(templates.Digest{Lang: cfg.Server.Language, Agent: addr, At: now,
				Overdue: l.overdue, DueSoon: l.soon, Open: l.open})
			if err != nil {
				return err
			}
			if _, err := d.queueAgentMail(tx, rt, agentMail{kind: "agent digest", to: addr, subject: subject, text: text, from: support}); err != nil {
				return err
			}
			rep.Agents++
		}
		return nil
	})
	if err == nil && rep.Agents > 0 {
		d.wake()
	}
	return rep, err
}
