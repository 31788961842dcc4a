package store

import (
	"bytes"
	"testing"
)

// TestLookupKeyIsCheap: the lookup key of an index entry (several for
// every mail stored) is the HMAC the indexes were written with, and
// computing it allocates little (the key it returns), however many run at once.
func TestLookupKeyIsCheap(t *testing.T) {
	db := openTest(t, t.TempDir())
	defer db.Close()
	ks := db.keys
	want := hmacSum(ks.lookupKey, bIdxEmail, []byte("erika@example.org"))[:16]
	done := make(chan bool)
	for range 4 {
		go func() {
			ok := true
			for range 100 {
				ok = ok && bytes.Equal(ks.lookup(bIdxEmail, []byte("erika@example.org")), want)
			}
			done <- ok
		}()
	}
	for range 4 {
		if !<-done {
			t.Error("a lookup key computed concurrently differs from the HMAC of the index")
		}
	}
	if raceEnabled {
		return
	}
	if n := testing.AllocsPerRun(100, func() { ks.lookup(bIdxEmail, []byte("erika@example.org")) }); n > 2 {
		t.Errorf("a lookup key costs %.0f allocations, want at most 2", n)
	}
}
