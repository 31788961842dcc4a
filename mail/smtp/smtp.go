package smtp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"ticketd/config"
	"ticketd/mail"
	"ticketd/mail/oauth"
)

// SMTP submission (Sender)
//
// A Sender keeps one connection to the relay and submits consecutive mails
// over it (RFC 5321 §3.3: several transactions per session). Its rules:
//
//   - tls = implicit dials TLS (RFC 8314 §3), starttls requires the STARTTLS
//     extension (RFC 3207) and never falls back to cleartext, none is plain
//     TCP. ca_file replaces the system roots.
//   - AUTH PLAIN (RFC 4954, RFC 4616) is used when a username is configured,
//     and only over TLS or over plain TCP to a loopback address; anything
//     else is refused before a connection is made (the password never
//     crosses a network in the clear).
//   - Every command waits at most smtp.timeout; the whole connection set-up
//     (TCP, greeting, EHLO, STARTTLS, AUTH) too.
//   - After any failed command inside a transaction the session is reset with
//     RSET (RFC 5321 §4.1.1.5) before it is used again; after a network error,
//     a timeout or a 421 (RFC 5321 §3.8) the connection is dropped and the
//     next Send dials a new one.
//   - A connection idle longer than IdleProbe is probed with NOOP first.

// defaultSMTPTimeout bounds every command when smtp.timeout is unset.
const defaultSMTPTimeout = 60 * time.Second

// DefaultIdleProbe is how long a connection may sit idle before Send probes it
// with NOOP; relays drop idle sessions (Postfix after 300 s, RFC 5321 §4.5.3.2.7).
const DefaultIdleProbe = 30 * time.Second

// smtpBodyChunk is how much of a message is written under one write deadline.
const smtpBodyChunk = 64 << 10

// Sender submits mail to the relay, reusing one connection for consecutive mails.
// Send and Close may be called from several goroutines; they run one at a time.
type Sender struct {
	// IdleProbe: a connection unused for longer is probed with NOOP before
	// the next mail, and redialled if the probe fails (default DefaultIdleProbe).
	IdleProbe time.Duration
	// Now is the clock for the idle check (default time.Now).
	Now func() time.Time
	// Tokens are the access tokens for smtp.auth = "oauth2" (set by
	// NewSender; nil otherwise).
	Tokens *oauth.Source

	cfg     config.SMTP
	helo    string
	log     *slog.Logger
	addr    string
	timeout time.Duration
	// refuse is set when the configuration must not be used at all; Send
	// returns it without dialling.
	refuse *SendError
	// dial opens the TCP connection (a seam for tests).
	dial func(ctx context.Context, network, addr string) (net.Conn, error)

	mu       sync.Mutex
	c        *smtp.Client // nil: not connected
	raw      net.Conn     // the TCP connection under c
	lastUsed time.Time
	mech     string // the SASL mechanism of the last OAuth2 login
}

// NewSender returns a Sender for the relay in cfg. helo is the name sent with
// EHLO (the public host name). Nothing is dialled before the first Send.
// A nil log discards.
func NewSender(cfg *config.SMTP, helo string, log *slog.Logger) *Sender {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Sender{
		IdleProbe: DefaultIdleProbe,
		Now:       time.Now,
		cfg:       *cfg,
		helo:      helo,
		log:       log,
		timeout:   cfg.Timeout.Duration,
	}
	if s.timeout <= 0 {
		s.timeout = defaultSMTPTimeout
	}
	if s.cfg.TLS == "" {
		s.cfg.TLS = "starttls"
	}
	port := s.cfg.Port
	if port == 0 {
		port = map[string]int{"implicit": 465, "starttls": 587, "none": 25}[s.cfg.TLS]
	}
	s.addr = net.JoinHostPort(s.cfg.Host, strconv.Itoa(port))
	d := &net.Dialer{Timeout: s.timeout, KeepAlive: 30 * time.Second}
	s.dial = d.DialContext
	switch s.cfg.TLS {
	case "none", "starttls", "implicit":
	default:
		s.refuse = &SendError{Err: fmt.Errorf("smtp.tls %q: want none, starttls or implicit", s.cfg.TLS)}
	}
	if s.cfg.Auth == config.AuthOAuth2 {
		s.Tokens = oauth.NewSource(&s.cfg.OAuth, "-smtp")
	}
	if s.cfg.Username != "" && s.cfg.TLS == "none" && !smtpLoopbackHost(s.cfg.Host) {
		s.refuse = &SendError{Err: fmt.Errorf("refusing AUTH to %s without TLS: the password would cross the network "+
			"in the clear (set smtp.tls to starttls or implicit; plain AUTH is allowed only to a loopback address)", s.cfg.Host)}
	}
	return s
}

// SendError is the outcome of a failed Send.
type SendError struct {
	// Temporary: retrying later may succeed (4xx replies, network errors,
	// timeouts, TLS problems). Otherwise the mail will never be accepted as it is
	// (5xx replies, a refused configuration).
	Temporary bool
	// Code is the SMTP reply code, 0 when there was none (network errors,
	// errors found before anything was sent).
	Code int
	// Connect: it failed before a session was set up (connect, TLS,
	// greeting, EHLO, AUTH), so it says nothing about this mail and every
	// other mail would meet it too.
	Connect bool
	Err     error
}

func (e *SendError) Error() string {
	kind := "permanent"
	if e.Temporary {
		kind = "temporary"
	}
	if e.Err == nil {
		return fmt.Sprintf("smtp: %s failure (code %d)", kind, e.Code)
	}
	return "smtp: " + kind + " failure: " + e.Err.Error()
}

func (e *SendError) Unwrap() error { return e.Err }

// Send submits one message: MAIL FROM:<from>, one RCPT TO per address in to,
// and msg as DATA (LF line ends are sent as CRLF, lines starting with a dot
// are escaped). It succeeds only when every recipient was accepted and the
// relay answered 250 to the data. Errors are *SendError.
//
// A cancelled ctx closes the connection and aborts at once. A mail whose
// final reply was lost (timeout, cancel, dropped connection after the data)
// may still have been accepted: like every SMTP client, a retry may then
// deliver it twice.
func (s *Sender) Send(ctx context.Context, from string, to []string, msg []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse != nil {
		return s.refuse
	}
	if err := checkSMTPEnvelope(from, to); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return &SendError{Temporary: true, Err: fmt.Errorf("not sent: %w", err)}
	}

	reused := false
	if s.c != nil && s.Now().Sub(s.lastUsed) > s.IdleProbe {
		if _, err := s.guard(ctx, func() (string, error) { return "NOOP", s.c.Noop() }); err != nil {
			if ctx.Err() != nil {
				s.drop()
				return s.failure(ctx, "NOOP", err)
			}
			s.log.Debug("smtp idle connection probe failed, reconnecting", "err", err)
			s.drop()
		}
	}
	if s.c != nil {
		reused = true
	} else if err := s.connect(ctx); err != nil {
		return err
	}

	stage, err := s.guard(ctx, func() (string, error) { return s.transaction(from, to, msg) })
	if err != nil && reused && stage == "MAIL FROM" && ctx.Err() == nil && smtpStale(err) {
		// The relay closed the reused connection while it was idle. Nothing
		// was submitted yet, so one fresh connection is safe to try at once.
		s.log.Debug("smtp reused connection failed, reconnecting", "err", err)
		s.drop()
		if err := s.connect(ctx); err != nil {
			return err
		}
		stage, err = s.guard(ctx, func() (string, error) { return s.transaction(from, to, msg) })
	}
	if err != nil {
		return s.abort(ctx, stage, err)
	}
	s.lastUsed = s.Now()
	return nil
}

// Close ends the session with QUIT and closes the connection. A later Send
// connects again.
func (s *Sender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c == nil {
		return nil
	}
	c := s.c
	c.CommandTimeout = min(s.timeout, 5*time.Second)
	err := c.Quit()
	s.drop()
	if err != nil {
		return fmt.Errorf("smtp quit: %w", err)
	}
	s.log.Debug("smtp connection closed")
	return nil
}

// checkSMTPEnvelope refuses addresses that cannot be sent at all.
func checkSMTPEnvelope(from string, to []string) error {
	if len(to) == 0 {
		return &SendError{Err: errors.New("no recipients")}
	}
	for _, a := range append([]string{from}, to...) {
		if strings.ContainsAny(a, "\r\n<>") {
			// The address itself stays out of the error, which ends up in logs.
			return &SendError{Err: errors.New("an envelope address contains a line break or angle bracket")}
		}
	}
	for _, a := range to {
		if a == "" {
			return &SendError{Err: errors.New("empty recipient address")}
		}
	}
	return nil
}

// connect dials the relay and readies the session: greeting, EHLO, STARTTLS,
// EHLO again, AUTH. The whole set-up is bounded by the command timeout.
func (s *Sender) connect(ctx context.Context) error {
	tlsConfig, err := mail.TLSConfig(s.cfg.Host, s.cfg.CAFile, s.cfg.Verify())
	if err != nil {
		// The operator may fix the file while the mail waits.
		return &SendError{Temporary: true, Err: fmt.Errorf("smtp.ca_file: %w", err)}
	}
	setup, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	raw, err := s.dial(setup, "tcp", s.addr)
	if err != nil {
		return s.setupFailure(ctx, setup, "connect to "+s.addr, err)
	}
	closed := context.AfterFunc(setup, func() { raw.Close() })
	c, stage, err := s.handshake(raw, tlsConfig)
	if !closed() && err == nil {
		c.Close() // the set-up took too long, or ctx ended, just as it succeeded
		err = errors.New("connection closed")
	}
	if err != nil {
		raw.Close()
		return s.setupFailure(ctx, setup, stage, err)
	}
	s.c, s.raw, s.lastUsed = c, raw, s.Now()
	state, isTLS := c.TLSConnectionState()
	s.log.Debug("smtp connected", "addr", s.addr, "tls", s.cfg.TLS, "tls_version", smtpTLSVersion(state, isTLS),
		"auth", s.cfg.Username != "")
	return nil
}

// handshake runs the session set-up on raw; stage names the step that failed.
func (s *Sender) handshake(raw net.Conn, tlsConfig *tls.Config) (*smtp.Client, string, error) {
	var c *smtp.Client
	switch s.cfg.TLS {
	case "implicit":
		tc := tls.Client(raw, tlsConfig)
		if err := tc.Handshake(); err != nil { // bounded by the set-up context, which closes raw
			return nil, "TLS handshake", err
		}
		c = smtp.NewClient(tc)
	case "starttls":
		// Greeting, EHLO and STARTTLS; fails if the relay does not offer
		// STARTTLS (never a silent downgrade). The TLS handshake itself runs
		// lazily with the next command, the EHLO below.
		var err error
		if c, err = smtp.NewClientStartTLS(raw, tlsConfig); err != nil {
			return nil, "STARTTLS", err
		}
	default:
		c = smtp.NewClient(raw)
	}
	c.CommandTimeout = s.timeout
	c.SubmissionTimeout = s.timeout
	fail := func(stage string, err error) (*smtp.Client, string, error) {
		c.Close()
		return nil, stage, err
	}
	if s.helo != "" {
		if err := c.Hello(s.helo); err != nil {
			return fail("EHLO", err)
		}
	} else if err := c.Noop(); err != nil { // greeting and EHLO as "localhost"
		return fail("EHLO", err)
	}
	if s.cfg.Username == "" {
		return c, "", nil
	}
	if _, isTLS := c.TLSConnectionState(); !isTLS && !smtpLoopbackAddr(raw.RemoteAddr()) {
		return fail("AUTH", &SendError{Err: fmt.Errorf("refusing AUTH to %s without TLS: the password would cross "+
			"the network in the clear", raw.RemoteAddr())})
	}
	if ok, _ := c.Extension("AUTH"); !ok {
		return fail("AUTH", &SendError{Err: errors.New("smtp.username is set but the relay does not offer AUTH " +
			"(over this connection; many relays offer it only after STARTTLS)")})
	}
	if s.cfg.Auth == config.AuthOAuth2 {
		if err := s.authOAuth(c); err != nil {
			return fail("AUTH", err)
		}
		return c, "", nil
	}
	if !c.SupportsAuth(sasl.Plain) {
		_, mechs := c.Extension("AUTH")
		return fail("AUTH", &SendError{Err: fmt.Errorf("the relay does not offer AUTH PLAIN (it offers %s)", mechs)})
	}
	if err := c.Auth(sasl.NewPlainClient("", s.cfg.Username, s.cfg.Password)); err != nil {
		return fail("AUTH", err)
	}
	return c, "", nil
}

// setupFailure classifies an error from connect.
func (s *Sender) setupFailure(ctx, setup context.Context, stage string, err error) error {
	se := s.classifySetup(ctx, setup, stage, err)
	se.Connect = true
	return se
}

func (s *Sender) classifySetup(ctx, setup context.Context, stage string, err error) *SendError {
	var se *SendError
	if errors.As(err, &se) {
		return &SendError{Temporary: se.Temporary, Code: se.Code, Err: fmt.Errorf("%s: %w", stage, se.Err)}
	}
	if ctx.Err() != nil {
		return &SendError{Temporary: true, Err: fmt.Errorf("%s: aborted: %w", stage, ctx.Err())}
	}
	if setup.Err() != nil || smtpTimedOut(err) {
		return &SendError{Temporary: true, Err: fmt.Errorf("%s: no answer within %v: %w", stage, s.timeout, err)}
	}
	return classifySMTP(stage, err)
}

// transaction runs MAIL, RCPT and DATA; stage names the command that failed.
func (s *Sender) transaction(from string, to []string, msg []byte) (string, error) {
	c := s.c
	opts := &smtp.MailOptions{Size: int64(len(msg))}
	if !smtpASCII(from) || !smtpAllASCII(to) {
		if ok, _ := c.Extension("SMTPUTF8"); !ok {
			if err := c.Noop(); err != nil { // Extension says no when the connection failed, too
				return "MAIL FROM", err
			}
			return "", &SendError{Err: errors.New("an address is not ASCII and the relay does not offer SMTPUTF8")}
		}
		opts.UTF8 = true
	}
	if err := c.Mail(from, opts); err != nil {
		return "MAIL FROM", err
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt, nil); err != nil {
			return "RCPT TO", err
		}
	}
	w, err := c.Data()
	if err != nil {
		return "DATA", err
	}
	// The library sets no deadline while the body is written: bound each chunk.
	for len(msg) > 0 {
		n := min(len(msg), smtpBodyChunk)
		s.raw.SetWriteDeadline(time.Now().Add(s.timeout))
		if _, err := w.Write(msg[:n]); err != nil {
			return "DATA", err
		}
		msg = msg[n:]
	}
	s.raw.SetWriteDeadline(time.Now().Add(s.timeout)) // the final flush and the dot
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "end of DATA", err
	}
	masked := make([]string, len(to))
	for i, a := range to {
		masked[i] = mail.MaskEmail(a)
	}
	s.log.Debug("smtp message accepted", "from", mail.MaskEmail(from), "to", masked, "reply", mail.MaskAddresses(resp.StatusText))
	return "", nil
}

// guard runs fn with the connection closed as soon as ctx is done.
func (s *Sender) guard(ctx context.Context, fn func() (string, error)) (string, error) {
	raw := s.raw
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	stage, err := fn()
	if !stop() {
		s.drop() // closed by the AfterFunc
	}
	return stage, err
}

// abort classifies an error from a transaction and leaves the connection
// fit for the next one: reset with RSET, or dropped.
func (s *Sender) abort(ctx context.Context, stage string, err error) error {
	var se *SendError
	if errors.As(err, &se) { // found before anything was sent
		return se
	}
	if ctx.Err() != nil {
		s.drop()
		return s.failure(ctx, stage, err)
	}
	var serr *smtp.SMTPError
	if errors.As(err, &serr) && serr.Code != 421 && s.c != nil {
		// The relay answered and stays: end the transaction so the next
		// MAIL is not a nested one (503).
		if _, rerr := s.guard(ctx, func() (string, error) { return "RSET", s.c.Reset() }); rerr != nil {
			s.log.Debug("smtp reset failed, dropping the connection", "err", rerr)
			s.drop()
		} else {
			s.lastUsed = s.Now()
		}
	} else {
		s.drop()
	}
	return s.failure(ctx, stage, err)
}

// failure builds the SendError for err at stage.
func (s *Sender) failure(ctx context.Context, stage string, err error) error {
	if ctx.Err() != nil {
		return &SendError{Temporary: true, Err: fmt.Errorf("%s: aborted: %w", stage, ctx.Err())}
	}
	se := classifySMTP(stage, err)
	if smtpTimedOut(err) {
		se.Err = fmt.Errorf("%s: no answer within %v: %w", stage, s.timeout, err)
	}
	s.log.Debug("smtp send failed", "stage", stage, "code", se.Code, "temporary", se.Temporary, "err", err)
	return se
}

// classifySMTP maps an error to a SendError: 5xx replies are permanent, 4xx and
// everything without a reply (network, timeouts, TLS) temporary.
func classifySMTP(stage string, err error) *SendError {
	var serr *smtp.SMTPError
	if errors.As(err, &serr) {
		return &SendError{Temporary: serr.Code/100 != 5, Code: serr.Code, Err: fmt.Errorf("%s: %w", stage, err)}
	}
	if smtpCertError(err) {
		return &SendError{Temporary: true, Err: fmt.Errorf("%s: the relay's TLS certificate is not trusted "+
			"(check smtp.host, smtp.ca_file and the relay's certificate; mail is retried until it is fixed "+
			"or retry_for runs out): %w", stage, err)}
	}
	var rec tls.RecordHeaderError
	if errors.As(err, &rec) {
		return &SendError{Temporary: true, Err: fmt.Errorf("%s: the relay does not speak TLS here "+
			"(check smtp.tls and smtp.port): %w", stage, err)}
	}
	return &SendError{Temporary: true, Err: fmt.Errorf("%s: %w", stage, err)}
}

// smtpCertError reports whether err is a failed certificate verification.
func smtpCertError(err error) bool {
	var (
		verr *tls.CertificateVerificationError
		uerr x509.UnknownAuthorityError
		herr x509.HostnameError
		ierr x509.CertificateInvalidError
	)
	return errors.As(err, &verr) || errors.As(err, &uerr) || errors.As(err, &herr) || errors.As(err, &ierr)
}

// smtpTimedOut reports whether err is a network timeout.
func smtpTimedOut(err error) bool {
	var nerr net.Error
	return errors.As(err, &nerr) && nerr.Timeout()
}

// smtpStale reports whether err from the first command on a reused
// connection means the relay had closed it: a network error or 421.
func smtpStale(err error) bool {
	var serr *smtp.SMTPError
	if errors.As(err, &serr) {
		return serr.Code == 421
	}
	var se *SendError
	return !errors.As(err, &se)
}

// drop closes the connection without QUIT.
func (s *Sender) drop() {
	if s.c != nil {
		s.c.Close()
	}
	s.c, s.raw = nil, nil
}

// smtpLoopbackHost reports whether host names the loopback interface:
// 127.0.0.0/8, ::1 or localhost.
func smtpLoopbackHost(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// smtpLoopbackAddr reports whether a is a TCP address on the loopback interface.
func smtpLoopbackAddr(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

func smtpTLSVersion(state tls.ConnectionState, ok bool) string {
	if !ok {
		return "none"
	}
	return tls.VersionName(state.Version)
}

func smtpASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func smtpAllASCII(ss []string) bool {
	for _, s := range ss {
		if !smtpASCII(s) {
			return false
		}
	}
	return true
}
