package smtp_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"ticketd/config"
	"ticketd/mail"
	"ticketd/mail/mailtest"
	"ticketd/mail/smtp"
	"ticketd/store"
)

// outboxEnv is a store, a sink and an Outbox sending to it.
type outboxEnv struct {
	t      *testing.T
	dir    string
	db     *store.DB
	sink   *mailtest.SMTPSink
	ob     *smtp.Outbox
	cancel context.CancelFunc
	done   chan error
	now    func() time.Time
}

func newOutboxEnv(t *testing.T) *outboxEnv {
	e := &outboxEnv{t: t, dir: t.TempDir(), sink: mailtest.StartSMTPSink(t), now: time.Now}
	e.open()
	return e
}

func (e *outboxEnv) open() {
	db, err := store.Open(e.dir, store.Options{Now: func() time.Time { return e.now() }})
	if err != nil {
		e.t.Fatal(err)
	}
	e.db = db
}

// start runs the outbox until stop.
func (e *outboxEnv) start() {
	host, port, _ := net.SplitHostPort(e.sink.Addr)
	p, _ := strconv.Atoi(port)
	cfg := &config.SMTP{Host: host, Port: p, TLS: "none", From: "support@example.com", Timeout: config.Duration{Duration: 5 * time.Second}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e.ob = &smtp.Outbox{DB: e.db, Send: smtp.NewSender(cfg, "test", log), Log: log,
		Now: func() time.Time { return e.now() }, MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan error, 1)
	go func() { e.done <- e.ob.Run(ctx) }()
	e.t.Cleanup(e.stop)
}

func (e *outboxEnv) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	if err := <-e.done; !errors.Is(err, mail.ErrStopped) {
		e.t.Errorf("outbox returned %v", err)
	}
	e.cancel = nil
}

// enqueue queues one mail to rcpt and returns its id.
func (e *outboxEnv) enqueue(rcpt string, retryFor time.Duration) uint64 {
	it := &store.OutboxItem{Ticket: 1, Kind: "acknowledgement", MessageID: "m-" + rcpt, From: "support@example.com",
		To: []string{rcpt}, Raw: []byte("Subject: hi\r\nMessage-ID: <m-" + rcpt + ">\r\n\r\nhello\r\n"), GiveUpAt: e.now().Add(retryFor)}
	if err := e.db.Update(func(tx *store.Tx) error { return tx.Enqueue(it, "system") }); err != nil {
		e.t.Fatal(err)
	}
	if e.ob != nil {
		e.ob.Wake()
	}
	return it.ID
}

func (e *outboxEnv) item(id uint64) *store.OutboxItem {
	var it *store.OutboxItem
	e.db.View(func(tx *store.Tx) (err error) { it, err = tx.OutboxItem(id); return err })
	return it
}

func (e *outboxEnv) waitStatus(id uint64, status string) *store.OutboxItem {
	e.t.Helper()
	mailtest.WaitFor(e.t, 10*time.Second, "outbox item "+status, func() bool { return e.item(id).Status == status })
	return e.item(id)
}

func (e *outboxEnv) auditActions() []string {
	var out []string
	e.db.View(func(tx *store.Tx) error {
		return tx.AuditEvents(func(ev *store.AuditEvent) bool {
			if strings.HasPrefix(string(ev.Action), "outbox.") {
				out = append(out, string(ev.Action))
			}
			return true
		})
	})
	return out
}

func TestOutboxSendsAtOnce(t *testing.T) {
	e := newOutboxEnv(t)
	e.start()
	id := e.enqueue("a@example.org", time.Hour)
	it := e.waitStatus(id, store.OutboxSent)
	if it.Attempts != 1 || it.DoneAt.IsZero() {
		t.Errorf("item = %+v", it)
	}
	msgs := e.sink.Msgs()
	if len(msgs) != 1 || msgs[0].From != "support@example.com" || msgs[0].To[0] != "a@example.org" {
		t.Errorf("sink got %+v", msgs)
	}
	if got := strings.Join(e.auditActions(), ","); got != "outbox.queued,outbox.sent" {
		t.Errorf("audit = %s", got)
	}
}

func TestOutbox421Then250(t *testing.T) {
	e := newOutboxEnv(t)
	e.sink.Fail("MAIL", mailtest.SMTPErr(421, "too busy"))
	e.start()
	id := e.enqueue("a@example.org", time.Hour)
	it := e.waitStatus(id, store.OutboxSent)
	if it.Attempts != 2 || len(e.sink.Msgs()) != 1 {
		t.Errorf("attempts %d, sink %d mails", it.Attempts, len(e.sink.Msgs()))
	}
	if got := strings.Join(e.auditActions(), ","); got != "outbox.queued,outbox.retry,outbox.sent" {
		t.Errorf("audit = %s", got)
	}
}

func TestOutbox550FailsAndOthersStillGo(t *testing.T) {
	e := newOutboxEnv(t)
	e.sink.Fail("RCPT", mailtest.SMTPErr(550, "no such user"))
	e.start()
	bad := e.enqueue("gone@example.org", time.Hour)
	it := e.waitStatus(bad, store.OutboxFailed)
	if it.Attempts != 1 || !strings.Contains(it.LastError, "550") {
		t.Errorf("item = %+v", it)
	}
	good := e.enqueue("b@example.org", time.Hour)
	e.waitStatus(good, store.OutboxSent)
	if n := e.sink.NestedMail(); n != 0 {
		t.Errorf("%d MAIL commands without RSET after the failure", n)
	}
}

func TestOutboxDropMidDataIsRetried(t *testing.T) {
	e := newOutboxEnv(t)
	e.sink.DropMidData(1)
	e.start()
	id := e.enqueue("a@example.org", time.Hour)
	it := e.waitStatus(id, store.OutboxSent)
	if it.Attempts < 2 {
		t.Errorf("attempts = %d, want a retry", it.Attempts)
	}
}

func TestOutboxGivesUpAfterRetryTime(t *testing.T) {
	e := newOutboxEnv(t)
	var mu sync.Mutex
	clock := time.Now()
	e.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	e.sink.Fail("MAIL", mailtest.SMTPErr(451, "try later"), mailtest.SMTPErr(451, "try later"), mailtest.SMTPErr(451, "try later"))
	e.start()
	id := e.enqueue("a@example.org", time.Minute)
	mailtest.WaitFor(t, 10*time.Second, "first attempt", func() bool { return e.item(id).Attempts >= 1 })
	mu.Lock()
	clock = clock.Add(2 * time.Minute) // past retry_for
	mu.Unlock()
	e.ob.Wake()
	it := e.waitStatus(id, store.OutboxFailed)
	if !strings.Contains(it.LastError, "gave up") {
		t.Errorf("item = %+v", it)
	}
}

func TestOutboxContinuesAfterRestart(t *testing.T) {
	e := newOutboxEnv(t)
	ids := []uint64{e.enqueue("a@example.org", time.Hour), e.enqueue("b@example.org", time.Hour)}
	e.db.Close() // queued while no sender ran, then the process stopped
	e.open()
	defer e.db.Close()
	e.start()
	for _, id := range ids {
		e.waitStatus(id, store.OutboxSent)
	}
	if n := len(e.sink.Msgs()); n != 2 {
		t.Errorf("sink got %d mails, want 2", n)
	}
}

// TestOutboxWaitsForAnUnreachableRelay: while the relay refuses sessions,
// one pass tries one connection, not one per due mail; the rest wait for
// the relay's backoff and all go once it answers again.
func TestOutboxWaitsForAnUnreachableRelay(t *testing.T) {
	e := newOutboxEnv(t)
	proxy := mailtest.NewProxy(t, e.sink.Addr)
	e.sink.Addr = proxy.Addr // the outbox connects through the proxy
	proxy.Refuse("421 4.3.2 relay down")
	var mu sync.Mutex
	now := time.Now()
	e.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	var ids []uint64
	for i := range 20 {
		ids = append(ids, e.enqueue("r"+strconv.Itoa(i)+"@example.org", time.Hour))
	}
	e.start()
	mailtest.WaitFor(t, 10*time.Second, "a first attempt", func() bool { return proxy.Accepted() > 0 })
	mailtest.WaitFor(t, 10*time.Second, "the attempt recorded", func() bool {
		n := 0
		for _, id := range ids {
			n += e.item(id).Attempts
		}
		return n > 0
	})
	for range 3 { // new mail wakes the outbox, but the relay's backoff holds
		e.ob.Wake()
	}
	time.Sleep(100 * time.Millisecond)
	attempts := 0
	for _, id := range ids {
		attempts += e.item(id).Attempts
	}
	if got := proxy.Accepted(); got != 1 || attempts != 1 {
		t.Errorf("relay down: %d connections and %d attempts for %d due mails, want 1 and 1", got, attempts, len(ids))
	}
	proxy.Refuse("")
	mu.Lock()
	now = now.Add(time.Hour) // past the relay's backoff and every item's
	mu.Unlock()
	e.ob.Wake()
	for _, id := range ids {
		e.waitStatus(id, store.OutboxSent)
	}
	if got := len(e.sink.Msgs()); got != len(ids) {
		t.Errorf("sink got %d mails, want %d", got, len(ids))
	}
}
