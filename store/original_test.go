package store

import (
	"bytes"
	"errors"
	"testing"
)

// The raw mail kept with keep_original is a blob of its message: it stays
// while the message does and goes with it.
func TestOriginalIsPurgedWithItsMessage(t *testing.T) {
	db := openTest(t, t.TempDir())
	defer db.Close()
	w := db.NewBlobWriter()
	raw := []byte("From: a@example.com\r\nSubject: Karte 4111 1111 1111 1111\r\n\r\nhallo\r\n")
	sum, n, err := w.Put(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var tk *Ticket
	err = db.Update(func(tx *Tx) error {
		p, err := tx.EnsurePerson("a@example.com", "", ActorSystem)
		if err != nil {
			return err
		}
		tk = &Ticket{Subject: "x", Status: StatusNew, Queue: "support", RequesterID: p.ID}
		if err := tx.CreateTicket(tk, ActorSystem); err != nil {
			return err
		}
		m := &Message{Ticket: tk.Number, PersonID: p.ID, Original: &Attachment{Filename: "original.eml",
			ContentType: "message/rfc822", Size: n, SHA256: sum}}
		if err := tx.AddMessage(tk, m, nil, ActorSystem); err != nil {
			return err
		}
		return tx.PutBlobs(w)
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := db.OpenBlob(sum)
	if err != nil {
		t.Fatalf("original not stored: %v", err)
	}
	r.Close()
	if err := db.Update(func(tx *Tx) error { return tx.DeleteTicket(tk.Number, ActorAdmin, "test") }); err != nil {
		t.Fatal(err)
	}
	if _, err := db.OpenBlob(sum); !errors.Is(err, ErrNotFound) {
		t.Errorf("original still there after its ticket was deleted: %v", err)
	}
}
