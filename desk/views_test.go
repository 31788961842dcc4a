package desk

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"ticketd/config"
	"ticketd/mail"
	"ticketd/mail/mailtest"
	"ticketd/mail/smtp"
	"ticketd/store"
)

// TestAckShowsOutboxState: a ticket shows what the outbox did with its
// acknowledgement (sent at, failed with the reason), not only that it was queued.
func TestAckShowsOutboxState(t *testing.T) {
	sink := mailtest.StartSMTPSink(t)
	fd := newFileDesk(t, func(c *config.Config) {
		host, port := splitAddr(t, sink.Addr)
		c.SMTP.Host, c.SMTP.Port = host, port
	})
	cfg := fd.d.Config()
	ob := &smtp.Outbox{DB: fd.db, Log: testLogger(t), Now: func() time.Time { return fd.now },
		Send: smtp.NewSender(&cfg.SMTP, "help.example.com", testLogger(t))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ob.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, mail.ErrStopped) {
			t.Errorf("outbox: %v", err)
		}
	}()
	fd.d.Wake = ob.Wake

	show := func(n uint64, want string) *AckView {
		t.Helper()
		mailtest.WaitFor(t, 10*time.Second, "acknowledgement "+want, func() bool {
			d, err := fd.d.ShowTicket(n)
			return err == nil && d.Ack != nil && d.Ack.Status == want
		})
		d, err := fd.d.ShowTicket(n)
		if err != nil {
			t.Fatal(err)
		}
		// The JSON of tickets show says the same, and reads back the same.
		raw, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var back TicketDetail
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(raw), `"status":"`+want+`"`) || back.Ack.Status != want || back.Ack.OutboxID != d.Ack.OutboxID {
			t.Errorf("JSON: %s", raw)
		}
		return d.Ack
	}

	out := fd.ingest(msg{Subject: "Drucker", MessageID: "a1@example.org", Body: "Hallo"}.raw())
	a := show(out.Ticket, AckSent)
	if !a.SentAt.Equal(fd.now) || a.Attempts != 1 || a.Error != "" || a.OutboxID == 0 || a.NoticeHash == "" {
		t.Errorf("sent: %+v", a)
	}
	if tks, err := fd.d.ListTickets(); err != nil || len(tks) != 1 || tks[0].Ack.Status != AckSent {
		t.Errorf("list: %+v %v", tks, err)
	}

	sink.Fail("RCPT", mailtest.SMTPErr(550, "no such user"))
	out = fd.ingest(msg{From: "Otto <otto@example.net>", Subject: "Scanner", MessageID: "a2@example.org", Body: "Hallo"}.raw())
	a = show(out.Ticket, AckFailed)
	if !a.FailedAt.Equal(fd.now) || !strings.Contains(a.Error, "no such user") || !a.SentAt.IsZero() {
		t.Errorf("failed: %+v", a)
	}

	// A suppressed acknowledgement says so; one whose outbox item was erased too.
	out = fd.ingest(msg{From: "Otto <otto@example.net>", Subject: "Auto", MessageID: "a3@example.org", Extra: "Auto-Submitted: auto-replied\r\n", Body: "x"}.raw())
	if d, err := fd.d.ShowTicket(out.Ticket); err != nil || d.Ack.Status != AckSuppressed || d.Ack.Reason == "" {
		t.Errorf("suppressed: %+v %v", d.Ack, err)
	}
	fd.db.Update(func(tx *store.Tx) error { return tx.DeleteOutboxItem(a.OutboxID, "admin", "test") })
	if d, err := fd.d.ShowTicket(2); err != nil || d.Ack.Status != AckGone {
		t.Errorf("erased outbox item: %+v %v", d.Ack, err)
	}
}
