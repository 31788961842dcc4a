package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openTest(t *testing.T, dir string) *DB {
	t.Helper()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	db, err := Open(dir, Options{Now: func() time.Time { return now }, MasterKeyFile: testMaster(dir)})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// openPlain opens the store in dir without encryption, as before it existed.
func openPlain(t *testing.T, dir string) *DB {
	t.Helper()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	db, err := Open(dir, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// testMaster is the master key of the test store in dir: beside it, outside it.
func testMaster(dir string) string { return filepath.Clean(dir) + ".master.key" }

// fill stores one person, ticket and message.
func fill(t *testing.T, db *DB, email, msgID string) *Ticket {
	t.Helper()
	var tk *Ticket
	err := db.Update(func(tx *Tx) error {
		p, err := tx.EnsurePerson(email, "Erika Mustermann", "system")
		if err != nil {
			return err
		}
		tk = &Ticket{Subject: "Drucker", Status: StatusNew, Queue: "support", RequesterID: p.ID,
			Origin: Origin{Channel: ChannelEmail, Mailbox: "support", MessageID: msgID}}
		if err := tx.CreateTicket(tk, "system"); err != nil {
			return err
		}
		m := &Message{Ticket: tk.Number, PersonID: p.ID, From: Address{Email: email}, Subject: "Drucker",
			MessageID: msgID, Text: "Der Drucker von Erika brennt.", ContentHash: "h-" + msgID}
		return tx.AddMessage(tk, m, DedupKey("support", msgID, m.ContentHash), "system")
	})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestSecondOpenIsLocked(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir)
	defer db.Close()
	start := time.Now()
	_, err := Open(dir, Options{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("second open took %v", d)
	}
}

func TestThreadingIndexes(t *testing.T) {
	db := openTest(t, t.TempDir())
	defer db.Close()
	tk := fill(t, db, "Erika@Example.org", "a1@example.org")
	fill(t, db, "other@example.org", "")
	db.View(func(tx *Tx) error {
		if n, ok := tx.TicketByMessageID("a1@example.org"); !ok || n != tk.Number {
			t.Errorf("TicketByMessageID = %d, %v", n, ok)
		}
		for _, id := range []string{"", " "} {
			if n, ok := tx.TicketByMessageID(id); ok {
				t.Errorf("empty Message-ID %q matched ticket %d", id, n)
			}
		}
		if _, ok := tx.SeenMail(DedupKey("support", "a1@example.org", "h-a1@example.org")); !ok {
			t.Error("dedup key not recorded")
		}
		if _, ok := tx.SeenMail(DedupKey("sales", "a1@example.org", "h-a1@example.org")); ok {
			t.Error("dedup key matched in another mailbox")
		}
		p, err := tx.PersonByEmail("ERIKA@example.org")
		if err != nil || p.Email != "erika@example.org" {
			t.Errorf("PersonByEmail = %+v, %v", p, err)
		}
		msgs, err := tx.TicketMessages(tk.Number)
		if err != nil || len(msgs) != 1 || msgs[0].Origin.StoredAt.IsZero() {
			t.Errorf("TicketMessages = %+v, %v", msgs, err)
		}
		return nil
	})
}

func TestAuditTrailHoldsNoPersonalData(t *testing.T) {
	db := openTest(t, t.TempDir())
	defer db.Close()
	fill(t, db, "erika@example.org", "a1@example.org")
	var events []*AuditEvent
	db.View(func(tx *Tx) error {
		return tx.AuditEvents(func(e *AuditEvent) bool { events = append(events, e); return true })
	})
	var actions []string
	for _, e := range events {
		actions = append(actions, string(e.Action))
		for _, s := range []string{e.Detail, string(e.Actor), e.Mailbox} {
			if strings.ContainsAny(s, "@") || strings.Contains(strings.ToLower(s), "erika") {
				t.Errorf("audit event %d holds personal data: %+v", e.Seq, e)
			}
		}
	}
	if got := strings.Join(actions, ","); got != "person.created,ticket.created,message.added" {
		t.Errorf("audit actions = %s", got)
	}
}

func TestVerifyAuditDetectsAFlippedByte(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir)
	fill(t, db, "erika@example.org", "a1@example.org")
	fill(t, db, "max@example.org", "b1@example.org")
	if n, err := db.VerifyAudit(); err != nil || n != 6 {
		t.Fatalf("intact chain: %d events, %v", n, err)
	}
	db.Close()

	// Change one byte of the second ticket.created event in the raw file.
	path := filepath.Join(dir, "ticketd.db")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	marker := []byte(`"action":"ticket.created","ticket":2`)
	i := bytes.Index(raw, marker)
	if i < 0 {
		t.Fatal("event not found in the file")
	}
	raw[i+len(marker)-1] = '3'
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	db = openTest(t, dir)
	defer db.Close()
	_, err = db.VerifyAudit()
	if err == nil || !strings.Contains(err.Error(), "audit event 5") {
		t.Fatalf("VerifyAudit after tampering = %v, want a broken event 5", err)
	}
}

func TestBlobs(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir)
	small := []byte("kleiner Anhang")
	large := bytes.Repeat([]byte("0123456789abcdef"), InlineBlobMax/8) // twice the inline limit
	w := db.NewBlobWriter()
	var sums []string
	for _, content := range [][]byte{small, large} {
		sum, n, err := w.Put(bytes.NewReader(content))
		if err != nil || n != int64(len(content)) {
			t.Fatalf("Put: %d, %v", n, err)
		}
		if want := sha256.Sum256(content); sum != hex.EncodeToString(want[:]) {
			t.Errorf("blob of %d bytes named %s, not its SHA-256", len(content), sum)
		}
		sums = append(sums, sum)
	}
	if err := db.Update(func(tx *Tx) error { return tx.PutBlobs(w) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = openTest(t, dir)
	defer db.Close()
	for i, content := range [][]byte{small, large} {
		r, err := db.OpenBlob(sums[i])
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		r.Close()
		if !bytes.Equal(got, content) {
			t.Errorf("blob %d: read back %d bytes, want %d", i, len(got), len(content))
		}
	}
	if _, err := db.OpenBlob(strings.Repeat("0", 64)); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing blob: %v", err)
	}
	if _, err := db.OpenBlob("../../etc/passwd"); !errors.Is(err, ErrNotFound) {
		t.Errorf("bad blob name: %v", err)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "blobs", "tmp")); len(left) != 0 {
		t.Errorf("blobs/tmp holds %d files", len(left))
	}
}
