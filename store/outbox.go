package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// dueKey orders pending outbox items by when they are due.
func dueKey(it *OutboxItem) []byte {
	return append(be64(uint64(it.NextAttempt.UnixNano())), be64(it.ID)...)
}

// Enqueue stores a new outbox item, due at once, and sets its ID.
func (t *Tx) Enqueue(it *OutboxItem, actor string) error {
	id, err := t.b(bOutbox).NextSequence()
	if err != nil {
		return err
	}
	it.ID = id
	it.Status = OutboxPending
	it.CreatedAt = t.now
	if it.NextAttempt.IsZero() {
		it.NextAttempt = t.now
	}
	if err := putJSON(t.b(bOutbox), be64(id), it); err != nil {
		return err
	}
	if err := t.b(bIdxDue).Put(dueKey(it), nil); err != nil {
		return err
	}
	return t.audit(AuditEvent{Actor: actor, Action: "outbox.queued", Ticket: it.Ticket, Detail: fmt.Sprintf("outbox %d %s", id, it.Kind)})
}

// OutboxItem reads one item.
func (t *Tx) OutboxItem(id uint64) (*OutboxItem, error) {
	var it OutboxItem
	if err := getJSON(t.b(bOutbox), be64(id), &it); err != nil {
		return nil, fmt.Errorf("outbox item %d: %w", id, err)
	}
	return &it, nil
}

// DueOutbox returns up to limit pending items due at or before now, earliest first.
func (t *Tx) DueOutbox(now time.Time, limit int) ([]*OutboxItem, error) {
	var out []*OutboxItem
	end := be64(uint64(now.UnixNano()))
	c := t.b(bIdxDue).Cursor()
	for k, _ := c.First(); k != nil && len(out) < limit && bytes.Compare(k[:8], end) <= 0; k, _ = c.Next() {
		it, err := t.OutboxItem(binary.BigEndian.Uint64(k[8:]))
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, nil
}

// NextDue is when the earliest pending item is due; false when none is pending.
func (t *Tx) NextDue() (time.Time, bool) {
	k, _ := t.b(bIdxDue).Cursor().First()
	if k == nil {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(k[:8]))), true
}

// UpdateOutbox stores a changed item (status, attempts, next attempt, error),
// keeps the due index in step and records the outcome as an audit event.
func (t *Tx) UpdateOutbox(it *OutboxItem, actor string) error {
	old, err := t.OutboxItem(it.ID)
	if err != nil {
		return err
	}
	if old.Status == OutboxPending {
		if err := t.b(bIdxDue).Delete(dueKey(old)); err != nil {
			return err
		}
	}
	if it.Status == OutboxPending {
		if err := t.b(bIdxDue).Put(dueKey(it), nil); err != nil {
			return err
		}
	}
	if err := putJSON(t.b(bOutbox), be64(it.ID), it); err != nil {
		return err
	}
	action := map[string]string{OutboxSent: "outbox.sent", OutboxFailed: "outbox.failed", OutboxPending: "outbox.retry"}[it.Status]
	return t.audit(AuditEvent{Actor: actor, Action: action, Ticket: it.Ticket,
		Detail: fmt.Sprintf("outbox %d attempt %d", it.ID, it.Attempts)})
}

// Outbox calls fn for each item in id order until fn returns false.
func (t *Tx) Outbox(fn func(*OutboxItem) bool) error { return forEach(t.b(bOutbox), fn) }

// TakeAckSlot reports whether another acknowledgement may go to email: fewer
// than max went to it within window before now. When it may, the slot is taken.
func (t *Tx) TakeAckSlot(email string, max int, window time.Duration) (bool, error) {
	key := []byte(NormalizeEmail(email))
	var sent []int64
	if v := t.b(bAckRate).Get(key); v != nil {
		if err := json.Unmarshal(v, &sent); err != nil {
			return false, err
		}
	}
	cutoff := t.now.Add(-window).UnixNano()
	kept := sent[:0]
	for _, ts := range sent {
		if ts > cutoff {
			kept = append(kept, ts)
		}
	}
	if len(kept) >= max {
		return false, nil
	}
	kept = append(kept, t.now.UnixNano())
	return true, putJSON(t.b(bAckRate), key, kept)
}

// RecordConsentToken records an issued consent link.
func (t *Tx) RecordConsentToken(ct *ConsentToken, actor string) error {
	ct.IssuedAt = t.now
	if err := putJSON(t.b(bConsentTok), []byte(ct.ID), ct); err != nil {
		return err
	}
	return t.audit(AuditEvent{Actor: actor, Action: "consent.link_issued", Ticket: ct.Ticket, Person: ct.Person,
		Detail: "token " + ct.ID + " purpose " + ct.Purpose})
}

// ConsentTokenRecord reads the record of an issued consent link.
func (t *Tx) ConsentTokenRecord(id string) (*ConsentToken, error) {
	var ct ConsentToken
	if err := getJSON(t.b(bConsentTok), []byte(id), &ct); err != nil {
		return nil, fmt.Errorf("consent token %s: %w", id, err)
	}
	return &ct, nil
}

// UpdateTicket stores a changed ticket (its acknowledgement, status).
// detail, when given, goes into the audit event: identifiers or fixed words
// only, such as a hold category.
func (t *Tx) UpdateTicket(tk *Ticket, action, actor string, detail ...string) error {
	tk.UpdatedAt = t.now
	if err := t.putTicket(tk); err != nil {
		return err
	}
	return t.audit(AuditEvent{Actor: actor, Action: action, Ticket: tk.Number, Detail: strings.Join(detail, " ")})
}
