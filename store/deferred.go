package store

import (
	"encoding/json"
	"fmt"
)

// DeferTicketWrites makes the ticket writes of this transaction (CreateTicket,
// AddMessage, UpdateTicket and the others that store a ticket) record the
// ticket only; each ticket is planned, encoded, sealed and indexed once,
// when the transaction ends, however often it was written in it. A new
// ticket of an incoming mail is written three times (created, its message,
// its acknowledgement): deferred, it is sealed once.
//
// The writes stay visible in the transaction: Ticket reads a ticket written
// since as it would be stored (a copy, planned), and the readers of the ticket indexes (TicketsWhere,
// TicketsOf, Due, NextPlanned, TicketNumbers, Tickets) store the deferred
// tickets first. What the caller must keep: a ticket handed to a write is
// stored as it is at the end (or at such a read), so it is changed after
// the write only to be written again; and the fields the Planner sets
// (PurgeAt, ConsentDue, ServiceAt) are set when it is stored. An error of a
// deferred write fails the transaction.
func (t *Tx) DeferTicketWrites() { t.deferTickets = true }

// deferredTicket is a ticket written in a transaction with DeferTicketWrites
// and not stored yet, with the indexes of its stored version.
type deferredTicket struct {
	tk  *Ticket
	old indexed
}

// deferTicket records tk to be stored at the end of the transaction; old is
// what the indexes of its stored version hold.
func (t *Tx) deferTicket(tk *Ticket, old indexed) {
	if t.deferred == nil {
		t.deferred = map[uint64]*deferredTicket{}
	}
	if d, ok := t.deferred[tk.Number]; ok {
		d.tk = tk
		return
	}
	t.deferred[tk.Number] = &deferredTicket{tk: tk, old: old}
	t.deferredOrder = append(t.deferredOrder, tk.Number)
}

// deferredIndexes is what the indexes of ticket n hold when it was written
// in this transaction and is not stored yet.
func (t *Tx) deferredIndexes(n uint64) (indexed, bool) {
	d, ok := t.deferred[n]
	if !ok {
		return indexed{}, false
	}
	return d.old, true
}

// deferredCopy is what Ticket would read of tk had it been stored now: a
// copy of its JSON, planned. A reply threaded into a ticket made earlier in
// its batch reads it so, without storing it twice.
func (t *Tx) deferredCopy(tk *Ticket) (*Ticket, error) {
	data, err := marshalJSON(tk)
	if err != nil {
		return nil, fmt.Errorf("ticket %d: %w", tk.Number, err)
	}
	var c Ticket
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("ticket %d: %w", tk.Number, err)
	}
	if t.planner != nil {
		t.planner(t, &c)
	}
	c.ServiceAt = serviceAt(&c)
	if t.db != nil {
		if n := t.db.decoded[string(bTickets)]; n != nil {
			n.Add(1)
		}
	}
	return &c, nil
}

// storeDeferred stores ticket n if its write was deferred.
func (t *Tx) storeDeferred(n uint64) error {
	d, ok := t.deferred[n]
	if !ok {
		return nil
	}
	delete(t.deferred, n)
	if err := t.putTicketOver(d.tk, d.old); err != nil {
		return fmt.Errorf("ticket %d: %w", n, err)
	}
	return nil
}

// storeAllDeferred stores every deferred ticket, in the order of their first
// writes; the readers of the ticket indexes call it first.
func (t *Tx) storeAllDeferred() error {
	order := t.deferredOrder
	t.deferredOrder = nil
	for _, n := range order {
		if err := t.storeDeferred(n); err != nil {
			return err
		}
	}
	return nil
}

// flushDeferred is storeAllDeferred for a reader that returns no error: the
// error fails the transaction at its end (Update).
func (t *Tx) flushDeferred() {
	if len(t.deferred) == 0 {
		return
	}
	if err := t.storeAllDeferred(); err != nil && t.deferErr == nil {
		t.deferErr = err
	}
}

// finishDeferred stores what is deferred when the transaction's function
// has returned, and returns the first error of a deferred write.
func (t *Tx) finishDeferred() error {
	t.flushDeferred()
	return t.deferErr
}
