package imap_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"ticketd/config"
	"ticketd/mail"
	"ticketd/mail/imap"
	"ticketd/mail/mailtest"
	"ticketd/store"
)

// logRecord is one captured slog record, its attributes as strings.
type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

// captureHandler keeps every record logged through it.
type captureHandler struct {
	mu    *sync.Mutex
	recs  *[]logRecord
	attrs []slog.Attr
}

func newCapture() (*slog.Logger, func() []logRecord) {
	h := captureHandler{mu: &sync.Mutex{}, recs: &[]logRecord{}}
	return slog.New(h), func() []logRecord {
		h.mu.Lock()
		defer h.mu.Unlock()
		return slices.Clone(*h.recs)
	}
}

func (h captureHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h captureHandler) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	for _, a := range h.attrs {
		rec.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	h.mu.Lock()
	*h.recs = append(*h.recs, rec)
	h.mu.Unlock()
	return nil
}

func (h captureHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h.attrs = append(slices.Clip(h.attrs), as...)
	return h
}

func (h captureHandler) WithGroup(string) slog.Handler { return h }

// delivered is what a Deliverer was handed for one mail.
type delivered struct {
	uid    uint32
	size   int // bytes of content; -1 when the mail came as failed
	failed string
}

// recordingDeliverer records the mails of each committed batch; a failed
// or empty mail is "quarantined".
type recordingDeliverer struct {
	mu  sync.Mutex
	got []delivered
}

func (d *recordingDeliverer) Prepare(_ context.Context, b *imap.Batch) (imap.Prepared, error) {
	return &recordedBatch{d: d, b: b}, nil
}

// recordedBatch is one batch handed to a recordingDeliverer.
type recordedBatch struct {
	d   *recordingDeliverer
	b   *imap.Batch
	got []delivered
}

func (r *recordedBatch) Write(tx *store.Tx) ([]imap.Result, error) {
	r.got = nil
	var results []imap.Result
	for _, m := range r.b.Mails {
		dm := delivered{uid: m.UID, size: -1, failed: m.Failed}
		if m.Failed == "" {
			rd, err := m.Open()
			if err != nil {
				return nil, err
			}
			raw, err := io.ReadAll(rd)
			rd.Close()
			if err != nil {
				return nil, err
			}
			dm.size = len(raw)
		}
		results = append(results, imap.Result{Quarantined: dm.size <= 0})
		r.got = append(r.got, dm)
	}
	return results, nil
}

func (r *recordedBatch) Committed() {
	r.d.mu.Lock()
	r.d.got = append(r.d.got, r.got...)
	r.d.mu.Unlock()
}

func (d *recordingDeliverer) mails() []delivered {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.got)
}

// clock is an injected Supervisor.After: it records each backoff and fires
// at once, unless hold says to keep that wait until release.
type clock struct {
	mu      sync.Mutex
	waits   []time.Duration
	hold    int // the wait with this number (1-based) blocks until release; 0: none
	release chan time.Time
	held    chan struct{}
}

func newClock(hold int) *clock {
	return &clock{hold: hold, release: make(chan time.Time, 1), held: make(chan struct{})}
}

func (c *clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	if len(c.waits) == c.hold {
		close(c.held)
		return c.release
	}
	ch := make(chan time.Time, 1)
	ch <- time.Time{}
	return ch
}

func (c *clock) backoffs() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.waits)
}

// runSupervisor runs a Supervisor for box over a fresh store until the test ends.
// Each of setup changes the Supervisor before it runs.
func runSupervisor(t *testing.T, box *config.Mailbox, log *slog.Logger, c *clock, setup ...func(*imap.Supervisor)) (*imap.Supervisor, *recordingDeliverer, *store.DB) {
	t.Helper()
	db, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := &recordingDeliverer{}
	s := &imap.Supervisor{Box: box, DB: db, Deliver: d, Log: log, SpoolDir: t.TempDir(),
		MinBackoff: time.Second, MaxBackoff: 4 * time.Second, After: c.After}
	for _, f := range setup {
		f(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, mail.ErrStopped) {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("the supervisor did not stop")
		}
		db.Close()
	})
	return s, d, db
}

func supervisedBox(t *testing.T, acct *mailtest.Account) *config.Mailbox {
	box := boxFor(t, acct)
	box.AfterImport = "keep"
	box.BatchSize = 50
	box.MaxMessageSize = 1 << 20
	box.PollInterval = config.Duration{Duration: time.Hour}
	return box
}

func supMail(n int, extra string) []byte {
	return fmt.Appendf(nil, "From: Erika <erika@example.org>\r\nTo: support@example.com\r\nSubject: m%d\r\nMessage-ID: <m%d@example.org>\r\n\r\nBody %d %s\r\n", n, n, n, extra)
}

func checkpointUID(t *testing.T, db *store.DB) uint32 {
	t.Helper()
	var cp store.Checkpoint
	if err := db.View(func(tx *store.Tx) (err error) { cp, _, err = tx.Checkpoint("support"); return err }); err != nil {
		t.Fatal(err)
	}
	return cp.LastUID
}

// TestEmptyBodyIsRetried: a server that announces a mail with RFC822.SIZE
// but sends it without content makes a temporary error for that mail: it
// is neither stored empty nor skipped, the batch is not committed past it,
// and it is fetched again (with backoff) until the content comes.
func TestEmptyBodyIsRetried(t *testing.T) {
	srv := mailtest.MemIMAP(t, nil)
	srv.Append(t, "INBOX", supMail(1, ""))
	bad := srv.Append(t, "INBOX", supMail(2, "EMPTY-ME"))
	last := srv.Append(t, "INBOX", supMail(3, ""))
	proxy := mailtest.NewProxy(t, srv.Addr)
	proxy.EmptyBodyOn("EMPTY-ME", 2) // twice empty, then the server recovers
	log, records := newCapture()
	c := newClock(0)
	s, d, db := runSupervisor(t, supervisedBox(t, &mailtest.Account{Addr: proxy.Addr, Username: srv.Username, Password: srv.Password}), log, c)

	// The deliverer records a batch in Committed, just after the commit
	// that moves the checkpoint: wait for both.
	mailtest.WaitFor(t, 20*time.Second, "every mail imported", func() bool { return checkpointUID(t, db) >= last && len(d.mails()) >= 3 })
	got := d.mails()
	var uids []uint32
	for _, m := range got {
		uids = append(uids, m.uid)
		if m.size <= 0 || m.failed != "" {
			t.Errorf("uid %d delivered empty or failed: %+v", m.uid, m)
		}
	}
	if !slices.Equal(uids, []uint32{1, 2, 3}) {
		t.Errorf("delivered uids %v, want [1 2 3], each once", uids)
	}
	st := s.Status()
	if st.EmptyFetches != 2 || st.FetchRetries < 2 {
		t.Errorf("Status: EmptyFetches %d, FetchRetries %d; want 2 and at least 2", st.EmptyFetches, st.FetchRetries)
	}
	warned := 0
	for _, r := range records() {
		if r.level == slog.LevelWarn && strings.Contains(r.msg, "empty body") {
			warned++
			if r.attrs["mailbox"] != "support" || r.attrs["uid"] != fmt.Sprint(bad) {
				t.Errorf("warning without mailbox and uid: %+v", r)
			}
		}
	}
	if warned != 2 {
		t.Errorf("%d warnings about the empty body, want 2", warned)
	}
	if n := len(c.backoffs()); n < 2 {
		t.Errorf("%d reconnects, want the retries to back off", n)
	}
}

// TestEmptyBodyIsQuarantinedAtLast: a mail that keeps coming empty is
// quarantined after the poison-mail rule (three failed fetches), with a
// reason that says what happened, and the mailbox goes on.
func TestEmptyBodyIsQuarantinedAtLast(t *testing.T) {
	srv := mailtest.MemIMAP(t, nil)
	srv.Append(t, "INBOX", supMail(1, ""))
	bad := srv.Append(t, "INBOX", supMail(2, "EMPTY-ME"))
	last := srv.Append(t, "INBOX", supMail(3, ""))
	proxy := mailtest.NewProxy(t, srv.Addr)
	proxy.EmptyBodyOn("EMPTY-ME", -1)
	log, _ := newCapture()
	s, d, db := runSupervisor(t, supervisedBox(t, &mailtest.Account{Addr: proxy.Addr, Username: srv.Username, Password: srv.Password}), log, newClock(0))

	mailtest.WaitFor(t, 20*time.Second, "every mail handled", func() bool { return checkpointUID(t, db) >= last && len(d.mails()) >= 3 })
	got := d.mails()
	if len(got) != 3 {
		t.Fatalf("delivered %+v, want 3 mails", got)
	}
	q := got[1]
	if q.uid != bad || q.size != -1 || !strings.Contains(q.failed, "announced") || !strings.Contains(q.failed, "empty body, 3 times") {
		t.Errorf("the empty mail came as %+v, want a failed mail with the reason", q)
	}
	if got[0].size <= 0 || got[2].size <= 0 {
		t.Errorf("the good mails: %+v", got)
	}
	// Once in the first batch of three, then three times alone.
	if st := s.Status(); st.EmptyFetches != 4 {
		t.Errorf("EmptyFetches = %d, want 4", st.EmptyFetches)
	}
}

// TestLoginRefused: a wrong password is an ERROR that names the mailbox and
// the server's response code (never the password), the retries back off
// exponentially, and Status shows the mailbox unhealthy until a login succeeds.
func TestLoginRefused(t *testing.T) {
	srv := mailtest.MemIMAP(t, nil)
	srv.Append(t, "INBOX", supMail(1, ""))
	box := supervisedBox(t, &srv.Account)
	const wrong = "Wr0ng-Passw0rd"
	box.Password = wrong
	log, records := newCapture()
	c := newClock(5) // the fifth wait holds until the password is fixed
	s, d, db := runSupervisor(t, box, log, c)

	select {
	case <-c.held:
	case <-time.After(20 * time.Second):
		t.Fatal("no fifth reconnect attempt")
	}
	st := s.Status()
	if st.Connected || st.AuthFailures != 5 || !strings.HasPrefix(st.LastError, "authentication failed [AUTHENTICATIONFAILED]") {
		t.Errorf("Status = %+v, want not connected, 5 auth failures, last error authentication failed", st)
	}
	// Backoff 1s, 2s, 4s, 4s, 4s (MaxBackoff), each ±20%.
	for i, d := range c.backoffs() {
		want := min(time.Second<<i, 4*time.Second)
		if d < want*8/10 || d > want*12/10 {
			t.Errorf("wait %d = %v, want about %v", i+1, d, want)
		}
	}
	errs := 0
	for _, r := range records() {
		for k, v := range r.attrs {
			if strings.Contains(v, wrong) {
				t.Errorf("the password is in the log: %s=%q", k, v)
			}
		}
		if strings.Contains(r.msg, "login") {
			if r.level != slog.LevelError || r.attrs["mailbox"] != "support" || r.attrs["code"] != "AUTHENTICATIONFAILED" {
				t.Errorf("login failure logged as %v %q %v; want ERROR with mailbox and code", r.level, r.msg, r.attrs)
			}
			errs++
		}
	}
	if errs != 5 {
		t.Errorf("%d login failures logged, want 5", errs)
	}

	box.Password = srv.Password // read by the supervisor only after the held wait ends
	c.release <- time.Time{}
	mailtest.WaitFor(t, 20*time.Second, "the mailbox connected", func() bool { return s.Status().Connected })
	mailtest.WaitFor(t, 20*time.Second, "the mail imported", func() bool { return len(d.mails()) == 1 })
	if st := s.Status(); st.AuthFailures != 0 {
		t.Errorf("after a good login: AuthFailures = %d", st.AuthFailures)
	}
	_ = db
}
