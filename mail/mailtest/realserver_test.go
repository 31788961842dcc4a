package mailtest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// These tests run only with TICKETD_INTEROP=1 (make interop); otherwise they skip.

// realServerMessage returns a small RFC 5322 message with the given subject and line ending.
func realServerMessage(subject, eol string) []byte {
	lines := []string{
		"From: Carol Customer <carol@example.org>",
		"To: Support <support@tickets.example.com>",
		"Subject: " + subject,
		"Date: Mon, 02 Jan 2006 15:04:05 +0000",
		"Message-ID: <" + strings.ReplaceAll(subject, " ", "-") + "@example.org>",
		"MIME-Version: 1.0",
		"Content-Type: text/plain; charset=utf-8",
		"",
		"Hello,",
		"this is " + subject + ".",
		"",
	}
	return []byte(strings.Join(lines, eol))
}

// realServerTLS returns a TLS config that trusts only the server's self-signed cert.
func realServerTLS(t *testing.T, caPEM []byte, serverName string) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("CACert holds no certificate: %q", caPEM)
	}
	return &tls.Config{RootCAs: pool, ServerName: serverName}
}

// realServerLogin dials the Dovecot plain port and logs in.
func realServerLogin(t *testing.T, d *Dovecot, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(d.Addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(d.Username, d.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRealServersSkipWithoutInterop(t *testing.T) {
	if Interop() {
		t.Skip("TICKETD_INTEROP=1: the other tests start the servers for real")
	}
	starters := map[string]func(testing.TB){
		"StartDovecot": func(t testing.TB) { StartDovecot(t) },
		"StartPostfix": func(t testing.TB) { StartPostfix(t) },
	}
	for name, start := range starters {
		reached := false
		t.Run(name, func(t *testing.T) {
			start(t)
			reached = true
		})
		if reached {
			t.Errorf("%s did not skip without TICKETD_INTEROP=1", name)
		}
	}
}

func TestRealServerDovecotLogin(t *testing.T) {
	t.Parallel()
	d := StartDovecot(t)
	if d.Username == "" || len(d.Password) < 16 || d.Dir == "" {
		t.Fatalf("incomplete Dovecot: %+v", d)
	}
	tlsIP := realServerTLS(t, d.CACert, "") // imapclient.DialStartTLS verifies the host of Addr: 127.0.0.1
	tlsName := realServerTLS(t, d.CACert, "localhost")

	dials := []struct {
		name     string
		dial     func() (*imapclient.Client, error)
		starttls bool // STARTTLS must be offered before login
		tls      bool
	}{
		{"plain", func() (*imapclient.Client, error) { return imapclient.DialInsecure(d.Addr, nil) }, true, false},
		{"starttls", func() (*imapclient.Client, error) {
			return imapclient.DialStartTLS(d.Addr, &imapclient.Options{TLSConfig: tlsIP})
		}, false, true},
		{"imaps", func() (*imapclient.Client, error) {
			return imapclient.DialTLS(d.TLSAddr, &imapclient.Options{TLSConfig: tlsName})
		}, false, true},
	}
	for _, tc := range dials {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.dial()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.WaitGreeting(); err != nil {
				t.Fatal(err)
			}
			if tc.starttls && !c.Caps().Has(imap.CapStartTLS) {
				t.Errorf("STARTTLS not offered on the plain port: %v", c.Caps())
			}
			start := time.Now()
			if err := c.Login(d.Username, "wrong-"+d.Password).Wait(); err == nil {
				t.Fatal("login with a wrong password succeeded")
			}
			// Dovecot answers failures on a 0.5 s tick; with its auth penalty the second and
			// third subtest would wait 2 s and 4 s more.
			if took := time.Since(start); took > 1500*time.Millisecond {
				t.Errorf("a wrong password took %v to be refused; auth delays should be off", took)
			}
			if err := c.Login(d.Username, d.Password).Wait(); err != nil {
				t.Fatal(err)
			}
			// Not c.State(): imapclient v2.0.0-beta.8 updates it only after Wait has returned.
			if _, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait(); err != nil {
				t.Fatalf("STATUS after LOGIN: %v", err)
			}
			if !c.Caps().Has(imap.CapIdle) {
				t.Errorf("IDLE not in capabilities after login: %v", c.Caps())
			}
			if err := c.Logout().Wait(); err != nil {
				t.Fatal(err)
			}
		})
	}

	t.Run("untrusted", func(t *testing.T) {
		c, err := imapclient.DialTLS(d.TLSAddr, &imapclient.Options{TLSConfig: &tls.Config{ServerName: "localhost"}})
		if err == nil {
			c.Close()
			t.Fatal("TLS handshake succeeded without trusting CACert")
		}
	})
}

func TestRealServerDovecotAppend(t *testing.T) {
	t.Parallel()
	d := StartDovecot(t)
	c := realServerLogin(t, d, nil)

	msg := realServerMessage("appended message", "\r\n")
	app := c.Append("INBOX", int64(len(msg)), nil)
	if _, err := app.Write(msg); err != nil {
		t.Fatal(err)
	}
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := app.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if data.UID != 1 {
		t.Errorf("APPENDUID gave UID %d, want 1", data.UID)
	}

	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages != 1 {
		t.Fatalf("SELECT INBOX: %d messages, want 1", sel.NumMessages)
	}
	section := &imap.FetchItemBodySection{Peek: true}
	bufs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(bufs) != 1 || bufs[0].UID != 1 {
		t.Fatalf("FETCH 1: %+v", bufs)
	}
	if got := bufs[0].FindBodySection(section); !bytes.Equal(got, msg) {
		t.Errorf("fetched message differs from the appended one:\n got %q\nwant %q", got, msg)
	}
}

func TestRealServerDovecotWriteMaildir(t *testing.T) {
	t.Parallel()
	d := StartDovecot(t)
	const n = 1000
	msgs := make([][]byte, n)
	for i := range msgs {
		msgs[i] = realServerMessage(fmt.Sprintf("bulk %d", i+1), "\n")
	}
	start := time.Now()
	d.WriteMaildir(t, "INBOX", msgs)
	t.Logf("WriteMaildir of %d messages, index included: %v", n, time.Since(start).Round(time.Millisecond))

	// Another folder, written twice, and one whose name needs modified UTF-7 on disk.
	d.WriteMaildir(t, "Archive/2024", msgs[:2])
	d.WriteMaildir(t, "Archive/2024", msgs[2:3])
	d.WriteMaildir(t, "Ablage/Überblick", msgs[:1])

	c := realServerLogin(t, d, nil)
	start = time.Now()
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("SELECT INBOX took %v", time.Since(start).Round(time.Microsecond))
	if sel.NumMessages != n {
		t.Fatalf("SELECT INBOX: %d messages, want %d", sel.NumMessages, n)
	}

	// UIDs follow the order of msgs.
	section := &imap.FetchItemBodySection{Peek: true}
	bufs, err := c.Fetch(imap.SeqSetNum(1, 500, n), &imap.FetchOptions{
		UID: true, Envelope: true, BodySection: []*imap.FetchItemBodySection{section},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(bufs) != 3 {
		t.Fatalf("FETCH 1,500,%d: %d messages", n, len(bufs))
	}
	for _, b := range bufs {
		want := fmt.Sprintf("bulk %d", b.SeqNum)
		if b.Envelope == nil || b.Envelope.Subject != want || b.UID != imap.UID(b.SeqNum) {
			t.Errorf("message %d: UID %d, envelope %+v; want UID %d, Subject %q", b.SeqNum, b.UID, b.Envelope, b.SeqNum, want)
		}
		got := bytes.ReplaceAll(b.FindBodySection(section), []byte("\r\n"), []byte("\n"))
		if !bytes.Equal(got, msgs[b.SeqNum-1]) {
			t.Errorf("message %d differs from what was written:\n got %q\nwant %q", b.SeqNum, got, msgs[b.SeqNum-1])
		}
	}

	for folder, want := range map[string]uint32{"Archive/2024": 3, "Ablage/Überblick": 1} {
		st, err := c.Status(folder, &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil {
			t.Fatalf("STATUS %s: %v", folder, err)
		}
		if st.NumMessages == nil || *st.NumMessages != want {
			t.Errorf("STATUS %s: %+v, want %d messages", folder, st, want)
		}
	}
	if out := d.Doveadm(t, "mailbox", "list", "-u", d.Username); !strings.Contains(out, "Archive/2024") {
		t.Errorf("doveadm mailbox list does not show Archive/2024:\n%s", out)
	}
}

func TestRealServerDovecotIdle(t *testing.T) {
	t.Parallel()
	d := StartDovecot(t)
	exists := make(chan uint32, 16)
	c := realServerLogin(t, d, &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(data *imapclient.UnilateralDataMailbox) {
				if data.NumMessages != nil {
					exists <- *data.NumMessages
				}
			},
		},
	})
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	d.Deliver(t, "INBOX", realServerMessage("pushed", "\n"))
	select {
	case n := <-exists:
		t.Logf("EXISTS %d arrived %v after doveadm save was started", n, time.Since(start).Round(time.Millisecond))
		if n != 1 {
			t.Errorf("EXISTS %d, want 1", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no EXISTS within 10 s of doveadm save")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestRealServerPostfix(t *testing.T) {
	t.Parallel()
	p := StartPostfix(t)
	if got := p.Messages(t); len(got) != 0 {
		t.Fatalf("fresh Postfix has %d messages", len(got))
	}

	send := func(t *testing.T, useTLS bool, subject string, rcpts ...string) {
		t.Helper()
		c, err := smtp.Dial(p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Hello("client.example.org"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := c.Extension("STARTTLS"); !ok {
			t.Fatal("STARTTLS not offered")
		}
		if useTLS {
			if err := c.StartTLS(realServerTLS(t, p.CACert, "localhost")); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Mail("carol@example.org"); err != nil {
			t.Fatal(err)
		}
		for _, r := range rcpts {
			if err := c.Rcpt(r); err != nil {
				t.Fatal(err)
			}
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(realServerMessage(subject, "\r\n")); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Quit(); err != nil {
			t.Fatal(err)
		}
	}

	start := time.Now()
	send(t, false, "plain smtp", "support@tickets.example.com")
	if msgs := p.WaitMessages(t, 1, 10*time.Second); len(msgs) != 1 {
		t.Fatalf("got %d messages, want 1:%s", len(msgs), srvSummary(msgs))
	}
	t.Logf("first message delivered %v after the SMTP session began", time.Since(start).Round(time.Millisecond))
	send(t, true, "starttls smtp", "agent@elsewhere.example.net")
	send(t, false, "two recipients", "a@example.com", "b@example.net")
	msgs := p.WaitMessages(t, 4, 10*time.Second)
	if len(msgs) != 4 {
		t.Fatalf("got %d messages, want 4:%s", len(msgs), srvSummary(msgs))
	}

	checks := []struct{ subject, deliveredTo, also string }{
		{"plain smtp", "support@tickets.example.com", "Received: from client.example.org"},
		{"starttls smtp", "agent@elsewhere.example.net", "using TLS"},
	}
	for i, c := range checks {
		m := string(msgs[i])
		if !strings.Contains(m, "Subject: "+c.subject+"\n") || !strings.Contains(m, "Delivered-To: "+c.deliveredTo+"\n") ||
			!strings.Contains(m, c.also) || !strings.Contains(m, "this is "+c.subject+".") {
			t.Errorf("message %d is not %q to %s with %q:\n%s", i+1, c.subject, c.deliveredTo, c.also, m)
		}
	}
	var to []string
	for _, m := range msgs[2:] {
		if !bytes.Contains(m, []byte("Subject: two recipients\n")) {
			t.Errorf("expected a copy of the two-recipient message:\n%s", m)
		}
		for _, line := range strings.Split(string(m), "\n") {
			if strings.HasPrefix(line, "Delivered-To: ") {
				to = append(to, strings.TrimPrefix(line, "Delivered-To: "))
			}
		}
	}
	if strings.Join(to, ",") != "a@example.com,b@example.net" && strings.Join(to, ",") != "b@example.net,a@example.com" {
		t.Errorf("copies of the two-recipient message were delivered to %q", to)
	}
}
