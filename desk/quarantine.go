package desk

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-message"

	"ticketd/mail"
	"ticketd/store"
)

// Quarantined mail: show one record with the headers of its stored mail,
// parse it again (after an upgrade, or a change of the configuration) and
// delete it. Each change is an audit event with identifiers only.

// QuarantineView is one quarantine record as ticketd quarantine show prints it.
type QuarantineView struct {
	*store.Quarantine
	// SourceFolder is the IMAP folder the mail was fetched from (the
	// mailbox's folder); Folder, when set, is where it was moved.
	SourceFolder string `json:"source_folder,omitempty"`
	// StoredIn is where the raw copy is: a file's path, "database" (small
	// mail is kept inside ticketd.db), or "" when no copy is kept (a mail
	// over the size limit was never read).
	StoredIn string `json:"stored_in"`
	// Headers are the header fields of the raw copy, parsed leniently
	// (unfolded, encoded words decoded where possible), in their order.
	Headers []Header `json:"headers"`
	// HeaderNote says what could not be read of the header ("" when all was).
	HeaderNote string `json:"header_note,omitempty"`
}

// Header is one header field.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Limits of what show reads of a quarantined mail's header.
const (
	maxShownHeaderBytes = 256 << 10
	maxShownHeaders     = 500
)

// ShowQuarantine returns quarantine record id with the headers of its raw
// copy; store.ErrNotFound when there is none.
func (d *Desk) ShowQuarantine(id uint64) (*QuarantineView, error) {
	db := d.DB
	v := &QuarantineView{Headers: []Header{}}
	err := db.View(func(tx *store.Tx) error {
		q, err := tx.Quarantine(id)
		if err != nil {
			return err
		}
		v.Quarantine = q
		v.StoredIn = tx.BlobPlace(q.Blob)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if v.Origin.Channel == store.ChannelEmail {
		if box := d.Config().Mailbox(v.Origin.Mailbox); box != nil {
			v.SourceFolder = box.Folder
		}
	}
	switch {
	case v.Blob == "":
		v.HeaderNote = "the mail was not read (over the size limit): no copy is kept"
		return v, nil
	case v.StoredIn == "":
		v.HeaderNote = "the stored copy is missing"
		return v, nil
	}
	r, err := db.OpenBlob(v.Blob)
	if errors.Is(err, store.ErrNotFound) {
		v.StoredIn, v.HeaderNote = "", "the stored copy is missing"
		return v, nil
	}
	if err != nil {
		return nil, err
	}
	defer r.Close()
	v.Headers, v.HeaderNote = readHeaders(r)
	return v, nil
}

// readHeaders reads the header block of a raw mail leniently: lines up to
// the first empty one (LF or CRLF), continuation lines joined, a line
// without a colon skipped. It stops at maxShownHeaderBytes or maxShownHeaders.
func readHeaders(r io.Reader) ([]Header, string) {
	br := bufio.NewReader(io.LimitReader(r, maxShownHeaderBytes))
	dec := mime.WordDecoder{CharsetReader: func(label string, r io.Reader) (io.Reader, error) {
		if message.CharsetReader == nil {
			return nil, fmt.Errorf("unknown charset %q", label)
		}
		return message.CharsetReader(label, r)
	}}
	out := []Header{}
	var note string
	skipped := 0
	var cur *Header
	flush := func() {
		if cur == nil {
			return
		}
		v := strings.TrimSpace(cur.Value)
		if dv, err := dec.DecodeHeader(v); err == nil {
			v = dv
		}
		out = append(out, Header{Name: cur.Name, Value: strings.ToValidUTF8(v, "\uFFFD")})
		cur = nil
	}
	for {
		line, err := br.ReadString('\n')
		trimmed := strings.TrimRight(line, "\r\n")
		if trimmed == "" && (err == nil || line != "") {
			flush()
			break // the end of the header
		}
		if trimmed != "" {
			switch {
			case (trimmed[0] == ' ' || trimmed[0] == '\t') && cur != nil:
				cur.Value += " " + strings.TrimSpace(trimmed)
			default:
				flush()
				name, value, ok := strings.Cut(trimmed, ":")
				if !ok || strings.TrimSpace(name) == "" || strings.ContainsAny(strings.TrimSpace(name), " \t") {
					skipped++
					break
				}
				cur = &Header{Name: strings.ToValidUTF8(strings.TrimSpace(name), "\uFFFD"), Value: value}
			}
		}
		if len(out) >= maxShownHeaders {
			note = fmt.Sprintf("only the first %d header fields are shown", maxShownHeaders)
			break
		}
		if err != nil {
			flush()
			if err == io.EOF && line == "" {
				note = "the mail has no body (or its header is over 256 KiB)"
			}
			break
		}
	}
	if skipped > 0 {
		note = strings.TrimPrefix(note+fmt.Sprintf("; %d header lines without a field name were skipped", skipped), "; ")
	}
	return out, note
}

// ErrNoCopy is returned by RetryQuarantine for mail whose content was never stored.
var ErrNoCopy = errors.New("the quarantined mail was not read, so no copy is kept to parse again")

// RetryQuarantine parses quarantined mail id again, on the same path as a
// fetched mail (same mailbox and origin; dedup applies): when it now becomes
// a ticket message, the quarantine record and its raw copy go in the same
// transaction; when it is still quarantined, the record keeps it with the
// new reason. The Outcome says which (Quarantine is then id).
func (d *Desk) RetryQuarantine(ctx context.Context, id uint64) (Outcome, error) {
	var q *store.Quarantine
	if err := d.DB.View(func(tx *store.Tx) (err error) { q, err = tx.Quarantine(id); return err }); err != nil {
		return Outcome{}, err
	}
	if q.Blob == "" {
		return Outcome{}, fmt.Errorf("quarantine %d: %w", id, ErrNoCopy)
	}
	rt := d.rt.Load()
	cfg := rt.cfg
	queue, from, max := cfg.Queues[0].Name, cfg.SMTP.From, int64(64<<20)
	if box := cfg.Mailbox(q.Origin.Mailbox); box != nil {
		queue, from, max = box.Queue, box.Address, int64(box.MaxMessageSize)
	}
	r, err := d.DB.OpenBlob(q.Blob)
	if errors.Is(err, store.ErrNotFound) {
		return Outcome{}, fmt.Errorf("quarantine %d: the stored copy is missing: %w", id, ErrNoCopy)
	}
	if err != nil {
		return Outcome{}, err
	}
	spool, err := os.MkdirTemp(d.DB.Dir(), "spool-retry-")
	if err != nil {
		r.Close()
		return Outcome{}, err
	}
	defer os.RemoveAll(spool)
	f, err := mail.ReadFetched(r, spool, max)
	r.Close()
	if err != nil {
		return Outcome{}, err
	}
	defer f.Release()
	f.UID, f.InternalDate = q.Origin.UID, q.Origin.ReceivedAt
	blobs := d.DB.NewBlobWriter()
	items, err := d.parseAll(rt, []*mail.Fetched{f}, blobs)
	if err != nil {
		return Outcome{}, err
	}
	it := items[0]
	var out Outcome
	err = d.DB.Update(func(tx *store.Tx) error {
		cur, err := tx.Quarantine(id)
		if err != nil {
			return err // deleted or retried meanwhile
		}
		if it.reason != "" {
			out = Outcome{Quarantine: id, Reason: it.reason}
			if cur.Reason == it.reason {
				return tx.Audit(store.QuarantineRetried(cur, actorAdmin))
			}
			cur.Reason = it.reason
			return tx.UpdateQuarantine(cur, actorAdmin, "retried, still quarantined with a new reason")
		}
		origin := cur.Origin
		origin.MessageID, origin.StoredAt = "", time.Time{} // store fills them in
		suppress := ""
		if tx.Now().Sub(origin.ReceivedAt) > retryAckAge {
			suppress = reasonRetried // an acknowledgement weeks late is no acknowledgement
		}
		if out, err = d.store(tx, rt, it, origin, queue, from, suppress, blobs); err != nil {
			return err
		}
		if err := tx.PutBlobs(blobs); err != nil {
			return err
		}
		detail := fmt.Sprintf("retried: ticket %d message %d", out.Ticket, out.Message)
		if out.Duplicate {
			detail = fmt.Sprintf("retried: stored before as message %d", out.Message)
		}
		return tx.DeleteQuarantine(cur, actorAdmin, detail)
	})
	if err == nil && out.NewTicket {
		d.Metrics.Created(out.queue)
	}
	if err == nil && (out.AckQueued || out.Mailed) {
		d.wake()
	}
	return out, err
}

// retryAckAge is how long after it was received a mail retried from
// quarantine still gets its acknowledgement.
const retryAckAge = 7 * 24 * time.Hour

// DeleteQuarantine deletes quarantine record id and its raw copy (a file
// is overwritten before it is removed), then overwrites the free pages of
// the database (store.Scrub), so the mail is not left in the file. The
// audit event "quarantine.deleted" names the record only. The dedup entry
// stays: the same mail fetched again is not quarantined again.
func (d *Desk) DeleteQuarantine(id uint64) (*ScrubReport, error) {
	db := d.DB
	err := db.Update(func(tx *store.Tx) error {
		q, err := tx.Quarantine(id)
		if err != nil {
			return err
		}
		return tx.DeleteQuarantine(q, actorAdmin, "deleted by the admin")
	})
	if err != nil {
		return nil, err
	}
	return scrub(db)
}
