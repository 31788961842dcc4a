package storetest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"ticketd/store"
)

// FixtureEpoch is the time the fixture's tickets end at: ticket n of a
// fixture of N was made (N-n) minutes before it, so that due times, purge
// plans and consent grace periods spread over the store's life.
var FixtureEpoch = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// FixtureQueue is the queue of every fixture ticket.
const FixtureQueue = "support"

// fixtureVersion changes with what a fixture holds, so that a kept one of
// an older layout is built again.
const fixtureVersion = 1

var fixtures struct {
	sync.Mutex
	dirs map[string]string
	tmp  []string
}

// Fixture returns the data directory of an encrypted store (master key
// MasterKey(dir)) holding n tickets, closed: the benchmarks of a large store
// open it themselves. It is built once per test binary run (in large
// transactions through the store's own methods, so every index and the
// audit chain are those of ingest) and kept for the run; with
// TICKETD_FIXTURES set to a directory it is kept there across runs, keyed
// by n. RemoveFixtures removes the temporary ones.
//
// Ticket i (from 1) has its own requester fixture<i>@example.org, one
// customer message and a due time; every 3rd ticket a second message, every
// 4th requester a consent decision, every 5th ticket is closed and every
// 7th is assigned to agent<i%3>@example.com.
//
// Benchmarks that write to it change it for those that follow in the run.
func Fixture(tb testing.TB, n int) string {
	tb.Helper()
	return FixtureWith(tb, n, FixtureOptions{})
}

// FixtureOptions make a fixture for another package's needs.
type FixtureOptions struct {
	// Name tells fixtures of different options apart ("" for Fixture's).
	Name string
	// Setup runs on the open store before the tickets are written (to
	// install a Planner, say), Finish after (to write what that package
	// keeps in the store's meta, say); nil for none.
	Setup, Finish func(db *store.DB) error
}

// FixtureWith is Fixture made with o.
func FixtureWith(tb testing.TB, n int, o FixtureOptions) string {
	tb.Helper()
	fixtures.Lock()
	defer fixtures.Unlock()
	key := fmt.Sprintf("%s-%d", o.Name, n)
	if d, ok := fixtures.dirs[key]; ok {
		return d
	}
	base := os.Getenv("TICKETD_FIXTURES")
	keep := base != ""
	if !keep {
		var err error
		if base, err = os.MkdirTemp("", "ticketd-fixture-"); err != nil {
			tb.Fatal(err)
		}
		fixtures.tmp = append(fixtures.tmp, base)
	}
	dir := filepath.Join(base, fmt.Sprintf("v%d%s-%d", fixtureVersion, o.Name, n))
	done := filepath.Join(dir, "fixture-complete")
	if _, err := os.Stat(done); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			tb.Fatal(err)
		}
		os.RemoveAll(dir)
		os.Remove(MasterKey(dir))
		start := time.Now()
		if err := buildFixture(dir, n, o); err != nil {
			tb.Fatalf("storetest: build a fixture of %d tickets: %v", n, err)
		}
		if err := os.WriteFile(done, []byte(strconv.Itoa(n)), 0o600); err != nil {
			tb.Fatal(err)
		}
		tb.Logf("storetest: fixture of %d tickets built in %s in %s", n, time.Since(start).Round(time.Millisecond), dir)
	}
	if fixtures.dirs == nil {
		fixtures.dirs = map[string]string{}
	}
	fixtures.dirs[key] = dir
	return dir
}

// RemoveFixtures removes the fixtures Fixture made in temporary
// directories (not those under TICKETD_FIXTURES); for a TestMain.
func RemoveFixtures() {
	fixtures.Lock()
	defer fixtures.Unlock()
	for _, d := range fixtures.tmp {
		os.RemoveAll(d)
	}
	fixtures.tmp, fixtures.dirs = nil, nil
}

// fixtureBatch is how many tickets one transaction of the build writes.
const fixtureBatch = 5000

// buildFixture makes the encrypted store of FixtureWith in dir (which
// must hold none yet).
func buildFixture(dir string, n int, o FixtureOptions) error {
	clock := NewClock(FixtureEpoch.Add(-time.Duration(n) * time.Minute))
	db, err := store.Open(dir, store.Options{Now: clock.Now, MasterKeyFile: MasterKey(dir)})
	if err != nil {
		return err
	}
	if o.Setup != nil {
		if err := o.Setup(db); err != nil {
			db.Close()
			return err
		}
	}
	for from := 1; from <= n; from += fixtureBatch {
		to := min(from+fixtureBatch-1, n)
		err := db.Update(func(tx *store.Tx) error {
			for i := from; i <= to; i++ {
				if err := fixtureTicket(tx, clock, n, i); err != nil {
					return fmt.Errorf("ticket %d: %w", i, err)
				}
			}
			return nil
		})
		if err != nil {
			db.Close()
			return err
		}
	}
	if o.Finish != nil {
		if err := o.Finish(db); err != nil {
			db.Close()
			return err
		}
	}
	return db.Close()
}

func fixtureTicket(tx *store.Tx, clock *Clock, n, i int) error {
	at := FixtureEpoch.Add(-time.Duration(n-i) * time.Minute)
	clock.Set(at)
	addr := fmt.Sprintf("fixture%d@example.org", i)
	p, err := tx.EnsurePerson(addr, fmt.Sprintf("Customer %d", i), store.ActorSystem)
	if err != nil {
		return err
	}
	mid := fmt.Sprintf("<fixture.%d@example.org>", i)
	tk := &store.Ticket{Subject: fmt.Sprintf("Order %d does not arrive", i), Status: store.StatusNew,
		Queue: FixtureQueue, RequesterID: p.ID, Participants: []uint64{p.ID}, CreatedAt: at,
		Origin:  store.Origin{Channel: store.ChannelEmail, Mailbox: FixtureQueue, MessageID: mid, UID: uint32(i), ReceivedAt: at},
		Purpose: "support", Language: "en", DueAt: at.Add(8 * time.Hour)}
	if i%7 == 0 {
		tk.Assignee = fmt.Sprintf("agent%d@example.com", i%3)
	}
	if i%5 == 0 {
		tk.Status, tk.ClosedAt = store.StatusClosed, at.Add(time.Hour)
	}
	if err := tx.CreateTicket(tk, store.ActorSystem); err != nil {
		return err
	}
	msgs := 1
	if i%3 == 0 {
		msgs = 2
	}
	for j := range msgs {
		id := mid
		if j > 0 {
			id = fmt.Sprintf("<fixture.%d.%d@example.org>", i, j)
		}
		m := &store.Message{Direction: store.DirectionIn, PersonID: p.ID, From: store.Address{Email: addr, Name: p.Name},
			To: []store.Address{{Email: "support@example.com"}}, Subject: tk.Subject, MessageID: id, Date: at, Language: "en",
			Text: fmt.Sprintf("Hello,\n\nmy order %d has not arrived yet. It was due last week.\nCould you look into it?\n\nRegards,\nCustomer %d\n", i, i),
			Size: 900, ContentHash: fmt.Sprintf("%064x", i*8+j),
			Origin: store.Origin{Channel: store.ChannelEmail, Mailbox: FixtureQueue, MessageID: id, UID: uint32(i), ReceivedAt: at}}
		if err := tx.AddMessage(tk, m, store.DedupKey(FixtureQueue, id, m.ContentHash), store.ActorSystem); err != nil {
			return err
		}
	}
	if i%4 == 0 {
		if err := tx.RecordConsent(&store.ConsentRecord{Person: p.ID, Purpose: "support", Decision: store.ConsentGranted,
			Channel: "link", Ticket: tk.Number}, store.ActorCustomer); err != nil {
			return err
		}
	}
	return nil
}

// DerivedFixture returns the data directory of a copy of Fixture(tb, n)
// that derive has changed (opened with its own configuration, say, and
// planned with it), kept beside it under name like a fixture: it is made
// once per run, or once for all with TICKETD_FIXTURES set. derive gets the
// copy's directory (its master key is MasterKey of it) and must close what
// it opens.
func DerivedFixture(tb testing.TB, n int, name string, derive func(dir string) error) string {
	tb.Helper()
	base := Fixture(tb, n)
	fixtures.Lock()
	defer fixtures.Unlock()
	key := fmt.Sprintf("derived%s-%d", name, n)
	if d, ok := fixtures.dirs[key]; ok {
		return d
	}
	dir := filepath.Join(filepath.Dir(base), fmt.Sprintf("v%d%s-%d", fixtureVersion, name, n))
	done := filepath.Join(dir, "fixture-complete")
	if _, err := os.Stat(done); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			tb.Fatal(err)
		}
		os.RemoveAll(dir)
		start := time.Now()
		if err := copyStore(base, dir); err != nil {
			tb.Fatalf("storetest: copy the fixture of %d tickets: %v", n, err)
		}
		if err := derive(dir); err != nil {
			tb.Fatalf("storetest: derive fixture %s of %d tickets: %v", name, n, err)
		}
		if err := os.WriteFile(done, []byte(strconv.Itoa(n)), 0o600); err != nil {
			tb.Fatal(err)
		}
		tb.Logf("storetest: fixture %s of %d tickets derived in %s in %s", name, n, time.Since(start).Round(time.Millisecond), dir)
	}
	if fixtures.dirs == nil {
		fixtures.dirs = map[string]string{}
	}
	fixtures.dirs[key] = dir
	return dir
}

// CopyFixture copies the store of dir (a fixture's) with its master key
// into a temporary directory of tb and returns that directory: for a
// benchmark that writes to it and must leave the fixture as it was.
func CopyFixture(tb testing.TB, dir string) string {
	tb.Helper()
	dst := filepath.Join(tb.TempDir(), "data")
	if err := copyStore(dir, dst); err != nil {
		tb.Fatalf("storetest: copy the store of %s: %v", dir, err)
	}
	return dst
}

// copyStore copies the data directory src to dst, which must not exist,
// with each file's permissions, and the master key beside it.
func copyStore(src, dst string) error {
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if rel == "fixture-complete" {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.Mkdir(filepath.Join(dst, rel), fi.Mode().Perm())
		}
		return copyFile(p, filepath.Join(dst, rel), fi.Mode().Perm())
	})
	if err != nil {
		return err
	}
	if _, err := os.Stat(MasterKey(src)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return copyFile(MasterKey(src), MasterKey(dst), 0o600)
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
