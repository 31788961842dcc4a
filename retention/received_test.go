package retention

import (
	"testing"
	"time"

	"ticketd/store"
)

// TestCollectedCountsFromReceipt: retention counted from collection starts
// when the mail came in (its origin's received time), not when it was
// stored: old mail imported today (ticketd ingest of a migration) is due
// when its retention from its receipt ended, which may be at once.
func TestCollectedCountsFromReceipt(t *testing.T) {
	e := newEnv(t)
	received := t0.AddDate(-1, 0, 0) // 2023-01-10: a year before the import
	var n uint64
	e.update(func(tx *store.Tx) error {
		p, err := tx.EnsurePerson("alt@example.org", "Alt Kunde", "system")
		if err != nil {
			return err
		}
		origin := store.Origin{Channel: store.ChannelFile, ReceivedAt: received, ReceivedFrom: store.ReceivedDate}
		tk := &store.Ticket{Subject: "Alte Anfrage", Status: store.StatusNew, Queue: "support", Purpose: "collected_delete",
			RequesterID: p.ID, Participants: []uint64{p.ID}, Language: "de", Origin: origin}
		if err := tx.CreateTicket(tk, "system"); err != nil {
			return err
		}
		m := &store.Message{Direction: "in", PersonID: p.ID, From: store.Address{Email: "alt@example.org"},
			Subject: "Alte Anfrage", MessageID: "<old@example.org>", Text: "Längst erledigt", ContentHash: "h1", Origin: origin}
		n = tk.Number
		return tx.AddMessage(tk, m, store.DedupKey("", m.MessageID, m.ContentHash), "system")
	})
	due := time.Date(2023, 4, 10, 12, 0, 0, 0, time.UTC) // 90d after the receipt
	if got := e.get(n).PurgeAt; !got.Equal(due) {
		t.Fatalf("PurgeAt = %v, want %v (90d from the receipt on %s, not from the import)", got, due, received.Format(time.DateOnly))
	}
	rep := e.purge(t0, false)
	if len(rep.Tickets) != 1 || rep.Tickets[0].Ticket != n || e.exists(n) {
		t.Fatalf("purge at the import: %s; the ticket exists: %v", acted(rep), e.exists(n))
	}
	if want := "retention 90d counted from collection on 2023-01-10 ended 2023-04-10"; rep.Tickets[0].Reason != want {
		t.Errorf("reason %q, want %q", rep.Tickets[0].Reason, want)
	}
}
