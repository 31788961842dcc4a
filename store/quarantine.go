package store

import (
	"fmt"
	"os"
	"path/filepath"
)

// Quarantine reads one quarantine record.
func (t *Tx) Quarantine(id uint64) (*Quarantine, error) {
	var q Quarantine
	if err := t.getRec(bQuarantine, be64(id), &q); err != nil {
		return nil, fmt.Errorf("quarantine record %d: %w", id, err)
	}
	return &q, nil
}

// UpdateQuarantine stores a changed quarantine record (a new reason after
// the mail was parsed again); detail goes into the audit event (fixed words only).
func (t *Tx) UpdateQuarantine(q *Quarantine, actor Actor, detail string) error {
	if _, err := t.Quarantine(q.ID); err != nil {
		return err
	}
	if err := t.putRec(bQuarantine, be64(q.ID), q, quarantineKeyID(q.ID)); err != nil {
		return err
	}
	return t.audit(quarantineUpdated(q, actor, detail))
}

// BlobPlace says where the blob named sum is stored: the path of its file,
// "database" for a small blob kept in the blobs bucket, or "" when it is missing.
func (t *Tx) BlobPlace(sum string) string {
	if t.db == nil {
		return ""
	}
	name := t.db.Blobs.name(sum)
	if name == "" {
		return ""
	}
	if t.b(bBlobs).Get([]byte(name)) != nil {
		return "database"
	}
	p := t.db.Blobs.path(name)
	if !fileExists(p) {
		return ""
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// QuarantineSeen reports whether a mail with this key (see AddQuarantine) is already quarantined.
func (t *Tx) QuarantineSeen(mailbox, key string) bool {
	return t.b(bIdxQDedup).Get(t.lk(bIdxQDedup, []byte(mailbox+"\x00"+key))) != nil
}

// AddQuarantine stores a quarantine record and sets q.ID. key identifies the
// mail within its mailbox (its content hash, or what is known of an unread mail).
func (t *Tx) AddQuarantine(q *Quarantine, key string, actor Actor) error {
	id, err := t.b(bQuarantine).NextSequence()
	if err != nil {
		return err
	}
	q.ID = id
	q.StoredAt = t.now
	q.Origin.StoredAt = t.now
	if err := t.ensureKey(quarantineKeyID(id)); err != nil {
		return err
	}
	if err := t.putRec(bQuarantine, be64(id), q, quarantineKeyID(id)); err != nil {
		return err
	}
	if err := t.b(bIdxQDedup).Put(t.lk(bIdxQDedup, []byte(q.Origin.Mailbox+"\x00"+key)), be64(id)); err != nil {
		return err
	}
	if err := t.refBlob(q.Blob, 'q', id); err != nil {
		return err
	}
	return t.audit(quarantineAdded(q, actor))
}

// Quarantined calls fn for each quarantine record in id order until fn returns false.
func (t *Tx) Quarantined(fn func(*Quarantine) bool) error { return forEachRec(t, bQuarantine, fn) }
