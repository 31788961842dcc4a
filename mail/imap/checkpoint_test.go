package imap_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"ticketd/mail"
	"ticketd/mail/imap"
	"ticketd/mail/mailtest"
	"ticketd/store"
)

// personDeliverer stores one person per mail (the address in its Subject)
// and reports the mails whose subject starts with "quarantine" as
// quarantined. Its first failWrites Writes store their people and then fail.
type personDeliverer struct {
	mu         sync.Mutex
	failWrites int
	writes     int
	committed  int
}

func (d *personDeliverer) Prepare(_ context.Context, b *imap.Batch) (imap.Prepared, error) {
	return &personBatch{d: d, b: b}, nil
}

type personBatch struct {
	d *personDeliverer
	b *imap.Batch
}

func (p *personBatch) Write(tx *store.Tx) ([]imap.Result, error) {
	var results []imap.Result
	for _, m := range p.b.Mails {
		r, err := m.Open()
		if err != nil {
			return nil, err
		}
		raw, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			return nil, err
		}
		subject := strings.TrimSpace(strings.SplitN(strings.SplitN(string(raw), "Subject: ", 2)[1], "\r\n", 2)[0])
		if _, err := tx.EnsurePerson(strings.Fields(subject)[1], "", "system"); err != nil {
			return nil, err
		}
		results = append(results, imap.Result{Quarantined: strings.HasPrefix(subject, "quarantine")})
	}
	p.d.mu.Lock()
	defer p.d.mu.Unlock()
	if p.d.writes++; p.d.writes <= p.d.failWrites {
		return nil, errors.New("disk full")
	}
	return results, nil
}

func (p *personBatch) Committed() {
	p.d.mu.Lock()
	p.d.committed++
	p.d.mu.Unlock()
}

func (d *personDeliverer) counts() (writes, committed int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.writes, d.committed
}

func personMail(subject string) []byte {
	return []byte("From: x@example.org\r\nSubject: " + subject + "\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + ">\r\n\r\nbody\r\n")
}

// startDeliverer runs a Supervisor with d over a fresh store until the test ends.
func startDeliverer(t *testing.T, acct *mailtest.Account, d imap.Deliverer, quarantineFolder string) (*imap.Supervisor, *store.DB) {
	t.Helper()
	db, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	box := supervisedBox(t, acct)
	box.AfterImport = "seen"
	box.QuarantineFolder = quarantineFolder
	s := &imap.Supervisor{Box: box, DB: db, Deliver: d, Log: discardLog(), SpoolDir: t.TempDir(),
		MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond, After: newClock(0).After}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, mail.ErrStopped) {
			t.Errorf("Run returned %v", err)
		}
		db.Close()
	})
	return s, db
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func people(t *testing.T, db *store.DB, emails ...string) (found []string) {
	t.Helper()
	db.View(func(tx *store.Tx) error {
		for _, e := range emails {
			if _, err := tx.PersonByEmail(e); err == nil {
				found = append(found, e)
			}
		}
		return nil
	})
	return found
}

// TestBatchCommitsWithItsCheckpoint: the Supervisor opens the transaction
// in which the Deliverer writes a batch and records the checkpoint in it.
// A Write that fails leaves neither its writes nor a checkpoint past the
// batch, and the batch is delivered again; the Deliverer hears of the
// commit only after it happened.
func TestBatchCommitsWithItsCheckpoint(t *testing.T) {
	srv := mailtest.MemIMAP(t, nil)
	srv.Append(t, "INBOX", personMail("ticket a@example.org"))
	last := srv.Append(t, "INBOX", personMail("ticket b@example.org"))
	d := &personDeliverer{failWrites: 2}
	_, db := startDeliverer(t, &srv.Account, d, "")

	mailtest.WaitFor(t, 20*time.Second, "the batch committed", func() bool { _, c := d.counts(); return c == 1 })
	if got := checkpointUID(t, db); got != last {
		t.Errorf("checkpoint at uid %d, want %d", got, last)
	}
	writes, committed := d.counts()
	if writes != 3 || committed != 1 {
		t.Errorf("%d writes and %d commits, want 3 writes (two failed) and 1 commit", writes, committed)
	}
	if got := people(t, db, "a@example.org", "b@example.org"); len(got) != 2 {
		t.Errorf("people stored: %v, want both once", got)
	}
	mailtest.WaitFor(t, 20*time.Second, "both flagged \\Seen after the commit", func() bool {
		for _, m := range srv.Folder(t, "INBOX") {
			if !m.Seen() {
				return false
			}
		}
		return true
	})
}

// TestFailedWriteMovesNoCheckpoint: while every Write fails, nothing of the
// batch is stored and the checkpoint stays where it was.
func TestFailedWriteMovesNoCheckpoint(t *testing.T) {
	srv := mailtest.MemIMAP(t, nil)
	srv.Append(t, "INBOX", personMail("ticket a@example.org"))
	d := &personDeliverer{failWrites: 1 << 30}
	s, db := startDeliverer(t, &srv.Account, d, "")

	mailtest.WaitFor(t, 20*time.Second, "three failed writes", func() bool { w, _ := d.counts(); return w >= 3 })
	if got := checkpointUID(t, db); got != 0 {
		t.Errorf("checkpoint at uid %d after failed writes, want 0", got)
	}
	if got := people(t, db, "a@example.org"); len(got) != 0 {
		t.Errorf("people stored by a failed write: %v", got)
	}
	if _, c := d.counts(); c != 0 {
		t.Errorf("%d commits reported, want none", c)
	}
	if st := s.Status(); !strings.Contains(st.LastError, "disk full") {
		t.Errorf("Status.LastError = %q, want the Write's error", st.LastError)
	}
	for _, m := range srv.Folder(t, "INBOX") {
		if m.Seen() {
			t.Errorf("uid %d flagged \\Seen although nothing was committed", m.UID)
		}
	}
}

// TestQuarantineDecidedByResult: the Deliverer's Result says which mail became
// a quarantine record; the Supervisor moves exactly those to the quarantine
// folder and gives the others the after_import action.
func TestQuarantineDecidedByResult(t *testing.T) {
	srv := mailtest.MemIMAP(t, nil)
	srv.Create(t, "Quarantine")
	srv.Append(t, "INBOX", personMail("ticket a@example.org"))
	srv.Append(t, "INBOX", personMail("quarantine b@example.org"))
	last := srv.Append(t, "INBOX", personMail("ticket c@example.org"))
	d := &personDeliverer{}
	startDeliverer(t, &srv.Account, d, "Quarantine")

	mailtest.WaitFor(t, 20*time.Second, "the quarantined mail moved", func() bool {
		return len(srv.Folder(t, "Quarantine")) == 1
	})
	inbox := srv.Folder(t, "INBOX")
	if len(inbox) != 2 || inbox[1].UID != last {
		t.Fatalf("INBOX holds %+v, want the two tickets", inbox)
	}
	mailtest.WaitFor(t, 20*time.Second, "the tickets flagged", func() bool {
		for _, m := range srv.Folder(t, "INBOX") {
			if !m.Seen() {
				return false
			}
		}
		return true
	})
}
