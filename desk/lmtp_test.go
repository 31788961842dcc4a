package desk

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"ticketd/config"
	"ticketd/config/configtest"
	"ticketd/mail/mailtest"
	"ticketd/store"
)

// twoBoxTOML: the mailboxes support and sales, the mailbox taken from the
// recipient.
const twoBoxTOML = `
[[mailbox]]
name = "support"
address = "support@example.com"
host = "127.0.0.1"
tls = "none"
username = "support"
password_file = "imap.pass"
queue = "support"

[[mailbox]]
name = "sales"
address = "sales@example.com"
host = "127.0.0.1"
tls = "none"
username = "sales"
password_file = "imap.pass"
queue = "support"

[lmtp]
mailbox = "*"
`

// serveLMTP serves fd's desk over LMTP on a unix socket in a temporary
// directory and returns its path; the server stops with the test.
func serveLMTP(t *testing.T, fd *fileDesk, mutate ...func(*LMTPServer)) string {
	t.Helper()
	l := fd.d.Config().LMTP
	return serveLMTPWith(t, fd, &l, mutate...)
}

// serveLMTPWith is serveLMTP with the limits of l.
func serveLMTPWith(t *testing.T, fd *fileDesk, l *config.LMTP, mutate ...func(*LMTPServer)) string {
	t.Helper()
	fd.d.Spool = t.TempDir()
	path := filepath.Join(t.TempDir(), "lmtp.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	s := fd.d.NewLMTP(l)
	for _, m := range mutate {
		m(s)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return path
}

// lmtpClient is a session with the server at path, after LHLO.
func lmtpClient(t testing.TB, path string) *gosmtp.Client {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	c := gosmtp.NewClientLMTP(conn)
	if err := c.Hello("mx.example.com"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// lmtpSend delivers raw to the recipients and returns the reply code of
// each (550 for a refused RCPT); an error of the session fails the test.
func lmtpSend(t testing.TB, c *gosmtp.Client, raw []byte, to ...string) map[string]int {
	t.Helper()
	codes := map[string]int{}
	if err := c.Mail("mailer-daemon@mx.example.com", nil); err != nil {
		t.Fatal(err)
	}
	accepted := 0
	for _, rcpt := range to {
		var se *gosmtp.SMTPError
		switch err := c.Rcpt(rcpt, nil); {
		case errors.As(err, &se):
			codes[rcpt] = se.Code
		case err != nil:
			t.Fatal(err)
		default:
			accepted++
		}
	}
	if accepted == 0 {
		if err := c.Reset(); err != nil {
			t.Fatal(err)
		}
		return codes
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(raw); err != nil {
		t.Fatal(err)
	}
	resp, err := w.CloseWithLMTPResponse()
	var le gosmtp.LMTPDataError
	if err != nil && !errors.As(err, &le) {
		t.Fatal(err)
	}
	for rcpt := range resp {
		codes[rcpt] = 250
	}
	for rcpt, se := range le {
		codes[rcpt] = se.Code
	}
	return codes
}

func newLMTPDesk(t *testing.T, fragments ...string) *fileDesk {
	t.Helper()
	cfg := configtest.Parse(t, append([]string{fmt.Sprintf(testTOML, "127.0.0.1", 1)}, fragments...)...)
	cfg.Server.DataDir, cfg.Server.MasterKeyFile = t.TempDir(), filepath.Join(t.TempDir(), "master.key")
	return openFileDesk(t, cfg)
}

func TestLMTPAnswersEachRecipient(t *testing.T) {
	fd := newLMTPDesk(t, twoBoxTOML)
	c := lmtpClient(t, serveLMTP(t, fd))
	raw := routeMail("two@example.org", "From: Erika <erika@example.org>\nTo: support@example.com, sales@example.com\nSubject: Drucker", "Hilfe")
	got := lmtpSend(t, c, raw, "support@example.com", "Sales@Example.com", "nobody@example.com", "support@example.org")
	want := map[string]int{"support@example.com": 250, "Sales@Example.com": 250, "nobody@example.com": 550, "support@example.org": 550}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("replies %v, want %v", got, want)
	}
	tks := fd.tickets()
	var boxes []string
	for _, tk := range tks {
		for _, m := range fd.messages(tk.Number) {
			if m.Origin.Channel != store.ChannelLMTP {
				t.Errorf("message %d has channel %q, want lmtp", m.ID, m.Origin.Channel)
			}
			boxes = append(boxes, m.Origin.Mailbox)
		}
	}
	sort.Strings(boxes)
	if !slices.Equal(boxes, []string{"sales", "support"}) {
		t.Errorf("messages in mailboxes %v, want one in sales and one in support", boxes)
	}
	// Two recipients of one mailbox: one ticket, both answered 250.
	raw = routeMail("same@example.org", "From: erika@example.org\nTo: support@example.com\nSubject: Toner", "Leer")
	got = lmtpSend(t, c, raw, "support@example.com", "support+x@example.com")
	if got["support@example.com"] != 250 || got["support+x@example.com"] != 250 {
		t.Errorf("replies %v, want 250 for both", got)
	}
	if n := len(fd.tickets()); n != 3 {
		t.Errorf("%d tickets, want 3", n)
	}
	// Only unknown recipients: no DATA, the session goes on.
	if got := lmtpSend(t, c, raw, "x@example.net"); got["x@example.net"] != 550 {
		t.Errorf("unknown recipient: %v, want 550", got)
	}
}

func TestLMTPQuarantinesMalformedMail(t *testing.T) {
	fd := newLMTPDesk(t)
	c := lmtpClient(t, serveLMTP(t, fd))
	raw := []byte("Message-ID: <nosender@x>\r\nSubject: wer bin ich\r\n\r\nkein Absender\r\n")
	if got := lmtpSend(t, c, raw, "support@example.com"); got["support@example.com"] != 250 {
		t.Fatalf("replies %v, want 250: malformed mail is accepted into quarantine", got)
	}
	q := fd.quarantined()
	if len(q) != 1 || !strings.Contains(q[0].Reason, "no sender") || q[0].Origin.Channel != store.ChannelLMTP {
		t.Fatalf("quarantine %+v, want one record with its reason and channel lmtp", q)
	}
	if len(fd.tickets()) != 0 {
		t.Errorf("a malformed mail made a ticket")
	}
}

func TestLMTPStoreFailureIs451AndTheRetryLandsOnce(t *testing.T) {
	fd := newLMTPDesk(t)
	var fail atomic.Bool
	fail.Store(true)
	c := lmtpClient(t, serveLMTP(t, fd, func(s *LMTPServer) {
		s.beforeCommit = func() error {
			if fail.Load() {
				return errors.New("disk on fire")
			}
			return nil
		}
	}))
	raw := routeMail("retry@example.org", "From: erika@example.org\nTo: support@example.com\nSubject: Drucker", "Hilfe")
	if got := lmtpSend(t, c, raw, "support@example.com"); got["support@example.com"] != 451 {
		t.Fatalf("replies %v, want 451", got)
	}
	if len(fd.tickets()) != 0 || len(fd.quarantined()) != 0 || len(fd.outbox()) != 0 {
		t.Fatalf("a failed commit left tickets %d, quarantine %d, outbox %d", len(fd.tickets()), len(fd.quarantined()), len(fd.outbox()))
	}
	fail.Store(false)
	for i := range 2 { // the retry, and a retry after a lost 250
		if got := lmtpSend(t, c, raw, "support@example.com"); got["support@example.com"] != 250 {
			t.Fatalf("delivery %d: replies %v, want 250", i+2, got)
		}
	}
	if n, q := len(fd.tickets()), len(fd.quarantined()); n != 1 || q != 0 {
		t.Fatalf("%d tickets, %d quarantined; want exactly one ticket", n, q)
	}
	if n := len(fd.messages(fd.tickets()[0].Number)); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
	if n := len(fd.outbox()); n != 1 {
		t.Errorf("%d outbox items, want one acknowledgement", n)
	}
}

func TestLMTPDiskFullIs452(t *testing.T) {
	fd := newLMTPDesk(t)
	c := lmtpClient(t, serveLMTP(t, fd, func(s *LMTPServer) {
		s.beforeCommit = func() error { return &os.PathError{Op: "write", Path: "tickets.db", Err: syscall.ENOSPC} }
	}))
	raw := routeMail("full@example.org", "From: erika@example.org\nTo: support@example.com\nSubject: x", "y")
	if got := lmtpSend(t, c, raw, "support@example.com"); got["support@example.com"] != 452 {
		t.Fatalf("replies %v, want 452", got)
	}
}

// TestLMTPCommitTimeoutIs451: a commit that takes longer than the timeout
// is answered 451; when it lands after all, the mail server's retry is a
// duplicate.
func TestLMTPCommitTimeoutIs451(t *testing.T) {
	fd := newLMTPDesk(t)
	l := fd.d.Config().LMTP
	l.Timeout.Duration = 200 * time.Millisecond
	release, committed := make(chan struct{}), make(chan struct{})
	var once sync.Once
	c := lmtpClient(t, serveLMTPWith(t, fd, &l, func(s *LMTPServer) {
		s.beforeCommit = func() error {
			once.Do(func() { <-release; close(committed) })
			return nil
		}
	}))
	raw := routeMail("slow@example.org", "From: erika@example.org\nTo: support@example.com\nSubject: x", "y")
	if got := lmtpSend(t, c, raw, "support@example.com"); got["support@example.com"] != 451 {
		t.Fatalf("replies %v, want 451", got)
	}
	close(release)
	<-committed
	if got := lmtpSend(t, c, raw, "support@example.com"); got["support@example.com"] != 250 {
		t.Fatalf("retry: replies %v, want 250", got)
	}
	if n := len(fd.tickets()); n != 1 {
		t.Errorf("%d tickets, want 1", n)
	}
}

func TestLMTPStoreClosedIs451(t *testing.T) {
	fd := newLMTPDesk(t)
	c := lmtpClient(t, serveLMTP(t, fd))
	fd.db.Close()
	raw := routeMail("closed@example.org", "From: erika@example.org\nTo: support@example.com\nSubject: x", "y")
	if got := lmtpSend(t, c, raw, "support@example.com"); got["support@example.com"] != 451 {
		t.Fatalf("replies %v, want 451", got)
	}
}

func TestLMTPParallelSessionsEachGetTheirOwnCommit(t *testing.T) {
	fd := newLMTPDesk(t)
	path := serveLMTP(t, fd)
	const sessions, each = 6, 15
	var wg sync.WaitGroup
	codes := make([][]int, sessions)
	for s := range sessions {
		c := lmtpClient(t, path)
		wg.Go(func() {
			for i := range each {
				raw := routeMail(fmt.Sprintf("p%d.%d@example.org", s, i), fmt.Sprintf("From: p%d@example.org\nTo: support@example.com\nSubject: %d", s, i), "Hallo")
				codes[s] = append(codes[s], lmtpSend(t, c, raw, "support@example.com")["support@example.com"])
			}
		})
	}
	wg.Wait()
	for s := range sessions {
		for i, code := range codes[s] {
			if code != 250 {
				t.Errorf("session %d mail %d: %d", s, i, code)
			}
		}
	}
	if n := len(fd.tickets()); n != sessions*each {
		t.Errorf("%d tickets, want %d", n, sessions*each)
	}
	if _, err := fd.d.VerifyAudit(); err != nil {
		t.Error(err)
	}
}

func TestLMTPConnectionLimit(t *testing.T) {
	fd := newLMTPDesk(t, "[lmtp]\nmax_connections = 1\n")
	path := serveLMTP(t, fd)
	first := lmtpClient(t, path)
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 100)
	n, _ := conn.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "421 ") {
		t.Errorf("second session got %q, want 421", buf[:n])
	}
	// The first session is unaffected; once it ends, a new one is let in.
	if err := first.Noop(); err != nil {
		t.Fatal(err)
	}
	first.Quit()
	// The server ends the session just after its 221: poll for the free place.
	mailtest.WaitFor(t, 10*time.Second, "a session after the first ended", func() bool {
		conn, err := net.Dial("unix", path)
		if err != nil {
			return false
		}
		defer conn.Close()
		n, _ := conn.Read(buf)
		return strings.HasPrefix(string(buf[:n]), "220 ")
	})
}

func TestLMTPForgedAgentReplyIsRefused(t *testing.T) {
	fd := newAgentDesk(t)
	n, ms := fd.customerTicket("c1@example.org", "Drucker", "Hilfe")
	anna := replyTo(t, ms, "anna@example.com")
	c := lmtpClient(t, serveLMTP(t, fd))
	before := len(fd.outbox())
	raw := agentRaw("forged@evil.example", "Mallory <mallory@evil.example>", anna, "Re: x", "Hier ist die Antwort.")
	if got := lmtpSend(t, c, raw, anna); got[anna] != 250 {
		t.Fatalf("replies %v, want 250", got)
	}
	sent := fd.sent(before)
	if len(sent) != 1 || sent[0].it.Kind != "refusal" || sent[0].it.To[0] != "mallory@evil.example" {
		t.Errorf("queued %v, want one refusal to mallory", kinds(sent))
	}
	msgs := fd.messages(n)
	if last := msgs[len(msgs)-1]; last.Direction != store.DirectionRefused || last.Origin.Channel != store.ChannelLMTP {
		t.Errorf("last message of ticket %d: direction %q channel %q, want refused over lmtp", n, last.Direction, last.Origin.Channel)
	}
}

// TestLMTPStuckClientIsDropped: a client that stops talking is closed
// after the timeout, and its place is free for the next one.
func TestLMTPStuckClientIsDropped(t *testing.T) {
	fd := newLMTPDesk(t)
	l := fd.d.Config().LMTP
	l.Timeout.Duration, l.MaxConnections = 200*time.Millisecond, 1
	path := serveLMTPWith(t, fd, &l)
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, _ := io.ReadAll(conn) // the greeting, then what it says on closing
	if !strings.HasPrefix(string(got), "220 ") || !strings.Contains(string(got), "\n421 ") {
		t.Errorf("stuck session got %q, want the greeting and a 421", got)
	}
	c := lmtpClient(t, path)
	if err := c.Noop(); err != nil {
		t.Errorf("the next session: %v", err)
	}
}
