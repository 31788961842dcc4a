package smtp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"ticketd/config"
	"ticketd/mail/mailtest"
)

const smtpTestHelo = "tickets.example.com"

// smtpTestConfig is a relay config for addr ("127.0.0.1:PORT").
func smtpTestConfig(t *testing.T, addr, mode string) *config.SMTP {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return &config.SMTP{Host: host, Port: p, TLS: mode, From: "support@tickets.example.com",
		Timeout: config.Duration{Duration: 10 * time.Second}}
}

// smtpLogBuffer collects log output.
type smtpLogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *smtpLogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *smtpLogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// newTestSender returns a Sender that logs at debug level into the returned buffer.
func newSMTPTestSender(t *testing.T, cfg *config.SMTP) (*Sender, *smtpLogBuffer) {
	t.Helper()
	logs := &smtpLogBuffer{}
	s := NewSender(cfg, smtpTestHelo, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() {
		s.Close()
		if t.Failed() {
			t.Logf("sender log:\n%s", logs)
		}
	})
	return s, logs
}

func smtpTestMsg(n int) []byte {
	return fmt.Appendf(nil, "From: support@tickets.example.com\r\nTo: customer@example.org\r\nSubject: ack %d\r\n\r\nThanks.\r\n", n)
}

func smtpSend(t *testing.T, s *Sender, n int) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.Send(ctx, "support@tickets.example.com", []string{"customer@example.org"}, smtpTestMsg(n))
}

func smtpMustSend(t *testing.T, s *Sender, n int) {
	t.Helper()
	if err := smtpSend(t, s, n); err != nil {
		t.Fatalf("send %d: %v", n, err)
	}
}

// wantSendErr checks that err is a *SendError with the given class and code.
func smtpWantErr(t *testing.T, err error, temporary bool, code int) *SendError {
	t.Helper()
	var se *SendError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T), want a *SendError", err, err)
	}
	if se.Temporary != temporary || se.Code != code {
		t.Fatalf("error %v: Temporary=%v Code=%d, want Temporary=%v Code=%d", err, se.Temporary, se.Code, temporary, code)
	}
	return se
}

func smtpWantCount(t *testing.T, what string, got, want int) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %d, want %d", what, got, want)
	}
}

func TestSMTPSendReusesConnection(t *testing.T) {
	sink := mailtest.StartSMTPSink(t)
	s, _ := newSMTPTestSender(t, smtpTestConfig(t, sink.Addr, "none"))
	smtpMustSend(t, s, 1)
	smtpMustSend(t, s, 2)
	// LF line ends become CRLF, a leading dot survives the dot-stuffing.
	odd := []byte("Subject: ack 3\n\n.leading dot\nno final line end")
	if err := s.Send(context.Background(), "", []string{"a@example.org", "b@example.org"}, odd); err != nil {
		t.Fatal(err)
	}
	msgs := sink.WaitMsgs(t, 3, time.Second)
	smtpWantCount(t, "Connections()", sink.Connections(), 1)
	for i, m := range msgs[:2] {
		if m.From != "support@tickets.example.com" || len(m.To) != 1 || m.To[0] != "customer@example.org" ||
			!bytes.Equal(m.Data, smtpTestMsg(i+1)) || m.Helo != smtpTestHelo || m.TLS || m.User != "" {
			t.Errorf("message %d: %+v", i+1, m)
		}
	}
	if m := msgs[2]; m.From != "" || strings.Join(m.To, ",") != "a@example.org,b@example.org" ||
		string(m.Data) != "Subject: ack 3\r\n\r\n.leading dot\r\nno final line end\r\n" {
		t.Errorf("message 3: %+v, data %q", m, m.Data)
	}
}

func TestSMTPSend421DropsConnection(t *testing.T) {
	sink := mailtest.StartSMTPSink(t)
	sink.Fail("MAIL", mailtest.SMTPErr(421, "closing"))
	s, _ := newSMTPTestSender(t, smtpTestConfig(t, sink.Addr, "none"))
	se := smtpWantErr(t, smtpSend(t, s, 1), true, 421)
	var serr *smtp.SMTPError
	if !errors.As(se, &serr) || !strings.Contains(se.Error(), "MAIL FROM") {
		t.Errorf("error %q: want the stage and the *smtp.SMTPError", se)
	}
	smtpMustSend(t, s, 2)
	smtpWantCount(t, "Connections()", sink.Connections(), 2)
	smtpWantCount(t, "messages", len(sink.Msgs()), 1)
}

func TestSMTPSendRcpt550ResetsSession(t *testing.T) {
	sink := mailtest.StartSMTPSink(t)
	sink.Fail("RCPT", nil, mailtest.SMTPErr(550, "no such user"))
	s, _ := newSMTPTestSender(t, smtpTestConfig(t, sink.Addr, "none"))
	err := s.Send(context.Background(), "support@tickets.example.com", []string{"ok@example.org", "gone@example.org"}, smtpTestMsg(1))
	se := smtpWantErr(t, err, false, 550)
	if !strings.Contains(se.Error(), "permanent") || !strings.Contains(se.Error(), "no such user") {
		t.Errorf("error %q", se)
	}
	smtpMustSend(t, s, 2)
	smtpWantCount(t, "NestedMail()", sink.NestedMail(), 0)
	smtpWantCount(t, "Connections()", sink.Connections(), 1)
	if msgs := sink.Msgs(); len(msgs) != 1 || !bytes.Equal(msgs[0].Data, smtpTestMsg(2)) {
		t.Errorf("messages: %+v", msgs)
	}
}

func TestSMTPSendData451ResetsSession(t *testing.T) {
	sink := mailtest.StartSMTPSink(t)
	sink.Fail("DATA", mailtest.SMTPErr(451, "local error"))
	s, _ := newSMTPTestSender(t, smtpTestConfig(t, sink.Addr, "none"))
	smtpWantErr(t, smtpSend(t, s, 1), true, 451)
	smtpMustSend(t, s, 2)
	smtpWantCount(t, "NestedMail()", sink.NestedMail(), 0)
	smtpWantCount(t, "Connections()", sink.Connections(), 1)
	smtpWantCount(t, "messages", len(sink.Msgs()), 1)
}

func TestSMTPSendMail5xxOnMail(t *testing.T) {
	sink := mailtest.StartSMTPSink(t)
	sink.Fail("MAIL", mailtest.SMTPErr(553, "sender rejected"))
	s, _ := newSMTPTestSender(t, smtpTestConfig(t, sink.Addr, "none"))
	smtpWantErr(t, smtpSend(t, s, 1), false, 553)
	smtpMustSend(t, s, 2)
	smtpWantCount(t, "Connections()", sink.Connections(), 1)
}

func TestSMTPSendDropMidData(t *testing.T) {
	sink := mailtest.StartSMTPSink(t)
	sink.DropMidData(1)
	s, _ := newSMTPTestSender(t, smtpTestConfig(t, sink.Addr, "none"))
	smtpWantErr(t, smtpSend(t, s, 1), true, 0)
	smtpMustSend(t, s, 2)
	smtpWantCount(t, "Connections()", sink.Connections(), 2)
	if msgs := sink.Msgs(); len(msgs) != 1 || !bytes.Equal(msgs[0].Data, smtpTestMsg(2)) {
		t.Errorf("messages: %+v", msgs)
	}
}

func TestSMTPSendIdleProbe(t *testing.T) {
	sink := mailtest.StartSMTPSink(t)
	s, logs := newSMTPTestSender(t, smtpTestConfig(t, sink.Addr, "none"))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	s.IdleProbe = time.Second

	smtpMustSend(t, s, 1)
	now = now.Add(2 * time.Second) // idle: probed, the connection is fine
	smtpMustSend(t, s, 2)
	smtpWantCount(t, "Connections()", sink.Connections(), 1)

	sink.CloseConnections()
	now = now.Add(2 * time.Second) // idle and dead: the probe fails, Send redials
	smtpMustSend(t, s, 3)
	smtpWantCount(t, "Connections()", sink.Connections(), 2)
	if l := logs.String(); !strings.Contains(l, "smtp idle connection probe failed") ||
		strings.Contains(l, "smtp reused connection failed") {
		t.Errorf("want the probe to catch the dead connection; log:\n%s", l)
	}

	sink.CloseConnections()
	now = now.Add(time.Second / 2) // dead before the probe is due: MAIL fails, Send redials once
	smtpMustSend(t, s, 4)
	smtpWantCount(t, "Connections()", sink.Connections(), 3)
	if l := logs.String(); !strings.Contains(l, "smtp reused connection failed") {
		t.Errorf("want a redial after MAIL failed; log:\n%s", l)
	}
	smtpWantCount(t, "messages", len(sink.Msgs()), 4)
}

func TestSMTPSendReused421Redials(t *testing.T) {
	sink := mailtest.StartSMTPSink(t)
	s, _ := newSMTPTestSender(t, smtpTestConfig(t, sink.Addr, "none"))
	smtpMustSend(t, s, 1)
	// A relay that timed the session out answers the next command with 421.
	sink.Fail("MAIL", mailtest.SMTPErr(421, "timeout exceeded"))
	smtpMustSend(t, s, 2)
	smtpWantCount(t, "Connections()", sink.Connections(), 2)
	// Only once: a second 421 on the fresh connection is reported.
	sink.Fail("MAIL", mailtest.SMTPErr(421, "busy"), mailtest.SMTPErr(421, "busy"))
	smtpWantErr(t, smtpSend(t, s, 3), true, 421)
	smtpWantCount(t, "Connections()", sink.Connections(), 3)
}

func TestSMTPSendStartTLS(t *testing.T) {
	sink := mailtest.StartSMTPSink(t)
	cfg := smtpTestConfig(t, sink.Addr, "starttls")
	cfg.CAFile = sink.CAFile
	s, _ := newSMTPTestSender(t, cfg)
	smtpMustSend(t, s, 1)
	smtpMustSend(t, s, 2)
	for i, m := range sink.WaitMsgs(t, 2, time.Second) {
		if !m.TLS || m.Helo != smtpTestHelo {
			t.Errorf("message %d: TLS=%v Helo=%q", i+1, m.TLS, m.Helo)
		}
	}
	smtpWantCount(t, "Connections()", sink.Connections(), 1)
}

func TestSMTPSendStartTLSUntrusted(t *testing.T) {
	sink := mailtest.StartSMTPSink(t)
	s, _ := newSMTPTestSender(t, smtpTestConfig(t, sink.Addr, "starttls")) // no ca_file: system roots
	start := time.Now()
	se := smtpWantErr(t, smtpSend(t, s, 1), true, 0)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v, want the certificate error at once", d)
	}
	if !smtpCertError(se) || !strings.Contains(se.Error(), "certificate") || !strings.Contains(se.Error(), "ca_file") {
		t.Errorf("error %q: want a certificate error that names ca_file", se)
	}
	smtpWantCount(t, "messages", len(sink.Msgs()), 0)
}

func TestSMTPSendImplicitTLS(t *testing.T) {
	sink := mailtest.StartSMTPSink(t)
	cfg := smtpTestConfig(t, sink.TLSAddr, "implicit")
	cfg.CAFile = sink.CAFile
	s, _ := newSMTPTestSender(t, cfg)
	smtpMustSend(t, s, 1)
	if m := sink.WaitMsgs(t, 1, time.Second)[0]; !m.TLS {
		t.Error("message not received over TLS")
	}

	untrusted, _ := newSMTPTestSender(t, smtpTestConfig(t, sink.TLSAddr, "implicit"))
	if se := smtpWantErr(t, smtpSend(t, untrusted, 2), true, 0); !smtpCertError(se) {
		t.Errorf("error %q: want a certificate error", se)
	}

	cfg = smtpTestConfig(t, sink.Addr, "implicit") // the plain port
	cfg.CAFile = sink.CAFile
	plain, _ := newSMTPTestSender(t, cfg)
	if se := smtpWantErr(t, smtpSend(t, plain, 3), true, 0); !strings.Contains(se.Error(), "does not speak TLS") {
		t.Errorf("error %q: want a hint at smtp.tls", se)
	}
	smtpWantCount(t, "messages", len(sink.Msgs()), 1)
}

// smtpFakeRelay is a scripted SMTP server: it greets and answers EHLO with exts
// (no STARTTLS unless listed) and every other command but QUIT with 502; it
// records the commands. greet false: it accepts and never says anything.
func smtpFakeRelay(t *testing.T, greet bool, exts ...string) (addr string, commands func() []string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		cmds  []string
		conns []net.Conn
		wg    sync.WaitGroup
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			if !greet {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				fmt.Fprintf(c, "220 fake ESMTP\r\n")
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					line = strings.TrimRight(line, "\r\n")
					mu.Lock()
					cmds = append(cmds, line)
					mu.Unlock()
					verb, _, _ := strings.Cut(strings.ToUpper(line), " ")
					switch verb {
					case "EHLO":
						reply := "250-fake"
						for _, e := range exts {
							reply += "\r\n250-" + e
						}
						fmt.Fprintf(c, "%s\r\n250 8BITMIME\r\n", reply)
					case "QUIT":
						fmt.Fprintf(c, "221 bye\r\n")
						return
					default:
						fmt.Fprintf(c, "502 not here\r\n")
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), cmds...)
	}
}

func TestSMTPSendStartTLSMissing(t *testing.T) {
	addr, commands := smtpFakeRelay(t, true, "AUTH PLAIN")
	cfg := smtpTestConfig(t, addr, "starttls")
	cfg.Username, cfg.Password = "bot", "s3cret"
	s, _ := newSMTPTestSender(t, cfg)
	se := smtpWantErr(t, smtpSend(t, s, 1), true, 0)
	if !strings.Contains(se.Error(), "STARTTLS") {
		t.Errorf("error %q: want it to name STARTTLS", se)
	}
	for _, c := range commands() {
		if verb, _, _ := strings.Cut(c, " "); verb != "EHLO" && verb != "QUIT" {
			t.Errorf("sent %q to a relay without STARTTLS", c)
		}
	}
}

func TestSMTPSendAuth(t *testing.T) {
	sink := mailtest.StartSMTPSink(t)
	sink.RequireAuth("bot", "s3cret")
	tlsConfig := func(pass string) *config.SMTP {
		cfg := smtpTestConfig(t, sink.Addr, "starttls")
		cfg.CAFile = sink.CAFile
		cfg.Username, cfg.Password = "bot", pass
		return cfg
	}

	s, _ := newSMTPTestSender(t, tlsConfig("s3cret"))
	smtpMustSend(t, s, 1)
	if m := sink.WaitMsgs(t, 1, time.Second)[0]; m.User != "bot" || !m.TLS {
		t.Errorf("message 1: User=%q TLS=%v", m.User, m.TLS)
	}

	wrong, logs := newSMTPTestSender(t, tlsConfig("wrong"))
	se := smtpWantErr(t, smtpSend(t, wrong, 2), false, 535)
	if !strings.Contains(se.Error(), "AUTH") || strings.Contains(se.Error(), "wrong") || strings.Contains(logs.String(), "wrong") {
		t.Errorf("error %q, log %q: want the stage, never the password", se, logs)
	}

	// Plain TCP to loopback: allowed.
	cfg := smtpTestConfig(t, sink.Addr, "none")
	cfg.Username, cfg.Password = "bot", "s3cret"
	loop, _ := newSMTPTestSender(t, cfg)
	smtpMustSend(t, loop, 3)
	msgs := sink.WaitMsgs(t, 2, time.Second)
	if m := msgs[len(msgs)-1]; m.User != "bot" || m.TLS {
		t.Errorf("message 3: User=%q TLS=%v", m.User, m.TLS)
	}

	// No username: the relay's 530 is permanent.
	anon, _ := newSMTPTestSender(t, smtpTestConfig(t, sink.Addr, "none"))
	smtpWantErr(t, smtpSend(t, anon, 4), false, 530)
	smtpWantCount(t, "messages", len(sink.Msgs()), 2)
}

func TestSMTPSendAuthNotOffered(t *testing.T) {
	sink := mailtest.StartSMTPSink(t) // no RequireAuth: no AUTH in EHLO
	cfg := smtpTestConfig(t, sink.Addr, "starttls")
	cfg.CAFile = sink.CAFile
	cfg.Username, cfg.Password = "bot", "s3cret"
	s, _ := newSMTPTestSender(t, cfg)
	if se := smtpWantErr(t, smtpSend(t, s, 1), false, 0); !strings.Contains(se.Error(), "does not offer AUTH") {
		t.Errorf("error %q", se)
	}
	smtpWantCount(t, "messages", len(sink.Msgs()), 0)
}

func TestSMTPSendRefusesCleartextAuth(t *testing.T) {
	// 192.0.2.1 (TEST-NET-1) is only ever in the config: nothing may be dialled.
	cfg := &config.SMTP{Host: "192.0.2.1", Port: 25, TLS: "none", Username: "bot", Password: "s3cret",
		Timeout: config.Duration{Duration: 10 * time.Second}}
	s, logs := newSMTPTestSender(t, cfg)
	s.dial = func(context.Context, string, string) (net.Conn, error) {
		t.Error("dialled")
		return nil, errors.New("no dialling in this test")
	}
	se := smtpWantErr(t, smtpSend(t, s, 1), false, 0)
	if !strings.Contains(se.Error(), "refusing AUTH") || strings.Contains(se.Error(), "s3cret") || strings.Contains(logs.String(), "s3cret") {
		t.Errorf("error %q", se)
	}
}

func TestSMTPLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "127.1.2.3": true, "::1": true, "localhost": true, "LOCALHOST.": true, "::ffff:127.0.0.1": true,
		"192.0.2.1": false, "::": false, "0.0.0.0": false, "smtp.example.com": false, "localhost.example.com": false, "": false,
	} {
		if got := smtpLoopbackHost(host); got != want {
			t.Errorf("smtpLoopbackHost(%q) = %v, want %v", host, got, want)
		}
		cfg := &config.SMTP{Host: host, TLS: "none", Username: "bot"}
		if refused := NewSender(cfg, smtpTestHelo, nil).refuse != nil; refused == want {
			t.Errorf("host %q: refused=%v", host, refused)
		}
	}
	for _, mode := range []string{"starttls", "implicit", ""} {
		if s := NewSender(&config.SMTP{Host: "192.0.2.1", TLS: mode, Username: "bot"}, smtpTestHelo, nil); s.refuse != nil {
			t.Errorf("tls %q: refused: %v", mode, s.refuse)
		}
	}
}

func TestSMTPSendCancelWhileStalled(t *testing.T) {
	sink := mailtest.StartSMTPSink(t)
	release := sink.Stall("DATA")
	s, _ := newSMTPTestSender(t, smtpTestConfig(t, sink.Addr, "none")) // 10 s timeout
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	err := s.Send(ctx, "support@tickets.example.com", []string{"customer@example.org"}, smtpTestMsg(1))
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Send returned after %v, want soon after the cancel", d)
	}
	se := smtpWantErr(t, err, true, 0)
	if !errors.Is(se, context.Canceled) {
		t.Errorf("error %q: want context.Canceled", se)
	}
	release()
	smtpMustSend(t, s, 2)
	smtpWantCount(t, "Connections()", sink.Connections(), 2)

	cancelled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := s.Send(cancelled, "a@example.org", []string{"b@example.org"}, smtpTestMsg(3)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: %v", err)
	}
}

func TestSMTPSendTimeouts(t *testing.T) {
	t.Run("stalled reply", func(t *testing.T) {
		sink := mailtest.StartSMTPSink(t)
		defer sink.Stall("DATA")()
		cfg := smtpTestConfig(t, sink.Addr, "none")
		cfg.Timeout.Duration = 300 * time.Millisecond
		s, _ := newSMTPTestSender(t, cfg)
		start := time.Now()
		se := smtpWantErr(t, smtpSend(t, s, 1), true, 0)
		if d := time.Since(start); d > 3*time.Second || !strings.Contains(se.Error(), "end of DATA: no answer within 300ms") {
			t.Errorf("%q after %v", se, d)
		}
	})
	t.Run("no greeting", func(t *testing.T) {
		addr, _ := smtpFakeRelay(t, false)
		for _, mode := range []string{"none", "starttls", "implicit"} {
			cfg := smtpTestConfig(t, addr, mode)
			cfg.Timeout.Duration = 300 * time.Millisecond
			s, _ := newSMTPTestSender(t, cfg)
			start := time.Now()
			se := smtpWantErr(t, smtpSend(t, s, 1), true, 0)
			if d := time.Since(start); d > 3*time.Second || !strings.Contains(se.Error(), "no answer within 300ms") {
				t.Errorf("tls %s: %q after %v", mode, se, d)
			}
		}
	})
	t.Run("cancel during greeting", func(t *testing.T) {
		addr, _ := smtpFakeRelay(t, false)
		s, _ := newSMTPTestSender(t, smtpTestConfig(t, addr, "starttls"))
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		err := s.Send(ctx, "a@example.org", []string{"b@example.org"}, smtpTestMsg(1))
		if se := smtpWantErr(t, err, true, 0); !errors.Is(se, context.DeadlineExceeded) {
			t.Errorf("error %q: want context.DeadlineExceeded", se)
		}
	})
}

func TestSMTPSendEnvelopeChecks(t *testing.T) {
	sink := mailtest.StartSMTPSink(t)
	s, _ := newSMTPTestSender(t, smtpTestConfig(t, sink.Addr, "none"))
	for _, tc := range []struct {
		from string
		to   []string
	}{
		{"a@example.org", nil},
		{"a@example.org", []string{""}},
		{"a@example.org\r\nRCPT TO:<x@example.org>", []string{"b@example.org"}},
		{"a@example.org", []string{"b@example.org>"}},
	} {
		smtpWantErr(t, s.Send(context.Background(), tc.from, tc.to, smtpTestMsg(1)), false, 0)
	}
	// The sink does not offer SMTPUTF8: refused before MAIL, and the session stays usable.
	err := s.Send(context.Background(), "a@example.org", []string{"jürgen@example.org"}, smtpTestMsg(1))
	if se := smtpWantErr(t, err, false, 0); !strings.Contains(se.Error(), "SMTPUTF8") {
		t.Errorf("error %q", se)
	}
	smtpMustSend(t, s, 2)
	smtpWantCount(t, "Connections()", sink.Connections(), 1)
	smtpWantCount(t, "NestedMail()", sink.NestedMail(), 0)
	smtpWantCount(t, "messages", len(sink.Msgs()), 1)
}

func TestSMTPSenderClose(t *testing.T) {
	sink := mailtest.StartSMTPSink(t)
	s, _ := newSMTPTestSender(t, smtpTestConfig(t, sink.Addr, "none"))
	if err := s.Close(); err != nil {
		t.Errorf("Close before any Send: %v", err)
	}
	smtpMustSend(t, s, 1)
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	smtpMustSend(t, s, 2) // redials
	smtpWantCount(t, "Connections()", sink.Connections(), 2)
}

func TestSMTPSendErrorText(t *testing.T) {
	err := &SendError{Temporary: true, Code: 451, Err: errors.New("end of DATA: SMTP error 451: later")}
	if got := err.Error(); got != "smtp: temporary failure: end of DATA: SMTP error 451: later" {
		t.Errorf("Error() = %q", got)
	}
	if got := (&SendError{Code: 550}).Error(); got != "smtp: permanent failure (code 550)" {
		t.Errorf("Error() = %q", got)
	}
}

// TestSMTPInteropPostfix submits to a real Postfix: plain, and over STARTTLS
// trusting its certificate; a rejected recipient in between shows that the
// session is reset (Postfix answers a nested MAIL with 503).
func TestSMTPInteropPostfix(t *testing.T) {
	if !mailtest.Interop() {
		t.Skip("interop tests need TICKETD_INTEROP=1 (make interop)")
	}
	p := mailtest.StartPostfix(t)
	plain, _ := newSMTPTestSender(t, smtpTestConfig(t, p.Addr, "none"))
	smtpMustSend(t, plain, 1)
	err := plain.Send(context.Background(), "support@tickets.example.com", []string{"bad@example..org"}, smtpTestMsg(99))
	smtpWantErr(t, err, false, 501)
	smtpMustSend(t, plain, 2)

	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, p.CACert, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := smtpTestConfig(t, p.Addr, "starttls")
	cfg.CAFile = caFile
	tlsSender, _ := newSMTPTestSender(t, cfg)
	smtpMustSend(t, tlsSender, 3)

	msgs := p.WaitMessages(t, 3, 10*time.Second)
	tlsSeen := false
	for _, m := range msgs {
		if bytes.Contains(m, []byte("Subject: ack 99")) {
			t.Error("the rejected message was delivered")
		}
		if bytes.Contains(m, []byte("Subject: ack 3")) {
			tlsSeen = bytes.Contains(m, []byte("using TLS"))
		}
	}
	if !tlsSeen {
		t.Errorf("no message 3 received over TLS among %d messages", len(msgs))
	}
}
