package store

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// TicketByMessageID returns the ticket that holds a mail with this Message-ID.
// An empty id never matches.
func (t *Tx) TicketByMessageID(id string) (uint64, bool) {
	if strings.TrimSpace(id) == "" {
		return 0, false
	}
	v := t.b(bIdxMsgID).Get(t.lk(bIdxMsgID, []byte(id)))
	if v == nil {
		return 0, false
	}
	n := binary.BigEndian.Uint64(v)
	// An entry a purge left for its lookup drops (lookupdrops.go) names a
	// ticket that is gone or anonymised: no mail threads into it.
	if tk, err := t.Ticket(n); err != nil || !tk.AnonymizedAt.IsZero() {
		return 0, false
	}
	return n, true
}

// Ticket reads one ticket.
func (t *Tx) Ticket(number uint64) (*Ticket, error) {
	if d, ok := t.deferred[number]; ok {
		return t.deferredCopy(d.tk)
	}
	var tk Ticket
	if err := t.getRec(bTickets, be64(number), &tk); err != nil {
		return nil, fmt.Errorf("ticket %d: %w", number, err)
	}
	return &tk, nil
}

// CreateTicket stores a new ticket and sets its Number.
func (t *Tx) CreateTicket(tk *Ticket, actor Actor) error {
	n, err := t.b(bTickets).NextSequence()
	if err != nil {
		return err
	}
	tk.Number = n
	if tk.CreatedAt.IsZero() {
		tk.CreatedAt = t.now
	}
	tk.UpdatedAt = t.now
	tk.Origin.StoredAt = t.now
	if err := t.putTicket(tk); err != nil {
		return err
	}
	return t.audit(ticketCreated(tk, actor))
}

// UpdateTicket stores a changed ticket (its acknowledgement, status,
// holds, restriction); e is its audit event, made by the constructor of
// the change (TicketClosed, TicketHoldAdded, ...) for this ticket.
func (t *Tx) UpdateTicket(tk *Ticket, e AuditEvent) error {
	if e.Ticket != tk.Number {
		return fmt.Errorf("ticket %d: audit event %s is about ticket %d", tk.Number, e.Action, e.Ticket)
	}
	tk.UpdatedAt = t.now
	if err := t.putTicket(tk); err != nil {
		return err
	}
	return t.audit(e)
}

// Tickets calls fn for each ticket in number order until fn returns false.
func (t *Tx) Tickets(fn func(*Ticket) bool) error {
	if err := t.storeAllDeferred(); err != nil {
		return err
	}
	return forEachRec(t, bTickets, fn)
}

// Message reads one message.
func (t *Tx) Message(id uint64) (*Message, error) {
	var m Message
	if err := t.getRec(bMessages, be64(id), &m); err != nil {
		return nil, fmt.Errorf("message %d: %w", id, err)
	}
	return &m, nil
}

// AddMessage stores m on ticket tk (as read or created in this
// transaction), sets m.ID, indexes its Message-ID and dedup key, and counts it
// on the ticket (adding the sender as a participant); tk is updated in place.
func (t *Tx) AddMessage(tk *Ticket, m *Message, dedupKey []byte, actor Actor) error {
	m.Ticket = tk.Number
	id, err := t.b(bMessages).NextSequence()
	if err != nil {
		return err
	}
	m.ID = id
	m.Origin.StoredAt = t.now
	if dedupKey != nil {
		m.DedupKey = hex.EncodeToString(dedupKey)
	}
	if err := t.putRec(bMessages, be64(id), m, t.messageKeyID(m)); err != nil {
		return err
	}
	if err := t.b(bIdxTicket).Put(append(be64(m.Ticket), be64(id)...), nil); err != nil {
		return err
	}
	if err := t.reindexMentions(MentionMessage, id, nil, messageAddresses(m)); err != nil {
		return err
	}
	for _, a := range m.Blobs() {
		if err := t.refBlob(a.SHA256, 'm', id); err != nil {
			return err
		}
	}
	if err := t.IndexMessageID(m.MessageID, m.Ticket); err != nil {
		return err
	}
	if dedupKey != nil {
		if err := t.b(bIdxDedup).Put(t.lk(bIdxDedup, dedupKey), be64(id)); err != nil {
			return err
		}
	}
	tk.Messages++
	tk.UpdatedAt = t.now
	if m.PersonID != 0 && !slices.Contains(tk.Participants, m.PersonID) {
		tk.Participants = append(tk.Participants, m.PersonID)
	}
	if err := t.putTicket(tk); err != nil {
		return err
	}
	return t.audit(messageAdded(m, actor))
}

// IndexMessageID makes replies to Message-ID id thread into ticket. The first
// ticket to claim an id keeps it; an empty id is never indexed.
func (t *Tx) IndexMessageID(id string, ticket uint64) error {
	if strings.TrimSpace(id) == "" {
		return nil
	}
	b := t.b(bIdxMsgID)
	k := t.lk(bIdxMsgID, []byte(id))
	if b.Get(k) != nil {
		return nil
	}
	return b.Put(k, be64(ticket))
}

// TicketMessages returns the messages of a ticket in the order they were stored.
func (t *Tx) TicketMessages(ticket uint64) ([]*Message, error) {
	var out []*Message
	prefix := be64(ticket)
	c := t.b(bIdxTicket).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		m, err := t.Message(binary.BigEndian.Uint64(k[8:]))
		if errors.Is(err, ErrShredded) {
			continue // its sender was erased after the backup this store came from
		}
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}
