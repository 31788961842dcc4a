package storetest_test

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"ticketd/store"
	"ticketd/store/storetest"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// TestNewUsesTheClock: the store's transactions see the injected time.
func TestNewUsesTheClock(t *testing.T) {
	clock := storetest.NewClock(t0)
	db := storetest.New(t, clock.Now)
	clock.Advance(time.Hour)
	var seen time.Time
	if err := db.Update(func(tx *store.Tx) error { seen = tx.Now(); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(time.Hour); !seen.Equal(want) || !db.Now().Equal(want) {
		t.Errorf("transaction time %v, db.Now %v; want %v", seen, db.Now(), want)
	}
}

// TestStoreIsClosedAtCleanup: when a test ends its store is closed, so the
// directory can be opened again at once.
func TestStoreIsClosedAtCleanup(t *testing.T) {
	var dir string
	t.Run("user", func(t *testing.T) {
		dir = storetest.New(t, nil).Dir()
	})
	db, err := store.Open(dir, store.Options{LockTimeout: 100 * time.Millisecond, MasterKeyFile: storetest.MasterKey(dir)})
	if err != nil {
		t.Fatalf("reopen after the test ended: %v", err)
	}
	db.Close()
}

// TestOpenEarlyCloseIsHarmless: a test that closes the store itself (to
// reopen the directory) gets no error from the cleanup.
func TestOpenEarlyCloseIsHarmless(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	db := storetest.Open(t, dir, store.Options{})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = storetest.Open(t, dir, store.Options{MustExist: true})
	if db.Dir() != dir {
		t.Errorf("Dir = %q, want %q", db.Dir(), dir)
	}
}

func TestClockIsSafeForConcurrentUse(t *testing.T) {
	c := storetest.NewClock(t0)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				c.Advance(time.Second)
				_ = c.Now()
			}
		})
	}
	wg.Wait()
	if got, want := c.Now(), t0.Add(400*time.Second); !got.Equal(want) {
		t.Errorf("Now = %v, want %v", got, want)
	}
	c.Set(t0)
	if !c.Now().Equal(t0) {
		t.Errorf("after Set, Now = %v", c.Now())
	}
}

// TestStoresAreEncrypted: the stores of tests are encrypted, with a master
// key outside the data directory; OpenPlain opens one without.
func TestStoresAreEncrypted(t *testing.T) {
	db := storetest.New(t, nil)
	if !db.Encrypted() {
		t.Error("storetest.New made a plaintext store")
	}
	if dir := filepath.Dir(storetest.MasterKey(db.Dir())); dir == db.Dir() {
		t.Errorf("the master key is in the data directory")
	}
	if storetest.OpenPlain(t, t.TempDir(), store.Options{}).Encrypted() {
		t.Error("OpenPlain made an encrypted store")
	}
}
