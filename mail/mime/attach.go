package mime

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"

	"github.com/gabriel-vasile/mimetype"
)

// redactWindow is the most text RedactText is given at once. A text part
// up to this long is redacted whole; a longer one piece by piece, each piece
// ending at a line break (redactReader), so that a part of any size is held
// in memory only a window at a time. A line longer than the window cannot
// be cut safely: the part is dropped, never stored unredacted.
const redactWindow = 256 << 10

// redactPiece is how much of a long text part RedactText is given at once
// when its lines allow: what it allocates for a piece is garbage at once, and
// smaller pieces keep the heap small while a large part streams.
const redactPiece = 32 << 10

// maxNestedMail is how deep attached mails (message/rfc822) are looked
// into for the policy; a mail nested deeper is dropped.
const maxNestedMail = 8

// errOverLimit ends a part's stream to the blob sink when it passes a
// size limit; the sink then stores nothing (BlobSink).
var errOverLimit = errors.New("attachment over its size limit")

// limitedPart passes at most max bytes of r; one more makes it fail with
// errOverLimit, so that the sink discards what it was given.
type limitedPart struct {
	r    io.Reader
	max  int64
	n    int64
	over bool
	// check, when set, runs at the end of the content and may refuse it
	// (an attached mail whose own parts the policy refuses).
	check func() error
	err   error // what check said
}

func (l *limitedPart) Read(b []byte) (int, error) {
	if l.over {
		return 0, errOverLimit
	}
	if l.err != nil {
		return 0, l.err
	}
	room := l.max - l.n
	if room < math.MaxInt64 {
		room++ // one byte more tells that the part is over
	}
	if int64(len(b)) > room {
		b = b[:room]
	}
	k, err := l.r.Read(b)
	l.n += int64(k)
	if l.n > l.max {
		l.over = true
		return k, errOverLimit
	}
	if err == io.EOF && l.check != nil {
		if l.err = l.check(); l.err != nil {
			return k, l.err
		}
	}
	return k, err
}

// put stores one part's content with the blob sink, under the attachment
// policy and RedactText: it sniffs the type from the first SniffBytes,
// refuses by type, streams the rest while counting it against MaxSize and
// MaxTotal (a part over a limit is aborted, so the sink keeps nothing, and
// read on to its end only to learn its size), and hands the text of a
// text/* part through RedactText first. kept is false for a dropped part,
// which is then in p.msg.Dropped.
func (p *parser) put(meta partMeta, r io.Reader) (sha string, size int64, kept bool, err error) {
	pol, redact := p.opts.Attachments, p.opts.RedactText
	if pol == nil && redact == nil {
		sha, size, err = p.blobs.Put(r)
		return sha, size, err == nil, err
	}
	sb := bufio.NewReaderSize(r, SniffBytes)
	head, _ := sb.Peek(SniffBytes)
	m := mimetype.Detect(head)
	sniffed := baseType(m.String())
	d := Dropped{Filename: meta.filename, ContentType: sniffed, Declared: meta.media}
	drop := func(reason string, n int64) (string, int64, bool, error) {
		rest, _ := io.Copy(io.Discard, sb)
		d.Size, d.Reason = n+rest, reason
		if d.Reason == "" {
			d.Reason = p.sizeReason(d.Size)
		}
		p.msg.Dropped = append(p.msg.Dropped, d)
		return "", 0, false, nil
	}
	if pol != nil && !meta.body {
		if reason := pol.typeReason(m, sniffed); reason != "" {
			return drop(reason, 0)
		}
	}
	limit := min(pol.maxSize(), pol.maxTotal()-p.total)
	if strings.HasPrefix(sniffed, "text/") && redact != nil {
		return p.putText(meta, sb, m, limit, d, drop)
	}
	lp := &limitedPart{r: sb, max: limit}
	if sniffed == "message/rfc822" && pol != nil {
		var finish func()
		lp.check, finish = p.nestedCheck(lp)
		defer finish()
	}
	sha, size, err = p.blobs.Put(lp)
	switch {
	case lp.over:
		return drop("", lp.n)
	case lp.err != nil:
		return drop(lp.err.Error(), lp.n)
	case err != nil:
		return "", 0, false, err
	}
	p.total += size
	return sha, size, true, nil
}

// sizeReason is why a part of n bytes was too much.
func (p *parser) sizeReason(n int64) string {
	pol := p.opts.Attachments
	if max := pol.maxSize(); n > max {
		return fmt.Sprintf("too large (%s > max_size %s)", FormatSize(n), FormatSize(max))
	}
	if p.total+n > pol.maxTotal() {
		return "mail total over max_total"
	}
	return fmt.Sprintf("too large (%s)", FormatSize(n))
}

// putText stores a text/* part after RedactText: its content is decoded to
// UTF-8 (with the part's charset) and stored as the UTF-8 text RedactText
// returned. A part of up to redactWindow bytes is redacted whole; a longer
// one is streamed to the sink through a redactReader.
func (p *parser) putText(meta partMeta, sb *bufio.Reader, m *mimetype.MIME, limit int64, d Dropped, drop func(string, int64) (string, int64, bool, error)) (string, int64, bool, error) {
	var tr io.Reader = sb
	if !meta.utf8 {
		charset := meta.charset
		if charset == "" {
			if c := m.String(); strings.Contains(c, "charset=utf-16") {
				_, charset, _ = strings.Cut(c, "charset=")
			}
		}
		tr = p.buf.utf8.reset(p.textReader(meta, charset, sb))
	}
	// The decoded text may be longer than the part (8-bit to UTF-8), so the
	// size counted is the stored one.
	win := windowPool.Get().(*[]byte)
	defer windowPool.Put(win)
	n, _ := io.ReadFull(tr, *win)
	if n <= redactWindow {
		text := p.opts.RedactText(string((*win)[:n]))
		if int64(len(text)) > limit {
			return drop("", int64(len(text)))
		}
		sha, size, err := p.blobs.Put(strings.NewReader(text))
		if err != nil {
			return "", 0, false, err
		}
		p.total += size
		return sha, size, true, nil
	}
	rr := &redactReader{src: tr, redact: p.opts.RedactText, win: *win, n: n}
	lp := &limitedPart{r: rr, max: limit}
	sha, size, err := p.blobs.Put(lp)
	switch {
	case lp.over:
		return drop("", lp.n)
	case rr.err != nil && rr.err != io.EOF:
		return drop(rr.err.Error(), lp.n)
	case err != nil:
		return "", 0, false, err
	}
	p.total += size
	return sha, size, true, nil
}

// windowPool holds the redactWindow+1 byte buffers putText reads text
// parts into, so that a small part does not allocate a window of its own.
var windowPool = sync.Pool{New: func() any { b := make([]byte, redactWindow+1); return &b }}

// errLongLine ends a redactReader at a line it cannot cut.
var errLongLine = fmt.Errorf("too long to redact (a line over %s)", FormatSize(redactWindow))

// redactReader reads text from src and yields it redacted, a piece at a
// time: each piece is about redactPiece bytes, at most redactWindow when
// its lines are long, and ends at a line break
// (the last one at the end of the text). No IBAN or card number that
// RedactText finds spans a line break (their groups are separated by single
// spaces or dashes), so they are found in pieces as in the whole text; a
// configured rule is matched within a piece, that is within the lines it
// holds. A line longer than the window fails the read with errLongLine, so
// that the sink stores nothing: such a part is dropped, not kept unredacted.
// UTF-8 never has a newline byte inside a character, so a piece is valid
// UTF-8 when the text is.
type redactReader struct {
	src    io.Reader
	redact func(string) string
	win    []byte // redactWindow+1 bytes: win[:n] is read and not yet redacted
	n      int
	eof    bool
	out    string // redacted, not yet read
	err    error
}

func (r *redactReader) Read(b []byte) (int, error) {
	for len(r.out) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if !r.eof && r.n < len(r.win) {
			k, err := io.ReadFull(r.src, r.win[r.n:])
			r.n += k
			if err != nil {
				r.eof = true // io.EOF, or a decoding error the part's reader reports itself
			}
		}
		if r.n == 0 {
			r.err = io.EOF
			continue
		}
		cut := r.n
		if r.n > redactPiece {
			// A piece of about redactPiece bytes, so that what RedactText
			// allocates for it stays small; up to the window for long lines.
			i := bytes.LastIndexByte(r.win[:redactPiece], '\n')
			if i < 0 && r.n > redactWindow {
				i = bytes.LastIndexByte(r.win[:redactWindow], '\n')
				if i < 0 {
					r.err = errLongLine
					continue
				}
			}
			if i >= 0 {
				cut = i + 1
			}
		}
		r.out = r.redact(string(r.win[:cut]))
		r.n = copy(r.win, r.win[cut:r.n])
	}
	k := copy(b, r.out)
	r.out = r.out[k:]
	return k, nil
}

// nestedCheck returns the check of an attached mail: it is parsed, as it
// streams to the sink, with the same policy (its attachments stored
// nowhere), and refused when any of its own parts is.
// finish ends the parse of the attached mail; put calls it when the sink
// is done, also when that was before the end of the part.
func (p *parser) nestedCheck(lp *limitedPart) (check func() error, finish func()) {
	src := lp.r
	pr, pw := io.Pipe()
	lp.r = io.TeeReader(src, pw)
	type result struct {
		msg *Message
		err error
	}
	done := make(chan result, 1)
	depth := p.opts.nested + 1
	go func() {
		if depth > maxNestedMail {
			io.Copy(io.Discard, pr)
			done <- result{err: errTooDeep}
			return
		}
		opts := ParseOptions{MaxTextBytes: 64 << 10, Attachments: p.opts.Attachments, nested: depth}
		msg, err := Parse(pr, discardSink{}, opts)
		io.Copy(io.Discard, pr)
		done <- result{msg: msg, err: err}
	}()
	var res *result
	wait := func() result {
		if res == nil {
			pw.Close()
			r := <-done
			res = &r
		}
		return *res
	}
	check = func() error {
		r := wait()
		if errors.Is(r.err, errTooDeep) {
			return r.err
		}
		if r.msg == nil {
			return nil // unreadable as a mail: kept as the file it is
		}
		if len(r.msg.Dropped) > 0 {
			in := r.msg.Dropped[0]
			return errors.New("attached mail holds a refused attachment: " + in.Reason)
		}
		return nil
	}
	return check, func() { wait() }
}

var errTooDeep = fmt.Errorf("attached mail nested deeper than %d mails", maxNestedMail)

// discardSink counts and forgets what it is given: the parts of an attached
// mail that is checked, not split.
type discardSink struct{}

func (discardSink) Put(r io.Reader) (string, int64, error) {
	n, err := io.Copy(io.Discard, r)
	return "", n, err
}
