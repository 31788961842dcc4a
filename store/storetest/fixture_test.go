package storetest_test

import (
	"testing"

	"ticketd/store"
	"ticketd/store/storetest"
)

func TestFixtureHoldsWhatItSays(t *testing.T) {
	t.Cleanup(storetest.RemoveFixtures)
	dir := storetest.Fixture(t, 120)
	if again := storetest.Fixture(t, 120); again != dir {
		t.Fatalf("second call built another fixture: %s, then %s", dir, again)
	}
	db := storetest.Open(t, dir, store.Options{MustExist: true})
	if !db.Encrypted() {
		t.Fatal("fixture store is not encrypted")
	}
	err := db.View(func(tx *store.Tx) error {
		tickets, messages, closed := 0, 0, 0
		if err := tx.Tickets(func(tk *store.Ticket) bool {
			tickets++
			messages += tk.Messages
			if tk.Status == store.StatusClosed {
				closed++
			}
			return true
		}); err != nil {
			return err
		}
		if tickets != 120 || messages != 160 || closed != 24 {
			t.Errorf("tickets %d, messages %d, closed %d; want 120, 160, 24", tickets, messages, closed)
		}
		p, err := tx.PersonByEmail("fixture8@example.org")
		if err != nil {
			return err
		}
		if got := tx.TicketsOf(p.ID); len(got) != 1 || got[0] != 8 {
			t.Errorf("tickets of fixture8: %v, want [8]", got)
		}
		if h, err := tx.ConsentHistory(p.ID); err != nil || len(h) != 1 {
			t.Errorf("consent history of fixture8: %v, %v; want one decision", h, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.VerifyAudit(); err != nil {
		t.Fatal(err)
	}
}
