package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Tx is one transaction. Its write methods append the audit event for what they change.
type Tx struct {
	tx      *bolt.Tx
	now     time.Time
	db      *DB
	planner Planner
	// removeFiles are blob files to delete once the transaction has committed.
	removeFiles []string
}

// Now is the transaction's time: one value for every record the transaction writes.
func (t *Tx) Now() time.Time { return t.now }

func (t *Tx) b(name []byte) *bolt.Bucket { return t.tx.Bucket(name) }

// DedupKey identifies one mail in one mailbox: a SHA-256 over the mailbox,
// the Message-ID and the content hash, so that the key of an erased mail
// (kept, so that the mail is never imported again) holds no personal data.
func DedupKey(mailbox, messageID, contentHash string) []byte {
	h := sha256.New()
	for _, s := range []string{mailbox, messageID, contentHash} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return h.Sum(nil)
}

// SeenMail returns the message id stored under the dedup key, if any; id 0
// means the mail was imported and has been erased since.
func (t *Tx) SeenMail(key []byte) (uint64, bool) {
	v := t.b(bIdxDedup).Get(key)
	if v == nil {
		return 0, false
	}
	return binary.BigEndian.Uint64(v), true
}

// TicketByMessageID returns the ticket that holds a mail with this Message-ID.
// An empty id never matches.
func (t *Tx) TicketByMessageID(id string) (uint64, bool) {
	if strings.TrimSpace(id) == "" {
		return 0, false
	}
	v := t.b(bIdxMsgID).Get([]byte(id))
	if v == nil {
		return 0, false
	}
	return binary.BigEndian.Uint64(v), true
}

// Ticket reads one ticket.
func (t *Tx) Ticket(number uint64) (*Ticket, error) {
	var tk Ticket
	if err := getJSON(t.b(bTickets), be64(number), &tk); err != nil {
		return nil, fmt.Errorf("ticket %d: %w", number, err)
	}
	return &tk, nil
}

// Message reads one message.
func (t *Tx) Message(id uint64) (*Message, error) {
	var m Message
	if err := getJSON(t.b(bMessages), be64(id), &m); err != nil {
		return nil, fmt.Errorf("message %d: %w", id, err)
	}
	return &m, nil
}

// Person reads one person.
func (t *Tx) Person(id uint64) (*Person, error) {
	var p Person
	if err := getJSON(t.b(bPeople), be64(id), &p); err != nil {
		return nil, fmt.Errorf("person %d: %w", id, err)
	}
	return &p, nil
}

// NormalizeEmail is the form addresses are indexed under.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// PersonByEmail finds a person by address (case-insensitive).
func (t *Tx) PersonByEmail(email string) (*Person, error) {
	v := t.b(bIdxEmail).Get([]byte(NormalizeEmail(email)))
	if v == nil {
		return nil, fmt.Errorf("person %q: %w", email, ErrNotFound)
	}
	return t.Person(binary.BigEndian.Uint64(v))
}

// EnsurePerson returns the person with this address, creating it when new.
// A name is filled in when the person had none.
func (t *Tx) EnsurePerson(email, name, actor string) (*Person, error) {
	key := NormalizeEmail(email)
	if key == "" {
		return nil, fmt.Errorf("store person: empty address")
	}
	if v := t.b(bIdxEmail).Get([]byte(key)); v != nil {
		p, err := t.Person(binary.BigEndian.Uint64(v))
		if err != nil || p.Name != "" || name == "" {
			return p, err
		}
		p.Name = name
		if err := putJSON(t.b(bPeople), be64(p.ID), p); err != nil {
			return nil, err
		}
		return p, t.audit(AuditEvent{Actor: actor, Action: "person.updated", Person: p.ID, Detail: "name"})
	}
	id, err := t.b(bPeople).NextSequence()
	if err != nil {
		return nil, err
	}
	p := &Person{ID: id, Email: key, Name: name, CreatedAt: t.now}
	if err := putJSON(t.b(bPeople), be64(id), p); err != nil {
		return nil, err
	}
	if err := t.b(bIdxEmail).Put([]byte(key), be64(id)); err != nil {
		return nil, err
	}
	return p, t.audit(AuditEvent{Actor: actor, Action: "person.created", Person: id})
}

// CreateTicket stores a new ticket and sets its Number.
func (t *Tx) CreateTicket(tk *Ticket, actor string) error {
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
	return t.audit(AuditEvent{Actor: actor, Action: "ticket.created", Ticket: n, Person: tk.RequesterID,
		Mailbox: tk.Origin.Mailbox, Channel: tk.Origin.Channel})
}

// AddMessage stores m on ticket tk (as read or created in this
// transaction), sets m.ID, indexes its Message-ID and dedup key, and counts it
// on the ticket (adding the sender as a participant); tk is updated in place.
func (t *Tx) AddMessage(tk *Ticket, m *Message, dedupKey []byte, actor string) error {
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
	if err := putJSON(t.b(bMessages), be64(id), m); err != nil {
		return err
	}
	if err := t.b(bIdxTicket).Put(append(be64(m.Ticket), be64(id)...), nil); err != nil {
		return err
	}
	for _, a := range m.Attachments {
		if err := t.refBlob(a.SHA256, 'm', id); err != nil {
			return err
		}
	}
	if err := t.IndexMessageID(m.MessageID, m.Ticket); err != nil {
		return err
	}
	if dedupKey != nil {
		if err := t.b(bIdxDedup).Put(dedupKey, be64(id)); err != nil {
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
	return t.audit(AuditEvent{Actor: actor, Action: "message.added", Ticket: tk.Number, Message: id,
		Person: m.PersonID, Mailbox: m.Origin.Mailbox, Channel: m.Origin.Channel, Detail: m.ThreadedBy})
}

// IndexMessageID makes replies to Message-ID id thread into ticket. The first
// ticket to claim an id keeps it; an empty id is never indexed.
func (t *Tx) IndexMessageID(id string, ticket uint64) error {
	if strings.TrimSpace(id) == "" {
		return nil
	}
	b := t.b(bIdxMsgID)
	if b.Get([]byte(id)) != nil {
		return nil
	}
	return b.Put([]byte(id), be64(ticket))
}

// TicketMessages returns the messages of a ticket in the order they were stored.
func (t *Tx) TicketMessages(ticket uint64) ([]*Message, error) {
	var out []*Message
	prefix := be64(ticket)
	c := t.b(bIdxTicket).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		m, err := t.Message(binary.BigEndian.Uint64(k[8:]))
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// Tickets calls fn for each ticket in number order until fn returns false.
func (t *Tx) Tickets(fn func(*Ticket) bool) error { return forEach(t.b(bTickets), fn) }

// forEach decodes each value of b into a new T and calls fn until it returns false.
func forEach[T any](b *bolt.Bucket, fn func(*T) bool) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		rec := new(T)
		if err := json.Unmarshal(v, rec); err != nil {
			return fmt.Errorf("decode record %x: %w", k, err)
		}
		if !fn(rec) {
			return nil
		}
	}
	return nil
}

// QuarantineSeen reports whether a mail with this key (see AddQuarantine) is already quarantined.
func (t *Tx) QuarantineSeen(mailbox, key string) bool {
	return t.b(bIdxQDedup).Get([]byte(mailbox+"\x00"+key)) != nil
}

// AddQuarantine stores a quarantine record and sets q.ID. key identifies the
// mail within its mailbox (its content hash, or what is known of an unread mail).
func (t *Tx) AddQuarantine(q *Quarantine, key, actor string) error {
	id, err := t.b(bQuarantine).NextSequence()
	if err != nil {
		return err
	}
	q.ID = id
	q.StoredAt = t.now
	q.Origin.StoredAt = t.now
	if err := putJSON(t.b(bQuarantine), be64(id), q); err != nil {
		return err
	}
	if err := t.b(bIdxQDedup).Put([]byte(q.Origin.Mailbox+"\x00"+key), be64(id)); err != nil {
		return err
	}
	if err := t.refBlob(q.Blob, 'q', id); err != nil {
		return err
	}
	return t.audit(AuditEvent{Actor: actor, Action: "quarantine.added", Quarantine: id,
		Mailbox: q.Origin.Mailbox, Channel: q.Origin.Channel, Detail: fmt.Sprintf("uid %d", q.Origin.UID)})
}

// Quarantined calls fn for each quarantine record in id order until fn returns false.
func (t *Tx) Quarantined(fn func(*Quarantine) bool) error { return forEach(t.b(bQuarantine), fn) }

// Checkpoint returns the sync state of a mailbox.
func (t *Tx) Checkpoint(mailbox string) (Checkpoint, bool, error) {
	var c Checkpoint
	err := getJSON(t.b(bSync), []byte(mailbox), &c)
	if err == ErrNotFound {
		return Checkpoint{Mailbox: mailbox}, false, nil
	}
	return c, err == nil, err
}

// SetCheckpoint stores the sync state of a mailbox.
func (t *Tx) SetCheckpoint(c Checkpoint, actor string) error {
	c.UpdatedAt = t.now
	if err := putJSON(t.b(bSync), []byte(c.Mailbox), &c); err != nil {
		return err
	}
	return t.audit(AuditEvent{Actor: actor, Action: "mailbox.checkpoint", Mailbox: c.Mailbox,
		Detail: fmt.Sprintf("uidvalidity %d last uid %d pending %d", c.UIDValidity, c.LastUID, len(c.Pending))})
}
