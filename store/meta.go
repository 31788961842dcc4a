package store

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// metaPrefix keeps the keys of other packages apart from the store's own
// ("schema", "audit_head", "instance", ...).
const metaPrefix = "x."

// Meta returns the value another package stored under key with SetMeta (nil if none).
func (t *Tx) Meta(key string) []byte {
	v := t.b(bMeta).Get([]byte(metaPrefix + key))
	if v == nil {
		return nil
	}
	return append([]byte(nil), v...)
}

// SetMeta stores a small value of another package under key, such as the
// fingerprint of the configuration the retention plans were computed with.
// It holds no personal data, so it appends no audit event.
func (t *Tx) SetMeta(key string, value []byte) error {
	if key == "" || strings.ContainsRune(key, 0) {
		return fmt.Errorf("store meta: invalid key %q", key)
	}
	return t.b(bMeta).Put([]byte(metaPrefix+key), value)
}

// TicketNumbers returns up to limit ticket numbers greater than after, in
// order, reading keys only: a walk over every ticket in batches resumes
// where the last batch ended.
func (t *Tx) TicketNumbers(after uint64, limit int) []uint64 {
	var out []uint64
	if after == ^uint64(0) {
		return nil
	}
	t.flushDeferred()
	c := t.b(bTickets).Cursor()
	for k, _ := c.Seek(be64(after + 1)); k != nil && (limit <= 0 || len(out) < limit); k, _ = c.Next() {
		out = append(out, binary.BigEndian.Uint64(k))
	}
	return out
}
