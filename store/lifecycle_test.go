package store

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// withAttachment stores a message with one attachment of content on ticket tk.
func withAttachment(t *testing.T, db *DB, tk *Ticket, content []byte) string {
	t.Helper()
	w := db.NewBlobWriter()
	sum, n, err := w.Put(bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *Tx) error {
		cur, err := tx.Ticket(tk.Number)
		if err != nil {
			return err
		}
		if err := tx.PutBlobs(w); err != nil {
			return err
		}
		m := &Message{PersonID: cur.RequesterID, Text: "Anhang", Attachments: []Attachment{{Filename: "a.bin", Size: n, SHA256: sum}}}
		return tx.AddMessage(cur, m, nil, "system")
	})
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func blobExists(db *DB, sum string) bool {
	r, err := db.OpenBlob(sum)
	if err != nil {
		return false
	}
	r.Close()
	return true
}

func TestDeleteTicketRemovesEverythingOnlyItReferences(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir)
	defer db.Close()
	a := fill(t, db, "erika@example.org", "a1@example.org")
	b := fill(t, db, "max@example.org", "b1@example.org")
	shared := []byte("the same PDF in both tickets")
	large := bytes.Repeat([]byte("only in ticket a "), InlineBlobMax/8)
	sumShared := withAttachment(t, db, a, shared)
	withAttachment(t, db, b, shared)
	sumLarge := withAttachment(t, db, a, large)
	if !blobExists(db, sumLarge) {
		t.Fatal("large blob not stored")
	}

	if err := db.Update(func(tx *Tx) error { return tx.DeleteTicket(a.Number, "admin", "test") }); err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *Tx) error {
		if _, err := tx.Ticket(a.Number); err == nil {
			t.Error("ticket still there")
		}
		if msgs, _ := tx.TicketMessages(a.Number); len(msgs) != 0 {
			t.Errorf("%d messages left", len(msgs))
		}
		if _, ok := tx.TicketByMessageID("a1@example.org"); ok {
			t.Error("Message-ID still threads to the deleted ticket")
		}
		if id, ok := tx.SeenMail(DedupKey("support", "a1@example.org", "h-a1@example.org")); !ok || id != 0 {
			t.Errorf("dedup entry of the deleted mail = %d, %v; want the tombstone 0, true (never imported again)", id, ok)
		}
		if _, err := tx.PersonByEmail("erika@example.org"); err == nil {
			t.Error("person without tickets not deleted")
		}
		if _, err := tx.PersonByEmail("max@example.org"); err != nil {
			t.Errorf("other person: %v", err)
		}
		return nil
	})
	if !blobExists(db, sumShared) {
		t.Error("a blob another ticket references was deleted")
	}
	if blobExists(db, sumLarge) {
		t.Error("the large blob only the deleted ticket referenced is still there")
	}
	if _, err := db.VerifyAudit(); err != nil {
		t.Error(err)
	}
}

func TestAnonymizeKeepsTheSkeleton(t *testing.T) {
	db := openTest(t, t.TempDir())
	defer db.Close()
	tk := fill(t, db, "erika@example.org", "a1@example.org")
	err := db.Update(func(tx *Tx) error {
		cur, _ := tx.Ticket(tk.Number)
		cur.Purpose, cur.Language, cur.Status = "support", "de", StatusClosed
		cur.ClosedAt = tx.Now()
		cur.Holds = []Hold{{Category: "letter", Until: tx.Now().Add(-time.Hour)}}
		if err := tx.UpdateTicket(cur, TicketClosed(cur.Number, ActorAdmin)); err != nil {
			return err
		}
		return tx.AnonymizeTicket(tk.Number, "scheduler", "retention")
	})
	if err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *Tx) error {
		got, err := tx.Ticket(tk.Number)
		if err != nil {
			t.Fatal(err)
		}
		if got.Subject != "" || got.RequesterID != 0 || len(got.Participants) != 0 || got.Origin.MessageID != "" || got.Ack != nil {
			t.Errorf("personal data left: %+v", got)
		}
		if got.Queue != "support" || got.Purpose != "support" || got.Status != StatusClosed || got.Language != "de" ||
			got.CreatedAt.IsZero() || got.ClosedAt.IsZero() || got.AnonymizedAt.IsZero() || got.Messages != 1 || len(got.Holds) != 1 {
			t.Errorf("skeleton lost: %+v", got)
		}
		if msgs, _ := tx.TicketMessages(tk.Number); len(msgs) != 0 {
			t.Errorf("%d messages left", len(msgs))
		}
		if len(tx.TicketsOf(1)) != 0 {
			t.Error("person index still lists the ticket")
		}
		return nil
	})
}

func TestPlanIndexFollowsTheTicket(t *testing.T) {
	db := openTest(t, t.TempDir())
	defer db.Close()
	base := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	// The planner makes closed tickets due a day after closing and every ticket
	// with "consent" as purpose due for consent an hour after creation.
	db.SetPlanner(func(tx *Tx, tk *Ticket) {
		tk.PurgeAt, tk.ConsentDue = time.Time{}, time.Time{}
		if tk.Status == StatusClosed {
			tk.PurgeAt = tk.ClosedAt.Add(24 * time.Hour)
		}
		if tk.Purpose == "consent" {
			tk.ConsentDue = tk.CreatedAt.Add(time.Hour)
		}
	})
	var nums []uint64
	for i := range 3 {
		tk := fill(t, db, "p@example.org", "")
		nums = append(nums, tk.Number)
		db.Update(func(tx *Tx) error {
			cur, _ := tx.Ticket(tk.Number)
			cur.Status, cur.ClosedAt = StatusClosed, base.Add(time.Duration(2-i)*time.Hour)
			return tx.UpdateTicket(cur, TicketClosed(cur.Number, ActorAdmin))
		})
	}
	db.View(func(tx *Tx) error {
		due, _ := tx.Due(PlanPurge, base.Add(25*time.Hour), 0)
		if len(due) != 2 || due[0] != nums[2] || due[1] != nums[1] {
			t.Errorf("due at +25h = %v, want [%d %d] (earliest first)", due, nums[2], nums[1])
		}
		if due, _ := tx.Due(PlanPurge, base.Add(time.Hour), 0); len(due) != 0 {
			t.Errorf("due before any is: %v", due)
		}
		if at, ok := tx.NextPlanned(PlanPurge); !ok || !at.Equal(base.Add(24*time.Hour)) {
			t.Errorf("NextPlanned = %v, %v", at, ok)
		}
		return nil
	})
	// Reopening unschedules; the old index entry goes.
	db.Update(func(tx *Tx) error {
		cur, _ := tx.Ticket(nums[2])
		cur.Status = StatusOpen
		return tx.UpdateTicket(cur, TicketReopened(cur.Number, ActorAdmin))
	})
	db.View(func(tx *Tx) error {
		due, _ := tx.Due(PlanPurge, base.Add(100*time.Hour), 0)
		if len(due) != 2 || due[0] != nums[1] {
			t.Errorf("after reopening: due %v", due)
		}
		return nil
	})
	// Deleting a ticket removes its index entries.
	db.Update(func(tx *Tx) error { return tx.DeleteTicket(nums[1], "admin", "test") })
	db.View(func(tx *Tx) error {
		due, _ := tx.Due(PlanPurge, base.Add(100*time.Hour), 0)
		if len(due) != 1 || due[0] != nums[0] {
			t.Errorf("after delete: due %v", due)
		}
		return nil
	})
}

func TestConsentHistory(t *testing.T) {
	db := openTest(t, t.TempDir())
	defer db.Close()
	tk := fill(t, db, "erika@example.org", "a1@example.org")
	p := tk.RequesterID
	var v0, v1 uint64
	db.View(func(tx *Tx) error { v0 = tx.ConsentVersion(p, "feedback"); return nil })
	for _, d := range []string{ConsentGranted, ConsentWithdrawn, ConsentGranted} {
		err := db.Update(func(tx *Tx) error {
			return tx.RecordConsent(&ConsentRecord{Person: p, Purpose: "feedback", Decision: d, Channel: "link", TokenID: "t1", Ticket: tk.Number}, "customer")
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	db.Update(func(tx *Tx) error {
		return tx.RecordConsent(&ConsentRecord{Person: p, Purpose: "feedback2", Decision: ConsentWithdrawn, Channel: "link"}, "customer")
	})
	db.View(func(tx *Tx) error {
		v1 = tx.ConsentVersion(p, "feedback")
		hist, err := tx.ConsentHistory(p)
		if err != nil || len(hist) != 4 || hist[0].Decision != ConsentGranted || hist[1].Decision != ConsentWithdrawn || hist[3].Purpose != "feedback2" {
			t.Errorf("history = %+v, %v", hist, err)
		}
		last, err := tx.LatestConsent(p, "feedback")
		if err != nil || last == nil || last.Decision != ConsentGranted || last.Seq != 3 {
			t.Errorf("latest = %+v, %v", last, err)
		}
		if last, _ := tx.LatestConsent(p, "feedback2"); last == nil || last.Decision != ConsentWithdrawn {
			t.Errorf("latest of the second purpose = %+v", last)
		}
		if last, _ := tx.LatestConsent(p, "feed"); last != nil {
			t.Errorf("a purpose that is a prefix of another matched: %+v", last)
		}
		return nil
	})
	if v0 == v1 {
		t.Error("ConsentVersion did not change with a decision")
	}
}

func TestScrubLeavesNoErasedDataInTheFile(t *testing.T) {
	dir := t.TempDir()
	db := openPlain(t, dir) // sealed records show nothing in clear to look for
	defer db.Close()
	var keep, gone []uint64
	for i := range 200 {
		keep = append(keep, fill(t, db, "max@example.org", "").Number)
		gone = append(gone, fill(t, db, "erika.geheim@example.org", "").Number)
		_ = i
	}
	path := filepath.Join(dir, "ticketd.db")
	err := db.Update(func(tx *Tx) error {
		for _, n := range gone {
			if err := tx.DeleteTicket(n, "admin", "erasure"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if !bytes.Contains(raw, []byte("erika.geheim@example.org")) {
		t.Fatal("the deleted address is not in the free pages before Scrub: the test would prove nothing")
	}
	st, err := db.Scrub()
	if err != nil {
		t.Fatal(err)
	}
	if st.Pages == 0 || st.Bytes == 0 || st.Pause <= 0 || !st.Listed {
		t.Errorf("Scrub stats = %+v, want pages overwritten, read from the free list", st)
	}
	// A second Scrub finds the free pages clean; it writes only the pages
	// the first one's commits freed (a free-list page each step, and the
	// meta page its last step changed).
	if st2, err := db.Scrub(); err != nil || st2.Pages > st.Steps+1 || st2.Clean == 0 {
		t.Errorf("second Scrub = %+v, %v", st2, err)
	}
	raw, _ = os.ReadFile(path)
	if bytes.Contains(raw, []byte("erika.geheim@example.org")) {
		t.Error("the erased address is still in the database file after Scrub")
	}
	if !bytes.Contains(raw, []byte("max@example.org")) {
		t.Error("live data is gone")
	}
	// The store works on after Scrub, and its records are intact.
	fill(t, db, "neu@example.org", "")
	db.View(func(tx *Tx) error {
		for _, n := range keep {
			if _, err := tx.Ticket(n); err != nil {
				t.Fatalf("ticket %d after Scrub: %v", n, err)
			}
		}
		return nil
	})
	if err := db.bolt.View(func(btx *boltTx) error { return checkTx(btx) }); err != nil {
		t.Errorf("consistency check after Scrub: %v", err)
	}
	if _, err := db.VerifyAudit(); err != nil {
		t.Error(err)
	}

	backup := filepath.Join(t.TempDir(), "b.db")
	if _, err := db.Backup(backup); err != nil {
		t.Fatal(err)
	}
	raw, _ = os.ReadFile(backup)
	if bytes.Contains(raw, []byte("erika.geheim@example.org")) || !bytes.Contains(raw, []byte("neu@example.org")) {
		t.Error("backup does not hold exactly the live data")
	}
}

type boltTx = bolt.Tx

// checkTx runs bbolt's own consistency check: every page reachable once, none on the free list.
func checkTx(tx *bolt.Tx) error {
	for err := range tx.Check() {
		return err
	}
	return nil
}

func TestIndexesOfAnOlderStoreAreBuiltOnOpen(t *testing.T) {
	dir := t.TempDir()
	db := openPlain(t, dir) // stores of that age were plaintext
	tk := fill(t, db, "erika@example.org", "a1@example.org")
	// Make the file look like one written before the person, blob-reference
	// and hashed dedup indexes: drop them and the marker.
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bIdxPerson, bIdxBlobRef, bIdxDedup} {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		return tx.Bucket(bMeta).Delete([]byte("idx_v2"))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = openPlain(t, dir)
	defer db.Close()
	db.View(func(tx *Tx) error {
		if got := tx.TicketsOf(tk.RequesterID); len(got) != 1 || got[0] != tk.Number {
			t.Errorf("TicketsOf after migration = %v", got)
		}
		if _, ok := tx.SeenMail(DedupKey("support", "a1@example.org", "h-a1@example.org")); !ok {
			t.Error("dedup index not rebuilt")
		}
		return nil
	})
}

func TestFreeListMatchesAFullScan(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir)
	defer db.Close()
	for range 300 {
		tk := fill(t, db, "p@example.org", "")
		if tk.Number%3 == 0 {
			db.Update(func(tx *Tx) error { return tx.DeleteTicket(tk.Number, "admin", "test") })
		}
	}
	f, err := os.Open(filepath.Join(dir, "ticketd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	db.gate.Lock()
	defer db.gate.Unlock()
	db.bolt.Update(func(tx *bolt.Tx) error {
		listed, ok := listedFreePages(f, int64(db.bolt.Info().PageSize), tx)
		scanned, err := scanFreePages(tx)
		if !ok || err != nil {
			t.Fatalf("listed ok %v, scan error %v", ok, err)
		}
		slices.Sort(listed)
		if len(listed) == 0 || !slices.Equal(listed, scanned) {
			t.Errorf("free list %v, full scan %v", listed, scanned)
		}
		return nil
	})
}

// TestPersonChangesReplanTheirTickets: the Planner reads the person and
// their consent decisions, so changing either plans their tickets anew.
func TestPersonChangesReplanTheirTickets(t *testing.T) {
	db := openTest(t, t.TempDir())
	defer db.Close()
	base := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	db.SetPlanner(func(tx *Tx, tk *Ticket) {
		tk.PurgeAt, tk.ConsentDue = time.Time{}, base
		if p, err := tx.Person(tk.RequesterID); err == nil && !p.Offboarded.IsZero() {
			tk.PurgeAt = p.Offboarded
		}
		if rec, _ := tx.LatestConsent(tk.RequesterID, "feedback"); rec != nil && rec.Decision == ConsentGranted {
			tk.ConsentDue = time.Time{}
		}
	})
	tk := fill(t, db, "erika@example.org", "a1@example.org")
	db.Update(func(tx *Tx) error {
		cur, _ := tx.Ticket(tk.Number)
		cur.Purpose = "feedback"
		return tx.UpdateTicket(cur, AuditEvent{Actor: ActorAdmin, Action: "ticket.purpose_changed", Ticket: cur.Number})
	})
	get := func() *Ticket {
		var got *Ticket
		db.View(func(tx *Tx) error { got, _ = tx.Ticket(tk.Number); return nil })
		return got
	}
	if got := get(); !got.ConsentDue.Equal(base) || !got.PurgeAt.IsZero() {
		t.Fatalf("initial plan: %v %v", got.ConsentDue, got.PurgeAt)
	}
	db.Update(func(tx *Tx) error {
		return tx.RecordConsent(&ConsentRecord{Person: tk.RequesterID, Purpose: "feedback", Decision: ConsentGranted, Channel: "link"}, "customer")
	})
	if got := get(); !got.ConsentDue.IsZero() {
		t.Errorf("after a grant ConsentDue = %v, want none", got.ConsentDue)
	}
	db.Update(func(tx *Tx) error {
		p, _ := tx.Person(tk.RequesterID)
		p.Offboarded = tx.Now()
		return tx.UpdatePerson(p, PersonOffboarded(p.ID, ActorAdmin))
	})
	if got := get(); got.PurgeAt.IsZero() {
		t.Error("after offboarding the ticket is not planned")
	}
	db.View(func(tx *Tx) error {
		if due, _ := tx.Due(PlanPurge, base, 0); len(due) != 1 || due[0] != tk.Number {
			t.Errorf("plan index after offboarding: %v", due)
		}
		return nil
	})
}

func TestScrubReportsABlobFileItCannotRemove(t *testing.T) {
	db := openTest(t, t.TempDir())
	defer db.Close()
	tk := fill(t, db, "erika@example.org", "a1@example.org")
	sum := withAttachment(t, db, tk, bytes.Repeat([]byte("gross "), InlineBlobMax/4))
	// Something the process cannot shred stands where the file was.
	path := db.Blobs.path(db.Blobs.name(sum))
	os.Remove(path)
	os.MkdirAll(filepath.Join(path, "x"), 0o700)
	if err := db.Update(func(tx *Tx) error { return tx.DeleteTicket(tk.Number, "admin", "test") }); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Scrub(); err == nil || !strings.Contains(err.Error(), "1 erased blob files could not be removed") {
		t.Fatalf("Scrub = %v, want the file it could not remove reported", err)
	}
	os.RemoveAll(path)
	if _, err := db.Scrub(); err != nil {
		t.Errorf("Scrub after the obstacle went: %v", err)
	}
}
