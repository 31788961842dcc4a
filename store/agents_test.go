package store_test

import (
	"testing"

	"ticketd/store"
	"ticketd/store/storetest"
)

// TestAgentNumbersStay: an agent's number is given once and stays with its
// address (any case); numbers are never reused for another address.
func TestAgentNumbersStay(t *testing.T) {
	db := storetest.Open(t, t.TempDir(), store.Options{})
	var anna, ben, again uint64
	err := db.Update(func(tx *store.Tx) (err error) {
		if tx.AgentsNumbered() {
			t.Error("a new store has numbered agents")
		}
		if anna, err = tx.AgentID("Anna@Example.com"); err != nil {
			return err
		}
		if ben, err = tx.AgentID("ben@example.com"); err != nil {
			return err
		}
		again, err = tx.AgentID("anna@example.com")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if anna == 0 || anna == ben || again != anna {
		t.Errorf("numbers anna %d, ben %d, anna again %d", anna, ben, again)
	}
	db.View(func(tx *store.Tx) error {
		if a, ok := tx.AgentAddress(anna); !ok || a != "anna@example.com" {
			t.Errorf("agent %d is %q, %v", anna, a, ok)
		}
		if _, ok := tx.AgentAddress(99); ok {
			t.Error("an unknown number has an address")
		}
		if !tx.AgentsNumbered() {
			t.Error("AgentsNumbered is false after numbering")
		}
		return nil
	})
	if err := db.Update(func(tx *store.Tx) error { _, err := tx.AgentID(" "); return err }); err == nil {
		t.Error("an empty address got a number")
	}
}
