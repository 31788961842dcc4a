package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"ticketd/config"
	"ticketd/mail"
	"ticketd/mail/oauth"
	"ticketd/store"
)

// Supervisor keeps one mailbox imported: it connects, catches up from the
// stored checkpoint, waits for new mail with IDLE (or polls), and reconnects
// with exponential backoff whenever anything goes wrong.
type Supervisor struct {
	Box     *config.Mailbox
	DB      *store.DB
	Deliver Deliverer
	Log     *slog.Logger
	// SpoolDir holds large mails while a batch is processed.
	SpoolDir string
	// Tokens are the access tokens of a mailbox with auth = "oauth2"; nil:
	// a Source of Box.OAuth, made by Run.
	Tokens *oauth.Source

	// MinBackoff and MaxBackoff bound the wait between reconnects (default 1s and 5m).
	MinBackoff, MaxBackoff time.Duration
	// IdleRestart is how long one IDLE runs before it is re-issued with a NOOP
	// in between, as a liveness probe (default 10m; servers drop long IDLEs).
	IdleRestart time.Duration
	// BeforeAfterImport, when set, runs after a batch is committed and before
	// its after_import actions; an error stops the session there (tests inject crashes with it).
	BeforeAfterImport func() error
	// Now and After are the clock (default time.Now and time.After): Status
	// times come from Now, and the wait between reconnects is an After.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time

	failures map[uint32]int   // fetch failures of a single UID, to give up on a poison mail
	suspect  uint32           // UIDs up to this one were in a failed batch: fetch them one at a time
	progress bool             // a batch was committed in this session
	stored   store.Checkpoint // the checkpoint as last written
	applied  map[uint32]bool  // UIDs whose actions were applied while a later batch was being stored

	resumeFailures int // sessions in a row whose resumed after_import actions failed

	mu     sync.Mutex
	status Status
}

// Status is the health of one mailbox, as ticketd status reports it
// (/healthz says only whether every mailbox is connected).
type Status struct {
	Mailbox     string    `json:"mailbox"`
	Connected   bool      `json:"connected"`
	Idle        bool      `json:"idle"` // waiting with IDLE; false while polling
	LastUID     uint32    `json:"last_uid"`
	LastSync    time.Time `json:"last_sync,omitzero"` // the last completed catch-up
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// AuthFailures counts the logins in a row the server refused; it is
	// reset when a login succeeds. While it is not 0 the mailbox is not
	// connected and LastError says "authentication failed ...".
	AuthFailures int `json:"auth_failures,omitempty"`
	// FetchRetries counts the fetches that failed and were retried (a
	// dropped connection, an empty body); EmptyFetches those among them in
	// which the server announced a size (RFC822.SIZE) and sent no content.
	FetchRetries int64 `json:"fetch_retries,omitempty"`
	EmptyFetches int64 `json:"empty_fetches,omitempty"`
	// Reconnects counts the sessions that ended (an error, a refused
	// login, a dropped connection) and were started again.
	Reconnects int64 `json:"reconnects,omitempty"`
}

// LoginError is a login the server refused: a tagged NO or BAD to LOGIN.
// Code is its response code (RFC 5530: AUTHENTICATIONFAILED,
// AUTHORIZATIONFAILED, EXPIRED, UNAVAILABLE, ...), "" when it gave none. The
// password is in no part of it.
type LoginError struct {
	Code string
	Text string // the server's text, cut to 200 bytes, without control characters
}

func (e *LoginError) Error() string {
	what := "authentication failed"
	switch imap.ResponseCode(e.Code) {
	case "", imap.ResponseCodeAuthenticationFailed, imap.ResponseCodeAuthorizationFailed, imap.ResponseCodeExpired:
	default:
		what = "login refused"
	}
	if e.Code != "" {
		what += " [" + e.Code + "]"
	}
	return what + ": " + e.Text
}

// EmptyBodyError is a fetch in which the server announced a mail of Size
// bytes (RFC822.SIZE) but sent no content for it: a server-side fault that
// may pass, so the mail is fetched again later instead of being stored empty.
type EmptyBodyError struct {
	UID  uint32
	Size int64
}

func (e *EmptyBodyError) Error() string {
	return fmt.Sprintf("mail uid %d: the server announced %d bytes (RFC822.SIZE) but sent an empty body", e.UID, e.Size)
}

// Status reports the mailbox's health.
func (s *Supervisor) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Mailbox = s.Box.Name
	return st
}

func (s *Supervisor) setStatus(f func(*Status)) {
	s.mu.Lock()
	f(&s.status)
	s.mu.Unlock()
}

// maxFetchFailures is how often fetching one mail may fail before it is
// quarantined so that it no longer blocks the mailbox.
const maxFetchFailures = 3

// Run imports until ctx is cancelled. A batch in progress when ctx is cancelled
// is finished first. It returns mail.ErrStopped then.
func (s *Supervisor) Run(ctx context.Context) error {
	if s.MinBackoff == 0 {
		s.MinBackoff = time.Second
	}
	if s.MaxBackoff == 0 {
		s.MaxBackoff = 5 * time.Minute
	}
	if s.IdleRestart == 0 {
		s.IdleRestart = 10 * time.Minute
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.After == nil {
		s.After = time.After
	}
	if s.failures == nil {
		s.failures = make(map[uint32]int)
		s.applied = make(map[uint32]bool)
	}
	if s.Tokens == nil && s.Box.Auth == config.AuthOAuth2 {
		s.Tokens = oauth.NewSource(&s.Box.OAuth, s.Box.Name)
		s.Tokens.Now = s.Now
	}
	log := s.Log.With("mailbox", s.Box.Name)
	backoff := s.MinBackoff
	for {
		s.progress = false
		err := s.session(ctx, log)
		code := refusedCode(err)
		refused := code != ""
		s.setStatus(func(st *Status) {
			st.Connected, st.Idle = false, false
			if err != nil && ctx.Err() == nil {
				st.LastError, st.LastErrorAt = err.Error(), s.Now()
			}
			if refused {
				st.AuthFailures++
			}
		})
		if ctx.Err() != nil {
			return mail.ErrStopped
		}
		if s.progress {
			backoff = s.MinBackoff
		}
		wait := mail.Jitter(backoff)
		if refused {
			// A refused login does not fix itself (a wrong or expired
			// password): an operator must act, and the backoff keeps the
			// server from being hammered (and the account from being locked).
			// So does a refused OAuth2 token (revoked consent, a wrong
			// tenant, a missing scope).
			log.Error("imap login refused, retrying", "code", code, "err", err, "in", wait.Round(time.Millisecond))
		} else {
			log.Warn("imap session ended, reconnecting", "err", err, "in", wait.Round(time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return mail.ErrStopped
		case <-s.After(wait):
		}
		s.setStatus(func(st *Status) { st.Reconnects++ })
		backoff = min(backoff*2, s.MaxBackoff)
	}
}

// conn is one IMAP connection with bounded waits.
type conn struct {
	c       *imapclient.Client
	raw     net.Conn
	timeout time.Duration
	newMail chan struct{}
	caps    imap.CapSet
	mech    string // the SASL mechanism that logged in, "" for LOGIN
}

// kill closes the socket: every pending and later command fails at once.
func (c *conn) kill() { c.raw.Close() }

// wait runs fn and gives up after the command timeout, killing the connection
// (the library has no deadline while waiting for a reply to start).
func (c *conn) wait(what string, fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	t := time.NewTimer(c.timeout)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("imap %s: %w", what, err)
		}
		return nil
	case <-t.C:
		c.kill()
		<-done
		return fmt.Errorf("imap %s: no response within %v", what, c.timeout)
	}
}

// dial connects to box's server as configured (implicit TLS, STARTTLS or
// plain), logs in and reads the capabilities; every step has a bounded wait.
func dial(box *config.Mailbox, tokens *oauth.Source) (*conn, error) {
	addr := net.JoinHostPort(box.Host, strconv.Itoa(box.Port))
	d := &net.Dialer{Timeout: box.CommandTimeout.Duration, KeepAlive: 30 * time.Second}
	raw, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("imap connect %s: %w", addr, err)
	}
	cn := &conn{raw: raw, timeout: box.CommandTimeout.Duration, newMail: make(chan struct{}, 1)}
	opts := &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			// Runs on the client's reader goroutine: never call the client here.
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					select {
					case cn.newMail <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	tlsConfig, err := mail.TLSConfig(box.Host, box.CAFile, box.Verify())
	if err != nil {
		raw.Close()
		return nil, err
	}
	err = cn.wait("greeting", func() error {
		switch box.TLS {
		case "implicit":
			tc := tls.Client(raw, tlsConfig)
			if err := tc.Handshake(); err != nil {
				return err
			}
			cn.c = imapclient.New(tc, opts)
		case "starttls":
			opts.TLSConfig = tlsConfig
			c, err := imapclient.NewStartTLS(raw, opts)
			if err != nil {
				return err
			}
			cn.c = c
		default:
			cn.c = imapclient.New(raw, opts)
		}
		return cn.c.WaitGreeting()
	})
	if err != nil {
		raw.Close()
		return nil, err
	}
	if box.Auth == config.AuthOAuth2 {
		if err := cn.authenticate(box, tokens); err != nil {
			cn.kill()
			return nil, err
		}
	} else if err := cn.wait("login", func() error { return cn.c.Login(box.Username, box.Password).Wait() }); err != nil {
		cn.kill()
		var imapErr *imap.Error
		if errors.As(err, &imapErr) {
			return nil, &LoginError{Code: string(imapErr.Code), Text: serverText(imapErr.Text)}
		}
		return nil, err
	}
	if err := cn.wait("capability", func() error {
		caps, err := cn.c.Capability().Wait()
		cn.caps = caps
		return err
	}); err != nil {
		cn.kill()
		return nil, err
	}
	return cn, nil
}

// serverText makes a server's response text safe to log and show: at most
// 200 bytes of valid UTF-8, control characters removed.
func serverText(s string) string { return mail.ServerText(s) }

// session runs one connection until an error or ctx ends it.
func (s *Supervisor) session(ctx context.Context, log *slog.Logger) error {
	cn, err := dial(s.Box, s.Tokens)
	if err != nil {
		return err
	}
	defer cn.kill()
	s.setStatus(func(st *Status) { st.AuthFailures = 0 })
	box := s.Box
	var sel *imap.SelectData
	if err := cn.wait("select", func() (err error) {
		sel, err = cn.c.Select(box.Folder, nil).Wait()
		return err
	}); err != nil {
		return err
	}
	cp, err := s.startCheckpoint(sel, log)
	if err != nil {
		return err
	}
	if err := s.resumePending(cn, &cp, log); err != nil {
		return err
	}
	idle := box.UseIDLE() && cn.caps.Has(imap.CapIdle)
	log.Info("imap session ready", "uidvalidity", cp.UIDValidity, "last_uid", cp.LastUID, "idle", idle)
	s.setStatus(func(st *Status) { st.Connected, st.Idle = true, idle })
	for {
		if err := s.catchUp(ctx, cn, &cp, log); err != nil {
			// Keep what was applied meanwhile from being applied again.
			if ferr := s.flushCheckpoint(&cp); ferr != nil {
				log.Error("storing the checkpoint", "err", ferr)
			}
			return err
		}
		s.setStatus(func(st *Status) { st.LastSync, st.LastUID = s.Now(), cp.LastUID })
		if ctx.Err() != nil {
			cn.wait("logout", func() error { return cn.c.Logout().Wait() })
			return ctx.Err()
		}
		if idle {
			err = s.idle(ctx, cn)
		} else {
			err = s.poll(ctx, cn)
		}
		if err != nil {
			return err
		}
	}
}

// idle waits in IDLE for new mail, for ctx, or for IdleRestart to pass (then a
// NOOP proves the connection is alive).
func (s *Supervisor) idle(ctx context.Context, cn *conn) error {
	var cmd *imapclient.IdleCommand
	if err := cn.wait("idle", func() (err error) { cmd, err = cn.c.Idle(); return err }); err != nil {
		return err
	}
	timer := time.NewTimer(s.IdleRestart)
	defer timer.Stop()
	restart := false
	select {
	case <-cn.newMail:
	case <-ctx.Done():
	case <-timer.C:
		restart = true
	case <-cn.c.Closed():
		return errors.New("imap: connection closed during idle")
	}
	if err := cn.wait("idle done", func() error {
		if err := cmd.Close(); err != nil {
			return err
		}
		return cmd.Wait()
	}); err != nil {
		return err
	}
	if restart {
		return cn.wait("noop", func() error { return cn.c.Noop().Wait() })
	}
	return nil
}

// poll waits poll_interval (or for ctx), then sends a NOOP, which also proves
// the connection is alive.
func (s *Supervisor) poll(ctx context.Context, cn *conn) error {
	timer := time.NewTimer(s.Box.PollInterval.Duration)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return nil
	case <-timer.C:
	case <-cn.c.Closed():
		return errors.New("imap: connection closed")
	}
	return cn.wait("noop", func() error { return cn.c.Noop().Wait() })
}
