package desk

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"ticketd/mail/mailtest"
	"ticketd/store"
)

// TestCloseReopen: closing starts the retention counted from closing,
// reopening stops it; closing twice, a missing ticket and an anonymized
// one are refused with the kind the CLI reports.
func TestCloseReopen(t *testing.T) {
	e := newSubjectEnv(t)
	e.deliver(msg{From: erika, Subject: "Frage", MessageID: "c1@example.org", Body: "Text"}.raw())
	n := e.ticketOf("c1@example.org")
	tk, err := e.d.CloseTicket(n)
	if err != nil || tk.Status != store.StatusClosed || !tk.ClosedAt.Equal(e.now) || tk.PurgeAt.IsZero() {
		t.Fatalf("close: %+v, %v", tk, err)
	}
	if _, err := e.d.CloseTicket(n); !errors.Is(err, ErrStatusIsSame) || KindOf(err) != KindBadRequest {
		t.Errorf("closing twice: %v (kind %q)", err, KindOf(err))
	}
	tk, err = e.d.ReopenTicket(n)
	if err != nil || tk.Status != store.StatusOpen || !tk.ClosedAt.IsZero() || !tk.PurgeAt.IsZero() {
		t.Errorf("reopen: %+v, %v", tk, err)
	}
	if _, err := e.d.ReopenTicket(99); !errors.Is(err, ErrNotFound) || err.Error() != "no ticket #99: store: not found" {
		t.Errorf("reopen a missing ticket: %v", err)
	}
	if _, err := e.d.Offboard(erikaAddr); err != nil {
		t.Fatal(err)
	}
	if _, err := e.d.CloseTicket(n); !errors.Is(err, ErrAnonymized) || KindOf(err) != KindBadRequest {
		t.Errorf("close an anonymized ticket: %v", err)
	}
}

// TestHeld: a ticket is held while one of its holds is in force.
func TestHeld(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	s := TicketSummary{Holds: []store.Hold{
		{Category: "a", Since: now.AddDate(-2, 0, 0), Until: now.AddDate(-1, 0, 0)},
		{Category: "b", Since: now, Until: now.Add(time.Hour)},
	}}
	if !s.Held(now) || s.Held(now.Add(time.Hour)) || (&TicketSummary{}).Held(now) {
		t.Errorf("held at now %v, an hour later %v", s.Held(now), s.Held(now.Add(time.Hour)))
	}
}

// TestErrorKinds: every operation's failure has the kind that decides the
// CLI's exit, the same in the daemon and without it.
func TestErrorKinds(t *testing.T) {
	e := newSubjectEnv(t)
	e.deliver(msg{From: erika, Subject: "Frage", MessageID: "k1@example.org", Body: "Text"}.raw())
	n := e.ticketOf("k1@example.org")
	ctx := context.Background()
	for _, c := range []struct {
		what string
		kind Kind
		err  error
	}{
		{"show a missing ticket", KindNotFound, second(e.d.ShowTicket(99))},
		{"an unknown hold", KindBadRequest, second(e.d.AddHold(n, "nonesuch"))},
		{"release a hold not held", KindBadRequest, second(e.d.ReleaseHold(n, "business_letter"))},
		{"a purge in the future", KindBadRequest, second(e.d.Purge(ctx, PurgeRequest{At: e.now.AddDate(1, 0, 0)}))},
		{"retry a missing outbox item", KindNotFound, e.d.RetryOutbox(999)},
		{"a missing quarantine record", KindNotFound, second(e.d.ShowQuarantine(5))},
		{"export an unknown person", KindNotFound, e.d.Export("nobody@example.org", nil)},
		{"rectify with nothing", KindBadRequest, second(e.d.Rectify(erikaAddr, "", ""))},
		{"a relative backup path", KindBadRequest, second(e.d.Backup("backup.tar", false))},
		{"a mailbox not configured", KindBadRequest, second(e.d.IngestFrom(ctx, nil, IngestRequest{Mailbox: "nonesuch"}))},
		{"an empty mail", KindBadRequest, second(e.d.IngestFrom(ctx, eofReader{}, IngestRequest{}))},
		{"none", KindOther, nil},
	} {
		if got := KindOf(c.err); got != c.kind {
			t.Errorf("%s: %v: kind %q, want %q", c.what, c.err, got, c.kind)
		}
	}
	// A purge for now, or a dry run for the future, is no error.
	if _, err := e.d.Purge(ctx, PurgeRequest{DryRun: true, At: e.now.AddDate(1, 0, 0)}); err != nil {
		t.Errorf("dry run for next year: %v", err)
	}
	if _, err := e.d.Purge(ctx, PurgeRequest{}); err != nil {
		t.Errorf("purge now: %v", err)
	}
}

// TestOpenKinds: a command finds no store (unavailable, nothing created) or
// a store another process holds (temporary).
func TestOpenKinds(t *testing.T) {
	cfg := testConfig(t, &mailtest.Account{Addr: "127.0.0.1:1"})
	cfg.Server.DataDir += "/none"
	if _, err := Open(cfg, testLogger(t), Options{MustExist: true}); KindOf(err) != KindUnavailable {
		t.Errorf("no store: %v (kind %q)", err, KindOf(err))
	}
	d, err := Open(cfg, testLogger(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := Open(cfg, testLogger(t), Options{}); KindOf(err) != KindTemporary {
		t.Errorf("a held store: %v (kind %q)", err, KindOf(err))
	}
	backup := t.TempDir() + "/backup.tar"
	if _, err := d.Backup(backup, false); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Backup(backup, false); KindOf(err) != KindBadRequest {
		t.Errorf("backup over a file without force: %v (kind %q)", err, KindOf(err))
	}
	if _, err := Restore(cfg, backup, true); KindOf(err) != KindTemporary {
		t.Errorf("restore over a held store: %v (kind %q)", err, KindOf(err))
	}
}

// TestStatusFromStore: without a daemon the status is the stored
// checkpoint of each mailbox and the outbox's counts.
func TestStatusFromStore(t *testing.T) {
	e := newSubjectEnv(t)
	e.deliver(msg{From: erika, Subject: "Frage", MessageID: "s1@example.org", Body: "Text"}.raw())
	e.update(func(tx *store.Tx) error {
		return tx.SetCheckpoint(store.Checkpoint{Mailbox: "support", UIDValidity: 7, LastUID: 1}, "system")
	})
	rep, err := e.d.Status(nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Daemon.Running || rep.Schedule != nil || len(rep.Mailboxes) != 1 || rep.Outbox.Pending != 1 {
		t.Fatalf("status: %+v", rep)
	}
	if m := rep.Mailboxes[0]; m.State != "stopped" || m.UIDValidity != 7 || m.LastUID != 1 || m.CheckpointAt.IsZero() {
		t.Errorf("mailbox: %+v", m)
	}
	live := &Live{PID: 1, NextPurge: e.now.Add(time.Hour)}
	if rep, err := e.d.Status(live); err != nil || !rep.Daemon.Running || rep.Mailboxes[0].State != "disconnected" ||
		!rep.Schedule.Purge.Equal(e.now.Add(time.Hour)) {
		t.Errorf("with a daemon whose mailbox is not connected: %+v, %v", rep, err)
	}
}

func second[T any](_ T, err error) error { return err }

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
