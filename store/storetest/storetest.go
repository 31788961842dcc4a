// Package storetest gives tests a store and a clock, in the style of
// net/http/httptest: New opens a store in a temporary directory of its own
// and closes it when the test ends; Clock is the time a test moves by hand,
// handed to the store (store.Options.Now) and to whatever else decides what
// is due, so that no test sleeps for logic.
package storetest

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"ticketd/store"
)

// New opens a new, encrypted store in a temporary directory whose clock is
// now (nil: time.Now) and closes it when the test and its subtests have ended.
func New(t testing.TB, now func() time.Time) *store.DB {
	t.Helper()
	return Open(t, t.TempDir(), store.Options{Now: now})
}

// MasterKey is the master key file Open gives the store of dir: beside the
// directory, outside it, so that every open of dir uses the same one.
func MasterKey(dir string) string { return filepath.Clean(dir) + ".master.key" }

// Open opens the store of dir with o, failing the test on an error, and
// closes it when the test and its subtests have ended. A test may close it
// earlier itself (to reopen dir, say); closing twice does no harm. The
// store is encrypted: without o.MasterKeyFile, MasterKey(dir) is used.
func Open(t testing.TB, dir string, o store.Options) *store.DB {
	t.Helper()
	if o.MasterKeyFile == "" {
		o.MasterKeyFile = MasterKey(dir)
	}
	return open(t, dir, o)
}

// OpenPlain is Open without encryption (o.MasterKeyFile is ignored): for
// the "encryption off" benchmarks and tests of plaintext stores.
func OpenPlain(t testing.TB, dir string, o store.Options) *store.DB {
	t.Helper()
	o.MasterKeyFile = ""
	return open(t, dir, o)
}

func open(t testing.TB, dir string, o store.Options) *store.DB {
	t.Helper()
	db, err := store.Open(dir, o)
	if err != nil {
		t.Fatalf("storetest: open the store in %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("storetest: close the store in %s: %v", dir, err)
		}
	})
	return db
}

// Clock is a test's clock: it stands at the time it was set to until the
// test moves it. It is safe for concurrent use; its zero value stands at
// the zero time.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the time the clock stands at; pass it as a clock function
// (store.Options.Now, a Now field).
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t, forwards or back.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Advance moves the clock forwards by d and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}
