package store

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// Quarantine reads one quarantine record.
func (t *Tx) Quarantine(id uint64) (*Quarantine, error) {
	var q Quarantine
	if err := getJSON(t.b(bQuarantine), be64(id), &q); err != nil {
		return nil, fmt.Errorf("quarantine record %d: %w", id, err)
	}
	return &q, nil
}

// UpdateQuarantine stores a changed quarantine record (a new reason after
// the mail was parsed again); detail goes into the audit event (fixed words only).
func (t *Tx) UpdateQuarantine(q *Quarantine, actor, detail string) error {
	if _, err := t.Quarantine(q.ID); err != nil {
		return err
	}
	if err := putJSON(t.b(bQuarantine), be64(q.ID), q); err != nil {
		return err
	}
	return t.audit(AuditEvent{Actor: actor, Action: "quarantine.updated", Quarantine: q.ID, Mailbox: q.Origin.Mailbox, Detail: detail})
}

// BlobPlace says where the blob named sum is stored: the path of its file,
// "database" for a small blob kept in the blobs bucket, or "" when it is missing.
func (t *Tx) BlobPlace(sum string) string {
	if _, err := hex.DecodeString(sum); err != nil || len(sum) != 64 {
		return ""
	}
	if t.b(bBlobs).Get([]byte(sum)) != nil {
		return "database"
	}
	if t.db == nil {
		return ""
	}
	p := t.db.Blobs.path(sum)
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
