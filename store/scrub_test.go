package store

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Scrub of many free pages goes in steps, and other transactions run
// between them (a write that takes free pages meanwhile among them): every
// erased text is gone from the file afterwards, and what the writes between
// the steps stored is intact.
func TestScrubInStepsLetsWritersRunBetween(t *testing.T) {
	dir := t.TempDir()
	db := openPlain(t, dir)
	defer db.Close()
	var nums []uint64
	err := db.Update(func(tx *Tx) error {
		for i := range 300 {
			email := fmt.Sprintf("p%d@example.org", i)
			p, err := tx.EnsurePerson(email, "", ActorSystem)
			if err != nil {
				return err
			}
			tk := &Ticket{Subject: "Frage", Status: StatusNew, Queue: "support", RequesterID: p.ID, Participants: []uint64{p.ID}}
			if err := tx.CreateTicket(tk, ActorSystem); err != nil {
				return err
			}
			m := &Message{Ticket: tk.Number, PersonID: p.ID, From: Address{Email: email}, MessageID: fmt.Sprintf("<m%d@x>", i),
				Text: fmt.Sprintf("Geheimnis-%04d ", i) + strings.Repeat("x", 3000), ContentHash: fmt.Sprint(i)}
			if err := tx.AddMessage(tk, m, DedupKey("", m.MessageID, m.ContentHash), ActorSystem); err != nil {
				return err
			}
			nums = append(nums, tk.Number)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *Tx) error {
		for _, n := range nums {
			if err := tx.DeleteTicket(n, ActorAdmin, "erasure"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	defer func(d time.Duration) { scrubStep, scrubStepped = d, nil }(scrubStep)
	scrubStep = 0 // one run of pages per step
	between := 0
	var kept []uint64
	scrubStepped = func() {
		between++
		if between > 5 {
			return
		}
		tk := fill(t, db, fmt.Sprintf("new%d@example.org", between), fmt.Sprintf("new%d@x", between))
		kept = append(kept, tk.Number)
	}
	st, err := db.Scrub()
	if err != nil {
		t.Fatal(err)
	}
	if st.Steps < 2 || between == 0 {
		t.Fatalf("Scrub took %d steps with %d pauses between them; want several", st.Steps, between)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "ticketd.db"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		if bytes.Contains(raw, fmt.Appendf(nil, "Geheimnis-%04d", i)) {
			t.Errorf("Geheimnis-%04d is still in the file after the scrub", i)
		}
	}
	db.View(func(tx *Tx) error {
		for _, n := range kept {
			msgs, err := tx.TicketMessages(n)
			if err != nil || len(msgs) != 1 || !strings.Contains(msgs[0].Text, "Drucker") {
				t.Errorf("ticket %d written between the scrub's steps: %v, %v", n, msgs, err)
			}
		}
		return nil
	})
	if db.ScrubDue() {
		t.Error("a scrub is due after a complete one")
	}
}
