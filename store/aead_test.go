package store

import (
	"errors"
	"fmt"
	"runtime"
	"testing"
)

// TestSealedWriteAllocs: storing sealed records under a key that is in use
// sets up no AES-GCM cipher per record; the allocations of a write stay
// near those of the plain store (the JSON, the bbolt node, the sealed value).
func TestSealedWriteAllocs(t *testing.T) {
	allocs := func(db *DB) float64 {
		var p *Person
		if err := db.Update(func(tx *Tx) (err error) {
			p, err = tx.EnsurePerson("erika@example.org", "Erika", ActorSystem)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		var n float64
		err := db.Update(func(tx *Tx) error {
			i := 0
			n = testing.AllocsPerRun(200, func() {
				i++
				if err := tx.putRec(bPeople, be64(p.ID), &Person{ID: p.ID, Email: fmt.Sprint(i)}, personKeyID(p.ID)); err != nil {
					t.Fatal(err)
				}
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	dir := t.TempDir()
	sealed, err := Open(dir, Options{MasterKeyFile: testMaster(dir)})
	if err != nil {
		t.Fatal(err)
	}
	defer sealed.Close()
	plain, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	s, p := allocs(sealed), allocs(plain)
	t.Logf("allocations per record: sealed %.0f, plain %.0f", s, p)
	// Sealing adds the sealed value and the additional data, not a cipher
	// (aes.NewCipher and cipher.NewGCM are several allocations each).
	if s > p+3 {
		t.Errorf("a sealed write allocates %.0f times, a plain one %.0f: more than the sealed value", s, p)
	}
}

// TestTicketWrittenTwiceInOneTransaction: a ticket changed again in the
// transaction that wrote it (a new ticket gets its message and its
// acknowledgement) is not read and opened again to keep its indexes: it
// costs fewer allocations than a change to a ticket of an earlier
// transaction, and its plan and people indexes end up the same.
func TestTicketWrittenTwiceInOneTransaction(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{MasterKeyFile: testMaster(dir)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	newTicket := func(tx *Tx, email string) *Ticket {
		p, err := tx.EnsurePerson(email, "", ActorSystem)
		if err != nil {
			t.Fatal(err)
		}
		tk := &Ticket{Subject: "Frage", Status: StatusNew, RequesterID: p.ID, Participants: []uint64{p.ID}}
		if err := tx.CreateTicket(tk, ActorSystem); err != nil {
			t.Fatal(err)
		}
		return tk
	}
	const k = 100
	var olds []*Ticket
	if err := db.Update(func(tx *Tx) error {
		for range k + 1 {
			olds = append(olds, newTicket(tx, "alt@example.org"))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var earlier, same float64
	err = db.Update(func(tx *Tx) error {
		tk := newTicket(tx, "neu@example.org")
		update := func(tk *Ticket) func() {
			return func() {
				tk.Subject += "."
				if err := tx.UpdateTicket(tk, TicketClosed(tk.Number, ActorSystem)); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Warm up the pages and ciphers both use; then each other old
		// ticket, of the same person, is written the first time in this
		// transaction.
		update(olds[0])()
		update(tk)()
		earlier = mallocs(func() {
			for _, o := range olds[1:] {
				update(o)()
			}
		}) / k
		same = mallocs(func() {
			for range k {
				update(tk)()
			}
		}) / k
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("allocations per update: ticket of an earlier transaction %.0f, of this one %.0f", earlier, same)
	// Reading and opening the stored ticket is about a dozen allocations.
	if same > earlier-5 {
		t.Errorf("updating a ticket written in this transaction allocates %.0f times, one of an earlier one %.0f: it is read again", same, earlier)
	}
	// The indexes are those of the ticket as last written.
	err = db.View(func(tx *Tx) error {
		p, err := tx.PersonByEmail("neu@example.org")
		if err != nil {
			return err
		}
		if n := len(tx.TicketsOf(p.ID)); n != 1 {
			t.Errorf("person index lists %d tickets of the new person, want 1", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// mallocs counts the heap allocations of one call of f.
func mallocs(f func()) float64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return float64(b.Mallocs - a.Mallocs)
}

// TestPersonReadOncePerTransaction: a person read again in the same
// transaction (the retention planner reads the requester at every write of
// a ticket) is not opened again, and a change or deletion of the person in
// that transaction is what the next read sees.
func TestPersonReadOncePerTransaction(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{MasterKeyFile: testMaster(dir)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var id uint64
	if err := db.Update(func(tx *Tx) error {
		p, err := tx.EnsurePerson("erika@example.org", "", ActorSystem)
		id = p.ID
		return err
	}); err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *Tx) error {
		first := mallocs(func() { tx.Person(id) })
		again := mallocs(func() { tx.Person(id) })
		t.Logf("allocations: first read %.0f, again %.0f", first, again)
		// Opening and decoding it is about a dozen allocations; the copy one.
		if again > 3 {
			t.Errorf("reading a person again in the transaction allocates %.0f times, the first read %.0f: it is opened again", again, first)
		}
		p, _ := tx.Person(id)
		p.Name = "changed by the caller only"
		if q, _ := tx.Person(id); q.Name != "" {
			t.Errorf("a caller's change to its copy shows in the next read: %q", q.Name)
		}
		if _, err := tx.EnsurePerson("erika@example.org", "Erika", ActorSystem); err != nil {
			return err
		}
		if q, _ := tx.Person(id); q.Name != "Erika" {
			t.Errorf("after the name was stored, a read gives %q", q.Name)
		}
		if err := tx.DeletePerson(id, ActorSystem, "test"); err != nil {
			return err
		}
		if _, err := tx.Person(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("after the deletion, a read gives %v, want ErrNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCiphersBounded: the ciphers kept for keys in use stay bounded in a
// store of many persons (a million keys must not mean a million ciphers in
// memory).
func TestCiphersBounded(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{MasterKeyFile: testMaster(dir)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const n = maxAEADs + 500
	err = db.Update(func(tx *Tx) error {
		for i := range n {
			if _, err := tx.EnsurePerson(fmt.Sprintf("p%d@example.org", i), "", ActorSystem); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *Tx) error {
		for id := uint64(1); id <= n; id++ {
			if _, err := tx.Person(id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db.keys.aeadMu.Lock()
	kept := len(db.keys.aeads)
	db.keys.aeadMu.Unlock()
	if kept > maxAEADs {
		t.Errorf("%d ciphers kept for %d persons read, want at most %d", kept, n, maxAEADs)
	}
}
