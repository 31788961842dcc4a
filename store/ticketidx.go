package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
)

// The ticket indexes of listing and the scheduled runs, so that a page of
// tickets list, a digest or the record of processing reads only the
// tickets it shows: keys only, written with the ticket in the same
// transaction (putTicket) and removed with it (reindexAll).
//
//	idx_queue     lookup(queue) ‖ ticket number -> nil
//	idx_assignee  lookup(lower-case agent address) ‖ ticket number -> nil
//	idx_open      ticket number -> nil: not closed and not anonymised
//	idx_notified  ticket number -> nil: its data was mailed to agents (Ticket.Notified)
//
// lookup is the 16-byte HMAC of the other lookup indexes in an encrypted
// store (a SHA-256 prefix in a plaintext one), so no name is in clear.
var (
	bIdxQueue    = []byte("idx_queue")
	bIdxAssignee = []byte("idx_assignee")
	bIdxOpen     = []byte("idx_open")
	bIdxNotified = []byte("idx_notified")

	ticketIndexBuckets = [][]byte{bIdxQueue, bIdxAssignee, bIdxOpen, bIdxNotified}
)

// keyTicketIdx in meta: the ticket indexes above are built.
var keyTicketIdx = []byte("idx_v3")

// idxPrefix is the fixed-length key prefix of name s in index b.
func (t *Tx) idxPrefix(b []byte, s string) []byte {
	k := t.lk(b, []byte(s))
	if len(k) != 16 {
		h := sha256.Sum256(append(append([]byte{}, b...), k...))
		k = h[:16]
	}
	return k
}

type ticketKeys struct {
	queue, assignee []byte // nil: no entry
	open, notified  bool
}

func (t *Tx) ticketKeys(queue, assignee string, open, notified bool) ticketKeys {
	k := ticketKeys{open: open, notified: notified}
	if queue != "" {
		k.queue = t.idxPrefix(bIdxQueue, queue)
	}
	if assignee != "" {
		k.assignee = t.idxPrefix(bIdxAssignee, strings.ToLower(assignee))
	}
	return k
}

func keysOfTicket(t *Tx, tk *Ticket) ticketKeys {
	if tk == nil {
		return ticketKeys{}
	}
	return t.ticketKeys(tk.Queue, tk.Assignee, tk.Status != StatusClosed && tk.AnonymizedAt.IsZero(), len(tk.Notified) > 0)
}

// keysOfIndexed are the entries of the stored version of a ticket (none
// when there is none: Status is empty then).
func keysOfIndexed(t *Tx, old *indexed) ticketKeys {
	if old.Status == "" {
		return ticketKeys{}
	}
	return t.ticketKeys(old.Queue, old.Assignee, old.Status != StatusClosed && old.AnonymizedAt.IsZero(), len(old.Notified) > 0)
}

// reindexTicket moves ticket n's entries from what old had to what cur has.
func (t *Tx) reindexTicket(n uint64, old, cur ticketKeys) error {
	num := be64(n)
	move := func(b []byte, o, c []byte) error {
		if bytes.Equal(o, c) {
			return nil
		}
		if o != nil {
			if err := t.b(b).Delete(append(append([]byte{}, o...), num...)); err != nil {
				return err
			}
		}
		if c != nil {
			return t.b(b).Put(append(append([]byte{}, c...), num...), nil)
		}
		return nil
	}
	flag := func(b []byte, o, c bool) error {
		switch {
		case o == c:
			return nil
		case c:
			return t.b(b).Put(num, nil)
		default:
			return t.b(b).Delete(num)
		}
	}
	return errors.Join(move(bIdxQueue, old.queue, cur.queue), move(bIdxAssignee, old.assignee, cur.assignee),
		flag(bIdxOpen, old.open, cur.open), flag(bIdxNotified, old.notified, cur.notified))
}

// buildTicketIndexes fills the ticket indexes and idx_mention from the
// stored records in this transaction: after a plaintext store was
// encrypted (their keys change). An older store gets them on Open, in
// batches (buildIndexes).
func (t *Tx) buildTicketIndexes() error { return t.buildAll(ticketIndexBuild()) }

// TicketFilter selects tickets by their indexes; the zero value selects all.
type TicketFilter struct {
	Queue    string // only this queue's
	Assignee string // only those assigned to this address (any case)
	Open     bool   // only those not closed and not anonymised
	Notified bool   // only those whose data was mailed to agents
}

// TicketsWhere calls fn with the numbers greater than after of the tickets
// that f selects, in ascending order, until fn returns false or an error,
// reading index keys only: one index (assignee, else queue, else open,
// else notified, else the tickets' keys) is walked from after and the
// others are looked up for each number it yields. The caller checks what
// no index holds.
func (t *Tx) TicketsWhere(f TicketFilter, after uint64, fn func(n uint64) (bool, error)) error {
	if after == ^uint64(0) {
		return nil
	}
	if err := t.storeAllDeferred(); err != nil {
		return err
	}
	var walk []byte
	var prefix []byte
	var queue, assignee []byte
	if f.Queue != "" {
		queue = t.idxPrefix(bIdxQueue, f.Queue)
	}
	if f.Assignee != "" {
		assignee = t.idxPrefix(bIdxAssignee, strings.ToLower(f.Assignee))
	}
	switch {
	case assignee != nil:
		walk, prefix = bIdxAssignee, assignee
	case queue != nil:
		walk, prefix = bIdxQueue, queue
	case f.Open:
		walk = bIdxOpen
	case f.Notified:
		walk = bIdxNotified
	default:
		walk = bTickets
	}
	has := func(b, p []byte, num []byte) bool {
		return t.hasKey(b, append(append([]byte{}, p...), num...))
	}
	c := t.b(walk).Cursor()
	seek := append(append([]byte{}, prefix...), be64(after+1)...)
	for k, _ := c.Seek(seek); k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8; k, _ = c.Next() {
		num := k[len(prefix):]
		if queue != nil && !bytes.Equal(walk, bIdxQueue) && !has(bIdxQueue, queue, num) ||
			f.Open && !bytes.Equal(walk, bIdxOpen) && !has(bIdxOpen, nil, num) ||
			f.Notified && !bytes.Equal(walk, bIdxNotified) && !has(bIdxNotified, nil, num) {
			continue
		}
		more, err := fn(binary.BigEndian.Uint64(num))
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// hasKey reports whether bucket b holds key. Index entries have no value,
// and bbolt's Get returns nil for one put in the same write transaction, so
// Get cannot tell such an entry from an absent one; a cursor can.
func (t *Tx) hasKey(b, key []byte) bool {
	k, _ := t.b(b).Cursor().Seek(key)
	return bytes.Equal(k, key)
}
