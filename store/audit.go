package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

var keyAuditHead = []byte("audit_head")

// emptyHash ends the JSON of an audit event whose Hash is empty.
var emptyHash = []byte(`"hash":""}`)

// audit appends e to the trail, chained to the event before it.
func (t *Tx) audit(e AuditEvent) error {
	b := t.b(bAudit)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	e.Seq = seq
	e.Time = t.now
	e.Prev = string(t.b(bMeta).Get(keyAuditHead))
	// The event is encoded once: its JSON with Hash empty is what the hash
	// is over, and the stored JSON is that with the hash filled in.
	e.Hash = ""
	data, err := json.Marshal(&e)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	e.Hash = hex.EncodeToString(sum[:])
	if !bytes.HasSuffix(data, emptyHash) {
		return fmt.Errorf("audit event %d: encoded without its hash field last", seq)
	}
	data = append(append(data[:len(data)-len(emptyHash)], `"hash":"`+e.Hash...), `"}`...)
	if err := b.Put(be64(seq), data); err != nil {
		return err
	}
	if err := t.indexAudit(&e); err != nil {
		return err
	}
	return t.b(bMeta).Put(keyAuditHead, []byte(e.Hash))
}

// Audit appends an event for something that is not a store write of its own
// (an export, an erasure as a whole, a retry that changed nothing); e comes
// from the constructor of its kind (SubjectExported, QuarantineRetried, ...).
func (t *Tx) Audit(e AuditEvent) error { return t.audit(e) }

// auditHash is the hex SHA-256 of the event's JSON with Hash empty; Prev is part of it.
func auditHash(e *AuditEvent) (string, error) {
	c := *e
	c.Hash = ""
	data, err := json.Marshal(&c)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// AuditEvents calls fn for each event in order until fn returns false.
func (t *Tx) AuditEvents(fn func(*AuditEvent) bool) error {
	return forEach(t.b(bAudit), func(e *AuditEvent) bool { t.countAudit(); return fn(e) })
}

// countAudit counts one audit event read, for DB.Decoded("audit").
func (t *Tx) countAudit() {
	if t.db != nil {
		if c := t.db.decoded[string(bAudit)]; c != nil {
			c.Add(1)
		}
	}
}

// VerifyAudit walks the chain and returns the number of events checked and an
// error naming the first event whose link or hash is broken.
func (db *DB) VerifyAudit() (n uint64, err error) {
	err = db.View(func(t *Tx) error {
		btx := t.tx
		prev := ""
		c := btx.Bucket(bAudit).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var e AuditEvent
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("audit event at key %x: unreadable: %w", k, err)
			}
			if e.Prev != prev {
				return fmt.Errorf("audit event %d: link to the previous event is broken", e.Seq)
			}
			sum, err := auditHash(&e)
			if err != nil {
				return err
			}
			if sum != e.Hash {
				return fmt.Errorf("audit event %d: content does not match its hash", e.Seq)
			}
			prev = e.Hash
			n++
		}
		if head := string(btx.Bucket(bMeta).Get(keyAuditHead)); head != prev {
			return fmt.Errorf("audit trail: last event %d is not the recorded head (events were removed)", n)
		}
		return nil
	})
	return n, err
}
