package store

import (
	"runtime"
	"strings"
	"testing"
)

// TestSealedRecordEncodingReusesItsBuffer: sealing a record of a few KB
// (a mail's message) in a transaction allocates about the sealed value,
// not also a new JSON buffer grown from nothing each time.
func TestSealedRecordEncodingReusesItsBuffer(t *testing.T) {
	db := openTest(t, t.TempDir())
	defer db.Close()
	m := &Message{ID: 1, Ticket: 1, Direction: DirectionIn, Text: strings.Repeat("Die Lieferung ist bis heute nicht eingetroffen. ", 80)}
	err := db.Update(func(tx *Tx) error {
		if err := tx.putRec(bMessages, be64(1), m, keySystem); err != nil {
			return err
		}
		if raceEnabled {
			return nil // the race detector allocates for itself
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		const runs = 20
		for range runs {
			if err := tx.putRec(bMessages, be64(1), m, keySystem); err != nil {
				return err
			}
		}
		runtime.ReadMemStats(&after)
		// The sealed value is a little more than the JSON; a JSON buffer
		// grown from nothing each time adds about as much again.
		n := (after.TotalAlloc - before.TotalAlloc) / runs
		if limit := uint64(3 * len(m.Text) / 2); n > limit {
			t.Errorf("sealing a %d-byte message: %d bytes allocated, want at most %d", len(m.Text), n, limit)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
