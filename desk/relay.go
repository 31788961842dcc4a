package desk

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"ticketd/agent"
	"ticketd/mail/reply"
	"ticketd/mail/smtp"
	"ticketd/retention"
	"ticketd/store"
	"ticketd/templates"
)

// An agent's reply, once agent.VerifyAgentReply passed, is read as:
//
//	#command lines, each on its own line at the top, before any text
//	the text for the customer (or, after #note, the internal note)
//	the quoted history and the signature, which are dropped (reply.Strip)
//
// Every command is checked before any is carried out: one unknown or
// unauthorised command refuses the whole mail, so nothing half happens
// and nothing reaches the customer.

// command is one parsed command line.
type command struct {
	name string // without "#", lower case
	arg  string
	line string // as written, for the record
}

// commandHelp is the hint a refused command gets.
var commandHelp = say("write the commands as the list below shows, each on its own line at the top of the reply, and send again",
	"Schreiben Sie die Befehle wie in der Liste unten, jeden in einer eigenen Zeile ganz oben in der Antwort, und senden Sie erneut")

// maxCommands bounds the command lines read from one reply.
const maxCommands = 20

// parseCommands splits the agent's text into the command lines at its top
// and the text below them. A line at the top that starts with "#" is a
// command line; the first other non-blank line ends them.
func parseCommands(text string) (cmds []command, rest string) {
	lines := strings.Split(text, "\n")
	i := 0
	for ; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if l == "" {
			continue
		}
		if !strings.HasPrefix(l, "#") || len(cmds) == maxCommands {
			break
		}
		name, arg, _ := strings.Cut(l[1:], " ")
		cmds = append(cmds, command{name: strings.ToLower(name), arg: strings.TrimSpace(arg), line: l})
	}
	return cmds, strings.TrimSpace(strings.Join(lines[i:], "\n"))
}

// agentReply carries out a verified agent reply on its ticket.
func (d *Desk) agentReply(tx *store.Tx, rt *setup, it *parsed, origin store.Origin, key []byte, support string, blobs *store.BlobWriter, v agent.Verified) (Outcome, error) {
	m := it.msg
	addr, _ := tx.AgentAddress(v.Agent)
	rf := refusal{ticket: v.Ticket, agent: v.Agent, onTicket: true, answer: true, verified: true}
	tk, err := tx.Ticket(v.Ticket)
	if errors.Is(err, store.ErrNotFound) {
		rf.check, rf.onTicket = "ticket", false
		rf.reasons = []words{say("ticket %d no longer exists (erased or purged)", "Ticket %d gibt es nicht mehr (gelöscht)", v.Ticket)}
		return d.refuseAgentMail(tx, rt, it, origin, key, support, blobs, rf)
	}
	if err != nil {
		return Outcome{}, err
	}
	if !rt.mayWork(addr, tk.Queue) {
		// Nothing of the mail reaches a ticket outside the agent's queues.
		rf.check, rf.onTicket = "permission", false
		rf.reasons = []words{say("ticket %d is in queue %s, which agent %d does not work", "Ticket %d ist in der Queue %s, die Agent %d nicht bearbeitet", tk.Number, tk.Queue, v.Agent)}
		return d.refuseAgentMail(tx, rt, it, origin, key, support, blobs, rf)
	}
	if why := rt.policy.Suppress(m); why != "" {
		// An out-of-office or other automatic answer of the agent's
		// mailbox is never relayed, and never answered.
		rf.check, rf.answer = "automatic reply", false
		rf.reasons = []words{say("the mail is an automatic reply (%s)", "die E-Mail ist eine automatische Antwort (%s)", why)}
		return d.refuseAgentMail(tx, rt, it, origin, key, support, blobs, rf)
	}
	// Text is the text part, or the text of the HTML part (TextFromHTML).
	stripped := reply.Strip(m.Text)
	cmds, body := parseCommands(stripped.Text)
	note := false
	var problems []words
	for _, c := range cmds {
		if c.name == "note" {
			note = true
			if c.arg != "" {
				body = strings.TrimSpace(c.arg + "\n" + body)
			}
			continue
		}
		if p := d.checkCommand(tx, rt, tk, addr, c); p.en != "" {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		rf.check, rf.reasons, rf.hint = "command", problems, commandHelp
		return d.refuseAgentMail(tx, rt, it, origin, key, support, blobs, rf)
	}
	answer := body != "" && !note
	if answer {
		if why := relayBlocked(tx, tk); why.en != "" {
			rf.check, rf.reasons = "restricted", []words{why}
			return d.refuseAgentMail(tx, rt, it, origin, key, support, blobs, rf)
		}
	}
	actor := store.ActorAgent(v.Agent)
	show := false
	var applied []string
	for _, c := range cmds {
		if c.name == "note" {
			continue
		}
		if c.name == "show" {
			show = true
		} else if err := d.runCommand(tx, rt, tk.Number, addr, v.Agent, c); err != nil {
			return Outcome{}, err
		}
		applied = append(applied, c.line)
	}
	if tk, err = tx.Ticket(tk.Number); err != nil {
		return Outcome{}, err
	}
	direction := store.DirectionNote
	if answer {
		direction = store.DirectionOut
	}
	sm := agentMessage(rt, it, origin, direction, v.Agent, addr, body)
	sm.Commands = applied
	out := Outcome{Ticket: tk.Number}
	if answer {
		item, err := d.relay(tx, rt, tk, sm, blobs)
		if err != nil {
			return Outcome{}, err
		}
		sm.OutboxID = item.ID
		out.Mailed = true
	}
	if err := tx.AddMessage(tk, sm, key, actor); err != nil {
		return Outcome{}, err
	}
	out.Message = sm.ID
	out.AgentReply = direction
	if answer {
		if tk.Status == store.StatusNew {
			tk.Status = store.StatusOpen
		}
		if tk.AnsweredAt.IsZero() {
			tk.AnsweredAt = tx.Now()
		}
		if err := tx.UpdateTicket(tk, store.TicketAnswered(tk.Number, sm.ID, actor)); err != nil {
			return Outcome{}, err
		}
	}
	if show {
		if err := d.showTicket(tx, rt, tk, addr, v.Agent); err != nil {
			return Outcome{}, err
		}
		out.Mailed = true
	}
	d.Log.Info("agent reply", "ticket", tk.Number, "agent", v.Agent, "message", sm.ID, "kind", direction,
		"commands", len(applied), "auth", v.Auth.Verdict.String())
	return out, nil
}

// relayBlocked says why nothing new may go to the ticket's customer, or "".
func relayBlocked(tx *store.Tx, tk *store.Ticket) words {
	switch {
	case !tk.AnonymizedAt.IsZero():
		return say("ticket %d is anonymized: there is no customer to answer", "Ticket %d ist anonymisiert: Es gibt keinen Kunden, dem geantwortet werden kann", tk.Number)
	case tk.Restricted != nil:
		return say("processing of ticket %d is restricted (%s, GDPR Art. 18): nothing is sent to the customer until the restriction is lifted",
			"die Verarbeitung von Ticket %d ist eingeschränkt (%s, Art. 18 DSGVO): Bis die Einschränkung aufgehoben ist, geht nichts an den Kunden",
			tk.Number, tk.Restricted.Reason)
	case !tk.Objected.IsZero():
		return say("the customer objected to the processing of ticket %d (GDPR Art. 21): nothing is sent", "der Kunde hat der Verarbeitung von Ticket %d widersprochen (Art. 21 DSGVO): Es wird nichts gesendet", tk.Number)
	}
	if _, err := tx.Person(tk.RequesterID); errors.Is(err, store.ErrNotFound) {
		return say("the customer of ticket %d was erased: there is no one to answer", "der Kunde von Ticket %d wurde gelöscht: Es gibt niemanden, dem geantwortet werden kann", tk.Number)
	}
	return words{}
}

// checkCommand says what is wrong with command c of agent addr on tk, or "".
func (d *Desk) checkCommand(tx *store.Tx, rt *setup, tk *store.Ticket, addr string, c command) words {
	cfg := rt.cfg
	now := tx.Now()
	noArg := func() words {
		if c.arg != "" {
			return say("#%s takes no argument", "#%s hat kein Argument", c.name)
		}
		return words{}
	}
	switch c.name {
	case "close":
		if p := noArg(); p.en != "" {
			return p
		}
		if tk.Status == store.StatusClosed {
			return say("#close: ticket %d is already closed", "#close: Ticket %d ist schon geschlossen", tk.Number)
		}
	case "reopen":
		if p := noArg(); p.en != "" {
			return p
		}
		if tk.Status != store.StatusClosed {
			return say("#reopen: ticket %d is not closed", "#reopen: Ticket %d ist nicht geschlossen", tk.Number)
		}
	case "show":
		return noArg()
	case "assign":
		to := store.NormalizeEmail(c.arg)
		switch {
		case to == "":
			return say("#assign needs the address of an agent of the queue", "#assign braucht die Adresse eines Agenten der Queue")
		case !slices.ContainsFunc(cfg.Queue(tk.Queue).Agents, func(a string) bool { return store.NormalizeEmail(a) == to }):
			return say("#assign: that address is not an agent of queue %s", "#assign: Diese Adresse ist kein Agent der Queue %s", tk.Queue)
		case tk.Assignee != "" && tk.Assignee != addr && !rt.supervises(addr, tk.Queue):
			return say("#assign: ticket %d is assigned to another agent; only that agent or a supervisor of queue %s may reassign it",
				"#assign: Ticket %d ist einem anderen Agenten zugewiesen; nur dieser oder ein Supervisor der Queue %s kann es neu zuweisen", tk.Number, tk.Queue)
		}
	case "queue":
		switch {
		case !rt.supervises(addr, tk.Queue):
			return say("#queue: only a supervisor of queue %s may move its tickets", "#queue: Nur ein Supervisor der Queue %s kann ihre Tickets verschieben", tk.Queue)
		case cfg.Queue(c.arg) == nil:
			return say("#queue: there is no queue of that name", "#queue: Eine Queue dieses Namens gibt es nicht")
		case c.arg == tk.Queue:
			return say("#queue: ticket %d is already in queue %s", "#queue: Ticket %d ist schon in der Queue %s", tk.Number, tk.Queue)
		}
	case "purpose":
		switch {
		case cfg.Purpose(c.arg) == nil:
			return say("#purpose: there is no purpose of that name", "#purpose: Einen Zweck dieses Namens gibt es nicht")
		case c.arg == tk.Purpose:
			return say("#purpose: ticket %d already has purpose %s", "#purpose: Ticket %d hat schon den Zweck %s", tk.Number, tk.Purpose)
		}
	case "hold":
		if cfg.Hold(c.arg) == nil {
			return say("#hold: there is no hold category of that name", "#hold: Eine Aufbewahrungskategorie dieses Namens gibt es nicht")
		}
		for _, h := range tk.Holds {
			if h.Category == c.arg && h.Active(now) {
				return say("#hold: ticket %d is already held for %s", "#hold: Ticket %d wird schon für %s aufbewahrt", tk.Number, c.arg)
			}
		}
	case "release":
		held := false
		for _, h := range tk.Holds {
			held = held || h.Category == c.arg && h.Active(now)
		}
		if !held {
			return say("#release: ticket %d has no hold of that category in force", "#release: Ticket %d hat keine Aufbewahrung dieser Kategorie", tk.Number)
		}
	default:
		return say("unknown command #%s", "unbekannter Befehl #%s", templates.EchoSubject(c.name))
	}
	return words{}
}

// runCommand carries out a checked command on ticket n.
func (d *Desk) runCommand(tx *store.Tx, rt *setup, n uint64, addr string, agentID uint64, c command) error {
	actor := store.ActorAgent(agentID)
	if c.name == "hold" {
		_, err := retention.AddHold(tx, rt.cfg, n, c.arg, actor)
		return err
	}
	if c.name == "release" {
		return retention.ReleaseHold(tx, n, c.arg, actor)
	}
	tk, err := tx.Ticket(n)
	if err != nil {
		return err
	}
	switch c.name {
	case "close":
		return changeStatus(tx, tk, store.StatusClosed, actor)
	case "reopen":
		return changeStatus(tx, tk, store.StatusOpen, actor)
	case "assign":
		to := store.NormalizeEmail(c.arg)
		id, err := tx.AgentID(to)
		if err != nil {
			return err
		}
		tk.Assignee = to
		return tx.UpdateTicket(tk, store.TicketAssigned(n, id, actor))
	case "queue":
		from := tk.Queue
		tk.Queue = c.arg
		if tk.Assignee != "" && !rt.mayWork(tk.Assignee, tk.Queue) {
			tk.Assignee = ""
		}
		return tx.UpdateTicket(tk, store.TicketMoved(n, from, c.arg, actor))
	case "purpose":
		from := tk.Purpose
		tk.Purpose = c.arg
		return tx.UpdateTicket(tk, store.TicketPurposeChanged(n, from, c.arg, actor))
	}
	return fmt.Errorf("command #%s: not checked", c.name)
}

// changeStatus closes or reopens tk, the one rule for the admin and agents:
// retention counted from closing starts at closing and stops at reopening.
func changeStatus(tx *store.Tx, tk *store.Ticket, status string, actor store.Actor) error {
	tk.Status, tk.ClosedAt = status, time.Time{}
	event := store.TicketReopened
	if status == store.StatusClosed {
		tk.ClosedAt, event = tx.Now(), store.TicketClosed
	}
	return tx.UpdateTicket(tk, event(tk.Number, actor))
}

// relay queues the agent's answer sm for the customer of tk: from the
// support address with the ticket's tag, threaded under the customer's
// last message, with the agent's attachments, in tx.
func (d *Desk) relay(tx *store.Tx, rt *setup, tk *store.Ticket, sm *store.Message, blobs *store.BlobWriter) (*store.OutboxItem, error) {
	person, err := tx.Person(tk.RequesterID)
	if err != nil {
		return nil, err
	}
	support := supportAddress(rt.cfg, tk)
	msgs, err := tx.TicketMessages(tk.Number)
	if err != nil {
		return nil, err
	}
	var last *store.Message
	for _, m := range slices.Backward(msgs) {
		if m.Direction == store.DirectionIn && m.PersonID == tk.RequesterID {
			last = m
			break
		}
	}
	var inReplyTo string
	var refs []string
	if last != nil {
		refs = slices.Clone(last.References)
		if last.MessageID != "" {
			inReplyTo = last.MessageID
			refs = append(refs, last.MessageID)
		}
	}
	subject := templates.EchoSubject(tk.Subject)
	subject = fmt.Sprintf("Re: [#%d] %s", tk.Number, stripReplyPrefix(subject))
	id := newMessageID("r", tk.Number, support)
	var atts []smtp.Attachment
	for _, a := range sm.Attachments {
		atts = append(atts, smtp.Attachment{Filename: a.Filename, ContentType: a.ContentType, Inline: a.Inline,
			ContentID: a.ContentID, Open: func() (io.ReadCloser, error) { return tx.OpenBlob(blobs, a.SHA256) }})
	}
	now := tx.Now()
	raw, err := smtp.ComposeMail(smtp.Mail{
		From: store.Address{Name: rt.cfg.Controller.Name, Email: support}, To: store.Address{Name: templates.EchoName(person.Name), Email: person.Email},
		Subject: subject, MessageID: id, InReplyTo: inReplyTo, References: refs, Date: now, Language: tk.Language,
		Instance: rt.instance, Text: sm.Text + "\n", Attachments: atts,
	})
	if err != nil {
		return nil, err
	}
	item := &store.OutboxItem{Ticket: tk.Number, Kind: "answer", MessageID: id, From: rt.cfg.SMTP.From,
		To: []string{person.Email}, Raw: raw, GiveUpAt: now.Add(rt.cfg.SMTP.RetryFor.Duration)}
	if err := tx.Enqueue(item, store.ActorAgent(sm.AgentID)); err != nil {
		return nil, err
	}
	// The customer's reply to the answer threads into the ticket.
	if err := tx.IndexMessageID(id, tk.Number); err != nil {
		return nil, err
	}
	return item, nil
}

// stripReplyPrefix drops leading "Re:", "AW:" and "[#N]" tags of a subject.
func stripReplyPrefix(s string) string {
	for {
		t := strings.TrimSpace(s)
		low := strings.ToLower(t)
		switch {
		case strings.HasPrefix(low, "re:"), strings.HasPrefix(low, "aw:"):
			s = t[3:]
		case subjectTag.MatchString(t) && strings.HasPrefix(t, "[#"):
			s = t[strings.IndexByte(t, ']')+1:]
		default:
			return t
		}
	}
}
