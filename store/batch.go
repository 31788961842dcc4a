package store

import (
	bolt "go.etcd.io/bbolt"
)

// DeferShreds leaves the key ids this transaction shreds in the shred
// bucket instead of deleting them from the key file right after its commit:
// a purge that erases many people in many transactions calls it on each and
// FinishShreds once at the end, so the key file is written and scrubbed once
// rather than after every transaction. Until then the records are erased
// from the live file but their keys are still in the key file; a crash
// leaves the shred bucket for Open, which finishes it.
func (t *Tx) DeferShreds() { t.deferShreds = true }

// metaScrubDue marks that erased data may still be in free pages of the file.
var metaScrubDue = []byte("scrub_due")

// MarkScrubDue records, in this transaction, that Scrub must run before
// what it erases is gone from the file: a purge marks its first batch, so
// that a purge killed before its closing Scrub is completed by the next one
// (ScrubDue), even when nothing is left for it to erase.
func (t *Tx) MarkScrubDue() error { return t.b(bMeta).Put(metaScrubDue, []byte{1}) }

// ScrubDue reports whether a transaction marked with MarkScrubDue committed
// after the last Scrub.
func (db *DB) ScrubDue() bool {
	due := false
	db.gate.RLock()
	defer db.gate.RUnlock()
	db.bolt.View(func(tx *bolt.Tx) error {
		due = tx.Bucket(bMeta).Get(metaScrubDue) != nil
		return nil
	})
	return due
}
