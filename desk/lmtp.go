package desk

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"ticketd/config"
	"ticketd/mail"
	"ticketd/store"
)

// LMTP line and batch bounds.
const (
	// lmtpMaxLine is the longest line of a session, command or mail, in
	// bytes; RFC 5321 allows 1000, and mail servers fold at 998.
	lmtpMaxLine = 2000
	// lmtpBatchMails and lmtpBatchBytes bound one group commit.
	lmtpBatchMails = 256
	lmtpBatchBytes = 32 << 20
)

// LMTPServer delivers mail that a local mail server hands over by LMTP
// (RFC 2033) into the store, through the same path as IngestFrom (parse,
// minimise, dedup, quarantine), with channel "lmtp" in the origin. Each
// recipient is answered 250 only after the mail's commit; a temporary
// failure is 451 (452 when the disk is full), so that the mail server
// keeps the mail and tries again, and a mail it delivers again after a
// lost 250 is a duplicate that changes nothing. Sessions run in parallel;
// their mails are committed together, in one transaction for as many as
// are waiting (group commit), each session's answer waiting for its own.
type LMTPServer struct {
	d       *Desk
	srv     *gosmtp.Server
	timeout time.Duration
	conns   chan struct{} // one token per open session
	jobs    chan *lmtpJob
	stop    chan struct{}
	done    chan struct{} // the committer has ended
	wg      sync.WaitGroup
	closed  atomic.Bool
	// busy counts the LMTPData calls at work, so that Close can wait for
	// them (none outlives the store); ending, under mu, lets none start
	// once Close has begun.
	mu     sync.Mutex
	ending bool
	busy   sync.WaitGroup

	// beforeCommit, when set, runs in the transaction after the batch's
	// writes; its error aborts the transaction (tests).
	beforeCommit func() error
}

// lmtpJob is one mail for one mailbox, parsed, waiting for its commit.
type lmtpJob struct {
	rt     *setup
	it     *parsed
	box    *config.Mailbox
	blobs  *store.BlobWriter
	out    Outcome
	err    error
	start  time.Time // when its parsing started
	done   chan struct{}
	finish func() // after the commit or its failure
}

// NewLMTP returns a server with the limits of l; Serve starts it.
func (d *Desk) NewLMTP(l *config.LMTP) *LMTPServer {
	s := &LMTPServer{d: d, timeout: l.Timeout.Duration, conns: make(chan struct{}, l.MaxConnections),
		jobs: make(chan *lmtpJob), stop: make(chan struct{}), done: make(chan struct{})}
	srv := gosmtp.NewServer(lmtpBackend{s})
	srv.LMTP = true
	srv.Domain = "localhost"
	srv.MaxRecipients = l.MaxRecipients
	srv.MaxMessageBytes = int64(l.MaxMessageSize)
	srv.MaxLineLength = lmtpMaxLine
	srv.ReadTimeout, srv.WriteTimeout = l.Timeout.Duration, l.Timeout.Duration
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = lmtpLog{d}
	s.srv = srv
	go s.commit()
	return s
}

// Serve answers the sessions of ln until Close; at most max_connections
// at once, one more is answered 421 and closed.
func (s *LMTPServer) Serve(ln net.Listener) error {
	err := s.srv.Serve(&limitListener{Listener: ln, s: s})
	if s.closed.Load() {
		return nil
	}
	return err
}

// Close stops accepting, closes the sessions (a mail waiting for its
// commit is answered 451 when it is not yet in the transaction; one that
// is commits, and its mail server's retry is a duplicate), ends the
// committer and waits for the sessions to end, at most timeout.
func (s *LMTPServer) Close() {
	if s.closed.Swap(true) {
		return
	}
	s.mu.Lock()
	s.ending = true
	s.mu.Unlock()
	s.srv.Close()
	close(s.stop)
	<-s.done
	ended := make(chan struct{})
	go func() {
		s.busy.Wait() // each LMTPData returns soon after stop
		s.wg.Wait()
		close(ended)
	}()
	select {
	case <-ended:
	case <-time.After(s.timeout):
		s.d.Log.Error("lmtp sessions did not end", "within", s.timeout)
	}
}

// commit runs the group commits until stop.
func (s *LMTPServer) commit() {
	defer close(s.done)
	for {
		var first *lmtpJob
		select {
		case first = <-s.jobs:
		case <-s.stop:
			return
		}
		batch, size := []*lmtpJob{first}, first.it.f.Size
	more:
		for len(batch) < lmtpBatchMails && size < lmtpBatchBytes {
			select {
			case j := <-s.jobs:
				batch, size = append(batch, j), size+j.it.f.Size
			default:
				break more
			}
		}
		err := s.write(batch)
		if err != nil && len(batch) > 1 {
			// One mail's failure must not hold back the others: each
			// alone, so that only the failing one is answered 451.
			for _, j := range batch {
				j.err = s.write([]*lmtpJob{j})
			}
		} else {
			for _, j := range batch {
				j.err = err
			}
		}
		wake := false
		for _, j := range batch {
			if j.err == nil {
				s.d.counted(store.ChannelLMTP, j.start, j.out)
			}
			wake = wake || j.err == nil && (j.out.AckQueued || j.out.Mailed)
			j.finish()
			close(j.done)
		}
		if wake {
			s.d.wake()
		}
	}
}

// write stores the batch's mails in one transaction.
func (s *LMTPServer) write(batch []*lmtpJob) error {
	return s.d.DB.Update(func(tx *store.Tx) error {
		for _, j := range batch {
			origin := store.Origin{Channel: store.ChannelLMTP, Mailbox: j.box.Name}
			origin.ReceivedAt, origin.ReceivedFrom = receivedAt(j.it, tx.Now())
			out, err := s.d.store(tx, j.rt, j.it, origin, j.box.Queue, j.box.Address, "", j.blobs)
			if err != nil {
				return err
			}
			if err := tx.PutBlobs(j.blobs); err != nil {
				return err
			}
			j.out = out
		}
		if s.beforeCommit != nil {
			return s.beforeCommit()
		}
		return nil
	})
}

// deliver parses f for box and waits for its commit.
func (s *LMTPServer) deliver(rt *setup, f *mail.Fetched, box *config.Mailbox, finish func()) (Outcome, error) {
	start := time.Now()
	blobs := s.d.DB.NewBlobWriter()
	items, err := s.d.parseAll(rt, []*mail.Fetched{f}, blobs)
	if err != nil {
		finish()
		return Outcome{}, err
	}
	j := &lmtpJob{rt: rt, it: items[0], box: box, blobs: blobs, done: make(chan struct{}), finish: finish, start: start}
	timer := time.NewTimer(s.timeout)
	defer timer.Stop()
	select {
	case s.jobs <- j:
	case <-s.stop:
		finish()
		return Outcome{}, errLMTPStopping
	case <-timer.C:
		finish()
		return Outcome{}, errLMTPTimeout
	}
	select {
	case <-j.done:
		return j.out, j.err
	case <-s.stop:
		// The committer finishes the batch in hand before it ends;
		// wait for it, so that the answer is the truth.
		<-s.done
		select {
		case <-j.done:
			return j.out, j.err
		default:
			return Outcome{}, errLMTPStopping
		}
	case <-timer.C:
		// It may still commit: the retry is then a duplicate.
		return Outcome{}, errLMTPTimeout
	}
}

var (
	errLMTPStopping = errors.New("ticketd is stopping")
	errLMTPTimeout  = errors.New("the commit took longer than lmtp.timeout")
)

// lmtpStatus is the reply to a recipient for a delivery's error.
func (s *LMTPServer) lmtpStatus(err error) error {
	var se *gosmtp.SMTPError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return se
	case errors.Is(err, syscall.ENOSPC):
		s.d.Log.Error("lmtp: delivery failed, the mail server will try again", "err", err)
		return &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 3, 1}, Message: "Insufficient storage, try again later"}
	case errors.Is(err, errLMTPStopping):
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 2}, Message: "Shutting down, try again later"}
	}
	s.d.Log.Error("lmtp: delivery failed, the mail server will try again", "err", err)
	return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure, try again later"}
}

// errNoSuchUser answers a recipient that is not one of ticketd's addresses.
var errNoSuchUser = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "No such mailbox here"}

type lmtpBackend struct{ s *LMTPServer }

func (b lmtpBackend) NewSession(*gosmtp.Conn) (gosmtp.Session, error) {
	return &lmtpSession{s: b.s}, nil
}

// lmtpSession is one session's transaction: its accepted recipients and
// the mailbox each counts as.
type lmtpSession struct {
	s     *LMTPServer
	rcpts []string
	boxes []string
}

func (ss *lmtpSession) Reset()        { ss.rcpts, ss.boxes = nil, nil }
func (ss *lmtpSession) Logout() error { return nil }

func (ss *lmtpSession) Mail(string, *gosmtp.MailOptions) error { return nil }

func (ss *lmtpSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	box := ss.s.d.Config().LMTPMailbox(to)
	if box == nil {
		return errNoSuchUser
	}
	ss.rcpts, ss.boxes = append(ss.rcpts, to), append(ss.boxes, box.Name)
	return nil
}

// Data is not used in LMTP mode (LMTPData is); it answers every recipient
// alike.
func (ss *lmtpSession) Data(r io.Reader) error {
	var first error
	err := ss.LMTPData(r, statusFunc(func(_ string, err error) {
		if first == nil {
			first = err
		}
	}))
	if err != nil {
		return err
	}
	return first
}

type statusFunc func(string, error)

func (f statusFunc) SetStatus(rcpt string, err error) { f(rcpt, err) }

// LMTPData reads the mail, stores it once for each mailbox its recipients
// count as (the same mail in two mailboxes is two tickets, as over IMAP),
// and answers each recipient with its mailbox's result.
func (ss *lmtpSession) LMTPData(r io.Reader, status gosmtp.StatusCollector) error {
	s := ss.s
	s.mu.Lock()
	if s.ending {
		s.mu.Unlock()
		return s.lmtpStatus(errLMTPStopping)
	}
	s.busy.Add(1)
	s.mu.Unlock()
	defer s.busy.Done()
	rt := s.d.rt.Load()
	spool := s.d.Spool
	if spool == "" {
		spool = os.TempDir()
	}
	f, err := mail.ReadFetched(r, spool, int64(rt.cfg.LMTP.MaxMessageSize))
	if err != nil {
		return s.lmtpStatus(err)
	}
	// f is released when the last job using it is done, which may be
	// after this session gave up waiting.
	var users sync.WaitGroup
	defer func() { go func() { users.Wait(); f.Release() }() }()
	results := map[string]error{}
	for _, name := range ss.boxes {
		if _, ok := results[name]; ok {
			continue
		}
		box := rt.cfg.Mailbox(name)
		if box == nil { // gone with a reload since RCPT
			results[name] = fmt.Errorf("mailbox %q is no longer configured", name)
		} else {
			users.Add(1)
			_, err := s.deliver(rt, f, box, users.Done)
			results[name] = err
		}
	}
	for i, rcpt := range ss.rcpts {
		status.SetStatus(rcpt, s.lmtpStatus(results[ss.boxes[i]]))
	}
	return nil
}

// limitListener admits at most cap(s.conns) sessions at once.
type limitListener struct {
	net.Listener
	s *LMTPServer
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.s.conns <- struct{}{}:
			l.s.wg.Add(1)
			return &limitConn{Conn: c, s: l.s}, nil
		default:
			c.SetWriteDeadline(time.Now().Add(time.Second))
			io.WriteString(c, "421 4.3.2 Too many connections, try again later\r\n")
			c.Close()
		}
	}
}

// limitConn gives its token back when closed, before the client can see
// the end of the connection, so that it may connect again at once.
type limitConn struct {
	net.Conn
	s    *LMTPServer
	once sync.Once
}

func (c *limitConn) Close() error {
	c.once.Do(func() { <-c.s.conns; c.s.wg.Done() })
	return c.Conn.Close()
}

// lmtpLog passes go-smtp's own messages (accept errors, a panic) to the log.
type lmtpLog struct{ d *Desk }

func (l lmtpLog) Printf(format string, v ...any) { l.d.Log.Error("lmtp: " + fmt.Sprintf(format, v...)) }
func (l lmtpLog) Println(v ...any)               { l.d.Log.Error("lmtp: " + fmt.Sprint(v...)) }
