package store

// PendingOutbox counts the outbox items waiting to be sent, reading the
// keys of the due index only (for the metrics, at each scrape).
func (t *Tx) PendingOutbox() int {
	n := 0
	c := t.b(bIdxDue).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	return n
}
