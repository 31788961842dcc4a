package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"ticketd/config"
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

// ErrStopped is returned by Run when its context was cancelled.
var ErrStopped = errors.New("mail: stopped")

// Run imports until ctx is cancelled. A batch in progress when ctx is cancelled
// is finished first. It returns ErrStopped then.
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
	log := s.Log.With("mailbox", s.Box.Name)
	backoff := s.MinBackoff
	for {
		s.progress = false
		err := s.session(ctx, log)
		var loginErr *LoginError
		refused := errors.As(err, &loginErr)
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
			return ErrStopped
		}
		if s.progress {
			backoff = s.MinBackoff
		}
		wait := jitter(backoff)
		if refused {
			// A refused login does not fix itself (a wrong or expired
			// password): an operator must act, and the backoff keeps the
			// server from being hammered (and the account from being locked).
			code := loginErr.Code
			if code == "" {
				code = "none"
			}
			log.Error("imap login refused, retrying", "code", code, "err", err, "in", wait.Round(time.Millisecond))
		} else {
			log.Warn("imap session ended, reconnecting", "err", err, "in", wait.Round(time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return ErrStopped
		case <-s.After(wait):
		}
		backoff = min(backoff*2, s.MaxBackoff)
	}
}

// jitter spreads d by ±20% so that many mailboxes don't reconnect in step.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// conn is one IMAP connection with bounded waits.
type conn struct {
	c       *imapclient.Client
	raw     net.Conn
	timeout time.Duration
	newMail chan struct{}
	caps    imap.CapSet
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
func dial(box *config.Mailbox) (*conn, error) {
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
	tlsConfig, err := TLSConfig(box.Host, box.CAFile)
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
	if err := cn.wait("login", func() error { return cn.c.Login(box.Username, box.Password).Wait() }); err != nil {
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
func serverText(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	if len(s) > 200 {
		s = s[:utf8Cut(s, 200)] + "..."
	}
	return s
}

// TLSConfig is the TLS configuration for host, trusting the PEM bundle in
// caFile instead of the system roots when caFile is set.
func TLSConfig(host, caFile string) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read ca_file: %w", err)
	}
	cfg.RootCAs = x509.NewCertPool()
	if !cfg.RootCAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file %s: no PEM certificate", caFile)
	}
	return cfg, nil
}

// session runs one connection until an error or ctx ends it.
func (s *Supervisor) session(ctx context.Context, log *slog.Logger) error {
	cn, err := dial(s.Box)
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

// startCheckpoint loads the mailbox's checkpoint, starting over when the
// folder's UIDVALIDITY changed (every stored UID is then meaningless; dedup
// keeps the rescan from importing anything twice).
func (s *Supervisor) startCheckpoint(sel *imap.SelectData, log *slog.Logger) (store.Checkpoint, error) {
	var cp store.Checkpoint
	err := s.DB.Update(func(tx *store.Tx) error {
		var found bool
		var err error
		cp, found, err = tx.Checkpoint(s.Box.Name)
		if err != nil {
			return err
		}
		if found && cp.UIDValidity == sel.UIDValidity {
			return nil
		}
		if found {
			log.Warn("uidvalidity changed, rescanning the folder", "old", cp.UIDValidity, "new", sel.UIDValidity)
		}
		cp = store.Checkpoint{Mailbox: s.Box.Name, UIDValidity: sel.UIDValidity, FirstUIDNext: uint32(sel.UIDNext)}
		return tx.SetCheckpoint(cp, "system")
	})
	s.stored = cp
	return cp, err
}

// catchUp imports every mail above the checkpoint, in batches. The next batch
// is fetched while the previous one is parsed and committed in the background;
// the connection stays with this goroutine, and a batch's after_import actions
// run only after its commit.
func (s *Supervisor) catchUp(ctx context.Context, cn *conn, cp *store.Checkpoint, log *slog.Logger) error {
	for {
		var set imap.UIDSet
		set.AddRange(imap.UID(cp.LastUID+1), 0)
		var uids []uint32
		if err := cn.wait("uid search", func() error {
			data, err := cn.c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{set}}, nil).Wait()
			if err != nil {
				return err
			}
			for _, u := range data.AllUIDs() {
				if uint32(u) > cp.LastUID { // "n:*" includes the highest UID even when it is below n
					uids = append(uids, uint32(u))
				}
			}
			return nil
		}); err != nil {
			return err
		}
		if len(uids) == 0 {
			return s.flushCheckpoint(cp)
		}
		slices.Sort(uids)
		var inflight *delivery
		for len(uids) > 0 && ctx.Err() == nil {
			n := min(len(uids), s.Box.BatchSize)
			if uids[0] <= s.suspect {
				n = 1 // a batch with these mails broke a fetch: find the culprit one at a time
			}
			batch := uids[:n]
			uids = uids[n:]
			mails, err := s.fetchBatch(cn, batch, log)
			if inflight != nil {
				if ferr := s.finish(cp, inflight, log); ferr != nil {
					release(mails)
					return ferr
				}
				inflight = nil
			}
			if err != nil {
				return err
			}
			if len(mails) > 0 {
				inflight = s.deliver(ctx, *cp, batch, mails)
			} else {
				// Every UID vanished between SEARCH and FETCH (expunged by another client).
				cp.LastUID = max(cp.LastUID, batch[len(batch)-1])
			}
			// The previous batch's flags and moves go out while this one is stored.
			if err := s.afterImport(cn, cp, log); err != nil {
				if inflight != nil {
					s.finish(cp, inflight, log)
				}
				return err
			}
		}
		if inflight != nil {
			if err := s.finish(cp, inflight, log); err != nil {
				return err
			}
			if err := s.afterImport(cn, cp, log); err != nil {
				return err
			}
		}
		if ctx.Err() != nil {
			return s.flushCheckpoint(cp)
		}
	}
}

// afterImport applies the after_import actions of what is committed.
func (s *Supervisor) afterImport(cn *conn, cp *store.Checkpoint, log *slog.Logger) error {
	if len(cp.Pending) == 0 {
		return nil
	}
	if s.BeforeAfterImport != nil {
		if err := s.BeforeAfterImport(); err != nil {
			return err
		}
	}
	return s.applyPending(cn, cp, log)
}

func release(mails []*Fetched) {
	for _, m := range mails {
		m.Release()
	}
}

// fetchBatch fetches uids. A failed fetch marks the batch suspect, so its
// mails are fetched one at a time next; a single mail that failed
// maxFetchFailures times comes back as a failed mail (quarantined by the
// Deliverer) so that it no longer blocks the mailbox.
//
// An empty body for a mail the server announced with RFC822.SIZE > 0 is
// such a failure too (*EmptyBodyError): nothing of the batch is committed,
// the session starts over with backoff, and only after maxFetchFailures
// empty fetches is the mail quarantined, with that reason.
func (s *Supervisor) fetchBatch(cn *conn, uids []uint32, log *slog.Logger) ([]*Fetched, error) {
	mails, err := s.fetch(cn, uids)
	if err != nil {
		var empty *EmptyBodyError
		isEmpty := errors.As(err, &empty)
		if isEmpty {
			log.Warn("imap server sent an empty body, fetching the mail again later", "uid", empty.UID, "rfc822_size", empty.Size)
		}
		s.suspect = max(s.suspect, uids[len(uids)-1])
		if len(uids) == 1 {
			s.failures[uids[0]]++
		}
		giveUp := len(uids) == 1 && s.failures[uids[0]] >= maxFetchFailures
		s.setStatus(func(st *Status) {
			if isEmpty {
				st.EmptyFetches++
			}
			if !giveUp {
				st.FetchRetries++
			}
		})
		if !giveUp {
			return nil, err
		}
		log.Error("mail cannot be fetched, quarantining it", "uid", uids[0], "err", err)
		f := &Fetched{UID: uids[0], Failed: "fetching it failed repeatedly: " + err.Error()}
		if isEmpty {
			f.Size = empty.Size
			f.Failed = fmt.Sprintf("the server announced %d bytes (RFC822.SIZE) but sent an empty body, %d times", empty.Size, maxFetchFailures)
		}
		mails = []*Fetched{f}
	}
	delete(s.failures, uids[0])
	return mails, nil
}

// delivery is a batch being stored in the background.
type delivery struct {
	done  chan error
	next  store.Checkpoint // the checkpoint the batch commits
	mails []*Fetched
}

// deliver starts storing mails with the checkpoint moved past uids. The batch
// is finished even when ctx is cancelled meanwhile (a clean stop).
func (s *Supervisor) deliver(ctx context.Context, cp store.Checkpoint, uids []uint32, mails []*Fetched) *delivery {
	d := &delivery{done: make(chan error, 1), next: cp, mails: mails}
	d.next.LastUID = max(cp.LastUID, uids[len(uids)-1])
	b := &Batch{Mailbox: s.Box.Name, UIDValidity: cp.UIDValidity, FirstUIDNext: cp.FirstUIDNext, Mails: mails}
	go func() {
		d.done <- s.Deliver.Deliver(context.WithoutCancel(ctx), b, func(tx *store.Tx) error {
			d.next.Pending = append(slices.Clip(d.next.Pending), s.pendingFor(mails)...)
			return tx.SetCheckpoint(d.next, "system")
		})
	}()
	return d
}

// finish waits for a delivery and takes its checkpoint, less the actions that
// were applied while it was stored (its commit still lists them; applying
// them again after a crash is harmless).
func (s *Supervisor) finish(cp *store.Checkpoint, d *delivery, log *slog.Logger) error {
	err := <-d.done
	release(d.mails)
	if err != nil {
		return fmt.Errorf("deliver batch: %w", err)
	}
	s.stored = d.next
	*cp = d.next
	cp.Pending = slices.DeleteFunc(slices.Clone(cp.Pending), func(p store.PendingAction) bool { return s.applied[p.UID] })
	clear(s.applied)
	s.progress = true
	log.Debug("batch imported", "mails", len(d.mails), "last_uid", cp.LastUID)
	return nil
}

// flushCheckpoint stores cp when it is ahead of what the last commit
// recorded (mail that vanished, actions that were applied).
func (s *Supervisor) flushCheckpoint(cp *store.Checkpoint) error {
	if cp.LastUID == s.stored.LastUID && len(cp.Pending) == len(s.stored.Pending) {
		return nil
	}
	if err := s.DB.Update(func(tx *store.Tx) error { return tx.SetCheckpoint(*cp, "system") }); err != nil {
		return err
	}
	s.stored = *cp
	return nil
}

// pendingFor lists the after_import actions a delivered batch needs.
func (s *Supervisor) pendingFor(mails []*Fetched) []store.PendingAction {
	var out []store.PendingAction
	for _, m := range mails {
		action := s.Box.AfterImport
		if m.Quarantined && s.Box.QuarantineFolder != "" {
			action = "quarantine"
		}
		if action != "keep" {
			out = append(out, store.PendingAction{UID: m.UID, Action: action})
		}
	}
	return out
}

// applyPending flags or moves committed mail. A server refusal (NO) drops the
// action with a log line, so a mail deleted meanwhile cannot wedge the
// mailbox; a connection error keeps it for the next session.
func (s *Supervisor) applyPending(cn *conn, cp *store.Checkpoint, log *slog.Logger) error {
	return s.apply(cn, cp, nil, log)
}

// apply applies cp.Pending; with exist set, only to the UIDs in it.
func (s *Supervisor) apply(cn *conn, cp *store.Checkpoint, exist map[imap.UID]bool, log *slog.Logger) error {
	if len(cp.Pending) == 0 {
		return nil
	}
	byAction := map[string][]imap.UID{}
	for _, p := range cp.Pending {
		if exist == nil || exist[imap.UID(p.UID)] {
			byAction[p.Action] = append(byAction[p.Action], imap.UID(p.UID))
		}
	}
	for _, action := range []string{"seen", "move", "quarantine"} {
		uids := byAction[action]
		if len(uids) == 0 {
			continue
		}
		set := imap.UIDSetNum(uids...)
		var err error
		switch action {
		case "seen":
			err = cn.wait("store \\Seen", func() error {
				return cn.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close()
			})
		case "move":
			err = s.move(cn, set, s.Box.MoveTo)
		case "quarantine":
			err = s.move(cn, set, s.Box.QuarantineFolder)
		}
		var imapErr *imap.Error
		if errors.As(err, &imapErr) {
			log.Error("after_import refused by the server, leaving the mail where it is", "action", action, "uids", set.String(), "err", err)
		} else if err != nil {
			return err
		}
	}
	// Cleared in memory; stored with the next checkpoint write. Re-applying
	// an action after a crash is harmless (flags are idempotent, and a moved
	// mail is gone, which the server answers with a no-op or a NO).
	for _, p := range cp.Pending {
		s.applied[p.UID] = true
	}
	cp.Pending = nil
	return nil
}

// resumePending applies the actions a previous session left in the
// checkpoint. They may have been applied already (the checkpoint lists them
// until the next write), so only the UIDs still in the folder get them; a
// server that keeps failing on them cannot wedge the mailbox: after
// maxFetchFailures sessions they are dropped.
func (s *Supervisor) resumePending(cn *conn, cp *store.Checkpoint, log *slog.Logger) error {
	if len(cp.Pending) == 0 {
		return nil
	}
	var set imap.UIDSet
	for _, p := range cp.Pending {
		set.AddNum(imap.UID(p.UID))
	}
	exist := map[imap.UID]bool{}
	err := cn.wait("uid search", func() error {
		data, err := cn.c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{set}}, nil).Wait()
		if err != nil {
			return err
		}
		for _, u := range data.AllUIDs() {
			exist[u] = true
		}
		return nil
	})
	if err == nil {
		err = s.apply(cn, cp, exist, log)
	}
	if err == nil {
		s.resumeFailures = 0
		return s.flushCheckpoint(cp)
	}
	if s.resumeFailures++; s.resumeFailures < maxFetchFailures {
		return err
	}
	log.Error("after_import actions keep failing, dropping them; the mail stays where it is", "actions", len(cp.Pending), "err", err)
	s.resumeFailures = 0
	cp.Pending = nil
	return s.flushCheckpoint(cp)
}

// move moves mail to folder, creating the folder when the server says it is missing.
func (s *Supervisor) move(cn *conn, set imap.UIDSet, folder string) error {
	mv := func() error {
		return cn.wait("move", func() error { _, err := cn.c.Move(set, folder).Wait(); return err })
	}
	err := mv()
	var imapErr *imap.Error
	if errors.As(err, &imapErr) && (imapErr.Code == imap.ResponseCodeTryCreate || imapErr.Code == imap.ResponseCodeNonExistent) {
		if err := cn.wait("create", func() error { return cn.c.Create(folder, nil).Wait() }); err != nil {
			return err
		}
		err = mv()
	}
	return err
}

// fetch reads the mails of uids: UID, RFC822.SIZE, INTERNALDATE and BODY.PEEK[]
// (which leaves \Seen alone), streamed to memory or a spool file. A watchdog
// kills the connection when no data arrives for the command timeout, so a
// large mail may take as long as it needs while a dead server is noticed.
func (s *Supervisor) fetch(cn *conn, uids []uint32) ([]*Fetched, error) {
	want := make([]imap.UID, len(uids))
	for i, u := range uids {
		want[i] = imap.UID(u)
	}
	wd := newWatchdog(cn.timeout, cn.kill)
	defer wd.stop()
	fc := cn.c.Fetch(imap.UIDSetNum(want...), &imap.FetchOptions{
		UID: true, RFC822Size: true, InternalDate: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	})
	var out []*Fetched
	held := int64(0) // bytes of this batch held in memory
	fail := func(err error) ([]*Fetched, error) {
		fc.Close()
		for _, m := range out {
			m.Release()
		}
		if wd.fired() {
			return nil, fmt.Errorf("imap fetch: no data within %v", cn.timeout)
		}
		return nil, fmt.Errorf("imap fetch: %w", err)
	}
	var empty *EmptyBodyError // the first mail announced with a size that came without content
	for msg := fc.Next(); msg != nil; msg = fc.Next() {
		wd.kick()
		f := &Fetched{}
		body := false
		announced, read := int64(0), int64(-1)
		for item := msg.Next(); item != nil; item = msg.Next() {
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				f.UID = uint32(it.UID)
			case imapclient.FetchItemDataRFC822Size:
				announced = it.Size
				f.Size = it.Size
			case imapclient.FetchItemDataInternalDate:
				f.InternalDate = it.Time
			case imapclient.FetchItemDataBodySection:
				body = true
				if it.Literal == nil {
					f.Failed = "the server returned no content"
					continue
				}
				if size := it.Literal.Size(); size > int64(s.Box.MaxMessageSize) {
					f.Size = size
					f.Failed = fmt.Sprintf("larger than the limit of %d bytes", int64(s.Box.MaxMessageSize))
					continue // the library discards the unread literal
				}
				memMax := int64(inMemoryMax)
				if held+it.Literal.Size() > batchMemory {
					memMax = 0
				}
				err := f.read(&kickReader{it.Literal, wd}, s.SpoolDir, int64(s.Box.MaxMessageSize), memMax)
				read = f.Size
				held += int64(len(f.raw))
				if err == nil && f.Size != it.Literal.Size() {
					// A dropped connection ends the literal with a plain EOF.
					f.Release()
					err = fmt.Errorf("mail uid %d: got %d of %d bytes: %w", f.UID, f.Size, it.Literal.Size(), io.ErrUnexpectedEOF)
				}
				if err != nil {
					// go-imap re-reads a failed literal when the fetch is
					// drained, after its reader goroutine has moved on: let
					// that goroutine end first, so nothing reads concurrently.
					cn.kill()
					select {
					case <-cn.c.Closed():
					case <-time.After(cn.timeout):
					}
					return fail(err)
				}
			}
		}
		if f.UID == 0 || !slices.Contains(uids, f.UID) {
			f.Release()
			continue // not ours (an unsolicited FETCH); never happens with UID before BODY[]
		}
		if read >= 0 {
			f.Size = read
		}
		if !body {
			f.Failed = "the server returned no content"
		}
		if announced > 0 && (read == 0 || f.Failed == "the server returned no content") && empty == nil {
			empty = &EmptyBodyError{UID: f.UID, Size: announced}
		}
		out = append(out, f)
	}
	if err := fc.Close(); err != nil {
		return fail(err)
	}
	if wd.fired() {
		return fail(io.ErrUnexpectedEOF)
	}
	if empty != nil {
		for _, m := range out {
			m.Release()
		}
		return nil, fmt.Errorf("imap fetch: %w", empty)
	}
	// A UID asked for but not returned was expunged meanwhile, or the server
	// answered out of order; UIDs are never reused, so checking that it is gone
	// is enough to skip it safely.
	if missing := len(uids) - len(out); missing > 0 {
		gone, err := s.stillThere(cn, uids, out)
		if err != nil {
			return fail(err)
		}
		if len(gone) > 0 {
			return fail(fmt.Errorf("server did not return uids %v", gone))
		}
	}
	slices.SortFunc(out, func(a, b *Fetched) int { return int(a.UID) - int(b.UID) })
	return out, nil
}

// stillThere returns the UIDs of uids that were not fetched but still exist.
func (s *Supervisor) stillThere(cn *conn, uids []uint32, got []*Fetched) ([]uint32, error) {
	var missing []imap.UID
	for _, u := range uids {
		if !slices.ContainsFunc(got, func(f *Fetched) bool { return f.UID == u }) {
			missing = append(missing, imap.UID(u))
		}
	}
	var exist []uint32
	err := cn.wait("uid search", func() error {
		data, err := cn.c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{imap.UIDSetNum(missing...)}}, nil).Wait()
		if err != nil {
			return err
		}
		for _, u := range data.AllUIDs() {
			if slices.Contains(missing, u) {
				exist = append(exist, uint32(u))
			}
		}
		return nil
	})
	return exist, err
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

// watchdog calls kill when kick was not called for d.
type watchdog struct {
	mu     sync.Mutex
	t      *time.Timer
	d      time.Duration
	killed bool
}

func newWatchdog(d time.Duration, kill func()) *watchdog {
	w := &watchdog{d: d}
	w.t = time.AfterFunc(d, func() {
		w.mu.Lock()
		w.killed = true
		w.mu.Unlock()
		kill()
	})
	return w
}

func (w *watchdog) kick() { w.t.Reset(w.d) }
func (w *watchdog) stop() { w.t.Stop() }
func (w *watchdog) fired() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.killed
}

// kickReader kicks a watchdog on every read that makes progress.
type kickReader struct {
	r  io.Reader
	wd *watchdog
}

func (k *kickReader) Read(p []byte) (int, error) {
	n, err := k.r.Read(p)
	if n > 0 {
		k.wd.kick()
	}
	return n, err
}
