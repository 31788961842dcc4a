package desk

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"ticketd/config"
	"ticketd/mail/mailtest"
	"ticketd/store"
)

func TestNewMailBecomesTicket(t *testing.T) {
	acct := server(t)
	uid := acct.Append(t, "INBOX", msg{Subject: "Drucker kaputt", MessageID: "a1@example.org", Body: "Hallo, der Drucker druckt nicht."}.raw())
	h := newHarness(t, acct)
	h.start()
	h.waitSettled(uid)

	tks := h.tickets()
	if len(tks) != 1 {
		t.Fatalf("got %d tickets, want 1", len(tks))
	}
	tk := tks[0]
	if tk.Subject != "Drucker kaputt" || tk.Status != store.StatusNew || tk.Queue != "support" || tk.Messages != 1 {
		t.Errorf("ticket = %+v", tk)
	}
	o := tk.Origin
	if o.Channel != "email" || o.Mailbox != "support" || o.MessageID != "a1@example.org" || o.UID != uid ||
		o.ReceivedAt.IsZero() || o.StoredAt.IsZero() || o.UIDValidity == 0 {
		t.Errorf("origin = %+v", o)
	}
	m := h.messages(tk.Number)[0]
	if m.From.Email != "erika@example.org" || m.From.Name != "Erika Mustermann" || !strings.Contains(m.Text, "Drucker druckt nicht") {
		t.Errorf("message = %+v", m)
	}
	if m.ContentHash == "" || m.Origin.UID != uid {
		t.Errorf("message origin = %+v hash %q", m.Origin, m.ContentHash)
	}
	// after_import = seen: flagged only after the commit.
	mails := acct.Folder(t, "INBOX")
	if len(mails) != 1 || !mails[0].Seen() {
		t.Errorf("INBOX after import = %+v, want one \\Seen mail", mails)
	}
	if n, err := h.db.VerifyAudit(); err != nil || n == 0 {
		t.Errorf("audit verify: %d events, %v", n, err)
	}
}

func TestReplyThreading(t *testing.T) {
	acct := server(t)
	h := newHarness(t, acct)
	h.start()
	acct.Append(t, "INBOX", msg{Subject: "Login geht nicht", MessageID: "q1@example.org", Body: "Hilfe"}.raw())
	h.waitMessages(1)
	first := h.tickets()[0].Number

	// In-Reply-To, References, and a subject tag from the same person all thread.
	acct.Append(t, "INBOX", msg{Subject: "Re: Login geht nicht", MessageID: "q2@example.org", InReplyTo: "q1@example.org", Body: "noch da"}.raw())
	acct.Append(t, "INBOX", msg{Subject: "Re: Re: Login", MessageID: "q3@example.org", References: "<zz@unknown> <q2@example.org>", Body: "und jetzt"}.raw())
	acct.Append(t, "INBOX", msg{Subject: fmt.Sprintf("Nachtrag [#%d]", first), MessageID: "q4@example.org", Body: "Screenshot"}.raw())
	h.waitMessages(4)
	// A stranger quoting the ticket number gets a ticket of their own.
	acct.Append(t, "INBOX", msg{From: "mallory@example.net", Subject: fmt.Sprintf("[#%d] let me in", first), MessageID: "m1@example.net", Body: "x"}.raw())
	// Empty and missing Message-IDs never match anything.
	acct.Append(t, "INBOX", msg{From: "a@example.net", Subject: "no id", Body: "x"}.raw())
	acct.Append(t, "INBOX", msg{From: "b@example.net", Subject: "empty reply", Extra: "In-Reply-To: <>\r\nReferences: \r\n", Body: "x"}.raw())
	h.waitMessages(7)

	tks := h.tickets()
	if len(tks) != 4 {
		t.Fatalf("got %d tickets, want 4: %+v", len(tks), tks)
	}
	msgs := h.messages(first)
	var how []string
	for _, m := range msgs {
		how = append(how, m.ThreadedBy)
	}
	if want := []string{"", "in-reply-to", "references", "subject-tag"}; !slices.Equal(how, want) {
		t.Errorf("threaded by %q, want %q", how, want)
	}
	for _, tk := range tks[1:] {
		if tk.Messages != 1 {
			t.Errorf("ticket %d %q has %d messages, want its own ticket", tk.Number, tk.Subject, tk.Messages)
		}
	}
}

func TestMailAlreadyReadIsImported(t *testing.T) {
	acct := server(t)
	acct.Append(t, "INBOX", msg{Subject: "gelesen", MessageID: "r1@example.org"}.raw(), imap.FlagSeen)
	uid := acct.Append(t, "INBOX", msg{Subject: "ungelesen", MessageID: "r2@example.org"}.raw())
	h := newHarness(t, acct, func(b *config.Mailbox) { b.AfterImport = "keep" })
	h.start()
	h.waitSettled(uid)
	if got := len(h.tickets()); got != 2 {
		t.Fatalf("got %d tickets, want 2 (read mail is imported too)", got)
	}
	// after_import = keep leaves the flags as they were (BODY.PEEK).
	for _, m := range acct.Folder(t, "INBOX") {
		if m.Seen() != (m.UID != uid) {
			t.Errorf("uid %d seen=%v after import with keep", m.UID, m.Seen())
		}
	}
}

func TestRestartWithoutDuplicates(t *testing.T) {
	acct := server(t)
	for i := range 3 {
		acct.Append(t, "INBOX", msg{Subject: fmt.Sprintf("m%d", i), MessageID: fmt.Sprintf("r%d@example.org", i)}.raw())
	}
	h := newHarness(t, acct, func(b *config.Mailbox) { b.AfterImport = "keep" })
	h.start()
	h.waitSettled(3)
	h.stop()

	uid := acct.Append(t, "INBOX", msg{Subject: "m3", MessageID: "r3@example.org"}.raw())
	h.start()
	h.waitSettled(uid)
	if got := len(h.tickets()); got != 4 {
		t.Fatalf("after restart: %d tickets, want 4", got)
	}
}

func TestCrashBetweenCommitAndAfterImport(t *testing.T) {
	acct := server(t)
	for i := range 3 {
		acct.Append(t, "INBOX", msg{Subject: fmt.Sprintf("m%d", i), MessageID: fmt.Sprintf("c%d@example.org", i)}.raw())
	}
	h := newHarness(t, acct, func(b *config.Mailbox) { b.AfterImport = "move"; b.MoveTo = "Processed" })
	crashed := make(chan struct{})
	var once atomic.Bool
	h.hook = func() error {
		if once.CompareAndSwap(false, true) {
			close(crashed)
			select {} // the process "dies" here: committed, nothing moved
		}
		return nil
	}
	h.start()
	<-crashed
	if got := len(h.tickets()); got != 3 {
		t.Fatalf("committed %d tickets before the crash, want 3", got)
	}
	if got := len(acct.Folder(t, "INBOX")); got != 3 {
		t.Fatalf("INBOX has %d mails after the crash, want 3 (nothing moved yet)", got)
	}
	if got := len(h.checkpoint().Pending); got != 3 {
		t.Fatalf("%d pending after_import actions recorded, want 3", got)
	}
	// Restart on the same data dir, as a new process would. The old supervisor
	// is wedged in the hook; it is abandoned with its store handle closed.
	h.cancel = nil
	h.db.Close()
	h2 := &harness{t: t, cfg: h.cfg, acct: acct}
	h2.start()
	h2.waitSettled(3)
	if got := len(h2.tickets()); got != 3 {
		t.Errorf("after restart: %d tickets, want 3 (no duplicates)", got)
	}
	mailtest.WaitFor(t, 10*time.Second, "mail moved to Processed", func() bool {
		return len(acct.Folder(t, "Processed")) == 3 && len(acct.Folder(t, "INBOX")) == 0
	})
}

func TestUIDValidityChangeRescansWithoutDuplicates(t *testing.T) {
	acct := server(t)
	acct.Create(t, "Support")
	var raws [][]byte
	for i := range 3 {
		raws = append(raws, msg{Subject: fmt.Sprintf("m%d", i), MessageID: fmt.Sprintf("v%d@example.org", i)}.raw())
		acct.Append(t, "Support", raws[i])
	}
	h := newHarness(t, acct, func(b *config.Mailbox) { b.Folder = "Support"; b.AfterImport = "keep" })
	h.start()
	h.waitSettled(3)
	old := h.checkpoint().UIDValidity
	h.stop()

	// The folder is recreated (a server migration): same mail, new UIDVALIDITY, plus one new mail.
	acct.Delete(t, "Support")
	acct.Create(t, "Support")
	for _, raw := range raws {
		acct.Append(t, "Support", raw)
	}
	uid := acct.Append(t, "Support", msg{Subject: "new", MessageID: "v9@example.org"}.raw())
	h.start()
	h.waitSettled(uid)
	if cp := h.checkpoint(); cp.UIDValidity == old {
		t.Fatalf("uidvalidity did not change (%d); the test did not test anything", old)
	}
	if got := len(h.tickets()); got != 4 {
		t.Errorf("after rescan: %d tickets, want 4", got)
	}
}

func TestConnectionDroppedMidFetch(t *testing.T) {
	acct := server(t)
	proxy := mailtest.NewProxy(t, acct.Addr)
	var last uint32
	for i := range 5 {
		body := strings.Repeat("Zeile mit Text. ", 2000)
		if i == 2 {
			body += "DROP-HERE" + body
		}
		last = acct.Append(t, "INBOX", msg{Subject: fmt.Sprintf("m%d", i), MessageID: fmt.Sprintf("d%d@example.org", i), Body: body}.raw())
	}
	proxy.DropOn("DROP-HERE", 1)
	h := newHarness(t, &mailtest.Account{Addr: proxy.Addr, Username: acct.Username, Password: acct.Password})
	h.start()
	h.waitSettled(last)
	if got := len(h.tickets()); got != 5 {
		t.Errorf("%d tickets, want 5", got)
	}
	if proxy.Accepted() < 2 {
		t.Errorf("the connection was not dropped and re-established (%d connections)", proxy.Accepted())
	}
	if q := h.quarantined(); len(q) != 0 {
		t.Errorf("a dropped connection quarantined mail: %+v", q)
	}
}

func TestServerStopsAnswering(t *testing.T) {
	acct := server(t)
	proxy := mailtest.NewProxy(t, acct.Addr)
	acct.Append(t, "INBOX", msg{Subject: "before", MessageID: "s1@example.org"}.raw())
	h := newHarness(t, &mailtest.Account{Addr: proxy.Addr, Username: acct.Username, Password: acct.Password},
		func(b *config.Mailbox) {
			b.CommandTimeout = config.Duration{Duration: 300 * time.Millisecond}
			b.IDLE = new(bool)
		})
	h.cfg.Mailboxes[0].PollInterval = config.Duration{Duration: 100 * time.Millisecond}
	h.start()
	h.waitSettled(1)
	proxy.Stall(true) // the server hangs: no reply to NOOP, no greeting for new connections
	before := proxy.Accepted()
	mailtest.WaitFor(t, 10*time.Second, "a reconnect attempt", func() bool { return proxy.Accepted() > before })
	uid := acct.Append(t, "INBOX", msg{Subject: "after", MessageID: "s2@example.org"}.raw())
	proxy.Stall(false)
	h.waitSettled(uid)
	if got := len(h.tickets()); got != 2 {
		t.Errorf("%d tickets, want 2", got)
	}
}

func TestPoisonMailIsQuarantinedBetweenGoodOnes(t *testing.T) {
	acct := server(t)
	acct.Create(t, "Quarantine")
	acct.Append(t, "INBOX", msg{Subject: "good 1", MessageID: "p1@example.org"}.raw())
	// No sender anywhere: cannot become a ticket.
	acct.Append(t, "INBOX", []byte("Subject: who am I\r\nMessage-ID: <p2@example.org>\r\n\r\nnobody sent this\r\n"))
	acct.Append(t, "INBOX", msg{Subject: "good 2", MessageID: "p3@example.org"}.raw())
	// A mail whose fetch always breaks the connection (as some server bugs do).
	acct.Append(t, "INBOX", msg{Subject: "kills the fetch", MessageID: "p4@example.org", Body: "POISON-MARKER"}.raw())
	last := acct.Append(t, "INBOX", msg{Subject: "good 3", MessageID: "p5@example.org"}.raw())
	proxy := mailtest.NewProxy(t, acct.Addr)
	proxy.DropOn("POISON-MARKER", -1)
	h := newHarness(t, &mailtest.Account{Addr: proxy.Addr, Username: acct.Username, Password: acct.Password},
		func(b *config.Mailbox) { b.QuarantineFolder = "Quarantine" })
	h.start()
	h.waitSettled(last)

	if got := len(h.tickets()); got != 3 {
		t.Errorf("%d tickets, want 3", got)
	}
	q := h.quarantined()
	if len(q) != 2 {
		t.Fatalf("%d quarantine records, want 2: %+v", len(q), q)
	}
	if !strings.Contains(q[0].Reason, "no sender") || q[0].Blob == "" {
		t.Errorf("quarantine 1 = %+v, want the no-sender reason and the raw mail kept", q[0])
	}
	if !strings.Contains(q[1].Reason, "fetching it failed repeatedly") {
		t.Errorf("quarantine 2 = %+v, want the fetch failure", q[1])
	}
	mailtest.WaitFor(t, 10*time.Second, "both in the quarantine folder", func() bool {
		return len(acct.Folder(t, "Quarantine")) == 2
	})
	for _, m := range acct.Folder(t, "INBOX") {
		if !m.Seen() {
			t.Errorf("uid %d not flagged \\Seen", m.UID)
		}
	}
}

func TestOversizeMailIsQuarantinedUnread(t *testing.T) {
	acct := server(t)
	acct.Append(t, "INBOX", msg{Subject: "big", MessageID: "b1@example.org", Body: strings.Repeat("x", 10000)}.raw())
	uid := acct.Append(t, "INBOX", msg{Subject: "small", MessageID: "b2@example.org"}.raw())
	h := newHarness(t, acct, func(b *config.Mailbox) { b.MaxMessageSize = 4096 })
	h.start()
	h.waitSettled(uid)
	q := h.quarantined()
	if len(q) != 1 || !strings.Contains(q[0].Reason, "larger than the limit") || q[0].Blob != "" || q[0].Size < 10000 {
		t.Fatalf("quarantine = %+v", q)
	}
	if got := len(h.tickets()); got != 1 {
		t.Errorf("%d tickets, want 1", got)
	}
}

func Test200MailsInOneMailbox(t *testing.T) {
	acct := server(t)
	var last uint32
	for i := range 200 {
		last = acct.Append(t, "INBOX", msg{From: fmt.Sprintf("kunde%d@example.org", i%37), Subject: fmt.Sprintf("Anfrage %d", i),
			MessageID: fmt.Sprintf("n%d@example.org", i), Body: "Bitte um Rückruf."}.raw())
	}
	h := newHarness(t, acct, func(b *config.Mailbox) { b.AfterImport = "move"; b.MoveTo = "Processed" })
	h.start()
	h.waitSettled(last)
	if got := len(h.tickets()); got != 200 {
		t.Errorf("%d tickets, want 200", got)
	}
	mailtest.WaitFor(t, 10*time.Second, "all moved", func() bool { return len(acct.Folder(t, "Processed")) == 200 })
	if n := len(acct.Folder(t, "INBOX")); n != 0 {
		t.Errorf("%d mails left in INBOX", n)
	}
}

func TestPollingWithoutIdleAndMoveFallback(t *testing.T) {
	if mailtest.Interop() {
		t.Skip("capability restriction needs the in-process server")
	}
	// IMAP4rev1 only: no MOVE, no UIDPLUS; idle = false forces polling.
	srv := mailtest.MemIMAP(t, imap.CapSet{imap.CapIMAP4rev1: {}})
	acct := &srv.Account
	h := newHarness(t, acct, func(b *config.Mailbox) {
		b.IDLE = new(bool)
		b.PollInterval = config.Duration{Duration: 50 * time.Millisecond}
		b.AfterImport, b.MoveTo = "move", "Processed"
	})
	h.start()
	h.waitSettled(0)
	uid := acct.Append(t, "INBOX", msg{Subject: "polled", MessageID: "poll1@example.org"}.raw())
	h.waitSettled(uid)
	mailtest.WaitFor(t, 10*time.Second, "moved by COPY+EXPUNGE", func() bool { return len(acct.Folder(t, "Processed")) == 1 })
}

func TestMoveCreatesMissingFolder(t *testing.T) {
	acct := server(t)
	uid := acct.Append(t, "INBOX", msg{Subject: "x", MessageID: "f1@example.org"}.raw())
	h := newHarness(t, acct, func(b *config.Mailbox) { b.AfterImport, b.MoveTo = "move", "Archive/Tickets" })
	h.start()
	h.waitSettled(uid)
	mailtest.WaitFor(t, 10*time.Second, "moved", func() bool { return len(acct.Folder(t, "Archive/Tickets")) == 1 })
}

func TestTLSModes(t *testing.T) {
	var plain, implicit, caFile string
	var acct mailtest.Account
	if mailtest.Interop() {
		d := mailtest.StartDovecot(t)
		plain, implicit = d.Addr, d.TLSAddr
		caFile = filepath.Join(t.TempDir(), "ca.pem")
		os.WriteFile(caFile, d.CACert, 0o644)
		acct = mailtest.Account{Addr: d.Addr, Username: d.Username, Password: d.Password}
	} else {
		srv := mailtest.MemIMAP(t, nil)
		plain, implicit, caFile, acct = srv.Addr, srv.TLSAddr, srv.CAFile, srv.Account
	}
	for _, tc := range []struct{ mode, addr string }{{"starttls", plain}, {"implicit", implicit}} {
		t.Run(tc.mode, func(t *testing.T) {
			uid := acct.Append(t, "INBOX", msg{Subject: "via " + tc.mode, MessageID: tc.mode + "@example.org"}.raw())
			a := acct
			a.Addr = tc.addr
			h := newHarness(t, &a, func(b *config.Mailbox) {
				b.TLS, b.CAFile, b.Host = tc.mode, caFile, "localhost"
				b.AfterImport = "keep"
			})
			h.start()
			h.waitSettled(uid)
			if got := len(h.tickets()); got != int(uid) {
				t.Errorf("%d tickets, want %d", got, uid)
			}
		})
	}
	// A certificate that is not trusted is refused, and nothing is imported.
	a := acct
	a.Addr = implicit
	h := newHarness(t, &a, func(b *config.Mailbox) { b.TLS, b.Host = "implicit", "localhost" })
	h.start()
	mailtest.WaitFor(t, 10*time.Second, "the certificate to be refused", func() bool {
		return strings.Contains(h.sup.Status().LastError, "certificate")
	})
	if got := len(h.tickets()); got != 0 {
		t.Errorf("imported %d tickets over an untrusted connection", got)
	}
}

// A crash after the moves but before the checkpoint recorded them: after the
// restart the recorded actions name mail that is gone. They are skipped (not
// re-sent to a server that may choke on them) and the mailbox goes on.
func TestResumedActionsSkipMailThatIsGone(t *testing.T) {
	acct := server(t)
	for i := range 3 {
		acct.Append(t, "INBOX", msg{Subject: fmt.Sprintf("m%d", i), MessageID: fmt.Sprintf("g%d@example.org", i)}.raw())
	}
	acct.Create(t, "Done")
	h := newHarness(t, acct, func(b *config.Mailbox) { b.AfterImport = "move"; b.MoveTo = "Done" })
	crashed := make(chan struct{})
	var once atomic.Bool
	h.hook = func() error {
		if once.CompareAndSwap(false, true) {
			close(crashed)
			select {}
		}
		return nil
	}
	h.start()
	<-crashed
	h.cancel = nil
	h.db.Close()
	// The moves happened; only their record is missing.
	c := acct.Client(t)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	var all imap.UIDSet
	all.AddRange(1, 0)
	if _, err := c.Move(all, "Done").Wait(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	uid := acct.Append(t, "INBOX", msg{Subject: "after", MessageID: "g9@example.org"}.raw())

	h2 := &harness{t: t, cfg: h.cfg, acct: acct}
	h2.start()
	h2.waitSettled(uid)
	mailtest.WaitFor(t, 10*time.Second, "all four in Done", func() bool { return len(acct.Folder(t, "Done")) == 4 })
	if n := len(h2.tickets()); n != 4 {
		t.Errorf("%d tickets, want 4", n)
	}
}
