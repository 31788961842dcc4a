package desk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ticketd/config"
	"ticketd/config/configtest"
	"ticketd/mail"
	"ticketd/mail/imap"
	"ticketd/mail/mailtest"
	"ticketd/mail/smtp"
	"ticketd/store"
)

// server is the IMAP account a test imports from: the in-process imapmemserver,
// or a private Dovecot under make interop (TICKETD_INTEROP=1).
func server(t testing.TB) *mailtest.Account {
	t.Helper()
	if mailtest.Interop() {
		d := mailtest.StartDovecot(t)
		return &mailtest.Account{Addr: d.Addr, Username: d.Username, Password: d.Password}
	}
	return &mailtest.MemIMAP(t, nil).Account
}

// testTOML is what the desk tests change in the base configuration; the verbs are
// the IMAP host and port.
const testTOML = `
[server]
data_dir = "data"
language = "de"

[controller]
dpo = "Dr. Erika Muster, dsb@example.com"
authority = "Berliner Beauftragte für Datenschutz und Informationsfreiheit, Alt-Moabit 59-61, 10555 Berlin"

[smtp]
host = "127.0.0.1"
tls = "none"

[[mailbox]]
name = "support"
address = "support@example.com"
host = %q
port = %d
tls = "none"
username = "support"
password_file = "imap.pass"
queue = "support"
poll_interval = "1s"
batch_size = 50
command_timeout = "5s"

[[purpose]]
name = "support"
description = { de = "Bearbeitung Ihrer Anfrage", en = "Handling your request" }
legal_basis = "contract"
retention = "2y"
recipients = ["Example Hosting GmbH (mail hosting, processor)"]
transfers = []
required = { de = "Ohne Ihre Adresse können wir nicht antworten.", en = "Without your address we cannot answer." }
`

// testConfig is a valid configuration with one mailbox on acct, parsed as
// ticketd parses a file, then changed by mutate.
func testConfig(t testing.TB, acct *mailtest.Account, mutate ...func(*config.Mailbox)) *config.Config {
	t.Helper()
	host, port := splitAddr(t, acct.Addr)
	cfg := configtest.Parse(t, fmt.Sprintf(testTOML, host, port))
	cfg.Server.DataDir, cfg.Server.MasterKeyFile = t.TempDir(), filepath.Join(t.TempDir(), "master.key")
	box := &cfg.Mailboxes[0]
	box.Username, box.Password = acct.Username, acct.Password
	for _, m := range mutate {
		m(box)
	}
	return cfg
}

func splitAddr(t testing.TB, addr string) (string, int) {
	t.Helper()
	i := strings.LastIndexByte(addr, ':')
	var port int
	if _, err := fmt.Sscan(addr[i+1:], &port); err != nil {
		t.Fatal(err)
	}
	return addr[:i], port
}

// harness runs one mailbox supervisor over a store, like ticketd run does.
type harness struct {
	t      testing.TB
	cfg    *config.Config
	acct   *mailtest.Account
	db     *store.DB
	desk   *Desk
	sup    *imap.Supervisor
	cancel context.CancelFunc
	done   chan error
	// hook, when set before start, runs between commit and after_import.
	hook func() error
	// relay, when set before start, is the SMTP server an outbox sends to.
	relay string
	// sent observes each outbox send (when it returned and its error).
	sent func(to []string, err error)
}

// observed wraps a Submitter to report each send.
type observed struct {
	smtp.Submitter
	fn func(to []string, err error)
}

func (o observed) Send(ctx context.Context, from string, to []string, msg []byte) error {
	err := o.Submitter.Send(ctx, from, to, msg)
	if o.fn != nil {
		o.fn(to, err)
	}
	return err
}

func newHarness(t testing.TB, acct *mailtest.Account, mutate ...func(*config.Mailbox)) *harness {
	return &harness{t: t, cfg: testConfig(t, acct, mutate...), acct: acct}
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// start opens the store and runs the supervisor until stop.
func (h *harness) start() {
	h.t.Helper()
	db, err := store.Open(h.cfg.Server.DataDir, store.Options{MasterKeyFile: h.cfg.Server.MasterKeyFile})
	if err != nil {
		h.t.Fatal(err)
	}
	h.db = db
	log := testLogger(h.t)
	h.desk, err = New(db, h.cfg, log)
	if err != nil {
		h.t.Fatal(err)
	}
	spool := filepath.Join(h.cfg.Server.DataDir, "spool")
	os.MkdirAll(spool, 0o700)
	h.sup = &imap.Supervisor{Box: &h.cfg.Mailboxes[0], DB: db, Deliver: h.desk, Log: log, SpoolDir: spool,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, BeforeAfterImport: h.hook}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 2)
	if h.relay != "" {
		host, port := splitAddr(h.t, h.relay)
		h.cfg.SMTP.Host, h.cfg.SMTP.Port = host, port
		ob := &smtp.Outbox{DB: db, Log: log, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
			Send: observed{smtp.NewSender(&h.cfg.SMTP, "help.example.com", log), h.sent}}
		h.desk.Wake = ob.Wake
		go func() { h.done <- ob.Run(ctx) }()
	}
	go func() { h.done <- h.sup.Run(ctx) }()
	h.t.Cleanup(h.stop)
}

// stop cancels the supervisor, waits for it and closes the store.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	runs := 1
	if h.relay != "" {
		runs = 2
	}
	for range runs {
		select {
		case err := <-h.done:
			if !errors.Is(err, mail.ErrStopped) {
				h.t.Errorf("supervisor or outbox returned %v", err)
			}
		case <-time.After(20 * time.Second):
			h.t.Error("supervisor or outbox did not stop within 20s")
		}
	}
	h.cancel = nil
	h.db.Close()
}

func (h *harness) tickets() []*store.Ticket {
	h.t.Helper()
	var out []*store.Ticket
	if err := h.db.View(func(tx *store.Tx) error {
		return tx.Tickets(func(tk *store.Ticket) bool { out = append(out, tk); return true })
	}); err != nil {
		h.t.Fatal(err)
	}
	return out
}

func (h *harness) messages(ticket uint64) []*store.Message {
	h.t.Helper()
	var out []*store.Message
	if err := h.db.View(func(tx *store.Tx) (err error) { out, err = tx.TicketMessages(ticket); return err }); err != nil {
		h.t.Fatal(err)
	}
	return out
}

func (h *harness) quarantined() []*store.Quarantine {
	h.t.Helper()
	var out []*store.Quarantine
	if err := h.db.View(func(tx *store.Tx) error {
		return tx.Quarantined(func(q *store.Quarantine) bool { out = append(out, q); return true })
	}); err != nil {
		h.t.Fatal(err)
	}
	return out
}

func (h *harness) checkpoint() store.Checkpoint {
	h.t.Helper()
	var cp store.Checkpoint
	if err := h.db.View(func(tx *store.Tx) (err error) { cp, _, err = tx.Checkpoint("support"); return err }); err != nil {
		h.t.Fatal(err)
	}
	return cp
}

// totalMessages counts stored messages over all tickets.
func (h *harness) totalMessages() int {
	n := 0
	for _, tk := range h.tickets() {
		n += tk.Messages
	}
	return n
}

// waitMessages waits until n messages are stored (not more: the caller checks).
func (h *harness) waitMessages(n int) {
	h.t.Helper()
	mailtest.WaitFor(h.t, 20*time.Second, fmt.Sprintf("%d stored messages", n), func() bool { return h.totalMessages() >= n })
}

// waitConnected waits until the supervisor has selected the folder and
// recorded where new mail starts.
func (h *harness) waitConnected() {
	h.t.Helper()
	mailtest.WaitFor(h.t, 20*time.Second, "the mailbox connected", func() bool { return h.sup.Status().Connected })
}

// waitSettled waits until the checkpoint has reached lastUID with nothing pending.
func (h *harness) waitSettled(lastUID uint32) {
	h.t.Helper()
	mailtest.WaitFor(h.t, 60*time.Second, fmt.Sprintf("checkpoint at uid %d", lastUID), func() bool {
		cp := h.checkpoint()
		return cp.LastUID >= lastUID && len(cp.Pending) == 0
	})
}

// msg builds a small mail.
type msg struct {
	From, Subject, MessageID, InReplyTo, References, Body, Extra string
}

func (m msg) raw() []byte {
	if m.From == "" {
		m.From = "Erika Mustermann <erika@example.org>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: support@example.com\r\nSubject: %s\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n", m.From, m.Subject)
	if m.MessageID != "" {
		fmt.Fprintf(&b, "Message-ID: <%s>\r\n", m.MessageID)
	}
	if m.InReplyTo != "" {
		fmt.Fprintf(&b, "In-Reply-To: <%s>\r\n", m.InReplyTo)
	}
	if m.References != "" {
		fmt.Fprintf(&b, "References: %s\r\n", m.References)
	}
	b.WriteString(m.Extra)
	fmt.Fprintf(&b, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n", m.Body)
	return []byte(b.String())
}
