package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
)

// idx_audit finds the audit events about a person or a ticket without a
// walk over the trail, for a data subject's export:
//
//	idx_audit  'p' ‖ person id ‖ seq -> nil, 't' ‖ ticket number ‖ seq -> nil
//
// Numbers only, written with the event. Events stay (the chain), and so do
// their entries.
var bIdxAudit = []byte("idx_audit")

func auditIdxKey(kind byte, id, seq uint64) []byte {
	k := make([]byte, 17)
	k[0] = kind
	binary.BigEndian.PutUint64(k[1:], id)
	binary.BigEndian.PutUint64(k[9:], seq)
	return k
}

func (t *Tx) indexAudit(e *AuditEvent) error {
	b := t.b(bIdxAudit)
	if e.Person != 0 {
		if err := b.Put(auditIdxKey('p', e.Person, e.Seq), nil); err != nil {
			return err
		}
	}
	if e.Ticket != 0 {
		return b.Put(auditIdxKey('t', e.Ticket, e.Seq), nil)
	}
	return nil
}

// AuditAbout returns the events about person (Person) and those about the
// given tickets (Ticket) that name no person, in the order of the trail,
// read by idx_audit.
func (t *Tx) AuditAbout(person uint64, tickets []uint64) ([]*AuditEvent, error) {
	seqs := map[uint64]bool{}
	walk := func(kind byte, id uint64) {
		prefix := auditIdxKey(kind, id, 0)[:9]
		c := t.b(bIdxAudit).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			seqs[binary.BigEndian.Uint64(k[9:])] = true
		}
	}
	if person != 0 {
		walk('p', person)
	}
	for _, n := range tickets {
		walk('t', n)
	}
	var out []*AuditEvent
	for seq := range seqs {
		var e AuditEvent
		t.countAudit()
		if err := getJSON(t.b(bAudit), be64(seq), &e); err != nil {
			return nil, fmt.Errorf("audit event %d: %w", seq, err)
		}
		if e.Person == person || e.Person == 0 {
			out = append(out, &e)
		}
	}
	sortEvents(out)
	return out, nil
}

func sortEvents(es []*AuditEvent) {
	slices.SortFunc(es, func(a, b *AuditEvent) int { return cmp.Compare(a.Seq, b.Seq) })
}

// keyAuditIdx in meta: idx_audit is built.
var keyAuditIdx = []byte("idx_v4")
