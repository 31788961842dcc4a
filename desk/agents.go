package desk

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"ticketd/agent"
	"ticketd/config"
	"ticketd/mail/mime"
	"ticketd/mail/smtp"
	"ticketd/store"
	"ticketd/templates"
)

// staff is what the configuration lets one agent address do: work the
// queues it is an agent of, and also steer those it supervises.
type staff struct {
	agentOf    map[string]bool
	supervises map[string]bool
}

// staffOf indexes the agents and supervisors of cfg's queues by address
// (lower case).
func staffOf(cfg *config.Config) map[string]*staff {
	m := map[string]*staff{}
	get := func(a string) *staff {
		a = store.NormalizeEmail(a)
		s := m[a]
		if s == nil {
			s = &staff{agentOf: map[string]bool{}, supervises: map[string]bool{}}
			m[a] = s
		}
		return s
	}
	for _, q := range cfg.Queues {
		for _, a := range q.Agents {
			get(a).agentOf[q.Name] = true
		}
		for _, a := range q.Supervisors {
			get(a).supervises[q.Name] = true
		}
	}
	return m
}

// isStaff reports whether addr is an agent or supervisor of any queue.
func (rt *setup) isStaff(addr string) bool { return rt.staff[store.NormalizeEmail(addr)] != nil }

// mayWork reports whether addr may see, answer and steer tickets of queue:
// it is an agent or a supervisor of it.
func (rt *setup) mayWork(addr, queue string) bool {
	s := rt.staff[store.NormalizeEmail(addr)]
	return s != nil && (s.agentOf[queue] || s.supervises[queue])
}

// supervises reports whether addr is a supervisor of queue.
func (rt *setup) supervises(addr, queue string) bool {
	s := rt.staff[store.NormalizeEmail(addr)]
	return s != nil && s.supervises[queue]
}

// agentKeys holds the agent key (package agent), read when the store
// opens or, for a store made before agent replies existed, made on first
// use as long as no reply address was ever issued.
type agentKeys struct {
	mu     sync.Mutex
	signer *agent.Signer
}

// loadAgentKey reads the key of an existing store, or makes the key of a
// new one; for an older store without one it leaves the key to first use.
func (d *Desk) loadAgentKey() error {
	dir := d.DB.Dir()
	_, err := os.Lstat(filepath.Join(dir, config.AgentKeyFile))
	switch {
	case err == nil:
		d.keys.signer, err = agent.ReadKey(dir)
		return err
	case d.DB.Created():
		d.keys.signer, err = agent.LoadKey(dir)
		return err
	}
	// No key: fine for a store from before agent replies, made on first
	// use; but where reply addresses went out, their key is lost, and
	// the daemon must not start making new ones.
	numbered := false
	if err := d.DB.View(func(tx *store.Tx) error { numbered = tx.AgentsNumbered(); return nil }); err != nil {
		return err
	}
	if numbered {
		_, err := agent.ReadKey(dir)
		return err
	}
	return nil
}

// agentSigner is the agent key, made now when the store has none and no
// agent ever got a number (so no reply address was mailed with another
// key); with numbered agents a missing key is an error that says so.
func (d *Desk) agentSigner(tx *store.Tx) (*agent.Signer, error) {
	d.keys.mu.Lock()
	defer d.keys.mu.Unlock()
	if d.keys.signer != nil {
		return d.keys.signer, nil
	}
	load := agent.ReadKey
	if !tx.AgentsNumbered() {
		load = agent.LoadKey
	}
	s, err := load(d.DB.Dir())
	if err != nil {
		return nil, err
	}
	d.keys.signer = s
	return s, nil
}

// supportAddress is the address mail about tk goes out from and agents'
// replies come back to: its mailbox's, else the first mailbox's, else
// smtp.from.
func supportAddress(cfg *config.Config, tk *store.Ticket) string {
	if b := cfg.Mailbox(tk.Origin.Mailbox); b != nil {
		return b.Address
	}
	if len(cfg.Mailboxes) > 0 {
		return cfg.Mailboxes[0].Address
	}
	return cfg.SMTP.From
}

// newMessageID is a fresh Message-ID for mail of kind about ticket n.
func newMessageID(kind string, n uint64, from string) string {
	return fmt.Sprintf("ticketd.%s%d.%s@%s", kind, n, strings.ToLower(rand.Text()[:12]), domainOf(from))
}

// threadRoot is the Message-ID every mail to agents about ticket n
// refers to, so that an agent's mail client shows one conversation per
// ticket. No mail carries it as its own Message-ID, and it is never
// indexed: it threads nothing into the ticket.
func threadRoot(rt *setup, n uint64, from string) string {
	return fmt.Sprintf("ticketd.thread%d.%s@%s", n, strings.ToLower(rt.instance), domainOf(from))
}

// agentMail is one mail to an agent, queued in tx.
type agentMail struct {
	ticket  uint64 // 0: not about one ticket (a hint, a digest)
	kind    string // the outbox item's kind
	to      string
	replyTo string // the agent's reply address, "" for none
	subject string
	text    string
	from    string // the support address it comes from
}

// queueAgentMail composes m and puts it in the outbox.
func (d *Desk) queueAgentMail(tx *store.Tx, rt *setup, m agentMail) (*store.OutboxItem, error) {
	now := tx.Now()
	id := newMessageID("a", m.ticket, m.from)
	var refs []string
	root := ""
	if m.ticket != 0 {
		root = threadRoot(rt, m.ticket, m.from)
		refs = []string{root}
	}
	raw, err := smtp.ComposeMail(smtp.Mail{
		From: store.Address{Name: rt.cfg.Controller.Name, Email: m.from}, To: store.Address{Email: m.to},
		ReplyTo: m.replyTo, Subject: m.subject, MessageID: id, InReplyTo: root, References: refs, Date: now,
		Language: rt.cfg.Server.Language, Instance: rt.instance, AutoSubmitted: "auto-generated", Text: m.text,
	})
	if err != nil {
		return nil, err
	}
	item := &store.OutboxItem{Ticket: m.ticket, Kind: m.kind, MessageID: id, From: rt.cfg.SMTP.From,
		To: []string{m.to}, Raw: raw, GiveUpAt: now.Add(rt.cfg.SMTP.RetryFor.Duration)}
	return item, tx.Enqueue(item, store.ActorSystem)
}

// replyAddress is agent addr's reply address for ticket tk, with the
// agent's number; "" (logged) when the support address is too long to
// carry one, so the notification still goes out.
func (d *Desk) replyAddress(tx *store.Tx, rt *setup, tk *store.Ticket, addr string) (string, uint64, error) {
	// The key first: agentSigner may make it only while no agent has a number.
	signer, err := d.agentSigner(tx)
	if err != nil {
		return "", 0, err
	}
	id, err := tx.AgentID(addr)
	if err != nil {
		return "", 0, err
	}
	ra, err := signer.Issue(supportAddress(rt.cfg, tk), tk.Number, id)
	if err != nil {
		d.Log.Error("agent reply address", "ticket", tk.Number, "agent", id, "err", err)
		return "", id, nil
	}
	return ra, id, nil
}

// mayAnswer says whether a refusal or hint may go to address to: never to
// automatic mail (the loop rules of acknowledgements), and at most four
// times [acknowledgement] max_per_sender per window to one address,
// counted apart from its acknowledgements: an agent's typos get their
// answers, a loop or a flood gets few.
func (d *Desk) mayAnswer(tx *store.Tx, rt *setup, m *mime.Message, to string) (bool, error) {
	if rt.policy.Suppress(m) != "" {
		return false, nil
	}
	a := rt.cfg.Acknowledgement
	return tx.TakeAckSlot("agent "+to, 4*a.MaxPerSender, a.Window.Duration)
}

// fromAgent handles a mail that concerns the agents, in the transaction
// that stores it: a reply to an agent notification (it carries a reply
// address), or a mail from an agent's address without one. It returns
// false for every other mail, which is a customer's.
func (d *Desk) fromAgent(tx *store.Tx, rt *setup, it *parsed, origin store.Origin, key []byte, support string, blobs *store.BlobWriter) (Outcome, bool, error) {
	m := it.msg
	r := agent.ReplyOf(m, "")
	if origin.Mailbox != "" {
		r.Mailbox = support
	}
	signer, err := d.agentSigner(tx)
	if err != nil {
		return Outcome{}, true, err
	}
	v, err := signer.VerifyAgentReply(r, agent.Policy{
		AgentAddress: func(id uint64) (string, bool) {
			a, ok := tx.AgentAddress(id)
			return a, ok && rt.isStaff(a)
		},
		AuthservIDs: rt.cfg.Agents.AuthservIDs,
	})
	var refused *agent.RefusedError
	switch {
	case errors.Is(err, agent.ErrNotToken) && m.From.Email != "" && rt.isStaff(m.From.Email):
		out, err := d.agentHint(tx, rt, it, origin, support, blobs)
		return out, true, err
	case errors.Is(err, agent.ErrNotToken):
		return Outcome{}, false, nil
	case errors.As(err, &refused):
		out, err := d.refuseAgentMail(tx, rt, it, origin, key, support, blobs, refusal{check: string(refused.Check),
			reasons: []words{refusedWords(refused)}, ticket: refused.Token.Ticket, agent: refused.Token.Agent,
			onTicket: refused.Check != agent.CheckToken, answer: refused.Check != agent.CheckToken || rt.isStaff(m.From.Email)})
		return out, true, err
	case err != nil:
		return Outcome{}, true, err
	}
	out, err := d.agentReply(tx, rt, it, origin, key, support, blobs, v)
	return out, true, err
}

// agentHint answers a mail from an agent's address that carries no reply
// address (a new mail, or a reply that lost it): it is not a customer's,
// so it gets no ticket and no privacy notice. The mail is kept in
// quarantine (nothing is lost; the admin can see it) and the agent gets a
// hint how to answer a ticket, under the loop rules and the rate limit.
func (d *Desk) agentHint(tx *store.Tx, rt *setup, it *parsed, origin store.Origin, support string, blobs *store.BlobWriter) (Outcome, error) {
	from := store.NormalizeEmail(it.msg.From.Email)
	id, err := tx.AgentID(from)
	if err != nil {
		return Outcome{}, err
	}
	q := *it
	q.reason = fmt.Sprintf("mail from agent %d without a reply address: not a customer's, no ticket made", id)
	out, err := d.quarantine(tx, &q, origin, blobs)
	if err != nil || out.Duplicate {
		return out, err
	}
	if err := tx.Audit(store.AgentHinted(id, origin.Mailbox)); err != nil {
		return Outcome{}, err
	}
	ok, err := d.mayAnswer(tx, rt, it.msg, from)
	if err != nil || !ok {
		return out, err
	}
	subject, text, err := rt.templates.Hint(templates.Hint{Lang: rt.cfg.Server.Language, Support: support})
	if err != nil {
		return Outcome{}, err
	}
	if _, err := d.queueAgentMail(tx, rt, agentMail{kind: "hint", to: from, subject: subject, text: text, from: support}); err != nil {
		return Outcome{}, err
	}
	out.Mailed = true
	return out, nil
}

// refusal is why an agent's mail (or one claiming to be) is not relayed.
type refusal struct {
	check   string  // the audit detail: which check failed
	reasons []words // fixed phrases for the refusal mail and the record
	hint    words
	ticket  uint64 // the ticket the reply address names, 0 if none
	agent   uint64
	// onTicket: the reply address was genuine, so the mail is stored on
	// its ticket as a refused agent message; else it is quarantined.
	onTicket bool
	// verified: the mail passed agent.VerifyAgentReply, so it is the
	// agent's (the audit actor); else ticketd's record of a claim.
	verified bool
	// answer: the sender gets a refusal mail (loop rules and rate limit
	// permitting). A mail whose reply address is itself forged gets one
	// only when its From is an agent's, so forged mail makes no backscatter.
	answer bool
}

// actor is who a refused mail is recorded as from.
func (rf refusal) actor() store.Actor {
	if rf.verified {
		return store.ActorAgent(rf.agent)
	}
	return store.ActorSystem
}

// refuseAgentMail records a refused agent mail: on its ticket as a
// refused message when the reply address was genuine and the ticket is in
// the agent's queues, else in quarantine; audits it; and answers the
// sender with a short refusal that quotes nothing from the mail.
func (d *Desk) refuseAgentMail(tx *store.Tx, rt *setup, it *parsed, origin store.Origin, key []byte, support string, blobs *store.BlobWriter, rf refusal) (Outcome, error) {
	m := it.msg
	var out Outcome
	var tk *store.Ticket
	if rf.onTicket && rf.ticket != 0 {
		var err error
		if tk, err = tx.Ticket(rf.ticket); errors.Is(err, store.ErrNotFound) {
			tk = nil
		} else if err != nil {
			return Outcome{}, err
		}
	}
	if tk != nil {
		agentAddr, _ := tx.AgentAddress(rf.agent)
		sm := agentMessage(rt, it, origin, store.DirectionRefused, rf.agent, agentAddr, m.Text)
		sm.Refused = english(rf.reasons)
		if err := tx.AddMessage(tk, sm, key, rf.actor()); err != nil {
			return Outcome{}, err
		}
		out = Outcome{Ticket: tk.Number, Message: sm.ID}
	} else {
		q := *it
		q.reason = "agent reply refused: " + english(rf.reasons)
		var err error
		if out, err = d.quarantine(tx, &q, origin, blobs); err != nil || out.Duplicate {
			return out, err
		}
	}
	out.AgentReply = "refused: " + rf.check
	if err := tx.Audit(store.AgentRefused(rf.ticket, rf.agent, out.Message, rf.check, rf.actor())); err != nil {
		return Outcome{}, err
	}
	d.Log.Warn("agent reply refused", "ticket", rf.ticket, "agent", rf.agent, "check", rf.check,
		"mailbox", origin.Mailbox, "uid", origin.UID)
	to := store.NormalizeEmail(m.From.Email)
	if !rf.answer || to == "" {
		return out, nil
	}
	ok, err := d.mayAnswer(tx, rt, m, to)
	if err != nil || !ok {
		return out, err
	}
	lang := rt.cfg.Server.Language
	var reasons []string
	for _, r := range rf.reasons {
		reasons = append(reasons, r.in(lang))
	}
	subject, text, err := rt.templates.Refusal(templates.Refusal{Lang: lang, Ticket: rf.ticket,
		Reasons: reasons, Hint: rf.hint.in(lang)})
	if err != nil {
		return Outcome{}, err
	}
	if _, err := d.queueAgentMail(tx, rt, agentMail{ticket: rf.ticket, kind: "refusal", to: to, subject: subject,
		text: text, from: support}); err != nil {
		return Outcome{}, err
	}
	out.Mailed = true
	return out, nil
}

// agentMessage is the stored form of an agent's mail on a ticket.
func agentMessage(rt *setup, it *parsed, origin store.Origin, direction string, agentID uint64, agentAddr, text string) *store.Message {
	m := it.msg
	origin.MessageID = m.MessageID
	sm := &store.Message{Direction: direction, AgentID: agentID, Agent: agentAddr,
		From: stored(m.From), To: storedList(m.To), Cc: storedList(m.Cc), Subject: m.Subject, MessageID: m.MessageID,
		InReplyTo: m.InReplyTo, References: m.References, Date: m.Date, Language: m.ContentLanguage,
		Text: text, Size: it.f.Size, ContentHash: it.f.Hash, Warnings: m.Warnings, ThreadedBy: "reply address", Origin: origin}
	minimal(rt, it, sm)
	for _, a := range m.Attachments {
		sm.Attachments = append(sm.Attachments, store.Attachment(a))
	}
	sm.Dropped = droppedOf(m)
	return sm
}

// words is a fixed phrase of ticketd in each language mail to agents is
// written in; records and logs keep the English one.
type words struct{ en, de string }

// say formats a phrase in both languages with the same arguments, which
// are ticketd's own values (numbers, configured names, fixed reasons).
func say(en, de string, args ...any) words {
	return words{fmt.Sprintf(en, args...), fmt.Sprintf(de, args...)}
}

func (w words) in(lang string) string {
	if lang == "de" {
		return w.de
	}
	return w.en
}

// english joins phrases for a record.
func english(ws []words) string {
	var out []string
	for _, w := range ws {
		out = append(out, w.en)
	}
	return strings.Join(out, "; ")
}

// refusedWords is the phrase for a failed check of agent.VerifyAgentReply:
// its own reason in English, and the check's meaning in German.
func refusedWords(e *agent.RefusedError) words {
	w := words{en: e.Reason}
	switch e.Check {
	case agent.CheckToken:
		w.de = "die Antwortadresse ist ungültig: verändert, nicht von diesem ticketd oder für ein anderes Postfach"
	case agent.CheckFrom:
		w.de = "der Absender ist nicht der Agent, für den die Antwortadresse erstellt wurde"
	default:
		w.de = "der eigene Mailserver hat den Absender nicht bestätigt (weder DKIM noch SPF noch DMARC bestanden)"
	}
	return w
}
