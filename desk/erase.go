package desk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"ticketd/config"
	"ticketd/mail/imap"
	"ticketd/store"
)

// ErasureReport is what an erasure did (or, in a dry run, would do): what
// was erased, what was kept and why, and what ticketd cannot reach.
type ErasureReport struct {
	Email        string       `json:"email"`
	Person       uint64       `json:"person"`
	DryRun       bool         `json:"dry_run"`
	At           time.Time    `json:"at"`
	Erased       ErasedData   `json:"erased"`
	Kept         KeptData     `json:"kept"`
	NotReachable NotReachable `json:"not_reachable"`
	Scrub        *ScrubReport `json:"scrub,omitempty"`
	Notes        []string     `json:"notes"`
}

// ErasedData is what the erasure removed.
type ErasedData struct {
	// Tickets are the tickets the person opened, deleted whole with all
	// their messages (TicketMessages), attachments and outgoing mail.
	Tickets        []uint64 `json:"tickets"`
	TicketMessages int      `json:"ticket_messages"`
	// Messages are the person's messages in other people's tickets.
	Messages []MessageRef `json:"messages"`
	// Attachments counts the attachments of every erased message.
	Attachments int `json:"attachments"`
	// Quarantine are the quarantined mails whose stored content contains the address.
	Quarantine []uint64 `json:"quarantine"`
	// Outbox are the outgoing mails to the address.
	Outbox []uint64 `json:"outbox"`
	// OutboxMentions are mails sent (or given up on) to other people whose
	// stored copy contains the address, such as an acknowledgement quoting a
	// subject; the copy is deleted (the ticket keeps its acknowledgement record).
	OutboxMentions []uint64 `json:"outbox_mentions"`
	// Person says whether the person record went, with ConsentRecords records of consent history.
	Person         bool `json:"person"`
	ConsentRecords int  `json:"consent_records"`
}

// MessageRef names one message of a ticket.
type MessageRef struct {
	Ticket  uint64 `json:"ticket"`
	Message uint64 `json:"message"`
}

// KeptData is what stays, with the reason.
type KeptData struct {
	// Held are tickets under an active hold: kept unaltered until it ends.
	Held []HeldTicket `json:"held"`
	// Redacted are other people's tickets that mentioned the address: kept,
	// with every occurrence replaced by "[erased]".
	Redacted []Redaction `json:"redacted"`
	// PendingOutbox are mails still to be sent to other people that contain
	// the address: they are sent as they are; erase again after they went
	// to delete their stored copy.
	PendingOutbox []uint64 `json:"pending_outbox"`
	// Person is why the person record stays ("" when it went or goes).
	Person string `json:"person,omitempty"`
}

// HeldTicket is a ticket an erasure leaves alone because of a hold.
type HeldTicket struct {
	Ticket   uint64    `json:"ticket"`
	Holds    []HoldRef `json:"holds"`
	Opened   bool      `json:"opened_by_person"`
	Messages int       `json:"messages"` // the person's messages in it
	Mentions int       `json:"mentions"` // places in other messages that mention the address
	Outbox   []uint64  `json:"outbox,omitempty"`
}

// Redaction is one other person's ticket in which the address was redacted.
type Redaction struct {
	Ticket   uint64   `json:"ticket"`
	Places   int      `json:"places"` // occurrences replaced and To/Cc entries dropped
	Messages []uint64 `json:"messages"`
}

// NotReachable is what ticketd cannot erase itself.
type NotReachable struct {
	// IMAPCopies are the copies of erased mail that were imported over IMAP
	// and may still be on the server.
	IMAPCopies []IMAPCopy `json:"imap_copies"`
	// EraseIMAPCopies is [retention] erase_imap_copies; when set ticketd
	// deleted IMAPDeleted of the copies on the server.
	EraseIMAPCopies bool     `json:"erase_imap_copies"`
	IMAPDeleted     int      `json:"imap_deleted"`
	IMAPErrors      []string `json:"imap_errors,omitempty"`
	// FromFiles counts erased mails that came from ticketd ingest (files, pipes): ticketd knows of no copy.
	FromFiles int `json:"from_files"`
	// UnreadQuarantine are quarantined mails that were never read (over the
	// size limit): their content is not stored and could not be searched.
	UnreadQuarantine []uint64 `json:"unread_quarantine"`
	// AgentCopies are the mails with the person's data that went to
	// agents' mailboxes (notifications, #show, reminders): ticketd cannot
	// delete them; the controller asks those agents to.
	AgentCopies []AgentCopy `json:"agent_copies"`
}

// AgentCopy is one mail about a ticket with the person's data sent to an agent.
type AgentCopy struct {
	Ticket uint64 `json:"ticket"`
	store.Notified
}

// agentCopies are the copies at agents of what ticketd holds about person:
// every mail about a ticket they opened, and in other tickets those that
// carried one of their messages.
func agentCopies(data *subjectData) []AgentCopy {
	out := []AgentCopy{}
	for _, ft := range data.tickets {
		own := ft.tk.RequesterID == data.person.ID
		mine := map[uint64]bool{}
		for _, m := range ft.msgs {
			mine[m.ID] = m.PersonID == data.person.ID
		}
		for _, n := range ft.tk.Notified {
			if own || n.Message != 0 && mine[n.Message] {
				out = append(out, AgentCopy{Ticket: ft.tk.Number, Notified: n})
			}
		}
	}
	return out
}

// IMAPCopy is where an erased mail was imported from.
type IMAPCopy struct {
	Mailbox     string `json:"mailbox"`
	Folder      string `json:"folder"`             // the folder the UID belongs to
	MovedTo     string `json:"moved_to,omitempty"` // where after_import or quarantine moved it
	MessageID   string `json:"message_id,omitempty"`
	UID         uint32 `json:"uid"`
	UIDValidity uint32 `json:"uid_validity"`
	Quarantine  uint64 `json:"quarantine,omitempty"` // set for a quarantined mail
}

// eraser carries one erasure from its plan to its report.
type eraser struct {
	db     *store.DB
	cfg    *config.Config
	rep    *ErasureReport
	person *store.Person
	now    time.Time
	names  []string // the person's display names, redacted where they stand before the address

	del, partial []uint64            // tickets to delete whole; other people's tickets with the person's messages
	quarantine   []*store.Quarantine // quarantined mail with the address
	outbox       []uint64            // outgoing mail to delete
	outboxQuoted []uint64            // sent mail to others that contains the address
	msgIDs       map[string][]string // mailbox -> Message-IDs of erased mail imported from it
	held         map[uint64]*HeldTicket
}

// Erase erases the person with address email everywhere ticketd reaches
// (GDPR Art. 17), except what an active hold keeps, and reports it:
//
//   - the tickets the person opened are deleted whole; their messages in
//     other people's tickets are deleted;
//   - quarantined mail that contains the address and outgoing mail to it are deleted;
//   - other people's tickets that mention the address are kept with every
//     occurrence replaced by "[erased]" and To/Cc entries with it dropped;
//   - the person record with its consent history goes, unless a held ticket
//     still references it;
//   - with [retention] erase_imap_copies, the imported copies are deleted on
//     the IMAP server too; otherwise the report lists them.
//
// The work is done in batches of short transactions, then the free pages of
// the database are overwritten (store.Scrub). A dry run writes nothing and
// returns the same report. One audit event "subject.erased" records it.
func (d *Desk) Erase(ctx context.Context, email string, dryRun bool) (*ErasureReport, error) {
	db := d.DB
	e := &eraser{db: db, cfg: d.Config(), now: db.Now(), msgIDs: map[string][]string{}, held: map[uint64]*HeldTicket{}}
	e.rep = &ErasureReport{DryRun: dryRun, At: e.now}
	data, err := find(db, email)
	if err != nil {
		return nil, err
	}
	if err := db.View(func(tx *store.Tx) error { return e.plan(tx, data) }); err != nil {
		return nil, err
	}
	if err := db.View(func(tx *store.Tx) error { return e.sortMentions(tx, data) }); err != nil {
		return nil, err
	}
	if err := db.View(func(tx *store.Tx) error { return e.sortOutbox(tx, data) }); err != nil {
		return nil, err
	}
	e.sortQuarantine(data)
	e.rep.Notes = e.notes()
	if dryRun {
		e.finishReport()
		return e.rep, nil
	}
	if err := e.apply(ctx); err != nil {
		e.finishReport()
		return e.rep, fmt.Errorf("erasure of person %d stopped: %w", e.person.ID, err)
	}
	imapErr := e.deleteIMAPCopies(ctx)
	err = db.Update(func(tx *store.Tx) error {
		return tx.Audit(store.SubjectErased(e.person.ID, e.auditDetail(), actorAdmin))
	})
	if err == nil {
		d.Metrics.Erased()
		d.Log.Info("subject erased", "person", e.person.ID, "tickets", len(e.rep.Erased.Tickets))
		e.rep.Scrub, err = scrub(db)
	}
	e.finishReport()
	if err != nil {
		return e.rep, err
	}
	return e.rep, imapErr
}

// plan sorts what find found of the person's tickets and messages: deleted
// whole, the person's messages deleted, or kept by a hold; and the outgoing
// mail to the address.
func (e *eraser) plan(tx *store.Tx, data *subjectData) error {
	p := data.person
	e.person, e.rep.Email, e.rep.Person = p, p.Email, p.ID
	e.names = data.names
	hist, err := tx.ConsentHistory(p.ID)
	if err != nil {
		return err
	}
	e.rep.Erased.ConsentRecords = len(hist)
	for _, ft := range data.tickets {
		tk, msgs := ft.tk, ft.msgs
		n := tk.Number
		var mine []*store.Message
		for _, m := range msgs {
			if m.PersonID == p.ID {
				mine = append(mine, m)
			}
		}
		switch holds := activeHolds(tk, e.now); {
		case len(holds) > 0:
			h := e.hold(n, holds)
			h.Opened, h.Messages = tk.RequesterID == p.ID, len(mine)
		case tk.RequesterID == p.ID:
			e.del = append(e.del, n)
			e.rep.Erased.Tickets = append(e.rep.Erased.Tickets, n)
			e.rep.Erased.TicketMessages += len(msgs)
			e.erasing(msgs...)
		default:
			e.partial = append(e.partial, n)
			for _, m := range mine {
				e.rep.Erased.Messages = append(e.rep.Erased.Messages, MessageRef{Ticket: n, Message: m.ID})
			}
			e.erasing(mine...)
		}
	}
	for _, it := range data.outbox {
		if h := e.held[it.Ticket]; h != nil {
			h.Outbox = append(h.Outbox, it.ID)
			continue
		}
		e.outbox = append(e.outbox, it.ID)
	}
	e.rep.Erased.Outbox = e.outbox
	return nil
}

// deleting is the set of tickets deleted whole.
func (e *eraser) deleting() map[uint64]bool {
	set := map[uint64]bool{}
	for _, n := range e.del {
		set[n] = true
	}
	return set
}

// hold returns the report entry of a held ticket, adding it when new.
func (e *eraser) hold(n uint64, holds []HoldRef) *HeldTicket {
	h := e.held[n]
	if h == nil {
		h = &HeldTicket{Ticket: n, Holds: holds}
		e.held[n] = h
	}
	return h
}

// erasing records the attachments and the origin of mail about to be erased.
func (e *eraser) erasing(msgs ...*store.Message) {
	for _, m := range msgs {
		e.rep.Erased.Attachments += len(m.Attachments)
		e.copyOf(m.Origin, "", 0)
	}
}

// copyOf records where an erased mail came from: a copy on the IMAP server,
// or a file (no copy ticketd knows of).
func (e *eraser) copyOf(o store.Origin, movedTo string, quarantine uint64) {
	if o.Channel != store.ChannelEmail {
		e.rep.NotReachable.FromFiles++
		return
	}
	c := IMAPCopy{Mailbox: o.Mailbox, MessageID: o.MessageID, UID: o.UID, UIDValidity: o.UIDValidity, Quarantine: quarantine, MovedTo: movedTo}
	if box := e.cfg.Mailbox(o.Mailbox); box != nil {
		c.Folder = box.Folder
		if movedTo == "" && box.AfterImport == "move" {
			c.MovedTo = box.MoveTo
		}
	}
	e.rep.NotReachable.IMAPCopies = append(e.rep.NotReachable.IMAPCopies, c)
	if o.MessageID != "" {
		e.msgIDs[o.Mailbox] = append(e.msgIDs[o.Mailbox], o.MessageID)
	}
}

// sortMentions sorts the tickets with mentions that are not deleted whole
// into redacted and held.
func (e *eraser) sortMentions(tx *store.Tx, data *subjectData) error {
	deleting := e.deleting()
	mentions := map[uint64][]uint64{} // other people's tickets -> their messages that mention the address
	places, subject := map[uint64]int{}, map[uint64]int{}
	for _, m := range data.mentions {
		switch {
		case deleting[m.Ticket]:
		case m.Message == 0:
			subject[m.Ticket]++
		default:
			if ids := mentions[m.Ticket]; len(ids) == 0 || ids[len(ids)-1] != m.Message {
				mentions[m.Ticket] = append(ids, m.Message)
			}
			places[m.Ticket]++
		}
	}
	for _, n := range slices.Sorted(maps.Keys(mentions)) {
		tk, err := tx.Ticket(n)
		if err != nil {
			return err
		}
		if holds := activeHolds(tk, e.now); len(holds) > 0 {
			e.hold(n, holds).Mentions = places[n]
			continue
		}
		e.rep.Kept.Redacted = append(e.rep.Kept.Redacted, Redaction{Ticket: n, Places: places[n] + subject[n], Messages: mentions[n]})
	}
	return nil
}

// sortOutbox sorts the stored copies of mail to other people that may hold
// the address: mail of a ticket that is redacted (an acknowledgement quotes
// the subject, perhaps encoded), and mail whose raw content contains it.
// Mail of tickets that are deleted whole goes with them.
func (e *eraser) sortOutbox(tx *store.Tx, data *subjectData) error {
	redacted := map[uint64]bool{}
	for _, r := range e.rep.Kept.Redacted {
		redacted[r.Ticket] = true
	}
	skip := map[uint64]bool{}
	for _, h := range e.held {
		for _, id := range h.Outbox {
			skip[id] = true
		}
	}
	deleting := e.deleting()
	for _, fo := range data.outboxOthers {
		it := fo.it
		if skip[it.ID] || deleting[it.Ticket] || !fo.contains && !redacted[it.Ticket] {
			continue
		}
		if it.Ticket != 0 {
			tk, err := tx.Ticket(it.Ticket)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if tk != nil {
				if holds := activeHolds(tk, e.now); len(holds) > 0 {
					h := e.hold(it.Ticket, holds)
					h.Outbox = append(h.Outbox, it.ID)
					continue
				}
			}
		}
		if it.Status == store.OutboxPending {
			e.rep.Kept.PendingOutbox = append(e.rep.Kept.PendingOutbox, it.ID)
			continue
		}
		e.outboxQuoted = append(e.outboxQuoted, it.ID)
	}
	e.rep.Erased.OutboxMentions = e.outboxQuoted
	return nil
}

// sortQuarantine takes the quarantined mail that holds the address.
func (e *eraser) sortQuarantine(data *subjectData) {
	e.rep.NotReachable.UnreadQuarantine = append(e.rep.NotReachable.UnreadQuarantine, data.unread...)
	e.rep.NotReachable.AgentCopies = agentCopies(data)
	for _, q := range data.quarantine {
		e.quarantine = append(e.quarantine, q)
		e.rep.Erased.Quarantine = append(e.rep.Erased.Quarantine, q.ID)
		e.copyOf(q.Origin, q.Folder, q.ID)
	}
}

// apply erases what the plan found, in batches.
func (e *eraser) apply(ctx context.Context) error {
	pid := e.person.ID
	if _, err := inBatches(ctx, e.db, e.del, func(tx *store.Tx, n uint64) (struct{}, error) {
		return struct{}{}, e.deleteTicket(tx, n)
	}); err != nil {
		return err
	}
	if _, err := inBatches(ctx, e.db, e.partial, func(tx *store.Tx, n uint64) (struct{}, error) {
		return struct{}{}, e.deleteMessagesIn(tx, n)
	}); err != nil {
		return err
	}
	done, err := inBatches(ctx, e.db, e.rep.Kept.Redacted, func(tx *store.Tx, r Redaction) (Redaction, error) {
		return e.redactTicket(tx, r)
	})
	if err != nil {
		return err
	}
	e.rep.Kept.Redacted = done
	if _, err := inBatches(ctx, e.db, e.quarantine, func(tx *store.Tx, q *store.Quarantine) (struct{}, error) {
		return struct{}{}, tx.DeleteQuarantine(q, actorAdmin, "subject erasure")
	}); err != nil {
		return err
	}
	if _, err := inBatches(ctx, e.db, slices.Concat(e.outbox, e.outboxQuoted), func(tx *store.Tx, id uint64) (struct{}, error) {
		if _, err := tx.OutboxItem(id); errors.Is(err, store.ErrNotFound) {
			return struct{}{}, nil // went with its ticket
		}
		return struct{}{}, tx.DeleteOutboxItem(id, actorAdmin, "subject erasure")
	}); err != nil {
		return err
	}
	return e.db.Update(func(tx *store.Tx) error { return e.finishPerson(tx, pid) })
}

// unheld reads ticket n for a change the plan decided on: nil when it is
// gone meanwhile, an error when it was put under a hold meanwhile.
func unheld(tx *store.Tx, n uint64) (*store.Ticket, error) {
	tk, err := tx.Ticket(n)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(activeHolds(tk, tx.Now())) > 0 {
		return nil, fmt.Errorf("ticket %d was put under a hold during the erasure; run the erasure again", n)
	}
	return tk, nil
}

// deleteTicket deletes a ticket the person opened.
func (e *eraser) deleteTicket(tx *store.Tx, n uint64) error {
	tk, err := unheld(tx, n)
	if tk == nil {
		return err
	}
	return tx.DeleteTicket(n, actorAdmin, "subject erasure")
}

// deleteMessagesIn deletes the person's messages from another person's
// ticket and drops them from its participants.
func (e *eraser) deleteMessagesIn(tx *store.Tx, n uint64) error {
	tk, err := unheld(tx, n)
	if tk == nil {
		return err
	}
	msgs, err := tx.TicketMessages(n)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if m.PersonID != e.person.ID {
			continue
		}
		if err := tx.DeleteMessage(m, actorAdmin, "subject erasure"); err != nil {
			return err
		}
		tk.Messages--
	}
	tk.Participants = slices.DeleteFunc(tk.Participants, func(id uint64) bool { return id == e.person.ID })
	return tx.UpdateTicket(tk, store.TicketParticipantErased(tk.Number, actorAdmin))
}

// redactTicket replaces the address in the messages and subject of another
// person's ticket and returns what it changed.
func (e *eraser) redactTicket(tx *store.Tx, r Redaction) (Redaction, error) {
	out := Redaction{Ticket: r.Ticket, Messages: []uint64{}}
	tk, err := unheld(tx, r.Ticket)
	if tk == nil {
		return out, err
	}
	for _, id := range r.Messages {
		m, err := tx.Message(id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return r, err
		}
		n := redactMessage(m, e.person.Email, e.names)
		if n == 0 {
			continue
		}
		if err := tx.PutMessage(m, store.MessageRedacted(m, actorAdmin)); err != nil {
			return r, err
		}
		out.Places += n
		out.Messages = append(out.Messages, id)
	}
	if subj, n := redactAddress(tk.Subject, e.person.Email, e.names); n > 0 {
		tk.Subject = subj
		out.Places += n
		if err := tx.UpdateTicket(tk, store.TicketRedacted(tk.Number, actorAdmin)); err != nil {
			return r, err
		}
	}
	return out, nil
}

// finishPerson deletes the person record with its consent history, unless
// a held ticket still references it. Tickets that arrived during the
// erasure are erased here too, so no ticket is left pointing at nothing.
func (e *eraser) finishPerson(tx *store.Tx, pid uint64) error {
	if _, err := tx.Person(pid); errors.Is(err, store.ErrNotFound) {
		e.rep.Erased.Person = true // went with the last ticket
		return nil
	}
	held := 0
	for _, n := range tx.TicketsOf(pid) {
		tk, err := tx.Ticket(n)
		if err != nil {
			return err
		}
		switch {
		case len(activeHolds(tk, tx.Now())) > 0:
			held++
		case tk.RequesterID == pid:
			if err := tx.DeleteTicket(n, actorAdmin, "subject erasure"); err != nil {
				return err
			}
			e.rep.Erased.Tickets = append(e.rep.Erased.Tickets, n)
			e.rep.Erased.TicketMessages += tk.Messages
		default:
			if err := e.deleteMessagesIn(tx, n); err != nil {
				return err
			}
		}
	}
	if held > 0 {
		e.rep.Kept.Person = personKept(held)
		return nil
	}
	if err := tx.DeletePerson(pid, actorAdmin, "subject erasure"); err != nil {
		return err
	}
	e.rep.Erased.Person = true
	return nil
}

// deleteIMAPCopies deletes the imported copies on the IMAP servers when
// [retention] erase_imap_copies is set. Failures are reported, not fatal:
// what is in the store is erased either way.
func (e *eraser) deleteIMAPCopies(ctx context.Context) error {
	nr := &e.rep.NotReachable
	nr.EraseIMAPCopies = e.cfg.Retention.EraseIMAPCopies
	if !nr.EraseIMAPCopies {
		return nil
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(e.msgIDs)) {
		box := e.cfg.Mailbox(name)
		if box == nil {
			errs = append(errs, fmt.Errorf("mailbox %q is no longer configured: its copies were not deleted", name))
			continue
		}
		n, err := imap.DeleteCopies(ctx, box, []string{box.Folder, box.MoveTo, box.QuarantineFolder}, e.msgIDs[name])
		nr.IMAPDeleted += n
		if err != nil {
			errs = append(errs, fmt.Errorf("mailbox %s: deleting the copies on the IMAP server: %w", name, err))
		}
	}
	for _, err := range errs {
		nr.IMAPErrors = append(nr.IMAPErrors, err.Error())
	}
	return errors.Join(errs...)
}

func (e *eraser) auditDetail() string {
	r := e.rep
	return fmt.Sprintf("tickets %d messages %d quarantine %d outbox %d redacted tickets %d held tickets %d imap deleted %d",
		len(r.Erased.Tickets), len(r.Erased.Messages), len(r.Erased.Quarantine), len(r.Erased.Outbox)+len(r.Erased.OutboxMentions),
		len(r.Kept.Redacted), len(e.held), r.NotReachable.IMAPDeleted)
}

// finishReport puts the report's lists in order and fills in what the plan implies.
func (e *eraser) finishReport() {
	r := e.rep
	r.Kept.Held = []HeldTicket{}
	for _, n := range slices.Sorted(maps.Keys(e.held)) {
		r.Kept.Held = append(r.Kept.Held, *e.held[n])
	}
	if r.DryRun {
		held := 0
		for _, h := range r.Kept.Held {
			if h.Opened || h.Messages > 0 {
				held++
			}
		}
		r.Erased.Person = held == 0
		if held > 0 {
			r.Kept.Person = personKept(held)
		}
	}
	r.Erased.Tickets, r.Erased.Messages = nonNil(r.Erased.Tickets), nonNil(r.Erased.Messages)
	r.Erased.Quarantine, r.Erased.Outbox = nonNil(r.Erased.Quarantine), nonNil(r.Erased.Outbox)
	r.Erased.OutboxMentions = nonNil(r.Erased.OutboxMentions)
	r.Kept.Redacted, r.Kept.PendingOutbox = nonNil(r.Kept.Redacted), nonNil(r.Kept.PendingOutbox)
	r.NotReachable.IMAPCopies = nonNil(r.NotReachable.IMAPCopies)
	r.NotReachable.UnreadQuarantine = nonNil(r.NotReachable.UnreadQuarantine)
	r.NotReachable.AgentCopies = nonNil(r.NotReachable.AgentCopies)
	r.NotReachable.EraseIMAPCopies = e.cfg.Retention.EraseIMAPCopies
	slices.Sort(r.Erased.Tickets)
}

// personKept is why the person record stays.
func personKept(held int) string {
	return fmt.Sprintf("referenced by %d held ticket(s); it goes with the last of them when its hold ends", held)
}

// notes are what the report must say about the limits of an erasure.
func (e *eraser) notes() []string {
	notes := []string{
		"Names cannot be found reliably in free text: other people's tickets were searched for the address; " +
			"a name was removed only where it stood right before the address (Name <address>). " +
			"Other mentions of the person's name, and the contents of attachments of other people's messages, are not searched.",
		"The audit trail keeps the identifiers of what was erased (no names, addresses or text).",
		"Backups made before this erasure still hold the data until they expire; backups made after it do not.",
	}
	if len(e.rep.NotReachable.IMAPCopies) > 0 && !e.cfg.Retention.EraseIMAPCopies {
		notes = append(notes, "The copies on the IMAP server stay there until the mail administrator deletes them; "+
			"ticketd does not import them again (it keeps a hash of each erased mail's identity, nothing readable).")
	}
	return notes
}

// ---- the report as text ----

// WriteText writes the report for a person to read.
func (r *ErasureReport) WriteText(w io.Writer) error {
	var b strings.Builder
	would := func(done, cond string) string {
		if r.DryRun {
			return cond
		}
		return done
	}
	fmt.Fprintf(&b, "Erasure of %s (person %d), %s\n", r.Email, r.Person, r.At.UTC().Format(time.DateTime+" MST"))
	if r.DryRun {
		b.WriteString("Dry run: nothing was changed. This is what the erasure would do.\n")
	}
	er := r.Erased
	fmt.Fprintf(&b, "\n%s:\n", would("Erased", "Would be erased"))
	fmt.Fprintf(&b, "  tickets opened by the person, deleted whole: %d%s, with %s\n", len(er.Tickets), numberList(" ", er.Tickets), plural(er.TicketMessages, "message"))
	fmt.Fprintf(&b, "  the person's messages in other people's tickets: %d%s\n", len(er.Messages), messageTickets(er.Messages))
	fmt.Fprintf(&b, "  attachments of those messages: %d\n", er.Attachments)
	fmt.Fprintf(&b, "  quarantined mail that contains the address: %d%s\n", len(er.Quarantine), idList(" ", "quarantine", er.Quarantine))
	fmt.Fprintf(&b, "  outgoing mail to the address: %d%s\n", len(er.Outbox), idList(" ", "outbox", er.Outbox))
	if len(er.OutboxMentions) > 0 {
		fmt.Fprintf(&b, "  stored copies of mail sent to other people that contain the address: %d%s\n", len(er.OutboxMentions), idList(" ", "outbox", er.OutboxMentions))
	}
	if er.Person {
		fmt.Fprintf(&b, "  the person record with %d consent records\n", er.ConsentRecords)
	}
	fmt.Fprintf(&b, "\n%s:\n", would("Kept", "Would be kept"))
	if len(r.Kept.Held) == 0 && len(r.Kept.Redacted) == 0 && len(r.Kept.PendingOutbox) == 0 && r.Kept.Person == "" {
		b.WriteString("  nothing\n")
	}
	for _, h := range r.Kept.Held {
		fmt.Fprintf(&b, "  ticket #%d: under hold %s; kept unaltered (%s)\n", h.Ticket, holdList(h.Holds), heldWhat(h))
	}
	for _, red := range r.Kept.Redacted {
		fmt.Fprintf(&b, "  ticket #%d: another person's ticket that mentions the address; %s in %d places\n",
			red.Ticket, would("redacted", "would be redacted"), red.Places)
	}
	if len(r.Kept.PendingOutbox) > 0 {
		fmt.Fprintf(&b, "  mail still to be sent to other people that contains the address%s: sent as it is; erase again after it went\n", idList(" ", "outbox", r.Kept.PendingOutbox))
	}
	if r.Kept.Person != "" {
		fmt.Fprintf(&b, "  the person record: %s\n", r.Kept.Person)
	}
	nr := r.NotReachable
	b.WriteString("\nNot reachable by ticketd:\n")
	switch {
	case len(nr.IMAPCopies) == 0:
		b.WriteString("  no copies on an IMAP server\n")
	case nr.EraseIMAPCopies && r.DryRun:
		fmt.Fprintf(&b, "  copies on the IMAP server: %d; erase_imap_copies is set, so they would be deleted there\n", len(nr.IMAPCopies))
	case nr.EraseIMAPCopies:
		fmt.Fprintf(&b, "  copies on the IMAP server: %d; deleted there: %d\n", len(nr.IMAPCopies), nr.IMAPDeleted)
	default:
		fmt.Fprintf(&b, "  copies on the IMAP server: %d; delete them there, or set [retention] erase_imap_copies = true\n", len(nr.IMAPCopies))
	}
	for _, c := range nr.IMAPCopies {
		fmt.Fprintf(&b, "    mailbox %s, folder %s, UIDVALIDITY %d, UID %d, Message-ID <%s>", c.Mailbox, orDash(c.Folder), c.UIDValidity, c.UID, c.MessageID)
		if c.MovedTo != "" {
			fmt.Fprintf(&b, ", moved to %s", c.MovedTo)
		}
		if c.Quarantine != 0 {
			fmt.Fprintf(&b, " (quarantined mail %d)", c.Quarantine)
		}
		b.WriteString("\n")
	}
	for _, e := range nr.IMAPErrors {
		fmt.Fprintf(&b, "  error: %s\n", e)
	}
	if nr.FromFiles > 0 {
		fmt.Fprintf(&b, "  %s came in through ticketd ingest (files, pipes): ticketd knows of no copy\n", plural(nr.FromFiles, "erased mail"))
	}
	if len(nr.UnreadQuarantine) > 0 {
		fmt.Fprintf(&b, "  quarantined mail never read (over the size limit), so not searched:%s\n", idList(" ", "quarantine", nr.UnreadQuarantine))
	}
	if len(nr.AgentCopies) > 0 {
		fmt.Fprintf(&b, "  mail with the person's data sent to agents' mailboxes: %d; ask these agents to delete it:\n", len(nr.AgentCopies))
		for _, c := range nr.AgentCopies {
			fmt.Fprintf(&b, "    %s: ticket #%d, %s (%s), %s\n", c.Agent, c.Ticket, c.Kind, c.Content, c.At.UTC().Format(time.DateTime+" MST"))
		}
	}
	if r.Scrub != nil {
		b.WriteString("\n" + r.Scrub.text())
	}
	b.WriteString("\nNotes:\n")
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "  - %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func heldWhat(h HeldTicket) string {
	var parts []string
	if h.Opened {
		parts = append(parts, "opened by the person")
	}
	if h.Messages > 0 {
		parts = append(parts, plural(h.Messages, "message")+" of the person")
	}
	if h.Mentions > 0 {
		parts = append(parts, fmt.Sprintf("the address in %d places, not redacted", h.Mentions))
	}
	if len(h.Outbox) > 0 {
		parts = append(parts, plural(len(h.Outbox), "outgoing mail"))
	}
	return strings.Join(parts, "; ")
}

func messageTickets(refs []MessageRef) string {
	var ns []uint64
	for _, r := range refs {
		if !slices.Contains(ns, r.Ticket) {
			ns = append(ns, r.Ticket)
		}
	}
	if len(ns) == 0 {
		return ""
	}
	return " in tickets" + numberList(" ", ns)
}
