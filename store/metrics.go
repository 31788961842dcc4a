package store

import bolt "go.etcd.io/bbolt"

// PendingOutbox counts the outbox items waiting to be sent, reading the
// keys of the due index only (for the metrics, at each scrape).
func (t *Tx) PendingOutbox() int { return countKeys(t.b(bIdxDue)) }

// countKeys counts the keys of b.
func countKeys(b *bolt.Bucket) int {
	n := 0
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	return n
}
