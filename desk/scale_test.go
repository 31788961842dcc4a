package desk

import (
	"bytes"
	"context"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"ticketd/store"
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

// TestAddressesFindWhatTheSearchFinds: every address the erasure's search
// finds in a text (addressSpans) is among those the store's address index
// takes from it (store.Addresses), at any boundary.
func TestAddressesFindWhatTheSearchFinds(t *testing.T) {
	rnd := mrand.New(mrand.NewPCG(3, 4))
	addrs := []string{"erika@example.org", "e.m+x@ex-ample.co.uk", "a@b.c", "o'neil@example.org", "Erika@Example.ORG"}
	pieces := []string{" ", ".", "<", ">", "x", "-", "@", "\n", "\"", ",", ":", "ä", "_", "+", "E", "1", "mailto:", "=", "%"}
	for range 20000 {
		var b strings.Builder
		for range 1 + rnd.IntN(6) {
			if rnd.IntN(2) == 0 {
				b.WriteString(addrs[rnd.IntN(len(addrs))])
			}
			for range rnd.IntN(3) {
				b.WriteString(pieces[rnd.IntN(len(pieces))])
			}
		}
		s := b.String()
		set := map[string]bool{}
		store.Addresses(s, set)
		for _, a := range addrs {
			if len(addressSpans(s, a)) > 0 && !set[asciiLower(a)] {
				t.Fatalf("%q: the search finds %s, the index takes %v", s, a, set)
			}
		}
	}
}

// TestSubjectRightsReadOnlyThePersonsRecords: export and erasure of one
// person read their own records and those that name them, not the other
// people's messages and mail.
func TestSubjectRightsReadOnlyThePersonsRecords(t *testing.T) {
	fd := newFileDesk(t)
	fd.ingest(msg{From: "Erika <erika@example.org>", Subject: "Drucker", MessageID: "e1@example.org", Body: "Hallo"}.raw())
	fd.ingest(msg{From: "Max <max@example.org>", Subject: "Frage", MessageID: "x1@example.org", Body: "Wie erika@example.org schon schrieb"}.raw())
	for i := range 30 {
		fd.ingest(msg{From: fmt.Sprintf("o%d@example.org", i), Subject: "Frage", MessageID: fmt.Sprintf("o%d@example.org", i), Body: "Hallo"}.raw())
	}
	count := func() (n uint64) {
		for _, b := range []string{"messages", "outbox", "tickets", "audit"} {
			n += fd.d.DB.Decoded(b)
		}
		return n
	}
	before := count()
	var zip bytes.Buffer
	if err := fd.d.Export("erika@example.org", &zip); err != nil {
		t.Fatal(err)
	}
	// Erika's ticket, message and acknowledgement; Max's message, ticket
	// and acknowledgement (it names her); the dozen audit events about her.
	if got := count() - before; got > 30 {
		t.Errorf("export read %d records of tickets, messages, outgoing mail and audit events, want at most 30", got)
	}
	before = count()
	rep, err := fd.d.Erase(context.Background(), "erika@example.org", false)
	if err != nil {
		t.Fatal(err)
	}
	if got := count() - before; got > 24 {
		t.Errorf("erasure read %d records of tickets, messages and outgoing mail, want at most 24", got)
	}
	if len(rep.Kept.Redacted) != 1 {
		t.Errorf("erasure redacted %+v, want Max's ticket", rep.Kept.Redacted)
	}
}
