package mailtest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

const sinkTestMsg = "Subject: hi\r\n\r\nhello\r\n.dot line\r\n"

func sinkDial(t *testing.T, addr string) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.example"); err != nil {
		t.Fatal(err)
	}
	return c
}

func sinkRoots(t *testing.T, s *SMTPSink) *tls.Config {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(s.CACert) {
		t.Fatal("CACert holds no certificate")
	}
	return &tls.Config{RootCAs: roots, ServerName: "localhost"}
}

func TestSMTPSinkAccepts(t *testing.T) {
	s := StartSMTPSink(t)
	c := sinkDial(t, s.Addr)
	for range 2 {
		if err := c.SendMail("a@example.com", []string{"b@example.com", "c@example.com"}, strings.NewReader(sinkTestMsg)); err != nil {
			t.Fatal(err)
		}
	}
	msgs := s.WaitMsgs(t, 2, time.Second)
	m := msgs[0]
	if len(msgs) != 2 || m.From != "a@example.com" || strings.Join(m.To, ",") != "b@example.com,c@example.com" ||
		string(m.Data) != sinkTestMsg || m.Helo != "client.example" || m.TLS || m.User != "" {
		t.Errorf("got %d messages, first %+v", len(msgs), m)
	}
	if n := s.Connections(); n != 1 {
		t.Errorf("Connections() = %d, want 1", n)
	}
	if n := s.NestedMail(); n != 0 {
		t.Errorf("NestedMail() = %d, want 0", n)
	}
}

func TestSMTPSinkFailScript(t *testing.T) {
	s := StartSMTPSink(t)
	s.Fail("RCPT", SMTPErr(550, "no such user"))
	s.Fail("DATA", nil, SMTPErr(451, "try later"))
	c := sinkDial(t, s.Addr)
	if err := c.Mail("a@example.com", nil); err != nil {
		t.Fatal(err)
	}
	var serr *smtp.SMTPError
	if err := c.Rcpt("b@example.com", nil); !errors.As(err, &serr) || serr.Code != 550 ||
		serr.EnhancedCode != (smtp.EnhancedCode{5, 0, 0}) || serr.Message != "no such user" {
		t.Fatalf("RCPT: %v, want 550 5.0.0 no such user", err)
	}
	// No RSET: the next MAIL is nested, which a real MTA would refuse.
	if err := c.Mail("a@example.com", nil); err != nil {
		t.Fatal(err)
	}
	if n := s.NestedMail(); n != 1 {
		t.Errorf("NestedMail() = %d, want 1", n)
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	// DATA script: nil (accept), then 451.
	send := func() error {
		return c.SendMail("a@example.com", []string{"b@example.com"}, strings.NewReader(sinkTestMsg))
	}
	if err := send(); err != nil {
		t.Fatal(err)
	}
	if err := send(); !errors.As(err, &serr) || serr.Code != 451 || !serr.Temporary() {
		t.Fatalf("DATA: %v, want 451", err)
	}
	if err := send(); err != nil { // script used up
		t.Fatal(err)
	}
	if n := len(s.Msgs()); n != 2 {
		t.Errorf("%d messages, want 2", n)
	}
	if n := s.NestedMail(); n != 1 {
		t.Errorf("NestedMail() = %d, want still 1 (a DATA reply ends the transaction)", n)
	}
}

func TestSMTPSinkAuth(t *testing.T) {
	s := StartSMTPSink(t)
	c := sinkDial(t, s.Addr)
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("AUTH offered without RequireAuth")
	}
	s.RequireAuth("bot", "pw")
	c = sinkDial(t, s.Addr)
	var serr *smtp.SMTPError
	if err := c.Mail("a@example.com", nil); !errors.As(err, &serr) || serr.Code != 530 {
		t.Fatalf("MAIL without AUTH: %v, want 530", err)
	}
	if !c.SupportsAuth(sasl.Plain) {
		t.Fatal("AUTH PLAIN not offered")
	}
	if err := c.Auth(sasl.NewPlainClient("", "bot", "wrong")); !errors.As(err, &serr) || serr.Code != 535 {
		t.Fatalf("wrong password: %v, want 535", err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "bot", "pw")); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("a@example.com", []string{"b@example.com"}, strings.NewReader(sinkTestMsg)); err != nil {
		t.Fatal(err)
	}
	if m := s.WaitMsgs(t, 1, time.Second)[0]; m.User != "bot" {
		t.Errorf("User = %q, want bot", m.User)
	}
}

func TestSMTPSinkTLS(t *testing.T) {
	s := StartSMTPSink(t)
	c, err := smtp.DialStartTLS(s.Addr, sinkRoots(t, s))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail("a@example.com", []string{"b@example.com"}, strings.NewReader(sinkTestMsg)); err != nil {
		t.Fatal(err)
	}
	c2, err := smtp.DialTLS(s.TLSAddr, sinkRoots(t, s))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.SendMail("a@example.com", []string{"b@example.com"}, strings.NewReader(sinkTestMsg)); err != nil {
		t.Fatal(err)
	}
	for i, m := range s.WaitMsgs(t, 2, time.Second) {
		if !m.TLS {
			t.Errorf("message %d: TLS false", i)
		}
	}
	if n := s.Connections(); n != 2 {
		t.Errorf("Connections() = %d, want 2", n)
	}
}

func TestSMTPSinkDropMidData(t *testing.T) {
	s := StartSMTPSink(t)
	s.DropMidData(1)
	c := sinkDial(t, s.Addr)
	body := sinkTestMsg + strings.Repeat(strings.Repeat("x", 76)+"\r\n", 2000)
	err := c.SendMail("a@example.com", []string{"b@example.com"}, strings.NewReader(body))
	var serr *smtp.SMTPError
	if err == nil || errors.As(err, &serr) {
		t.Fatalf("SendMail: %v, want a network error", err)
	}
	c = sinkDial(t, s.Addr)
	if err := c.SendMail("a@example.com", []string{"b@example.com"}, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Msgs()); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
}

func TestSMTPSinkStall(t *testing.T) {
	s := StartSMTPSink(t)
	release := s.Stall("DATA")
	c := sinkDial(t, s.Addr)
	done := make(chan error, 1)
	go func() {
		done <- c.SendMail("a@example.com", []string{"b@example.com"}, strings.NewReader(sinkTestMsg))
	}()
	select {
	case err := <-done:
		t.Fatalf("SendMail returned while stalled: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	release()
	release() // idempotent
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s.WaitMsgs(t, 1, time.Second)
}

func TestSMTPSinkCloseConnections(t *testing.T) {
	s := StartSMTPSink(t)
	c := sinkDial(t, s.Addr)
	s.CloseConnections()
	if err := c.Noop(); err == nil {
		t.Fatal("NOOP succeeded on a closed connection")
	}
	c = sinkDial(t, s.Addr)
	if err := c.Noop(); err != nil {
		t.Fatal(err)
	}
	if n := s.Connections(); n != 2 {
		t.Errorf("Connections() = %d, want 2", n)
	}
}
