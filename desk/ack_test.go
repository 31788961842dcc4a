package desk

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"ticketd/config"
	"ticketd/consent"
	"ticketd/mail"
	"ticketd/mail/mailtest"
	"ticketd/mail/mime"
	"ticketd/store"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fileDesk is a Desk on a fresh store with a fixed clock, fed by Ingest.
type fileDesk struct {
	t   *testing.T
	db  *store.DB
	d   *Desk
	now time.Time
}

func newFileDesk(t *testing.T, mutate ...func(*config.Config)) *fileDesk {
	t.Helper()
	cfg := testConfig(t, &mailtest.Account{Addr: "127.0.0.1:1"})
	for _, m := range mutate {
		m(cfg)
	}
	return openFileDesk(t, cfg)
}

// openFileDesk is a desk with cfg over a fresh store in cfg's data_dir.
func openFileDesk(t *testing.T, cfg *config.Config) *fileDesk {
	t.Helper()
	fd := &fileDesk{t: t, now: time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)}
	db, err := store.Open(cfg.Server.DataDir, store.Options{Now: func() time.Time { return fd.now }, MasterKeyFile: cfg.Server.MasterKeyFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fd.db = db
	if fd.d, err = New(db, cfg, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	return fd
}

// ingest stores raw as if it came into mailbox "support".
func (fd *fileDesk) ingest(raw []byte) Outcome {
	fd.t.Helper()
	f, err := mail.ReadFetched(bytes.NewReader(raw), fd.t.TempDir(), 1<<20)
	if err != nil {
		fd.t.Fatal(err)
	}
	out, err := fd.d.Ingest(context.Background(), f, "support", false)
	if err != nil {
		fd.t.Fatal(err)
	}
	return out
}

func (fd *fileDesk) ticket(n uint64) *store.Ticket {
	var tk *store.Ticket
	fd.db.View(func(tx *store.Tx) (err error) { tk, err = tx.Ticket(n); return err })
	return tk
}

func (fd *fileDesk) outbox() []*store.OutboxItem {
	var out []*store.OutboxItem
	fd.db.View(func(tx *store.Tx) error {
		return tx.Outbox(func(it *store.OutboxItem) bool { out = append(out, it); return true })
	})
	return out
}

var (
	reMsgID    = regexp.MustCompile(`ticketd\.(\d+)\.[a-z0-9]{12}@`)
	reBoundary = regexp.MustCompile(`ticketd-[0-9a-f]{24}`)
	reToken    = regexp.MustCompile(`/consent/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`)
	reInstance = regexp.MustCompile(`(?m)^(X-Ticketd-Loop:) \S+$`)
)

// ackGolden is an acknowledgement as a golden file shows it: the header as
// sent and both parts decoded, with the random parts (Message-ID, boundary,
// instance id, consent token) replaced.
func ackGolden(t *testing.T, raw []byte) string {
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	msg, err := mime.Parse(bytes.NewReader(raw), discard{}, mime.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(head), "\r\n", "\n") + "\n\n--- text/plain ---\n" + msg.Text + "\n--- text/html ---\n" + msg.HTML + "\n"
	s = reMsgID.ReplaceAllString(s, "ticketd.$1.RANDOM@")
	s = reBoundary.ReplaceAllString(s, "ticketd-BOUNDARY")
	s = reInstance.ReplaceAllString(s, "$1 INSTANCE")
	return reToken.ReplaceAllString(s, "/consent/TOKEN")
}

type discard struct{}

func (discard) Put(r io.Reader) (string, int64, error) {
	n, err := io.Copy(io.Discard, r)
	return strings.Repeat("0", 64), n, err
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (run with -update and review the diff):\n%s", name, got)
	}
}

func TestAcknowledgementGolden(t *testing.T) {
	for _, tc := range []struct{ lang, raw string }{
		{"de", "From: =?UTF-8?Q?J=C3=B6rg_M=C3=BCller?= <joerg@example.org>\r\nTo: support@example.com\r\nSubject: Drucker druckt nicht\r\n" +
			"Message-ID: <de1@example.org>\r\nContent-Language: de-DE\r\n\r\nGuten Tag, der Drucker druckt nicht.\r\n"},
		{"en", "From: Ann Smith <ann@example.com>\r\nTo: support@example.com\r\nSubject: Cannot log in\r\n" +
			"Message-ID: <en1@example.com>\r\nReferences: <older@example.com>\r\n\r\nHello, I cannot log in to the portal since this morning. Please help, thanks.\r\n"},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			fd := newFileDesk(t)
			out := fd.ingest([]byte(tc.raw))
			if !out.NewTicket || !out.AckQueued {
				t.Fatalf("outcome = %+v", out)
			}
			items := fd.outbox()
			if len(items) != 1 {
				t.Fatalf("%d outbox items", len(items))
			}
			it := items[0]
			golden(t, "ack-"+tc.lang+".golden", ackGolden(t, it.Raw))

			tk := fd.ticket(out.Ticket)
			a := tk.Ack
			if a == nil || a.Status != "queued" || a.Language != tc.lang || a.OutboxID != it.ID || a.MessageID != it.MessageID || len(a.NoticeHash) != 64 {
				t.Fatalf("ticket ack = %+v", a)
			}
			if tk.Purpose != "support" || tk.Language != tc.lang {
				t.Errorf("ticket purpose %q language %q", tk.Purpose, tk.Language)
			}
			// The consent link verifies with the data dir's key and is recorded.
			signer, err := consent.LoadKey(fd.db.Dir())
			if err != nil {
				t.Fatal(err)
			}
			msg, _ := mime.Parse(bytes.NewReader(it.Raw), discard{}, mime.ParseOptions{})
			tok := strings.TrimPrefix(reToken.FindString(msg.Text), "/consent/")
			claims, err := signer.Verify(tok, fd.now)
			if err != nil || claims.Ticket != tk.Number || claims.Purpose != "support" || claims.ID != a.ConsentID {
				t.Fatalf("consent token %q: %+v, %v", tok, claims, err)
			}
			fd.db.View(func(tx *store.Tx) error {
				rec, err := tx.ConsentTokenRecord(claims.ID)
				if err != nil || rec.NoticeHash != a.NoticeHash || rec.Person != tk.RequesterID {
					t.Errorf("consent record = %+v, %v", rec, err)
				}
				return nil
			})
			// A reply to the acknowledgement threads into the ticket.
			reply := fd.ingest([]byte("From: " + msg.To[0].Email + "\r\nSubject: Re: " + msg.Subject + "\r\nMessage-ID: <r-" + tc.lang + "@example.org>\r\n" +
				"In-Reply-To: <" + it.MessageID + ">\r\n\r\nDanke / thanks\r\n"))
			if reply.NewTicket || reply.Ticket != tk.Number || reply.AckQueued {
				t.Errorf("reply to the acknowledgement: %+v", reply)
			}
		})
	}
}

func TestAcknowledgementSuppressed(t *testing.T) {
	for _, tc := range []struct {
		name, raw, reason string
	}{
		{"out of office", "From: Max <max@example.org>\r\nSubject: Automatische Antwort: Ihre Anfrage\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <oof@example.org>\r\n\r\nIch bin bis Montag nicht im Büro.\r\n", "Auto-Submitted"},
		{"mailing list", "From: news@lists.example.org\r\nSubject: [list] digest\r\nList-Id: <news.lists.example.org>\r\nPrecedence: list\r\nMessage-ID: <l@example.org>\r\n\r\nx\r\n", "List-Id"},
		{"bounce", "From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\r\nSubject: Undelivered Mail Returned to Sender\r\nReturn-Path: <>\r\nMessage-ID: <b@mx.example.org>\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nThis is the mail system.\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient: rfc822; x@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n--b--\r\n", "bounce"},
		{"no-reply sender", "From: Shop <noreply@shop.example>\r\nSubject: Ihre Bestellung\r\nMessage-ID: <n@shop.example>\r\n\r\nx\r\n", "no-reply"},
		{"our own address", "From: Support <SUPPORT@example.com>\r\nSubject: test\r\nMessage-ID: <o@example.com>\r\n\r\nx\r\n", "own address"},
		{"loop header", "From: helpdesk@other.example\r\nSubject: [#7] hello\r\nX-Ticketd-Loop: abc\r\nMessage-ID: <h@other.example>\r\n\r\nx\r\n", "X-Ticketd-Loop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fd := newFileDesk(t)
			out := fd.ingest([]byte(tc.raw))
			if !out.NewTicket || out.AckQueued || !strings.Contains(out.AckReason, tc.reason) {
				t.Fatalf("outcome = %+v, want a ticket with the acknowledgement suppressed for %q", out, tc.reason)
			}
			if a := fd.ticket(out.Ticket).Ack; a == nil || a.Status != "suppressed" || a.Reason != out.AckReason {
				t.Errorf("ticket ack = %+v", a)
			}
			if n := len(fd.outbox()); n != 0 {
				t.Errorf("%d mails queued", n)
			}
		})
	}
}

func TestAcknowledgementRateLimit(t *testing.T) {
	fd := newFileDesk(t)
	raw := func(i int) []byte {
		return fmt.Appendf(nil, "From: flood@example.org\r\nSubject: Anfrage %d\r\nMessage-ID: <f%d@example.org>\r\n\r\nHilfe\r\n", i, i)
	}
	for i := range 5 {
		if out := fd.ingest(raw(i)); !out.AckQueued {
			t.Fatalf("mail %d: %+v", i, out)
		}
	}
	out := fd.ingest(raw(5))
	if out.AckQueued || !strings.Contains(out.AckReason, "rate limit") {
		t.Fatalf("sixth mail within the hour: %+v", out)
	}
	fd.now = fd.now.Add(61 * time.Minute) // the window has passed
	if out := fd.ingest(raw(6)); !out.AckQueued {
		t.Errorf("after the window: %+v", out)
	}
}

func TestAcknowledgementSilentAndDisabled(t *testing.T) {
	fd := newFileDesk(t, func(c *config.Config) { c.Acknowledgement.Enabled = new(bool) })
	if out := fd.ingest([]byte("From: a@example.org\r\nSubject: x\r\nMessage-ID: <d@example.org>\r\n\r\nx\r\n")); out.AckQueued || !strings.Contains(out.AckReason, "disabled") {
		t.Errorf("disabled: %+v", out)
	}
	fd = newFileDesk(t)
	f, _ := mail.ReadFetched(strings.NewReader("From: a@example.org\r\nSubject: x\r\nMessage-ID: <s@example.org>\r\n\r\nx\r\n"), t.TempDir(), 1<<20)
	out, err := fd.d.Ingest(context.Background(), f, "support", true)
	if err != nil || out.AckQueued || !strings.Contains(out.AckReason, "silent") {
		t.Errorf("silent: %+v %v", out, err)
	}
}

// Two ticketd instances whose support addresses write to each other: A's
// acknowledgement lands in B's mailbox, B makes a ticket and stays quiet.
func TestTwoInstancesDoNotLoop(t *testing.T) {
	a := newFileDesk(t)
	b := newFileDesk(t, func(c *config.Config) {
		c.SMTP.From = "helpdesk@other.example"
		c.Mailboxes[0].Address = "helpdesk@other.example"
	})
	// B's acknowledgement of a customer mail goes to A's support address (the
	// "customer" was A), and A's acknowledgement back to B.
	out := b.ingest([]byte("From: Support <support@example.com>\r\nSubject: Frage\r\nMessage-ID: <q@example.com>\r\n\r\nHallo\r\n"))
	if !out.NewTicket {
		t.Fatalf("B: %+v", out)
	}
	// B must not answer our own address... but the mail came from A's address,
	// which B does not know as its own: it acknowledges once.
	if !out.AckQueued {
		t.Fatalf("B did not acknowledge a first mail from another system: %+v", out)
	}
	ackFromB := b.outbox()[0].Raw
	outA := a.ingest(ackFromB)
	if !outA.NewTicket || outA.AckQueued {
		t.Fatalf("A answered B's acknowledgement: %+v", outA)
	}
	if n := len(a.outbox()); n != 0 {
		t.Errorf("A queued %d mails", n)
	}
}

func TestOldMailGetsNoAcknowledgement(t *testing.T) {
	acct := server(t)
	acct.Append(t, "INBOX", msg{Subject: "alt", MessageID: "old@example.org"}.raw())
	h := newHarness(t, acct)
	h.start()
	h.waitSettled(1)
	uid := acct.Append(t, "INBOX", msg{From: "neu@example.org", Subject: "neu", MessageID: "new@example.org"}.raw())
	h.waitSettled(uid)
	tks := h.tickets()
	if len(tks) != 2 {
		t.Fatalf("%d tickets", len(tks))
	}
	if a := tks[0].Ack; a == nil || a.Status != "suppressed" || !strings.Contains(a.Reason, "before ticketd first read it") {
		t.Errorf("old mail: ack %+v", a)
	}
	if a := tks[1].Ack; a == nil || a.Status != "queued" {
		t.Errorf("new mail: ack %+v", a)
	}
}

// relayFor is the SMTP server acknowledgements go to: an in-process sink, or
// a private Postfix under make interop. msgs returns what it accepted.
func relayFor(t testing.TB) (addr string, msgs func(n int) [][]byte) {
	if mailtest.Interop() {
		p := mailtest.StartPostfix(t)
		return p.Addr, func(n int) [][]byte { return p.WaitMessages(t, n, 20*time.Second) }
	}
	s := mailtest.StartSMTPSink(t)
	return s.Addr, func(n int) [][]byte {
		var out [][]byte
		for _, m := range s.WaitMsgs(t, n, 20*time.Second) {
			out = append(out, m.Data)
		}
		return out
	}
}

func TestAcknowledgementEndToEnd(t *testing.T) {
	acct := server(t)
	relay, relayed := relayFor(t)
	h := newHarness(t, acct)
	h.relay = relay
	h.start()
	h.waitConnected() // what comes now is new mail
	acct.Append(t, "INBOX", msg{From: "Erika Mustermann <erika@example.org>", Subject: "Rechnung doppelt",
		MessageID: "e2e@example.org", Extra: "Content-Language: de\r\n", Body: "Guten Tag, die Rechnung wurde doppelt abgebucht."}.raw())
	raw := relayed(1)[0]
	got, err := mime.Parse(bytes.NewReader(raw), discard{}, mime.ParseOptions{KeepHeaders: mime.KeepHeaders})
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "[#1] Rechnung doppelt" || got.AutoSubmitted != "auto-replied" || got.ContentLanguage != "de" ||
		len(got.InReplyTo) != 1 || got.InReplyTo[0] != "e2e@example.org" || !strings.Contains(got.Text, "Datenschutzhinweise") {
		t.Errorf("acknowledgement as relayed: subject %q auto-submitted %q lang %q in-reply-to %v", got.Subject, got.AutoSubmitted, got.ContentLanguage, got.InReplyTo)
	}
	mailtest.WaitFor(t, 10*time.Second, "outbox item sent", func() bool {
		var it *store.OutboxItem
		h.db.View(func(tx *store.Tx) (err error) { it, err = tx.OutboxItem(1); return err })
		return it != nil && it.Status == store.OutboxSent
	})
	// The acknowledgement mailed back (a customer's auto-forward) threads into
	// its ticket and makes no second one.
	acct.Append(t, "INBOX", raw)
	h.waitMessages(2)
	if tks := h.tickets(); len(tks) != 1 || tks[0].Messages != 2 {
		t.Fatalf("tickets = %+v", tks)
	}
	h.db.View(func(tx *store.Tx) error {
		if _, err := tx.OutboxItem(2); err == nil {
			t.Error("a second acknowledgement was queued")
		}
		return nil
	})
}
