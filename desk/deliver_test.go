package desk

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"ticketd/mail"
	"ticketd/mail/imap"
	"ticketd/store"
)

// deliver stores b the way the Supervisor does, without a checkpoint:
// Prepare, then Write in one transaction, then Committed.
func deliver(d *Desk, b *imap.Batch) ([]imap.Result, error) {
	p, err := d.Prepare(context.Background(), b)
	if err != nil {
		return nil, err
	}
	var results []imap.Result
	err = d.DB.Update(func(tx *store.Tx) error {
		results, err = p.Write(tx)
		return err
	})
	if err == nil {
		p.Committed()
	}
	return results, err
}

// TestWriteSaysWhichMailIsQuarantined: Write's results, one per mail in
// order, say which mail became a new quarantine record (unreadable, over
// the size limit, no sender): those, and only those, go to the quarantine
// folder. A mail delivered again (a crash before after_import) makes no new
// record, so it gets the mailbox's ordinary after_import action.
func TestWriteSaysWhichMailIsQuarantined(t *testing.T) {
	e := newSubjectEnv(t)
	read := func(raw []byte, max int64) *mail.Fetched {
		f, err := mail.ReadFetched(bytes.NewReader(raw), e.spool, max)
		if err != nil {
			t.Fatal(err)
		}
		e.uid++
		f.UID = e.uid
		return f
	}
	good := []byte("From: Erika <erika@example.org>\r\nSubject: hi\r\nMessage-ID: <q1@example.org>\r\n\r\nhello\r\n")
	nobody := []byte("Subject: who\r\nMessage-ID: <q2@example.org>\r\n\r\nnobody\r\n")
	batch := func() *imap.Batch {
		return &imap.Batch{Mailbox: "support", UIDValidity: 7,
			Mails: []*mail.Fetched{read(good, 1<<20), read(nobody, 1<<20), read(good, 10)}}
	}
	want := []imap.Result{{}, {Quarantined: true}, {Quarantined: true}}
	for round, w := range [][]imap.Result{want, make([]imap.Result, 3)} {
		e.uid = 0
		got, err := deliver(e.d, batch())
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, w) {
			t.Errorf("round %d: results %+v, want %+v", round+1, got, w)
		}
	}
}
