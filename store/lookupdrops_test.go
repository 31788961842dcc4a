package store

import (
	"errors"
	"fmt"
	"testing"
)

// fillMany writes n tickets, each from a person of its own with one
// message, in one transaction, and returns their numbers.
func fillMany(t *testing.T, db *DB, n int) []uint64 {
	t.Helper()
	var out []uint64
	err := db.Update(func(tx *Tx) error {
		for i := range n {
			email, mid := fmt.Sprintf("p%d@example.org", i), fmt.Sprintf("<m%d@example.org>", i)
			p, err := tx.EnsurePerson(email, fmt.Sprintf("Person %d", i), ActorSystem)
			if err != nil {
				return err
			}
			tk := &Ticket{Subject: "Drucker", Status: StatusNew, Queue: "support", RequesterID: p.ID, Participants: []uint64{p.ID},
				Origin: Origin{Channel: ChannelEmail, Mailbox: "support", MessageID: mid}}
			if err := tx.CreateTicket(tk, ActorSystem); err != nil {
				return err
			}
			m := &Message{Ticket: tk.Number, PersonID: p.ID, From: Address{Email: email}, Subject: "Drucker",
				MessageID: mid, Text: "Der Drucker brennt. Cc: other" + email, ContentHash: "h-" + mid}
			if err := tx.AddMessage(tk, m, DedupKey("support", mid, m.ContentHash), ActorSystem); err != nil {
				return err
			}
			out = append(out, tk.Number)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pagesWritten is how many pages the commits of db wrote so far.
func pagesWritten(db *DB) int64 { st := db.bolt.Stats(); return st.TxStats.GetWrite() }

// A purge's batches that defer their lookup index drops write fewer
// pages than batches that delete the HMAC-keyed entries where they lie:
// those are on random pages of each index, the deferred drops are applied
// sorted by key.
func TestDeferredLookupDropsWriteFewerPages(t *testing.T) {
	run := func(deferred bool) int64 {
		db := openTest(t, t.TempDir())
		defer db.Close()
		nums := fillMany(t, db, 2000)
		before := pagesWritten(db)
		for b := range 10 {
			err := db.Update(func(tx *Tx) error {
				tx.DeferShreds()
				if deferred {
					tx.DeferLookupDrops()
				}
				for _, n := range nums[b*50 : (b+1)*50] {
					if err := tx.AnonymizeTicket(n, ActorScheduler, "retention"); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.FinishLookupDrops(); err != nil {
			t.Fatal(err)
		}
		return pagesWritten(db) - before
	}
	now, deferred := run(false), run(true)
	t.Logf("pages written: %d deleting in place, %d deferred", now, deferred)
	if deferred*3 > now*2 {
		t.Errorf("with deferred lookup drops the purge wrote %d pages, deleting in place %d: want at most two thirds", deferred, now)
	}
}

// Between a purge's batches and its FinishLookupDrops the lookup entries
// of what it erased are still in the file; every reader treats them as
// gone, a new mail from the erased address makes a new person, and
// FinishLookupDrops then removes them (keeping the new person's), also
// after a crash midway.
func TestDeferredLookupDropsAreGoneForReaders(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir)
	nums := fillMany(t, db, 30)
	var old *Person
	err := db.Update(func(tx *Tx) error {
		tx.DeferShreds()
		tx.DeferLookupDrops()
		var err error
		if old, err = tx.PersonByEmail("p3@example.org"); err != nil {
			return err
		}
		if err := tx.AnonymizeTicket(nums[3], ActorScheduler, "retention"); err != nil {
			return err
		}
		return tx.DeleteTicket(nums[4], ActorScheduler, "retention")
	})
	if err != nil {
		t.Fatal(err)
	}
	if db.PendingLookupDrops() == 0 {
		t.Fatal("no lookup drops deferred")
	}
	var fresh *Person
	err = db.Update(func(tx *Tx) error {
		for i, mid := range []string{"<m3@example.org>", "<m4@example.org>"} {
			if n, ok := tx.TicketByMessageID(mid); ok {
				t.Errorf("TicketByMessageID(%s) = %d of an erased mail", mid, n)
			}
			if id, ok := tx.SeenMail(DedupKey("support", mid, "h-"+mid)); !ok || id != 0 {
				t.Errorf("SeenMail of erased mail %d = %d, %v; want the tombstone 0, true", i+3, id, ok)
			}
		}
		for _, e := range []string{"p3@example.org", "p4@example.org"} {
			if _, err := tx.PersonByEmail(e); !errors.Is(err, ErrNotFound) {
				t.Errorf("PersonByEmail(%s) of an erased person: %v", e, err)
			}
		}
		var err error
		fresh, err = tx.EnsurePerson("p3@example.org", "Neu", ActorSystem)
		if err != nil {
			return err
		}
		if fresh.ID == old.ID {
			t.Errorf("EnsurePerson gave the erased person %d again", old.ID)
		}
		// Another person may take an erased address.
		p5, err := tx.PersonByEmail("p5@example.org")
		if err != nil {
			return err
		}
		p5.Email = "p4@example.org"
		return tx.UpdatePerson(p5, personUpdated(p5.ID, ActorAdmin))
	})
	if err != nil {
		t.Fatal(err)
	}

	// A crash after the first transaction of the finish: Open completes it.
	defer func() { lookupDropCommitted = nil }()
	crash := errors.New("crash")
	lookupDropCommitted = func() error { return crash }
	if _, err := db.FinishLookupDrops(); !errors.Is(err, crash) {
		t.Fatalf("FinishLookupDrops with a crash: %v", err)
	}
	lookupDropCommitted = nil
	db.Close()
	db = openTest(t, dir)
	defer db.Close()
	if n := db.PendingLookupDrops(); n != 0 {
		t.Errorf("%d lookup drops left after Open", n)
	}
	db.View(func(tx *Tx) error {
		if p, err := tx.PersonByEmail("p3@example.org"); err != nil || p.ID != fresh.ID {
			t.Errorf("the new person of an erased address: %v, %v", p, err)
		}
		for _, mid := range []string{"<m3@example.org>", "<m4@example.org>"} {
			if tx.b(bIdxMsgID).Get(tx.lk(bIdxMsgID, []byte(mid))) != nil {
				t.Errorf("idx_msgid still holds %s", mid)
			}
			if v := tx.b(bIdxDedup).Get(tx.lk(bIdxDedup, DedupKey("support", mid, "h-"+mid))); string(v) != string(be64(0)) {
				t.Errorf("dedup entry of %s = %x, want the tombstone", mid, v)
			}
		}
		if len(tx.Mentioning("p3@example.org", MentionMessage)) != 0 || len(tx.Mentioning("otherp3@example.org", MentionMessage)) != 0 {
			t.Error("idx_mention still holds the erased message")
		}
		if tx.b(bAckRate).Get(tx.lk(bAckRate, []byte("p4@example.org"))) != nil {
			t.Error("ack_rate still holds the erased person")
		}
		return nil
	})
}
