package desk

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"ticketd/store"
)

// quarantineAs stores raw as quarantined mail of mailbox support with
// reason, as an older ticketd (whose parser failed on it) would have.
func (e *subjectEnv) quarantineAs(raw []byte, reason string, uid uint32) uint64 {
	e.t.Helper()
	w := e.db.NewBlobWriter()
	sum, _, err := w.Put(bytes.NewReader(raw))
	if err != nil {
		e.t.Fatal(err)
	}
	q := &store.Quarantine{Reason: reason, Size: int64(len(raw)), ContentHash: sum, Blob: sum,
		Origin: store.Origin{Channel: store.ChannelEmail, Mailbox: "support", UID: uid, UIDValidity: 7, ReceivedAt: e.now}}
	e.update(func(tx *store.Tx) error {
		if err := tx.PutBlobs(w); err != nil {
			return err
		}
		return tx.AddQuarantine(q, sum, "system")
	})
	return q.ID
}

func TestQuarantineShowRetryDelete(t *testing.T) {
	e := newSubjectEnv(t)
	noSender := []byte("To: Support <support@example.com>\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n  und mehr\r\nMessage-ID: <q1@example.net>\r\nX-Broken\r\n\r\nhallo\r\n")
	e.deliver(noSender, nil)
	qs, _ := e.d.ListQuarantine()
	if len(qs) != 2 {
		t.Fatalf("quarantine = %+v", qs)
	}
	broken, unread := qs[0].ID, qs[1].ID

	// show: reason, origin, size, where the copy is, the headers.
	v, err := e.d.ShowQuarantine(broken)
	if err != nil {
		t.Fatal(err)
	}
	want := []Header{{"To", "Support <support@example.com>"}, {"Subject", "Grüße und mehr"}, {"Message-ID", "<q1@example.net>"}}
	if !strings.HasPrefix(v.Reason, "no sender address") || v.Size != int64(len(noSender)) || v.StoredIn != "database" ||
		v.Origin.Mailbox != "support" || v.Origin.UID != 1 || v.Origin.UIDValidity != 7 || v.SourceFolder != "INBOX" ||
		!slices.Equal(v.Headers, want) || !strings.Contains(v.HeaderNote, "1 header lines without a field name") {
		t.Errorf("show = %s", mustJSON(t, v))
	}
	if v, err := e.d.ShowQuarantine(unread); err != nil || v.StoredIn != "" || !strings.Contains(v.HeaderNote, "not read") {
		t.Errorf("show unread = %+v, %v", v, err)
	}
	if _, err := e.d.ShowQuarantine(99); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("show 99: %v", err)
	}

	// retry of mail that is still broken: it stays, with the reason of now.
	before := e.auditLen()
	out, err := e.d.RetryQuarantine(context.Background(), broken)
	if err != nil || out.Quarantine != broken || out.Ticket != 0 || !strings.HasPrefix(out.Reason, "no sender address") {
		t.Errorf("retry of still broken mail = %+v, %v", out, err)
	}
	if qs, _ := e.d.ListQuarantine(); len(qs) != 2 || e.auditLen() != before+1 {
		t.Errorf("after a retry that failed again: %d records, %d new audit events", len(qs), e.auditLen()-before)
	}
	if _, err := e.d.RetryQuarantine(context.Background(), unread); !errors.Is(err, ErrNoCopy) {
		t.Errorf("retry of unread mail: %v", err)
	}

	// A mail an older parser failed on becomes a ticket; record and copy go together.
	good := msg{From: erika, Subject: "Drucker", MessageID: "g1@example.org", Body: "Hallo " + strings.Repeat("x", 70<<10)}.raw()
	old := e.quarantineAs(good, "parser failure: index out of range", 5)
	var place string
	e.db.View(func(tx *store.Tx) error { q, _ := tx.Quarantine(old); place = tx.BlobPlace(q.Blob); return nil })
	if _, err := os.Stat(place); err != nil {
		t.Fatalf("the raw copy is not a file: %q %v", place, err)
	}
	if v, _ := e.d.ShowQuarantine(old); v.StoredIn != place {
		t.Errorf("show says the copy is in %q, want %q", v.StoredIn, place)
	}
	out, err = e.d.RetryQuarantine(context.Background(), old)
	if err != nil || !out.NewTicket || out.Ticket == 0 || out.Quarantine != 0 || !out.AckQueued {
		t.Fatalf("retry = %+v, %v", out, err)
	}
	ms := e.messages(out.Ticket)
	if len(ms) != 1 || ms[0].MessageID != "g1@example.org" || ms[0].Origin.UID != 5 || ms[0].Origin.Mailbox != "support" || ms[0].Origin.UIDValidity != 7 {
		t.Errorf("message = %+v", ms)
	}
	e.db.View(func(tx *store.Tx) error {
		if _, err := tx.Quarantine(old); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the record is still there: %v", err)
		}
		return nil
	})
	if _, err := os.Stat(place); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the raw copy is still there: %v", err)
	}
	if _, err := e.d.RetryQuarantine(context.Background(), old); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second retry: %v", err)
	}

	// Dedup still applies: the same mail quarantined again (the old parser,
	// a UIDVALIDITY rescan) goes as a duplicate of the stored message.
	again := e.quarantineAs(good, "parser failure: index out of range", 6)
	out, err = e.d.RetryQuarantine(context.Background(), again)
	if err != nil || !out.Duplicate || out.Ticket != ms[0].Ticket || out.Message != ms[0].ID {
		t.Errorf("retry of a duplicate = %+v, %v", out, err)
	}
	if pg, _ := e.d.ListTickets(ListOptions{}); len(pg.Tickets) != 1 {
		t.Errorf("%d tickets, want 1", len(pg.Tickets))
	}

	// delete: record and copy go, with an audit event that names the record only.
	if _, err := e.d.DeleteQuarantine(broken); err != nil {
		t.Fatal(err)
	}
	if _, err := e.d.DeleteQuarantine(broken); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	e.db.View(func(tx *store.Tx) error {
		var last *store.AuditEvent
		tx.AuditEvents(func(ev *store.AuditEvent) bool { last = ev; return true })
		if last.Action != "quarantine.deleted" || last.Quarantine != broken || last.Actor != "admin" || strings.Contains(last.Detail, "@") {
			t.Errorf("last audit event = %+v", last)
		}
		return nil
	})
	if qs, _ := e.d.ListQuarantine(); len(qs) != 1 || qs[0].ID != unread {
		t.Errorf("left: %+v", qs)
	}
	e.db.Close()
	raw, _ := os.ReadFile(e.cfg.Server.DataDir + "/ticketd.db")
	if bytes.Contains(raw, []byte("q1@example.net")) {
		t.Error("the deleted mail is still in the database file")
	}
}
