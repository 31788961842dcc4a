package store

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Agents are numbered once, for good: the number is part of every reply
// address mailed to an agent (package agent), so it must stay with one
// address and never be given to another. The bucket holds both directions:
//
//	"e" | address (lower case) -> id
//	"i" | id                   -> address

// AgentID returns the number of the agent with this address, giving the
// address the next number when it has none.
func (t *Tx) AgentID(address string) (uint64, error) {
	address = NormalizeEmail(address)
	if address == "" {
		return 0, fmt.Errorf("agent: empty address")
	}
	b := t.b(bAgents)
	if v := b.Get(append([]byte("e"), address...)); v != nil {
		return binary.BigEndian.Uint64(v), nil
	}
	id, err := b.NextSequence()
	if err != nil {
		return 0, err
	}
	if err := b.Put(append([]byte("e"), address...), be64(id)); err != nil {
		return 0, err
	}
	return id, b.Put(append([]byte("i"), be64(id)...), []byte(address))
}

// AgentAddress returns the address the agent number id was given to.
func (t *Tx) AgentAddress(id uint64) (string, bool) {
	b := t.b(bAgents)
	if b == nil { // a store of an older ticketd opened read-only
		return "", false
	}
	v := b.Get(append([]byte("i"), be64(id)...))
	return string(v), v != nil
}

// serviceAt is when the service-level run next has to look at tk: its due
// time while an answer is awaited and the escalation for that due time is
// still to come.
func serviceAt(tk *Ticket) time.Time {
	if tk.DueAt.IsZero() || !tk.AnsweredAt.IsZero() || tk.Status == StatusClosed ||
		!tk.AnonymizedAt.IsZero() || tk.EscalatedFor.Equal(tk.DueAt) {
		return time.Time{}
	}
	return tk.DueAt
}

// AgentsNumbered reports whether any agent has a number, that is whether
// a reply address may ever have been mailed.
func (t *Tx) AgentsNumbered() bool {
	b := t.b(bAgents)
	if b == nil {
		return false
	}
	k, _ := b.Cursor().First()
	return k != nil
}
