package store

import (
	"encoding/json"
	"time"
)

// TakeAckSlot reports whether another acknowledgement may go to email: fewer
// than max went to it within window before now. When it may, the slot is taken.
func (t *Tx) TakeAckSlot(email string, max int, window time.Duration) (bool, error) {
	key := t.lk(bAckRate, []byte(NormalizeEmail(email)))
	var sent []int64
	if v := t.b(bAckRate).Get(key); v != nil {
		if err := json.Unmarshal(v, &sent); err != nil {
			return false, err
		}
	}
	cutoff := t.now.Add(-window).UnixNano()
	kept := sent[:0]
	for _, ts := range sent {
		if ts > cutoff {
			kept = append(kept, ts)
		}
	}
	if len(kept) >= max {
		return false, nil
	}
	kept = append(kept, t.now.UnixNano())
	return true, putJSON(t.b(bAckRate), key, kept)
}
