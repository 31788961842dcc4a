package imap

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"ticketd/mail"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// batchMemory bounds what one batch holds in memory in all; mail beyond it is
// spooled too, so memory stays flat whatever the batch size.
const batchMemory = 32 << 20

func release(mails []*mail.Fetched) {
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
func (s *Supervisor) fetchBatch(cn *conn, uids []uint32, log *slog.Logger) ([]*mail.Fetched, error) {
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
		f := &mail.Fetched{UID: uids[0], Failed: "fetching it failed repeatedly: " + err.Error()}
		if isEmpty {
			f.Size = empty.Size
			f.Failed = fmt.Sprintf("the server announced %d bytes (RFC822.SIZE) but sent an empty body, %d times", empty.Size, maxFetchFailures)
		}
		mails = []*mail.Fetched{f}
	}
	delete(s.failures, uids[0])
	return mails, nil
}

// fetch reads the mails of uids: UID, RFC822.SIZE, INTERNALDATE and BODY.PEEK[]
// (which leaves \Seen alone), streamed to memory or a spool file. A watchdog
// kills the connection when no data arrives for the command timeout, so a
// large mail may take as long as it needs while a dead server is noticed.
func (s *Supervisor) fetch(cn *conn, uids []uint32) ([]*mail.Fetched, error) {
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
	var out []*mail.Fetched
	held := int64(0) // bytes of this batch held in memory
	fail := func(err error) ([]*mail.Fetched, error) {
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
		f := &mail.Fetched{}
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
				memMax := int64(mail.InMemoryMax)
				if held+it.Literal.Size() > batchMemory {
					memMax = 0
				}
				err := f.Read(&kickReader{it.Literal, wd}, s.SpoolDir, int64(s.Box.MaxMessageSize), memMax)
				read = f.Size
				held += f.InMemory()
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
	slices.SortFunc(out, func(a, b *mail.Fetched) int { return int(a.UID) - int(b.UID) })
	return out, nil
}

// stillThere returns the UIDs of uids that were not fetched but still exist.
func (s *Supervisor) stillThere(cn *conn, uids []uint32, got []*mail.Fetched) ([]uint32, error) {
	var missing []imap.UID
	for _, u := range uids {
		if !slices.ContainsFunc(got, func(f *mail.Fetched) bool { return f.UID == u }) {
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
