package desk

import (
	"context"
	"testing"

	"ticketd/store"
)

// checkNoShredded fails when a record of the store is under a key that is
// gone, or a walk over the records meets one that does not open.
func checkNoShredded(t *testing.T, db *store.DB, after string) {
	t.Helper()
	if !db.Encrypted() {
		t.Fatal("the store is not encrypted")
	}
	if n := db.Shredded(); n != 0 {
		t.Errorf("after %s: %d records under a shredded key", after, n)
	}
	db.View(func(tx *store.Tx) error {
		for what, err := range map[string]error{
			"tickets":    tx.Tickets(func(*store.Ticket) bool { return true }),
			"messages":   tx.Messages(func(*store.Message) bool { return true }),
			"outbox":     tx.Outbox(func(*store.OutboxItem) bool { return true }),
			"quarantine": tx.Quarantined(func(*store.Quarantine) bool { return true }),
		} {
			if err != nil {
				t.Errorf("after %s: walk of the %s: %v", after, what, err)
			}
		}
		return nil
	})
}

// TestErasureAndOffboardingLeaveNoShreddedRecord: the desk's erasure (of a
// person who also wrote on another's ticket), offboarding and quarantine
// deletion leave no record whose key is gone.
func TestErasureAndOffboardingLeaveNoShreddedRecord(t *testing.T) {
	e := newSubjectEnv(t)
	e.deliver(
		msg{From: erika, Subject: "Frage", MessageID: "e1@example.org", Body: "Gruß, Erika"}.raw(),
		msg{From: "Otto <otto@example.net>", Subject: "Kollegin", MessageID: "o1@example.net",
			Extra: "Cc: " + erika + "\r\n", Body: "Hallo"}.raw(),
		msg{From: "Olga <olga@example.net>", Subject: "Lieferung", MessageID: "o2@example.net", Body: "Wo bleibt sie?"}.raw(),
		[]byte("To: Erika Mustermann <erika@example.org>\r\nSubject: ohne Absender\r\n\r\nhallo\r\n"),
	)
	e.deliver(msg{From: erika, Subject: "Re: Lieferung", MessageID: "e3@example.org", InReplyTo: "o2@example.net", Body: "Danke"}.raw())
	checkNoShredded(t, e.db, "ingest")
	if _, err := e.d.Erase(context.Background(), erikaAddr, false); err != nil {
		t.Fatal(err)
	}
	checkNoShredded(t, e.db, "the erasure")
	if _, err := e.d.Offboard("olga@example.net"); err != nil {
		t.Fatal(err)
	}
	checkNoShredded(t, e.db, "offboarding")
	var qs []uint64
	e.db.View(func(tx *store.Tx) error {
		return tx.Quarantined(func(q *store.Quarantine) bool { qs = append(qs, q.ID); return true })
	})
	for _, id := range qs {
		if _, err := e.d.DeleteQuarantine(id); err != nil {
			t.Fatal(err)
		}
	}
	checkNoShredded(t, e.db, "quarantine deletion")
	if len(qs) == 0 {
		t.Log("no quarantined mail left to delete")
	}
}
