package desk

import (
	"fmt"
	"testing"
	"time"
)

// TestScheduledRunsReadOnlyWhatTheyReport: the digest reads the open
// tickets, not the closed ones; the record of processing only the tickets
// with copies at agents; a page of tickets list only its tickets.
func TestScheduledRunsReadOnlyWhatTheyReport(t *testing.T) {
	fd := newAgentDesk(t)
	var open []uint64
	for i := range 12 {
		n, _ := fd.customerTicket(fmt.Sprintf("r%d@example.org", i), "Drucker", "Hilfe")
		if i%4 == 0 {
			open = append(open, n)
			continue
		}
		if _, err := fd.d.CloseTicket(n); err != nil {
			t.Fatal(err)
		}
	}
	reads := func(what string, limit uint64, fn func() error) {
		t.Helper()
		before := fd.d.DB.Decoded("tickets")
		if err := fn(); err != nil {
			t.Fatal(err)
		}
		if got := fd.d.DB.Decoded("tickets") - before; got > limit {
			t.Errorf("%s read %d tickets, want at most %d", what, got, limit)
		}
	}
	// The digest's own writes read each ticket it lists once more.
	reads("the digest", 2*uint64(len(open)), func() error { _, err := fd.d.SendDigests(fd.now.Add(time.Hour)); return err })
	reads("tickets list -limit 2", 3, func() error { _, err := fd.d.ListTickets(ListOptions{Limit: 2}); return err })
	reads("tickets list -overdue -limit 1", uint64(len(open)), func() error {
		_, err := fd.d.ListTickets(ListOptions{Overdue: true, Limit: 1})
		return err
	})

	plain := newFileDesk(t)
	for i := range 6 {
		plain.ingest(msg{From: fmt.Sprintf("p%d@example.org", i), Subject: "Frage", MessageID: fmt.Sprintf("q%d@example.org", i), Body: "Hallo"}.raw())
	}
	before := plain.d.DB.Decoded("tickets")
	if _, err := plain.d.Record(); err != nil {
		t.Fatal(err)
	}
	if got := plain.d.DB.Decoded("tickets") - before; got != 0 {
		t.Errorf("the record of processing read %d tickets without a copy at an agent, want 0", got)
	}
}
