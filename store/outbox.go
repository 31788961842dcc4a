package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"
)

// dueKey orders pending outbox items by when they are due.
func dueKey(it *OutboxItem) []byte {
	return append(be64(uint64(it.NextAttempt.UnixNano())), be64(it.ID)...)
}

// Enqueue stores a new outbox item, due at once, and sets its ID.
func (t *Tx) Enqueue(it *OutboxItem, actor Actor) error {
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
	if err := t.putRec(bOutbox, be64(id), it, t.ticketKeyOf(it.Ticket)); err != nil {
		return err
	}
	if err := t.b(bIdxDue).Put(dueKey(it), nil); err != nil {
		return err
	}
	if err := t.reindexMentions(MentionOutbox, id, nil, outboxAddresses(it)); err != nil {
		return err
	}
	if it.Ticket != 0 {
		if err := t.b(bIdxOutTk).Put(append(be64(it.Ticket), be64(id)...), nil); err != nil {
			return err
		}
	}
	return t.audit(outboxQueued(it, actor))
}

// OutboxItem reads one item.
func (t *Tx) OutboxItem(id uint64) (*OutboxItem, error) {
	var it OutboxItem
	if err := t.getRec(bOutbox, be64(id), &it); err != nil {
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
		if errors.Is(err, ErrShredded) {
			continue
		}
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
func (t *Tx) UpdateOutbox(it *OutboxItem, actor Actor) error {
	e, err := outboxAttempt(it, actor)
	if err != nil {
		return err
	}
	old, err := t.OutboxItem(it.ID)
	if err != nil {
		return err
	}
	if old.Status == OutboxPending {
		if err := t.b(bIdxDue).Delete(dueKey(old)); err != nil {
			return err
		}
	}
	if !bytes.Equal(old.Raw, it.Raw) || !slices.Equal(old.To, it.To) {
		if err := t.reindexMentions(MentionOutbox, it.ID, outboxAddresses(old), outboxAddresses(it)); err != nil {
			return err
		}
	}
	if it.Status == OutboxPending {
		if err := t.b(bIdxDue).Put(dueKey(it), nil); err != nil {
			return err
		}
	}
	if err := t.indexFailed(old, it); err != nil {
		return err
	}
	if err := t.putRec(bOutbox, be64(it.ID), it, t.ticketKeyOf(it.Ticket)); err != nil {
		return err
	}
	return t.audit(e)
}

// Outbox calls fn for each item in id order until fn returns false.
func (t *Tx) Outbox(fn func(*OutboxItem) bool) error { return forEachRec(t, bOutbox, fn) }

// OutboxFor returns the outgoing mail to an address (erasure reaches it
// too), in order, by idx_mention.
func (t *Tx) OutboxFor(email string) ([]*OutboxItem, error) {
	key := NormalizeEmail(email)
	var out []*OutboxItem
	for _, id := range t.Mentioning(email, MentionOutbox) {
		it, err := t.OutboxItem(id)
		if errors.Is(err, ErrNotFound) {
			continue // gone (a record under an erased key, say)
		}
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(it.To, func(to string) bool { return NormalizeEmail(to) == key }) {
			out = append(out, it)
		}
	}
	return out, nil
}

// DeleteOutboxItem removes one outgoing mail.
func (t *Tx) DeleteOutboxItem(id uint64, actor Actor, why string) error {
	if err := t.deleteOutbox(id); err != nil {
		return err
	}
	return t.audit(outboxDeleted(id, actor, why))
}

func (t *Tx) deleteOutbox(id uint64) error {
	it, err := t.OutboxItem(id)
	if errors.Is(err, ErrShredded) {
		// Its ticket's requester was erased after the backup this store came from.
		if err := t.b(bIdxOutTk).Delete(append(be64(0), be64(id)...)); err != nil {
			return err
		}
		if err := t.b(bIdxOutFail).Delete(be64(id)); err != nil {
			return err
		}
		return t.b(bOutbox).Delete(be64(id))
	}
	if errors.Is(err, ErrNotFound) {
		return nil // already gone
	}
	if err != nil {
		return err
	}
	if it.Status == OutboxPending {
		if err := t.b(bIdxDue).Delete(dueKey(it)); err != nil {
			return err
		}
	}
	if err := t.b(bIdxOutTk).Delete(append(be64(it.Ticket), be64(id)...)); err != nil {
		return err
	}
	if err := t.indexFailed(it, nil); err != nil {
		return err
	}
	if err := t.reindexMentions(MentionOutbox, id, outboxAddresses(it), nil); err != nil {
		return err
	}
	return t.b(bOutbox).Delete(be64(id))
}

// deleteTicketOutbox removes every outgoing mail about ticket n (the
// acknowledgement, answers, notifications of agents).
func (t *Tx) deleteTicketOutbox(n uint64) error {
	prefix := be64(n)
	var ids []uint64
	c := t.b(bIdxOutTk).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		ids = append(ids, binary.BigEndian.Uint64(k[8:]))
	}
	for _, id := range ids {
		if err := t.deleteOutbox(id); err != nil {
			return err
		}
		if err := t.b(bIdxOutTk).Delete(append(be64(n), be64(id)...)); err != nil {
			return err
		}
	}
	return nil
}

// keyFailedIdx in meta: idx_outbox_failed is built.
var keyFailedIdx = []byte("idx_v5")

// indexFailed keeps idx_outbox_failed for an item written as it (nil:
// deleted) that was old before (nil: new).
func (t *Tx) indexFailed(old, it *OutboxItem) error {
	b := t.b(bIdxOutFail)
	if old != nil && old.Status == OutboxFailed && (it == nil || it.Status != OutboxFailed) {
		if err := b.Delete(be64(old.ID)); err != nil {
			return err
		}
	}
	if it != nil && it.Status == OutboxFailed {
		return b.Put(be64(it.ID), nil)
	}
	return nil
}

// OutboxCounts are the outbox's items by state.
type OutboxCounts struct{ Pending, Failed, Sent int }

// CountOutbox counts the outbox's items by state from the keys of its
// indexes and the bucket's key count, decrypting no item: the cost of a
// status or a scrape does not grow with the mail sent. A store whose
// idx_outbox_failed is not built yet (an older one opened read-only) is
// counted by reading every item.
func (t *Tx) CountOutbox() (OutboxCounts, error) {
	var n OutboxCounts
	if t.b(bMeta).Get(keyFailedIdx) == nil {
		err := t.Outbox(func(it *OutboxItem) bool {
			switch it.Status {
			case OutboxPending:
				n.Pending++
			case OutboxFailed:
				n.Failed++
			case OutboxSent:
				n.Sent++
			}
			return true
		})
		return n, err
	}
	n.Pending = t.PendingOutbox()
	n.Failed = countKeys(t.b(bIdxOutFail))
	n.Sent = max(0, t.b(bOutbox).Stats().KeyN-n.Pending-n.Failed)
	return n, nil
}
