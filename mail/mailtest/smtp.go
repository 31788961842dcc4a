package mailtest

import (
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"ticketd/mail/oauth/oauthtest"
)

// SMTPSink is an in-process go-smtp server on 127.0.0.1 that keeps every
// accepted message in memory, with knobs to script failures.
//
// It advertises 8BITMIME, PIPELINING, SIZE and, on Addr, STARTTLS; AUTH PLAIN
// only after RequireAuth (and then also over plain TCP: the sink is loopback).
// After a reply the connection stays open (a real MTA closes it after 421).
type SMTPSink struct {
	Addr    string // plain, STARTTLS offered, "127.0.0.1:PORT"
	TLSAddr string // implicit TLS, "127.0.0.1:PORT"
	CAFile  string // PEM of the self-signed cert (CN=localhost, SAN DNS:localhost, IP:127.0.0.1) clients must trust
	CACert  []byte // the same PEM

	srv    *smtp.Server
	conns  atomic.Int64
	closed chan struct{}

	mu       sync.Mutex
	msgs     []SinkMsg
	fail     map[string][]error
	stall    map[string]chan struct{}
	dropData int
	nested   int
	user     string // AUTH required when set
	pass     string
	bearer   func(mech string) (sasl.Server, error) // set by RequireBearer: AUTH takes only these
	open     map[net.Conn]struct{}                  // TCP connections not yet closed
}

// SinkMsg is one accepted message.
type SinkMsg struct {
	From string
	To   []string
	Data []byte // as received: CRLF line ends, dot-stuffing removed

	Helo string // the client's EHLO name
	TLS  bool   // received over TLS (STARTTLS or implicit)
	User string // the AUTH user, "" without AUTH
}

// StartSMTPSink starts one on 127.0.0.1:0 (a plain port with STARTTLS and an
// implicit-TLS port). t.Cleanup stops it, releasing any Stall first.
func StartSMTPSink(t testing.TB) *SMTPSink {
	t.Helper()
	dir := t.TempDir()
	certPEM := srvWriteCert(t, dir)
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	srvWriteFile(t, caFile, certPEM, 0o644)
	s := &SMTPSink{
		CAFile: caFile,
		CACert: certPEM,
		closed: make(chan struct{}),
		fail:   make(map[string][]error),
		stall:  make(map[string]chan struct{}),
		open:   make(map[net.Conn]struct{}),
	}
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpSinkSession{sink: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.TLSConfig = tlsConfig
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = log.New(io.Discard, "", 0) // failed handshakes are what some tests provoke
	s.srv = srv

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ln.Close()
		t.Fatalf("mailtest: %v", err)
	}
	s.Addr, s.TLSAddr = ln.Addr().String(), tln.Addr().String()
	go srv.Serve(&smtpSinkListener{Listener: ln, sink: s})
	go srv.Serve(tls.NewListener(&smtpSinkListener{Listener: tln, sink: s}, tlsConfig))
	t.Cleanup(func() {
		close(s.closed) // releases stalled handlers
		srv.Close()
		ln.Close() // in case Serve had not registered them yet
		tln.Close()
	})
	return s
}

// Msgs returns the messages accepted so far, oldest first.
func (s *SMTPSink) Msgs() []SinkMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SinkMsg(nil), s.msgs...)
}

// WaitMsgs waits until at least n messages were accepted (t.Fatal after
// timeout) and returns all of them.
func (s *SMTPSink) WaitMsgs(t testing.TB, n int, timeout time.Duration) []SinkMsg {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msgs := s.Msgs()
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailtest: waited %v for %d messages, the SMTP sink got %d", timeout, n, len(msgs))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// RequireAuth offers AUTH PLAIN and requires it before MAIL (530 otherwise);
// only user with pass is accepted (535 otherwise). Allowed over plain TCP.
func (s *SMTPSink) RequireAuth(user, pass string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user, s.pass = user, pass
}

// RequireBearer offers AUTH OAUTHBEARER and XOAUTH2 only, taking as's
// access tokens for user, and requires it before MAIL (530 otherwise).
func (s *SMTPSink) RequireBearer(user string, as *oauthtest.Server) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user, s.pass = user, ""
	s.bearer = as.SASL(user, smtp.ErrAuthFailed)
}

// Fail scripts replies: each MAIL, RCPT or DATA command (stage "MAIL", "RCPT",
// "DATA"; DATA is the reply after the data) pops the next of errs and answers
// with it; nil accepts. When the script is used up, commands are accepted.
// Calls add to the script of that stage.
func (s *SMTPSink) Fail(stage string, errs ...error) {
	smtpCheckStage(stage)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[stage] = append(s.fail[stage], errs...)
}

// SMTPErr builds the error a Fail script answers with: code and msg, with
// the enhanced status code X.0.0 of the code's class (RFC 3463), e.g. 4.0.0 for 451.
func SMTPErr(code int, msg string) error {
	ec := smtp.NoEnhancedCode
	if c := code / 100; c == 2 || c == 4 || c == 5 {
		ec = smtp.EnhancedCode{c, 0, 0}
	}
	return &smtp.SMTPError{Code: code, EnhancedCode: ec, Message: msg}
}

// DropMidData makes the next n DATA commands read part of the message and
// then close the connection without a reply.
func (s *SMTPSink) DropMidData(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropData += n
}

// Stall makes every command of stage ("MAIL", "RCPT" or "DATA"; DATA after
// the whole message was read) wait before its reply until release is called
// (or the sink stops). release may be called more than once.
func (s *SMTPSink) Stall(stage string) (release func()) {
	smtpCheckStage(stage)
	ch := make(chan struct{})
	s.mu.Lock()
	s.stall[stage] = ch
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.stall[stage] == ch {
				delete(s.stall, stage)
			}
			s.mu.Unlock()
			close(ch)
		})
	}
}

// CloseConnections closes every open client connection at the TCP level, the
// way a relay drops idle sessions (without the 421 a real MTA may send first).
func (s *SMTPSink) CloseConnections() {
	s.mu.Lock()
	open := make([]net.Conn, 0, len(s.open))
	for c := range s.open {
		open = append(open, c)
	}
	s.mu.Unlock()
	for _, c := range open {
		c.Close()
	}
}

// Connections counts the TCP connections accepted so far (both ports).
func (s *SMTPSink) Connections() int { return int(s.conns.Load()) }

// NestedMail reports MAIL commands that arrived while a transaction was still
// open (a client that did not RSET after a failure); real MTAs reject that with
// 503, go-smtp does not, so the sink counts it (and accepts).
func (s *SMTPSink) NestedMail() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nested
}

func smtpCheckStage(stage string) {
	switch stage {
	case "MAIL", "RCPT", "DATA":
	default:
		panic("mailtest: SMTP stage " + stage + ": want MAIL, RCPT or DATA")
	}
}

// next pops the scripted error of stage, then waits while the stage is stalled.
func (s *SMTPSink) next(stage string) error {
	s.mu.Lock()
	var err error
	if q := s.fail[stage]; len(q) > 0 {
		err, s.fail[stage] = q[0], q[1:]
	}
	ch := s.stall[stage]
	s.mu.Unlock()
	if ch != nil {
		select {
		case <-ch:
		case <-s.closed:
		}
	}
	return err
}

// smtpSinkListener counts and tracks accepted connections.
type smtpSinkListener struct {
	net.Listener
	sink *SMTPSink
}

func (l *smtpSinkListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.sink.conns.Add(1)
	tc := &smtpTrackedConn{Conn: c, sink: l.sink}
	l.sink.mu.Lock()
	l.sink.open[tc] = struct{}{}
	l.sink.mu.Unlock()
	return tc, nil
}

type smtpTrackedConn struct {
	net.Conn
	sink *SMTPSink
}

func (c *smtpTrackedConn) Close() error {
	c.sink.mu.Lock()
	delete(c.sink.open, c)
	c.sink.mu.Unlock()
	return c.Conn.Close()
}

// smtpSinkSession is one session (a STARTTLS starts a new one).
type smtpSinkSession struct {
	sink   *SMTPSink
	conn   *smtp.Conn
	user   string // after a successful AUTH
	inMail bool   // MAIL accepted, transaction not yet ended
	cur    SinkMsg
}

var errSinkAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}

func (ss *smtpSinkSession) AuthMechanisms() []string {
	ss.sink.mu.Lock()
	defer ss.sink.mu.Unlock()
	if ss.sink.user == "" {
		return nil
	}
	if ss.sink.bearer != nil {
		return oauthtest.Mechanisms
	}
	return []string{sasl.Plain}
}

func (ss *smtpSinkSession) Auth(mech string) (sasl.Server, error) {
	ss.sink.mu.Lock()
	bearer, user := ss.sink.bearer, ss.sink.user
	ss.sink.mu.Unlock()
	if bearer != nil {
		srv, err := bearer(mech)
		if err != nil {
			return nil, smtp.ErrAuthUnknownMechanism
		}
		return &onSuccess{inner: srv, done: func() { ss.user = user }}, nil
	}
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		ss.sink.mu.Lock()
		ok := ss.sink.user != "" && user == ss.sink.user && pass == ss.sink.pass && (identity == "" || identity == user)
		ss.sink.mu.Unlock()
		if !ok {
			return smtp.ErrAuthFailed
		}
		ss.user = user
		return nil
	}), nil
}

// onSuccess calls done when the SASL exchange of inner succeeds.
type onSuccess struct {
	inner sasl.Server
	done  func()
}

func (o *onSuccess) Next(resp []byte) ([]byte, bool, error) {
	ch, done, err := o.inner.Next(resp)
	if err == nil && done {
		o.done()
	}
	return ch, done, err
}

func (ss *smtpSinkSession) Mail(from string, _ *smtp.MailOptions) error {
	ss.sink.mu.Lock()
	needAuth := ss.sink.user != "" && ss.user == ""
	if ss.inMail {
		ss.sink.nested++
	}
	ss.sink.mu.Unlock()
	if needAuth {
		return errSinkAuthRequired
	}
	if err := ss.sink.next("MAIL"); err != nil {
		return err
	}
	_, isTLS := ss.conn.TLSConnectionState()
	ss.cur = SinkMsg{From: from, Helo: ss.conn.Hostname(), TLS: isTLS, User: ss.user}
	ss.inMail = true
	return nil
}

func (ss *smtpSinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := ss.sink.next("RCPT"); err != nil {
		return err
	}
	ss.cur.To = append(ss.cur.To, to)
	return nil
}

func (ss *smtpSinkSession) Data(r io.Reader) error {
	ss.sink.mu.Lock()
	drop := ss.sink.dropData > 0
	if drop {
		ss.sink.dropData--
	}
	ss.sink.mu.Unlock()
	if drop {
		buf := make([]byte, 16)
		r.Read(buf)
		ss.conn.Conn().Close()
		return errors.New("mailtest: connection dropped mid-DATA")
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := ss.sink.next("DATA"); err != nil {
		return err
	}
	msg := ss.cur
	msg.Data = b
	ss.sink.mu.Lock()
	ss.sink.msgs = append(ss.sink.msgs, msg)
	ss.sink.mu.Unlock()
	return nil
}

// Reset ends the transaction: RSET, EHLO, and after every DATA reply.
func (ss *smtpSinkSession) Reset() {
	ss.inMail = false
	ss.cur = SinkMsg{}
}

func (ss *smtpSinkSession) Logout() error { return nil }
