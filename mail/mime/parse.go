package mime

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"ticketd/mail"
	"ticketd/store"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // sets message.CharsetReader: the last resort of our charset lookup
	msgmail "github.com/emersion/go-message/mail"
	mtextproto "github.com/emersion/go-message/textproto"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"
)

const (
	// DefaultMaxTextBytes is the cap on Message.Text and Message.HTML when
	// ParseOptions.MaxTextBytes is zero.
	DefaultMaxTextBytes = 4 << 20

	maxHeaderBytes = 1 << 20  // top-level header block, as go-message's default
	maxDepth       = 32       // multipart nesting; deeper multiparts are kept as attachments
	maxParts       = 1000     // leaf parts per mail; the rest is skipped
	maxWarnings    = 50       // distinct warnings kept per mail
	sniffBytes     = 64 << 10 // how much of a text part is looked at to guess its charset
)

// Parse reads one RFC 5322 message from r. Attachment contents are streamed to blobs.
// A mail that cannot become a ticket returns *ParseError (it is quarantined with its Reason);
// an error from blobs is returned as is (a temporary failure, not the mail's fault).
// So is an error from r itself (other than io.EOF), wrapped: the mail was not read whole.
//
// Parse is tolerant: damage that leaves a usable ticket (unknown charset or
// transfer encoding, a truncated multipart, malformed header lines, a broken
// From) is recorded in Message.Warnings instead of failing the mail. It reads
// r once, front to back, and keeps no more than the two capped bodies in
// memory, whatever the size of the attachments.
//
// How the parts are used:
//   - The body is the first text/plain and the first text/html part that is
//     not an attachment (no Content-Disposition attachment, no file name); a
//     part inside a multipart/alternative beats one outside it. Text is the
//     text/plain body with \n line endings, or, without one, the HTML rendered
//     as text (TextFromHTML). Both are UTF-8 and capped at MaxTextBytes; a
//     longer body is also stored whole as "body.txt" or "body.html".
//   - Every other part, message/rfc822 included, goes to blobs as an
//     Attachment. Files are stored byte for byte as decoded from their
//     transfer encoding; inline text parts that lost the body election are
//     stored as UTF-8 text.
func Parse(r io.Reader, blobs BlobSink, opts ParseOptions) (msg *Message, err error) {
	if blobs == nil {
		return nil, errors.New("parse mail: nil BlobSink")
	}
	if opts.MaxTextBytes <= 0 {
		opts.MaxTextBytes = DefaultMaxTextBytes
	}
	opts.MaxTextBytes = min(opts.MaxTextBytes, 1<<40) // keeps limit+1 and int conversions safe
	src := &sourceReader{r: r}
	buf := scratchPool.Get().(*scratch)
	p := &parser{blobs: blobs, opts: opts, src: src, buf: buf, msg: &Message{}}
	defer func() {
		if v := recover(); v != nil {
			msg = nil
			err = &ParseError{Reason: "parser failure", Err: fmt.Errorf("panic: %v", v)}
		}
	}()
	err = p.parse()
	buf.release()
	if src.err != nil {
		return nil, fmt.Errorf("read mail: %w", src.err)
	}
	if err != nil {
		return nil, err
	}
	return p.msg, nil
}

// sourceReader remembers a read error of the caller's reader, so that it can
// be told apart from damage in the mail itself.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(b []byte) (int, error) {
	n, err := s.r.Read(b)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// scratch holds the buffers that one Parse call reads through, so that
// parsing a mail allocates little more than the strings of its Message.
// Parts are handled one after the other, so one set serves a whole mail.
// Parse takes a scratch from scratchPool and puts it back when done (not
// after a panic: what a panic left behind is not reused).
type scratch struct {
	top     *bufio.Reader // the mail
	sniff   *bufio.Reader // a text part, of which sniffBytes are looked at before it is converted
	qp      qpReader
	b64     base64Reader
	utf8    validUTF8Reader
	head    bytes.Buffer // the start of a body part, up to MaxTextBytes
	capture []byte       // for captureReader; nil while one has it
}

// maxPooledBytes caps the growable buffers a scratch keeps for the next
// mail; a larger one (a body of megabytes) is left to the garbage collector.
const maxPooledBytes = 256 << 10

var scratchPool = sync.Pool{New: func() any {
	return &scratch{
		top:   bufio.NewReader(nil),
		sniff: bufio.NewReaderSize(nil, sniffBytes),
		qp:    qpReader{br: bufio.NewReader(nil)},
	}
}}

// release drops the references to the mail and returns s to scratchPool.
func (s *scratch) release() {
	s.top.Reset(nil)
	s.sniff.Reset(nil)
	s.qp.br.Reset(nil)
	s.b64.reset(nil)
	s.utf8.reset(nil)
	if s.head.Cap() > maxPooledBytes {
		s.head = bytes.Buffer{}
	}
	s.head.Reset()
	if cap(s.capture) > maxPooledBytes {
		s.capture = nil
	}
	scratchPool.Put(s)
}

var errHeaderTooBig = errors.New("header exceeds 1 MiB")

// limitReader is io.LimitedReader with its own error and a limit that can be lifted.
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(b []byte) (int, error) {
	if l.n <= 0 {
		return 0, errHeaderTooBig
	}
	if int64(len(b)) > l.n {
		b = b[:l.n]
	}
	n, err := l.r.Read(b)
	l.n -= int64(n)
	return n, err
}

// bodyReader ends a part's content at the first error instead of failing the
// consumer, and remembers the error. A base64 error or a multipart cut short
// thus keeps what could be read; the error becomes a warning.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
		err = io.EOF
	}
	return n, err
}

// bodyCandidate is the text/plain or text/html part chosen as body so far.
type bodyCandidate struct {
	set     bool
	inAlt   bool   // inside a multipart/alternative
	weak    bool   // undecodable text or prose from another type: any other body part replaces it
	content string // UTF-8, at most MaxTextBytes
	whole   *Attachment
	meta    partMeta
}

// partMeta is what an attachment needs from a part's header.
type partMeta struct {
	no        int
	media     string
	filename  string
	contentID string
	inline    bool
}

type parser struct {
	blobs BlobSink
	opts  ParseOptions
	src   *sourceReader
	buf   *scratch
	msg   *Message

	top          mtextproto.Header
	topMedia     string
	topParams    map[string]string
	firstCharset string // first charset declared by a text part, for raw 8-bit header bytes
	parts        int
	text, html   bodyCandidate
	seen         map[string]bool // warnings already given
}

func (p *parser) warn(format string, args ...any) {
	w := fmt.Sprintf(format, args...)
	if p.seen[w] {
		return
	}
	if p.seen == nil {
		p.seen = map[string]bool{}
	}
	p.seen[w] = true
	switch {
	case len(p.msg.Warnings) < maxWarnings:
		p.msg.Warnings = append(p.msg.Warnings, w)
	case len(p.msg.Warnings) == maxWarnings:
		p.msg.Warnings = append(p.msg.Warnings, "further warnings omitted")
	}
}

func (p *parser) parse() error {
	lr := &limitReader{r: p.src, n: maxHeaderBytes}
	br := p.buf.top
	br.Reset(lr)
	skipMboxFromLine(br)
	h, err := p.readHeader(br)
	lr.n = math.MaxInt64
	if p.src.err != nil {
		return p.src.err
	}
	if errors.Is(err, errHeaderTooBig) {
		return &ParseError{Reason: "header too large", Err: err}
	}
	if h.Len() == 0 {
		return &ParseError{Reason: "unreadable header", Err: err}
	}
	p.top = h
	p.topMedia, p.topParams = parseMediaType(h.Get("Content-Type"))
	if err := p.walk(h, br); err != nil {
		return err
	}
	if err := p.finishBodies(); err != nil {
		return err
	}
	p.fillHeaderFields()
	return nil
}

// skipMboxFromLine drops a leading mbox "From sender date" line. A header
// field spelled "From :" is left alone.
func skipMboxFromLine(br *bufio.Reader) {
	b, _ := br.Peek(64)
	if !bytes.HasPrefix(b, []byte("From ")) {
		return
	}
	if rest := bytes.TrimLeft(b[5:], " \t"); len(rest) > 0 && rest[0] == ':' {
		return
	}
	for {
		if _, err := br.ReadSlice('\n'); err != bufio.ErrBufferFull {
			return
		}
	}
}

// readHeader reads the top-level header. go-message's reader stops at the
// first malformed line (no colon, a space in the field name, a continuation
// line at the start); such lines are skipped and reading goes on up to the
// blank line, so that a mail starting with a stray line or carrying a broken
// Received field keeps its From and Subject.
func (p *parser) readHeader(br *bufio.Reader) (mtextproto.Header, error) {
	var (
		pieces    = make([]mtextproto.Header, 0, 1) // the header between malformed lines
		malformed int
		err       error
	)
	for {
		var h mtextproto.Header
		h, err = mtextproto.ReadHeader(br)
		pieces = append(pieces, h)
		if err == nil || p.src.err != nil || errors.Is(err, errHeaderTooBig) {
			break
		}
		if !strings.HasPrefix(err.Error(), "message: malformed MIME header") {
			p.warn("header: %v", err)
			break
		}
		malformed++
	}
	if malformed == 0 {
		return pieces[0], err
	}
	p.warn("header: skipped %d malformed line(s)", malformed)
	type field struct{ k, v string }
	var fields []field
	for _, h := range pieces {
		for f := h.Fields(); f.Next(); {
			fields = append(fields, field{f.Key(), f.Value()})
		}
	}
	var h mtextproto.Header
	for i := len(fields) - 1; i >= 0; i-- { // Add puts a field on top
		h.Add(fields[i].k, fields[i].v)
	}
	return h, err
}

type frame struct {
	mr      *mtextproto.MultipartReader
	h       mtextproto.Header
	capture *captureReader // the raw body until the first part is found
	found   bool
	inAlt   bool
	depth   int
}

// captureReader keeps the first bytes read through it, up to limit, while on.
// A multipart whose boundary never shows up has then lost nothing. Its
// buffer is borrowed from the scratch and given back by stop.
type captureReader struct {
	r     io.Reader
	buf   []byte
	limit int
	on    bool
	over  bool
}

func (s *scratch) newCapture(r io.Reader, limit int) *captureReader {
	c := &captureReader{r: r, buf: s.capture[:0], limit: limit, on: true}
	s.capture = nil
	return c
}

// stop ends the capture and gives its buffer back to s.
func (c *captureReader) stop(s *scratch) {
	if c.buf != nil {
		s.capture = c.buf[:0]
	}
	c.on, c.buf = false, nil
}

func (c *captureReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	if c.on && n > 0 {
		room := c.limit - len(c.buf)
		if n > room {
			c.over = true
		}
		c.buf = append(c.buf, b[:min(n, max(room, 0))]...)
	}
	return n, err
}

// walk visits the MIME tree depth first. Each multipart level is one
// MultipartReader on a stack; a level that fails (no closing boundary,
// garbage between parts, a part header that cannot be read) is abandoned with
// a warning and its parent goes on, so the loop always ends. h is the
// top-level header, whose content type is in p.topMedia and p.topParams.
func (p *parser) walk(h mtextproto.Header, body io.Reader) error {
	var stack []frame
	if err := p.visit(h, p.topMedia, p.topParams, body, false, 0, &stack); err != nil {
		return err
	}
	for len(stack) > 0 {
		f := &stack[len(stack)-1]
		part, err := f.mr.NextPart()
		if err != nil {
			if p.src.err != nil {
				return p.src.err
			}
			done := *f
			stack = stack[:len(stack)-1]
			if !done.found {
				if err := p.noParts(done, err); err != nil {
					return err
				}
				continue
			}
			if err != io.EOF {
				p.warn("multipart at depth %d has no closing boundary (%s); kept the parts read so far", done.depth, strings.TrimPrefix(err.Error(), "multipart: "))
			}
			continue
		}
		if !f.found {
			f.found = true
			f.capture.stop(p.buf)
		}
		if p.parts >= maxParts {
			p.warn("more than %d parts; the rest is ignored", maxParts)
			return nil
		}
		media, params := parseMediaType(part.Header.Get("Content-Type"))
		if err := p.visit(part.Header, media, params, part, f.inAlt, f.depth+1, &stack); err != nil {
			return err
		}
	}
	return nil
}

// noParts handles a multipart in which not a single boundary was found: its
// body is read as a text/plain part (with the multipart's transfer encoding
// and charset), so that a mail with a wrong or missing boundary keeps its
// content instead of coming out empty.
func (p *parser) noParts(f frame, err error) error {
	c := f.capture
	defer c.stop(p.buf)
	if len(bytes.TrimSpace(c.buf)) == 0 {
		p.warn("multipart at depth %d is empty", f.depth)
		return nil
	}
	p.warn("multipart at depth %d has no parts (%s); its body was read as text", f.depth, strings.TrimPrefix(err.Error(), "multipart: "))
	if c.over {
		p.warn("multipart at depth %d: only the first %d bytes of its body were kept", f.depth, c.limit)
	}
	_, params := parseMediaType(f.h.Get("Content-Type"))
	return p.leaf(f.h, "text/plain", params, bytes.NewReader(c.buf), f.inAlt, f.depth == 0)
}

// visit handles a part with header h and content type media and params.
func (p *parser) visit(h mtextproto.Header, media string, params map[string]string, body io.Reader, inAlt bool, depth int, stack *[]frame) error {
	if strings.HasPrefix(media, "multipart/") {
		boundary := params["boundary"]
		switch {
		case boundary == "":
			p.warn("part %d: %s without boundary, read as text", p.parts+1, media)
			media = "text/plain"
		case depth >= maxDepth:
			p.warn("part %d: multipart nested deeper than %d, kept as attachment", p.parts+1, maxDepth)
		default:
			// The Content-Transfer-Encoding of a multipart is ignored (RFC 2045
			// section 6.4 allows only identity encodings there), as go-message does.
			c := p.buf.newCapture(body, int(p.opts.MaxTextBytes))
			*stack = append(*stack, frame{
				mr:      mtextproto.NewMultipartReader(c, boundary),
				h:       h,
				capture: c,
				inAlt:   inAlt || media == "multipart/alternative",
				depth:   depth,
			})
			return nil
		}
	}
	return p.leaf(h, media, params, body, inAlt, depth == 0)
}

// leaf handles one non-multipart part (or the whole body of a single-part mail).
func (p *parser) leaf(h mtextproto.Header, media string, params map[string]string, body io.Reader, inAlt, top bool) error {
	p.parts++
	no := p.parts
	disp, dparams := parseParams(h.Get("Content-Disposition"))
	charset := params["charset"]
	if strings.HasPrefix(media, "text/") && charset != "" && p.firstCharset == "" {
		p.firstCharset = charset
	}
	meta := partMeta{
		no:        no,
		media:     media,
		filename:  p.filename(dparams, params),
		contentID: strings.Trim(strings.TrimSpace(h.Get("Content-Id")), "<>"),
		inline:    disp == "inline",
	}
	named := disp != "attachment" && meta.filename == ""
	isBody := (media == "text/plain" || media == "text/html") && named

	cte := normalizeCTE(h.Get("Content-Transfer-Encoding"))
	dec, known := p.buf.decodeCTE(cte, body)
	weak := false // a body only as long as no better one comes
	if !known {
		switch {
		case top && isBody:
			p.warn("unknown Content-Transfer-Encoding %q: body kept undecoded", cte)
			dec = body
		case isBody:
			// As for a single-part mail: undecoded text is still the
			// text, unless a part that could be decoded is found.
			p.warn("part %d: unknown Content-Transfer-Encoding %q: text kept undecoded", no, cte)
			dec, weak = body, true
		default:
			p.warn("part %d: unknown Content-Transfer-Encoding %q: kept undecoded as attachment", no, cte)
			return p.attachment(meta, body)
		}
	}
	if !isBody && named && media == "message/delivery-status" {
		// RFC 3464 says this part holds "field: value" lines for programs;
		// some mailers put the prose for people here. Such a part reads as
		// text when the mail has no text part of its own.
		br := bufio.NewReaderSize(dec, 4096)
		sample, _ := br.Peek(4096)
		if !looksLikeDSNFields(sample) {
			p.warn("part %d: message/delivery-status holds prose, not RFC 3464 fields: read as text", no)
			meta.media = "text/plain"
			return p.bodyPart(meta, charset, br, inAlt, true)
		}
		dec = br
	}
	if isBody {
		return p.bodyPart(meta, charset, dec, inAlt, weak)
	}
	return p.attachment(meta, dec)
}

// looksLikeDSNFields reports whether a message/delivery-status part starts
// as RFC 3464 section 2.1 says: a field "name: value", after blank lines.
func looksLikeDSNFields(sample []byte) bool {
	for len(sample) > 0 {
		line, rest, _ := bytes.Cut(sample, []byte("\n"))
		sample = rest
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		name, _, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(name) == 0 {
			return false
		}
		for _, c := range name {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
		return true
	}
	return true // empty: nothing to read
}

// attachment streams one part to the blob sink.
func (p *parser) attachment(meta partMeta, r io.Reader) error {
	br := &bodyReader{r: r}
	sha, size, err := p.blobs.Put(br)
	if err != nil {
		if p.src.err != nil {
			return p.src.err
		}
		return err
	}
	if br.err != nil {
		p.damaged(meta.no, br.err)
	}
	p.addAttachment(meta, sha, size)
	return nil
}

func (p *parser) damaged(no int, err error) {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		p.warn("part %d: ends without a boundary; kept what was there", no)
		return
	}
	p.warn("part %d: content damaged (%v); kept what could be read", no, err)
}

func (p *parser) addAttachment(meta partMeta, sha string, size int64) {
	p.msg.Attachments = append(p.msg.Attachments, Attachment{
		Filename:    meta.filename,
		ContentType: meta.media,
		ContentID:   meta.contentID,
		Inline:      meta.inline,
		Size:        size,
		SHA256:      sha,
	})
}

// bodyPart handles an inline text/plain or text/html part: it becomes the
// body, replaces a body chosen earlier outside a multipart/alternative, or is
// kept as a UTF-8 text attachment.
//
// A weak part (text that could not be decoded, prose from a part of another
// type) is the body only until a part that is not weak is found; it is then
// kept as an attachment.
func (p *parser) bodyPart(meta partMeta, charset string, r io.Reader, inAlt, weak bool) error {
	cand := &p.text
	if meta.media == "text/html" {
		cand = &p.html
	}
	br := &bodyReader{r: r}
	text := &bodyReader{r: p.buf.utf8.reset(p.textReader(meta, charset, br))}
	defer func() {
		for _, err := range []error{br.err, text.err} {
			if err != nil {
				p.damaged(meta.no, err)
			}
		}
	}()
	keep := cand.set && (!inAlt || cand.inAlt)
	if cand.set && cand.weak != weak {
		keep = weak
	}
	if keep {
		return p.attachment(meta, text)
	}
	limit := p.opts.MaxTextBytes
	p.buf.head.Reset()
	p.buf.head.ReadFrom(io.LimitReader(text, limit+1)) // a bodyReader does not fail
	head := p.buf.head.Bytes()
	next := bodyCandidate{set: true, inAlt: inAlt, weak: weak, meta: meta}
	if int64(len(head)) > limit {
		sha, size, err := p.blobs.Put(io.MultiReader(bytes.NewReader(head), text))
		if err != nil {
			if p.src.err != nil {
				return p.src.err
			}
			return err
		}
		next.whole = &Attachment{ContentType: meta.media, Size: size, SHA256: sha}
		head = head[:mail.CutUTF8(head, int(limit))]
	}
	next.content = string(head)
	if cand.set {
		if err := p.demote(cand); err != nil {
			return err
		}
	}
	*cand = next
	return nil
}

// demote turns a body chosen earlier into an attachment.
func (p *parser) demote(c *bodyCandidate) error {
	if c.whole != nil {
		p.addAttachment(c.meta, c.whole.SHA256, c.whole.Size)
		return nil
	}
	sha, size, err := p.blobs.Put(strings.NewReader(c.content))
	if err != nil {
		return err
	}
	p.addAttachment(c.meta, sha, size)
	return nil
}

// finishBodies fills Text and HTML from the chosen parts.
func (p *parser) finishBodies() error {
	limit := p.opts.MaxTextBytes
	if p.text.set {
		p.msg.Text = normalizeNewlines(strings.TrimPrefix(p.text.content, "\ufeff"))
		if w := p.text.whole; w != nil {
			w.Filename = "body.txt"
			p.msg.Attachments = append(p.msg.Attachments, *w)
			p.warn("text body longer than %d bytes: truncated; kept whole as body.txt", limit)
		}
	}
	if p.html.set {
		p.msg.HTML = p.html.content
		if w := p.html.whole; w != nil {
			w.Filename = "body.html"
			p.msg.Attachments = append(p.msg.Attachments, *w)
			p.warn("HTML body longer than %d bytes: truncated; kept whole as body.html", limit)
		}
		if !p.text.set {
			t := htmlToText(p.html.content)
			p.msg.Text = t[:mail.CutUTF8(t, int(min(int64(len(t)), limit)))]
			p.msg.TextFromHTML = true
		}
	}
	return nil
}

// normalizeNewlines turns CRLF and lone CR into LF.
func normalizeNewlines(s string) string {
	i := strings.IndexByte(s, '\r')
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i >= 0 {
		b.WriteString(s[:i])
		b.WriteByte('\n')
		s = strings.TrimPrefix(s[i+1:], "\n")
		i = strings.IndexByte(s, '\r')
	}
	b.WriteString(s)
	return b.String()
}

// textReader converts a text part to UTF-8. The charset parameter decides,
// with these repairs: no charset (or us-ascii) with 8-bit content is UTF-8
// when it validates and windows-1252 otherwise; an HTML part without charset
// parameter uses its <meta> charset; see lookupCharset for the rest. An
// unknown charset keeps the raw bytes (made valid UTF-8 later) with a warning.
func (p *parser) textReader(meta partMeta, label string, r io.Reader) io.Reader {
	br := p.buf.sniff
	br.Reset(r)
	sample, _ := br.Peek(sniffBytes)
	label = normalizeLabel(label)
	if label == "" && meta.media == "text/html" {
		label = metaCharset(sample)
	}
	enc, known := lookupCharset(label, sample)
	switch {
	case !known:
		if cr, ok := goMessageCharset(label, br); ok {
			return cr
		}
		p.warn("part %d: unknown charset %q: text kept as raw bytes", meta.no, label)
		return br
	case enc == nil:
		return br
	}
	if (label == "" || isASCIILabel(label)) && enc == charmap.Windows1252 {
		p.warn("part %d: undeclared 8-bit text read as windows-1252", meta.no)
	}
	return transform.NewReader(br, enc.NewDecoder())
}

// validUTF8Reader passes UTF-8 through and replaces each invalid byte with
// U+FFFD, so that everything measured against MaxTextBytes is already the
// text that will be stored. A sequence split across two reads is carried over.
type validUTF8Reader struct {
	r     io.Reader
	in    [4096]byte
	carry []byte
	out   []byte
	store []byte
	err   error
}

// reset makes v read r, as new.
func (v *validUTF8Reader) reset(r io.Reader) *validUTF8Reader {
	v.r, v.carry, v.out, v.store, v.err = r, v.carry[:0], nil, v.store[:0], nil
	return v
}

func (v *validUTF8Reader) Read(p []byte) (int, error) {
	for len(v.out) == 0 {
		if v.err != nil {
			return 0, v.err
		}
		n, err := v.r.Read(v.in[len(v.carry):])
		copy(v.in[:], v.carry)
		data := v.in[:len(v.carry)+n]
		v.carry = v.carry[:0]
		if err == nil {
			// Keep an incomplete sequence at the end for the next read.
			for i := len(data) - 1; i >= 0 && i >= len(data)-utf8.UTFMax+1; i-- {
				if utf8.RuneStart(data[i]) {
					if !utf8.FullRune(data[i:]) {
						v.carry = append(v.carry, data[i:]...)
						data = data[:i]
					}
					break
				}
			}
		} else {
			v.err = err
		}
		if utf8.Valid(data) { // the common case: passed on as it is
			v.out = data
			continue
		}
		out := v.store[:0]
		for len(data) > 0 {
			r, size := utf8.DecodeRune(data)
			if r == utf8.RuneError && size == 1 {
				out = append(out, "\uFFFD"...)
			} else {
				out = append(out, data[:size]...)
			}
			data = data[size:]
		}
		v.store, v.out = out, out
	}
	n := copy(p, v.out)
	v.out = v.out[n:]
	return n, nil
}

var metaCharsetRE = regexp.MustCompile(`(?i)<meta[^>]+charset\s*=\s*["']?\s*([a-z0-9_.:-]+)`)

// metaCharset finds the charset an HTML document declares in a <meta> element.
func metaCharset(sample []byte) string {
	if len(sample) > 4096 {
		sample = sample[:4096]
	}
	if m := metaCharsetRE.FindSubmatch(sample); m != nil {
		return normalizeLabel(string(m[1]))
	}
	return ""
}

func normalizeLabel(s string) string {
	s = strings.Trim(strings.TrimSpace(s), `"'`)
	if i := strings.IndexByte(s, '*'); i >= 0 { // RFC 2231 language suffix: "utf-8*de"
		s = s[:i]
	}
	return strings.ToLower(strings.TrimSpace(s))
}

func isASCIILabel(l string) bool {
	switch l {
	case "us-ascii", "ascii", "ansi_x3.4-1968", "us", "iso646-us", "csascii", "iso-ir-6", "cp367", "ibm367":
		return true
	}
	return false
}

// lookupCharset maps a charset label to a decoder. A nil Encoding with
// known set means UTF-8 (invalid bytes are replaced later). sample is the
// start of the content; it settles labels that are often wrong:
//   - no label or an ASCII label: ISO-2022-JP if the sample has its escape
//     sequences, else UTF-8 if the sample is valid UTF-8, else windows-1252;
//   - ISO-8859-1 is read as windows-1252 (its superset, as browsers do);
//   - GB2312 and GBK are read as GB18030 (their superset);
//   - ISO-2022-JP content with 8-bit bytes is Shift_JIS (ISO-2022-JP is 7-bit;
//     Japanese mailers that mislabel Shift_JIS are common).
func lookupCharset(label string, sample []byte) (encoding.Encoding, bool) {
	switch {
	case label == "" || isASCIILabel(label):
		if looksISO2022JP(sample) {
			return japanese.ISO2022JP, true
		}
		if utf8.Valid(trimPartialRune(sample)) {
			return nil, true
		}
		return charmap.Windows1252, true
	}
	switch label {
	case "utf-8", "utf8", "unicode-1-1-utf-8", "x-utf-8", "x-utf_8j", "utf-8-sig":
		return nil, true
	case "iso-8859-1", "iso8859-1", "iso_8859-1", "iso_8859-1:1987", "latin1", "l1", "iso-ir-100",
		"cp819", "ibm819", "csisolatin1", "8859-1", "windows-1252", "cp1252", "x-cp1252":
		return charmap.Windows1252, true
	case "gb2312", "gbk", "cp936", "x-gbk", "euc-cn", "x-euc-cn", "csgb2312", "gb_2312-80", "chinese", "ms936", "windows-936":
		return simplifiedchinese.GB18030, true
	case "iso-2022-jp", "csiso2022jp", "iso-2022-jp-1", "iso-2022-jp-2", "iso-2022-jp-3":
		if hasHighBit(sample) {
			return japanese.ShiftJIS, true
		}
		return japanese.ISO2022JP, true
	case "shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji", "csshiftjis", "windows-31j", "cp932", "ms932":
		return japanese.ShiftJIS, true
	}
	if e, err := ianaindex.MIME.Encoding(label); err == nil && e != nil {
		return e, true
	}
	if e, err := ianaindex.MIME.Encoding("cs" + label); err == nil && e != nil {
		return e, true
	}
	if e, err := htmlindex.Get(label); err == nil && e != nil {
		return e, true
	}
	return nil, false
}

// looksISO2022JP reports whether 7-bit text switches to JIS X 0208 with
// ESC $ B or ESC $ @, the mark of ISO-2022-JP.
func looksISO2022JP(b []byte) bool {
	return !hasHighBit(b) && (bytes.Contains(b, []byte("\x1b$B")) || bytes.Contains(b, []byte("\x1b$@")))
}

// goMessageCharset asks go-message's charset table for a label that
// lookupCharset does not know: message.CharsetReader, set by importing
// github.com/emersion/go-message/charset, which also serves encodings added
// with charset.RegisterEncoding.
func goMessageCharset(label string, r io.Reader) (io.Reader, bool) {
	if message.CharsetReader == nil || label == "" {
		return nil, false
	}
	cr, err := message.CharsetReader(label, r)
	if err != nil || cr == nil {
		return nil, false
	}
	return cr, true
}

func hasHighBit(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// trimPartialRune drops an incomplete UTF-8 sequence at the end of a sample.
func trimPartialRune(b []byte) []byte {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i]
			}
			break
		}
	}
	return b
}

// decodeBytes converts b from charset label to valid UTF-8. known is false
// when the label is unknown; b is then kept as is, invalid bytes replaced.
func decodeBytes(label string, b []byte) (s string, known bool) {
	label = normalizeLabel(label)
	enc, known := lookupCharset(label, b)
	if !known {
		if cr, ok := goMessageCharset(label, bytes.NewReader(b)); ok {
			if out, err := io.ReadAll(cr); err == nil {
				return nulToReplacement(strings.ToValidUTF8(string(out), "\uFFFD")), true
			}
		}
	}
	if known && enc != nil {
		if out, err := enc.NewDecoder().Bytes(b); err == nil {
			b = out
		}
	}
	return nulToReplacement(strings.ToValidUTF8(string(b), "\uFFFD")), known
}

// normalizeCTE reduces a Content-Transfer-Encoding value to its token and
// maps common misspellings to the real encodings.
func normalizeCTE(v string) string {
	v = strings.ToLower(strings.Trim(strings.TrimSpace(v), `"'`))
	if i := strings.IndexAny(v, " \t;("); i >= 0 {
		v = v[:i]
	}
	switch v {
	case "", "7bit", "8bit", "binary", "quoted-printable", "base64":
		return v
	case "7-bit", "8-bit", "7bits", "8bits":
		return "8bit"
	case "quotedprintable", "quoted_printable", "qp":
		return "quoted-printable"
	case "base-64":
		return "base64"
	}
	if _, known := lookupCharset(v, nil); known && v != "" && v != "binary" {
		return "8bit" // a charset given as transfer encoding, a common mix-up
	}
	return v
}

// decodeCTE undoes a Content-Transfer-Encoding. Both decoders are lenient
// (see qpReader and base64Reader); known is false for encodings such as
// x-uuencode, whose content is then returned undecoded. The decoders are
// those of s: the reader returned is good until the next call.
func (s *scratch) decodeCTE(cte string, r io.Reader) (io.Reader, bool) {
	switch cte {
	case "", "7bit", "8bit", "binary":
		return r, true
	case "quoted-printable":
		s.qp.br.Reset(r)
		return &s.qp, true
	case "base64":
		return s.b64.reset(r), true
	}
	return r, false
}

// qpReader decodes quoted-printable (RFC 2045 section 6.7) without ever
// failing: "=" not followed by two hex digits or a line break is a literal
// "=", control characters pass through, lines may be of any length, and
// white space at the end of a line is dropped as the RFC asks. (The standard
// library's reader fails on control characters and on lines longer than its
// 4 KiB buffer.)
//
// Whether a blank is at the end of a line, or an "=" starts a soft line
// break, is decided by looking ahead as far as the buffer of br reaches.
// Read decides in bulk what the buffered input settles, and leaves the rest
// to decodeByte, which peeks ahead a whole buffer.
type qpReader struct {
	br *bufio.Reader
}

func (q *qpReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if _, err := q.br.Peek(1); err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		buf, _ := q.br.Peek(q.br.Buffered())
		i, m := decodeQP(buf, p[n:])
		q.br.Discard(i)
		n += m
		if i == len(buf) || n == len(p) {
			continue
		}
		// The next byte needs a look further ahead. So may the blanks
		// after it, in a run longer than the buffer: they are decided one
		// by one too, without scanning the run again for each.
		for {
			n += q.decodeByte(p[n:])
			if n == len(p) || q.br.Buffered() == 0 {
				break
			}
			if next, _ := q.br.Peek(1); next[0] != ' ' && next[0] != '\t' {
				break
			}
		}
	}
	return n, nil
}

// decodeQP decodes in into out until out is full or the rest of in is not
// enough to decide how to decode its next byte. It returns the bytes of in
// consumed and of out written.
func decodeQP(in, out []byte) (i, n int) {
	for i < len(in) && n < len(out) {
		// Text up to the next "=" or line break is copied as it is, but for
		// the white space at its end: dropped before a line break, left to
		// decodeByte at the end of in.
		k := i
		for k < len(in) && !qpStop[in[k]] {
			k++
		}
		text := in[i:k]
		if k == len(in) || in[k] != '=' {
			text = bytes.TrimRight(text, " \t")
		}
		m := copy(out[n:], text)
		n += m
		i += m
		if m < len(text) || k == len(in) || n == len(out) {
			return i, n
		}
		i = k
		switch {
		case in[k] != '=': // a line break
			out[n] = in[k]
			n++
			i++
		case k+2 >= len(in):
			return i, n
		case isHex(in[k+1]) && isHex(in[k+2]):
			out[n] = unhex(in[k+1])<<4 | unhex(in[k+2])
			n++
			i += 3
		default:
			j := skipBlanks(in, k+1)
			switch {
			case j == len(in) || in[j] == '\r' && j+1 == len(in):
				return i, n
			case in[j] == '\n':
				i = j + 1 // soft line break
			case in[j] == '\r' && in[j+1] == '\n':
				i = j + 2 // soft line break
			default:
				out[n] = '='
				n++
				i++
			}
		}
	}
	return i, n
}

// qpStop marks the bytes that end a run of text for decodeQP.
var qpStop = [256]bool{'=': true, '\r': true, '\n': true}

func skipBlanks(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	return i
}

// decodeByte decodes the next input byte, which is buffered, into p (not
// empty) and returns the number of bytes written, 0 or 1.
func (q *qpReader) decodeByte(p []byte) int {
	c, _ := q.br.ReadByte()
	switch c {
	case '=':
		next, _ := q.br.Peek(2)
		switch {
		case len(next) == 2 && isHex(next[0]) && isHex(next[1]):
			p[0] = unhex(next[0])<<4 | unhex(next[1])
			q.br.Discard(2)
			return 1
		case len(next) == 0:
			// "=" at the very end: a soft line break without the line.
			return 0
		case q.softBreak():
			return 0
		}
	case ' ', '\t':
		if q.trailingSpace() {
			return 0
		}
	}
	p[0] = c
	return 1
}

// softBreak consumes "[ \t]*\r?\n" after "=" and reports whether it was there.
func (q *qpReader) softBreak() bool {
	buf, _ := q.br.Peek(q.br.Size())
	i := 0
	for i < len(buf) && (buf[i] == ' ' || buf[i] == '\t') {
		i++
	}
	switch {
	case i < len(buf) && buf[i] == '\n':
		q.br.Discard(i + 1)
		return true
	case i+1 < len(buf) && buf[i] == '\r' && buf[i+1] == '\n':
		q.br.Discard(i + 2)
		return true
	case i == len(buf) && i < q.br.Size():
		q.br.Discard(i) // white space up to the end of the input
		return true
	}
	return false
}

// trailingSpace reports whether the blank just read is followed by more
// blanks and then a line break or the end of input; if so it drops the blanks.
func (q *qpReader) trailingSpace() bool {
	buf, _ := q.br.Peek(q.br.Size())
	i := 0
	for i < len(buf) && (buf[i] == ' ' || buf[i] == '\t') {
		i++
	}
	if (i < len(buf) && (buf[i] == '\n' || buf[i] == '\r')) || (i == len(buf) && i < q.br.Size()) {
		q.br.Discard(i)
		return true
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// base64Reader decodes base64 leniently (see base64Decoder).
type base64Reader struct {
	r   io.Reader
	dec base64Decoder
	in  [16 << 10]byte
	buf [12<<10 + 8]byte // room for the decoded in plus a flushed quantum
	out []byte           // decoded, not yet read
	err error
}

// reset makes b read r, as new.
func (b *base64Reader) reset(r io.Reader) *base64Reader {
	b.r, b.dec, b.out, b.err = r, base64Decoder{}, nil, nil
	return b
}

func (b *base64Reader) Read(p []byte) (int, error) {
	for len(b.out) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		n, err := b.r.Read(b.in[:])
		b.out = b.dec.decode(b.in[:n], b.buf[:0])
		if err != nil {
			b.out = b.dec.flush(b.out)
			b.err = err
		}
	}
	n := copy(p, b.out)
	b.out = b.out[n:]
	return n, nil
}

// base64Decoder decodes base64 leniently: characters outside the alphabet
// (line breaks, spaces, junk) are skipped, and padding ends a quantum, so
// concatenated encoded blocks decode too.
type base64Decoder struct {
	quad [4]byte
	nq   int
}

func (b *base64Decoder) decode(in, out []byte) []byte {
	for _, c := range in {
		v := base64Value[c]
		switch {
		case v < 64:
			b.quad[b.nq] = v
			b.nq++
			if b.nq == 4 {
				out = append(out, b.quad[0]<<2|b.quad[1]>>4, b.quad[1]<<4|b.quad[2]>>2, b.quad[2]<<6|b.quad[3])
				b.nq = 0
			}
		case c == '=':
			out = b.flush(out)
		}
	}
	return out
}

// flush emits the bytes of an incomplete quantum (2 or 3 characters).
func (b *base64Decoder) flush(out []byte) []byte {
	switch b.nq {
	case 2:
		out = append(out, b.quad[0]<<2|b.quad[1]>>4)
	case 3:
		out = append(out, b.quad[0]<<2|b.quad[1]>>4, b.quad[1]<<4|b.quad[2]>>2)
	}
	b.nq = 0
	return out
}

var base64Value = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	t['-'], t['_'] = 62, 63 // base64url, sometimes seen in encoded words
	return t
}()

// decodeBase64 decodes a short base64 string with the same leniency.
func decodeBase64(s string) []byte {
	var d base64Decoder
	out := d.decode([]byte(s), make([]byte, 0, len(s)))
	return d.flush(out)
}

// parseMediaType parses a Content-Type value: the media type in lower case,
// "text/plain" when missing or unusable (RFC 2045 section 5.2), and its
// parameters (see parseParams).
func parseMediaType(v string) (string, map[string]string) {
	media, params := parseParams(v)
	if !strings.Contains(media, "/") {
		media = "text/plain"
	}
	return media, params
}

// parseParams parses a header value of the form "token; key=value; ...".
// The token is lower case; parameter keys are lower case and RFC 2231
// extended values are decoded (in any charset, not only the UTF-8 and ASCII
// the standard library accepts). When the standard parser gives up
// (duplicate parameters, 8-bit bytes, stray semicolons), each parameter is
// parsed on its own and the ones that make sense are kept, so a boundary or
// a file name survives a broken neighbour.
func parseParams(v string) (string, map[string]string) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", map[string]string{}
	}
	token, params, err := mime.ParseMediaType(v)
	if err != nil {
		token, params = parseParamsLoose(v)
	}
	if params == nil {
		params = map[string]string{}
	}
	lower := strings.ToLower(v)
	for _, k := range []string{"filename", "name"} {
		// The standard library drops RFC 2231 values in charsets other
		// than UTF-8 and ASCII, even a single piece of a continuation.
		if strings.Contains(lower, k+"*") {
			if val, ok := rfc2231(v, k); ok {
				params[k] = val
			}
		}
	}
	return strings.ToLower(strings.TrimSpace(token)), params
}

func parseParamsLoose(v string) (string, map[string]string) {
	segs := splitParams(v)
	token := strings.ToLower(strings.TrimSpace(segs[0]))
	if i := strings.IndexAny(token, " \t"); i >= 0 {
		token = token[:i]
	}
	params := map[string]string{}
	for _, seg := range segs[1:] {
		seg = strings.TrimSpace(seg)
		if seg == "" {
			continue
		}
		if _, ps, err := mime.ParseMediaType("x/x; " + seg); err == nil {
			for k, val := range ps {
				if _, dup := params[k]; !dup {
					params[k] = val
				}
			}
			continue
		}
		k, val, ok := strings.Cut(seg, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		val = strings.TrimSpace(val)
		if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			val = strings.ReplaceAll(val[1:len(val)-1], `\"`, `"`)
		}
		if _, dup := params[k]; !dup && k != "" && !strings.Contains(k, "*") {
			params[k] = val
		}
	}
	return token, params
}

// rfc2231 decodes the RFC 2231 parameter key from a raw header value:
// key*=charset'lang'%XX..., or continuations key*0*=..., key*1=...
func rfc2231(v, key string) (string, bool) {
	type piece struct {
		enc bool
		val string
	}
	pieces := map[int]piece{}
	for _, seg := range splitParams(v)[1:] {
		k, val, ok := strings.Cut(strings.TrimSpace(seg), "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		val = strings.TrimSpace(val)
		if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			val = val[1 : len(val)-1]
		}
		rest, ok := strings.CutPrefix(k, key+"*")
		if !ok {
			continue
		}
		enc := strings.HasSuffix(rest, "*") || rest == ""
		rest = strings.TrimSuffix(rest, "*")
		n := 0
		if rest != "" {
			if _, err := fmt.Sscanf(rest, "%d", &n); err != nil || n < 0 || n > 100 {
				continue
			}
		}
		if _, dup := pieces[n]; !dup {
			pieces[n] = piece{enc, val}
		}
	}
	first, ok := pieces[0]
	if !ok {
		return "", false
	}
	charset := ""
	if first.enc {
		parts := strings.SplitN(first.val, "'", 3)
		if len(parts) == 3 {
			charset = parts[0]
			first.val = parts[2]
		}
	}
	var raw []byte
	for i := 0; i <= 100; i++ {
		pc, ok := pieces[i]
		if !ok {
			break
		}
		if i == 0 {
			pc = first
		}
		if !pc.enc {
			raw = append(raw, pc.val...)
			continue
		}
		for j := 0; j < len(pc.val); j++ {
			if pc.val[j] == '%' && j+2 < len(pc.val) && isHex(pc.val[j+1]) && isHex(pc.val[j+2]) {
				raw = append(raw, unhex(pc.val[j+1])<<4|unhex(pc.val[j+2]))
				j += 2
				continue
			}
			raw = append(raw, pc.val[j])
		}
	}
	if charset == "" {
		charset = "utf-8"
	}
	s, _ := decodeBytes(charset, raw)
	return s, true
}

// splitParams splits a header value at semicolons outside quoted strings.
func splitParams(v string) []string {
	var segs []string
	start, quoted := 0, false
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\':
			if quoted {
				i++
			}
		case '"':
			quoted = !quoted
		case ';':
			if !quoted {
				segs = append(segs, v[start:i])
				start = i + 1
			}
		}
	}
	return append(segs, v[start:])
}

// filename is the decoded file name of a part: Content-Disposition filename,
// else Content-Type name. RFC 2231 was decoded by parseMediaType; RFC 2047
// encoded words inside the quoted value (what many mailers send) and raw
// 8-bit bytes are decoded here. Control characters are removed.
func (p *parser) filename(dparams, ctparams map[string]string) string {
	name := dparams["filename"]
	if strings.TrimSpace(name) == "" {
		name = ctparams["name"]
	}
	name = p.headerText(name)
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, name)
	return strings.TrimSpace(name)
}

// ---- header fields ----

// fillHeaderFields fills the Message fields that come from the top-level
// header. It runs after the body so that raw 8-bit header bytes can be read
// in the charset the mail declares for its text.
func (p *parser) fillHeaderFields() {
	m, h := p.msg, p.top
	hh := msgmail.Header{Header: message.Header{Header: h}}

	m.Subject = cleanHeaderText(p.headerText(h.Get("Subject")))
	m.From = p.firstAddress(h.Values("From"))
	if senders := p.addressList("Sender", h.Values("Sender")); len(senders) > 0 {
		m.Sender = senders[0]
	}
	m.ReplyTo = p.addressList("Reply-To", h.Values("Reply-To"))
	m.To = p.addressList("To", h.Values("To"))
	m.Cc = p.addressList("Cc", h.Values("Cc"))

	m.MessageID = p.messageID(hh)
	m.InReplyTo = p.msgIDList(hh, "In-Reply-To")
	m.References = p.msgIDList(hh, "References")
	m.Date = p.date(hh)

	m.ContentLanguage = p.raw(h.Get("Content-Language"))
	m.AutoSubmitted = p.raw(h.Get("Auto-Submitted"))
	m.Precedence = p.raw(h.Get("Precedence"))
	m.ListID = p.raw(h.Get("List-Id"))
	m.ListUnsubscribe = p.raw(h.Get("List-Unsubscribe"))
	m.ReturnPath = p.raw(h.Get("Return-Path"))
	m.ContentType = p.topMedia
	if p.topMedia == "multipart/report" {
		m.ReportType = strings.ToLower(p.topParams["report-type"])
	}
	for _, v := range h.Values("X-Loop") {
		m.XLoop = append(m.XLoop, p.raw(v))
	}
	for _, k := range p.opts.KeepHeaders {
		k = textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(k))
		vs := h.Values(k)
		if len(vs) == 0 {
			continue
		}
		if m.Headers == nil {
			m.Headers = map[string][]string{}
		}
		out := make([]string, len(vs))
		for i, v := range vs {
			out[i] = p.raw(v)
		}
		m.Headers[k] = out
	}
}

// raw returns a header value as valid UTF-8 (see rawToUTF8), otherwise as given.
//
// A NUL becomes U+FFFD, as an invalid byte of a body does: it is no text,
// but it marks that something stood there. So does a lone 0x80 in a value
// that is UTF-8 otherwise: IMAP cannot carry a NUL (RFC 3501 section 4.3),
// and servers such as Dovecot send 0x80 in its place, which read as
// windows-1252 would become a "€" the sender never wrote.
func (p *parser) raw(v string) string {
	if utf8.ValidString(v) {
		return nulToReplacement(v)
	}
	if s, ok := nulStandIns(v); ok {
		return nulToReplacement(s)
	}
	return nulToReplacement(p.rawToUTF8([]byte(v)))
}

// nulToReplacement replaces each NUL of s by U+FFFD.
func nulToReplacement(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// nulStandIns reads s as UTF-8 in which lone 0x80 bytes stand for NULs
// (see raw): ok is false when s has any other invalid byte.
func nulStandIns(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r != utf8.RuneError || size > 1:
			b.WriteString(s[i : i+size])
		case s[i] == 0x80:
			b.WriteString("\uFFFD")
		default:
			return "", false
		}
		i += size
	}
	return b.String(), true
}

// rawToUTF8 reads header bytes that are neither ASCII nor UTF-8 (RFC 6532).
// Such bytes are undeclared; in order:
//  1. the charset of the mail (top-level Content-Type, else the first text
//     part) when it is a multi-byte East Asian charset and decodes cleanly;
//  2. GB18030 when the bytes look like an EUC-style double-byte text (all
//     8-bit bytes in pairs of 0xA1-0xFE) and decode to CJK characters only;
//  3. the charset of the mail when it is known;
//  4. windows-1252.
func (p *parser) rawToUTF8(b []byte) string {
	declared := normalizeLabel(p.topParams["charset"])
	if declared == "" {
		declared = normalizeLabel(p.firstCharset)
	}
	enc, known := lookupCharset(declared, b)
	if known && isMultiByte(enc) {
		if s, err := enc.NewDecoder().Bytes(b); err == nil && !bytes.ContainsRune(s, utf8.RuneError) {
			p.warn("raw 8-bit header bytes read as %s", encodingName(enc))
			return string(s)
		}
	}
	if looksEUC(b) {
		if s, err := simplifiedchinese.GB18030.NewDecoder().Bytes(b); err == nil && onlyCJK(s) {
			p.warn("raw 8-bit header bytes read as GB18030")
			return string(s)
		}
	}
	if !known || enc == nil {
		enc = charmap.Windows1252
	}
	s, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	p.warn("raw 8-bit header bytes read as %s", encodingName(enc))
	return strings.ToValidUTF8(string(s), "\uFFFD")
}

func encodingName(e encoding.Encoding) string {
	if n, err := ianaindex.MIME.Name(e); err == nil && n != "" {
		return n
	}
	return "the declared charset"
}

func isMultiByte(e encoding.Encoding) bool {
	switch e {
	case simplifiedchinese.GB18030, simplifiedchinese.GBK, simplifiedchinese.HZGB2312,
		japanese.ShiftJIS, japanese.EUCJP, japanese.ISO2022JP:
		return true
	}
	if e == nil {
		return false
	}
	n, _ := htmlindex.Name(e)
	switch n {
	case "big5", "euc-kr", "gbk", "gb18030", "shift_jis", "euc-jp", "iso-2022-jp":
		return true
	}
	return false
}

// looksEUC reports whether every run of 8-bit bytes in b is an even number
// of bytes in 0xA1-0xFE, with at least two such pairs: the shape of GB2312,
// EUC-KR or EUC-JP text, and practically never of Latin text.
func looksEUC(b []byte) bool {
	pairs, run := 0, 0
	for _, c := range b {
		switch {
		case c < 0x80:
			if run%2 != 0 {
				return false
			}
			run = 0
		case c >= 0xa1 && c <= 0xfe:
			run++
			if run%2 == 0 {
				pairs++
			}
		default:
			return false
		}
	}
	return run%2 == 0 && pairs >= 2
}

// onlyCJK reports whether the non-ASCII runes of s are CJK ideographs, kana,
// hangul or CJK/full-width punctuation.
func onlyCJK(s []byte) bool {
	for _, r := range string(s) {
		switch {
		case r < 0x80:
		case r >= 0x3000 && r <= 0x30ff, r >= 0x3400 && r <= 0x4dbf, r >= 0x4e00 && r <= 0x9fff,
			r >= 0xac00 && r <= 0xd7af, r >= 0xff00 && r <= 0xffef, r >= 0x2000 && r <= 0x206f:
		default:
			return false
		}
	}
	return true
}

// headerText decodes a header value that is free text: raw 8-bit bytes,
// then RFC 2047 encoded words (leniently, see decodeWords).
func (p *parser) headerText(v string) string {
	return p.decodeWords(p.raw(v))
}

// cleanHeaderText unfolds a decoded header text: a line break and the white
// space after it become one space, other control characters go, and the
// result is trimmed of ASCII white space. (An encoded word may smuggle a CRLF
// into a Subject; it must not reach a reply's header.)
func cleanHeaderText(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\r' || c == '\n':
			for i+1 < len(s) && (s[i+1] == '\r' || s[i+1] == '\n' || s[i+1] == ' ' || s[i+1] == '\t') {
				i++
			}
			b.WriteByte(' ')
		case c == '\t':
			b.WriteByte(' ')
		case c < 0x20 || c == 0x7f:
		default:
			b.WriteByte(c)
		}
	}
	return strings.Trim(b.String(), " ")
}

// encodedWord is one RFC 2047 encoded word found by parseWord.
type encodedWord struct {
	charset string
	data    []byte
	n       int // bytes of the input it spans
}

// parseWord parses an encoded word at the start of s ("=?charset?Q?text?=").
// It accepts lower-case encodings, an RFC 2231 language suffix, base64 with
// missing or excess padding, and white space inside the text (which some
// mailers leave unencoded) when the charset is known.
func parseWord(s string) (encodedWord, bool) {
	if !strings.HasPrefix(s, "=?") {
		return encodedWord{}, false
	}
	cs, rest, ok := strings.Cut(s[2:], "?")
	if !ok || cs == "" || len(cs) > 64 || strings.ContainsAny(cs, " \t\r\n=") || len(rest) < 2 || rest[1] != '?' {
		return encodedWord{}, false
	}
	enc := rest[0] | 0x20
	if enc != 'q' && enc != 'b' {
		return encodedWord{}, false
	}
	text, _, ok := strings.Cut(rest[2:], "?=")
	if !ok || strings.ContainsRune(text, '?') {
		return encodedWord{}, false
	}
	if strings.ContainsAny(text, " \t\r\n") {
		if _, known := lookupCharset(normalizeLabel(cs), nil); !known {
			return encodedWord{}, false
		}
	}
	w := encodedWord{charset: cs, n: 2 + len(cs) + 3 + len(text) + 2}
	if enc == 'b' {
		w.data = decodeBase64(text)
		return w, true
	}
	w.data = make([]byte, 0, len(text))
	for i := 0; i < len(text); i++ {
		switch c := text[i]; {
		case c == '_':
			w.data = append(w.data, ' ')
		case c == '=' && i+2 < len(text) && isHex(text[i+1]) && isHex(text[i+2]):
			w.data = append(w.data, unhex(text[i+1])<<4|unhex(text[i+2]))
			i += 2
		case c == '\r' || c == '\n':
		default:
			w.data = append(w.data, c)
		}
	}
	return w, true
}

// decodeWords decodes the RFC 2047 encoded words in s. White space between
// two encoded words is dropped, and adjacent words in the same charset are
// decoded together, so a character split across two words comes out whole.
// An unknown charset keeps the bytes (valid UTF-8 only) with a warning.
func (p *parser) decodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	var (
		out     strings.Builder
		pending []byte
		pendCS  string
	)
	flush := func() {
		if pending == nil {
			return
		}
		d, known := decodeBytes(pendCS, pending)
		if !known {
			p.warn("unknown charset %q in a header", normalizeLabel(pendCS))
		}
		out.WriteString(d)
		pending = nil
	}
	i, afterWord := 0, false
	for i < len(s) {
		j := strings.Index(s[i:], "=?")
		if j < 0 {
			break
		}
		j += i
		w, ok := parseWord(s[j:])
		if !ok {
			flush()
			out.WriteString(s[i : j+2])
			i, afterWord = j+2, false
			continue
		}
		between := s[i:j]
		adjacent := afterWord && strings.Trim(between, " \t\r\n") == ""
		if !adjacent || !strings.EqualFold(normalizeLabel(w.charset), normalizeLabel(pendCS)) {
			flush()
		}
		if !adjacent {
			out.WriteString(between)
		}
		pending = append(pending, w.data...)
		pendCS = w.charset
		i, afterWord = j+w.n, true
	}
	flush()
	out.WriteString(s[i:])
	return out.String()
}

// ---- addresses ----

// firstAddress is the first address of the first From field that has one.
// A From without any address gives the first display name found.
func (p *parser) firstAddress(values []string) store.Address {
	var named store.Address
	for _, v := range values {
		for _, a := range p.addressList("From", []string{v}) {
			if a.Email != "" {
				return a
			}
			if named.Name == "" {
				named = a
			}
		}
	}
	return named
}

// addressList parses address fields as RFC 5322 section 3.4 defines them,
// with the obsolete forms of section 4.4 (see parseAddressList): groups,
// comments anywhere, quoted local parts, routes, a phrase with dots, CFWS
// around the dots of an addr-spec. Encoded words outside quotes are decoded
// first (parseable even when they hold commas or spaces, as some mailers
// send them). A field that does not parse is split at top-level commas and
// each piece is parsed alone, falling back to a tolerant extraction (an
// address in <...>, else the first word with an "@"), with a warning.
func (p *parser) addressList(field string, values []string) []store.Address {
	var out []store.Address
	for _, v := range values {
		v = p.raw(v)
		if strings.TrimSpace(v) == "" {
			continue
		}
		pre := p.quoteEncodedPhrases(v)
		if list, ok := parseAddressList(pre); ok {
			for _, a := range list {
				out = append(out, p.parsedAddress(a))
			}
			continue
		}
		p.warn("malformed %s field: address read leniently", field)
		for _, piece := range splitAddressList(pre) {
			if strings.TrimSpace(piece) == "" {
				continue
			}
			if list, ok := parseAddressList(piece); ok && len(list) > 0 {
				for _, a := range list {
					out = append(out, p.parsedAddress(a))
				}
				continue
			}
			// A piece without any address is kept only for From, whose
			// display name alone still says who wrote.
			if a, ok := p.looseAddress(piece); ok && (a.Email != "" || field == "From") {
				out = append(out, a)
			}
		}
	}
	return out
}

func (p *parser) parsedAddress(a rawAddress) store.Address {
	out := p.address(a.name, a.email)
	if a.group != "" {
		out.Group = collapseASCIISpace(p.decodeWords(a.group))
	}
	return out
}

// address normalizes one parsed address: the display name is decoded (also
// encoded words inside a quoted string), stripped of surrounding quotes and
// white space, with inner white space collapsed; the domain is lower-cased.
func (p *parser) address(name, email string) store.Address {
	name = collapseASCIISpace(p.decodeWords(name))
	name = strings.Trim(name, `"' `)
	email = strings.TrimSpace(email)
	if at := strings.LastIndexByte(email, '@'); at >= 0 {
		email = quoteLocal(email[:at]) + "@" + strings.ToLower(email[at+1:])
	}
	return store.Address{Name: name, Email: email}
}

// quoteLocal writes a local part as RFC 5322 section 3.4.1 wants it: as is
// when it is a dot-atom, else as a quoted string. net/mail hands out quoted
// local parts unquoted ("a b"@example.com becomes a b@example.com), which is
// no address one could reply to.
func quoteLocal(local string) string {
	if isDotAtom(local) || local == "" {
		return local
	}
	return `"` + quotedStringEscaper.Replace(local) + `"`
}

// quotedStringEscaper escapes text for a quoted string.
var quotedStringEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		if r >= utf8.RuneSelf || r == '.' {
			continue
		}
		if r <= ' ' || r == 0x7f || strings.ContainsRune(`()<>[]:;@\,"`, r) {
			return false
		}
	}
	return true
}

// collapseASCIISpace turns each run of ASCII white space and control
// characters into one space and trims the ends. Other white space, such as
// the ideographic space of CJK names, is content and stays.
func collapseASCIISpace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteByte(s[i])
	}
	return b.String()
}

// looseAddress extracts an address from a piece net/mail could not parse.
func (p *parser) looseAddress(s string) (store.Address, bool) {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		if j := strings.IndexByte(s[i:], '>'); j > 0 {
			inner := unquoteLocal(strings.TrimPrefix(strings.TrimSpace(s[i+1:i+j]), "mailto:"))
			if plausibleAddress(inner) {
				return p.address(stripComments(s[:i]), inner), true
			}
		}
	}
	words := splitWords(s)
	for i, w := range words {
		if !strings.Contains(w, "@") {
			continue
		}
		email := strings.Trim(w, "<>()[],;:")
		email = unquoteLocal(strings.TrimPrefix(email, "mailto:"))
		if !plausibleAddress(email) {
			continue
		}
		rest := append(append([]string{}, words[:i]...), words[i+1:]...)
		return p.address(stripComments(strings.Join(rest, " ")), email), true
	}
	if name := strings.TrimSpace(stripComments(s)); name != "" {
		return p.address(name, ""), true
	}
	return store.Address{}, false
}

// plausibleAddress accepts what the tolerant extraction may call an
// address: something before and after the last "@", and a domain without
// white space or a second "@".
func plausibleAddress(email string) bool {
	at := strings.LastIndexByte(email, '@')
	if at <= 0 || at == len(email)-1 {
		return false
	}
	local, domain := email[:at], email[at+1:]
	return strings.Trim(local, `"`) != "" && !strings.ContainsAny(domain, " \t@<>\"")
}

// unquoteLocal writes a quoted local part ("a b"@example.com) the way
// net/mail does: without the quotes.
func unquoteLocal(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 2 || email[0] != '"' || email[at-1] != '"' {
		return email
	}
	return strings.ReplaceAll(email[1:at-1], `\"`, `"`) + email[at:]
}

// stripComments turns "(comment)" into its text when nothing else is left,
// and drops it otherwise (RFC 5322 comments in From often hold the name).
func stripComments(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if k, end, _ := span(s, 0); k == tokComment && end == len(s) && strings.Count(s, "(") == 1 {
		return s[1 : len(s)-1]
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		k, end, _ := span(s, i)
		if k != tokComment {
			b.WriteString(s[i:end])
		}
		i = end
	}
	return b.String()
}

// splitWords splits at white space outside quoted strings and comments.
func splitWords(s string) []string {
	var words []string
	start := 0
	for i := 0; i < len(s); {
		k, end, _ := span(s, i)
		if k == tokSpace {
			if i > start {
				words = append(words, s[start:i])
			}
			start = end
		}
		i = end
	}
	if start < len(s) {
		words = append(words, s[start:])
	}
	return words
}

// splitAddressList splits an address field at commas outside quoted
// strings, comments and angle brackets.
func splitAddressList(s string) []string {
	var out []string
	start, angle := 0, false
	for i := 0; i < len(s); {
		k, end, _ := span(s, i)
		if k == tokSpecial {
			switch s[i] {
			case '<':
				angle = true
			case '>':
				angle = false
			case ',':
				if !angle {
					out = append(out, s[start:i])
					start = end
				}
			}
		}
		i = end
	}
	return append(out, s[start:])
}

// ---- structured fields (RFC 5322 section 3.2) ----
//
// One scanner, span, cuts a structured field body into its lexical units;
// the address lists, the message ids and the date are all read through it,
// so quoted strings, quoted pairs and (nested) comments mean the same in
// each of them.

type tokenKind uint8

const (
	tokAtom    tokenKind = iota + 1 // a run of atext (RFC 5322 section 3.2.3), 8-bit bytes included (RFC 6532)
	tokQuoted                       // a quoted string (section 3.2.4)
	tokLiteral                      // a domain literal "[...]" (section 3.4.1)
	tokComment                      // a comment, nested comments included (section 3.2.2)
	tokSpecial                      // one of the specials ) < > ] : ; @ \ , .
	tokSpace                        // a run of white space, line breaks included
)

// span finds the lexical unit that starts at s[i] (i < len(s)) and returns
// its kind and end. Quoted pairs are honoured inside quoted strings,
// comments and domain literals. broken reports a quoted string, comment or
// literal that is not closed: it then runs to the end of s.
func span(s string, i int) (kind tokenKind, end int, broken bool) {
	switch c := s[i]; c {
	case ' ', '\t', '\r', '\n':
		j := i + 1
		for j < len(s) && isFWS(s[j]) {
			j++
		}
		return tokSpace, j, false
	case '"', '[':
		kind, closing := tokQuoted, byte('"')
		if c == '[' {
			kind, closing = tokLiteral, ']'
		}
		for j := i + 1; j < len(s); j++ {
			switch s[j] {
			case '\\':
				j++
			case closing:
				return kind, j + 1, false
			}
		}
		return kind, len(s), true
	case '(':
		depth := 0
		for j := i; j < len(s); j++ {
			switch s[j] {
			case '\\':
				j++
			case '(':
				depth++
			case ')':
				if depth--; depth == 0 {
					return tokComment, j + 1, false
				}
			}
		}
		return tokComment, len(s), true
	}
	if isSpecial(s[i]) {
		return tokSpecial, i + 1, false
	}
	j := i + 1
	for j < len(s) && !isSpecial(s[j]) && !isFWS(s[j]) && s[j] != '"' && s[j] != '(' && s[j] != '[' {
		j++
	}
	return tokAtom, j, false
}

func isFWS(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func isSpecial(c byte) bool {
	switch c {
	case ')', '<', '>', ']', ':', ';', '@', '\\', ',', '.':
		return true
	}
	return false
}

// token is one lexical unit of a structured field other than white space.
type token struct {
	kind  tokenKind
	text  string // atoms, specials and literals as written; quoted strings and comments without their delimiters and quoted pairs
	space bool   // white space or a comment stands before it
}

func (t token) is(special byte) bool {
	return t.kind == tokSpecial && t.text[0] == special
}

// lexStructured cuts s into tokens. broken reports an unclosed quoted
// string, comment or literal.
func lexStructured(s string) (toks []token, broken bool) {
	space := false
	for i := 0; i < len(s); {
		k, end, b := span(s, i)
		broken = broken || b
		switch k {
		case tokSpace:
			space = true
		case tokQuoted, tokComment:
			inner := s[i+1 : end]
			if !b {
				inner = s[i+1 : end-1]
			}
			toks = append(toks, token{kind: k, text: unquotePairs(inner), space: space})
			space = k == tokComment
		default:
			toks = append(toks, token{kind: k, text: s[i:end], space: space})
			space = false
		}
		i = end
	}
	return toks, broken
}

// unquotePairs removes the backslash of each quoted pair.
func unquotePairs(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// rawAddress is a mailbox as parseAddressList found it.
type rawAddress struct {
	name, email string
	group       string // display name of the group it was listed in
}

// addrParser reads addresses from tokens, skipping comments (the last one
// skipped is kept: a comment after an addr-spec names the mailbox).
type addrParser struct {
	toks    []token
	i       int
	comment string
}

// peek skips comments and returns the next token; ok is false at the end.
func (a *addrParser) peek() (token, bool) {
	for a.i < len(a.toks) && a.toks[a.i].kind == tokComment {
		a.comment = a.toks[a.i].text
		a.i++
	}
	if a.i == len(a.toks) {
		return token{}, false
	}
	return a.toks[a.i], true
}

func (a *addrParser) accept(special byte) bool {
	if t, ok := a.peek(); ok && t.is(special) {
		a.i++
		return true
	}
	return false
}

// parseAddressList parses an address-list (RFC 5322 section 3.4) and its
// obsolete forms (section 4.4): empty list elements, groups (their members
// carry the group's name; an empty group gives no address), a phrase with
// dots ("Joe Q. Public"), routes ("<@node.test:mary@example.net>"), and CFWS
// between the parts of an addr-spec ("jdoe@machine(comment).  example" is
// jdoe@machine.example). ok is false when s is not such a list.
func parseAddressList(s string) ([]rawAddress, bool) {
	toks, broken := lexStructured(s)
	if broken {
		return nil, false
	}
	a := &addrParser{toks: toks}
	var out []rawAddress
	for {
		for a.accept(',') {
		}
		if _, more := a.peek(); !more {
			return out, true
		}
		list, ok := a.address()
		if !ok {
			return nil, false
		}
		out = append(out, list...)
		if _, more := a.peek(); more && !a.accept(',') {
			return nil, false
		}
	}
}

// address is a mailbox or a group.
func (a *addrParser) address() ([]rawAddress, bool) {
	start := a.i
	if name, ok := a.phrase(); ok && a.accept(':') {
		var members []rawAddress
		for {
			for a.accept(',') {
			}
			t, more := a.peek()
			if !more { // the ";" is missing at the end of the field: taken as there
				return members, true
			}
			if t.is(';') {
				a.i++
				return members, true
			}
			m, ok := a.mailbox()
			if !ok {
				return nil, false
			}
			m.group = name
			members = append(members, m)
			if t, more := a.peek(); more && !t.is(',') && !t.is(';') {
				return nil, false
			}
		}
	}
	a.i = start
	m, ok := a.mailbox()
	return []rawAddress{m}, ok
}

// mailbox is a name-addr or an addr-spec.
func (a *addrParser) mailbox() (rawAddress, bool) {
	start := a.i
	name, _ := a.phrase()
	if a.accept('<') {
		email, ok := a.angleAddr()
		return rawAddress{name: name, email: email}, ok
	}
	a.i = start
	email, ok := a.addrSpec()
	if !ok {
		return rawAddress{}, false
	}
	// A comment right after the addr-spec is the name: "marc@example.com (Marc Smith)".
	a.peek()
	name = ""
	for j := a.i - 1; j >= start && a.toks[j].kind == tokComment; j-- {
		name = a.toks[j].text
	}
	return rawAddress{name: name, email: email}, true
}

// phrase reads a display name: words (atoms, quoted strings) and, as
// obs-phrase allows, dots after the first word. Words are joined with one
// space, a dot keeps the spacing it was written with.
func (a *addrParser) phrase() (string, bool) {
	var b strings.Builder
	prevWord := false
	for {
		t, ok := a.peek()
		if !ok {
			break
		}
		word := t.kind == tokAtom || t.kind == tokQuoted
		if !word && !(t.is('.') && b.Len() > 0) {
			break
		}
		if b.Len() > 0 && (t.space || prevWord && word) {
			b.WriteByte(' ')
		}
		b.WriteString(t.text)
		prevWord = word
		a.i++
	}
	return b.String(), b.Len() > 0
}

// angleAddr reads what follows "<": an optional obs-route, an addr-spec and ">".
func (a *addrParser) angleAddr() (string, bool) {
	if t, ok := a.peek(); ok && (t.is('@') || t.is(',')) {
		for !a.accept(':') {
			switch {
			case a.accept(','):
			case a.accept('@'):
				if _, ok := a.domain(); !ok {
					return "", false
				}
			default:
				return "", false
			}
		}
	}
	email, ok := a.addrSpec()
	if !ok || !a.accept('>') {
		return "", false
	}
	return email, true
}

// addrSpec reads local-part "@" domain. The local part is words joined by
// dots (obs-local-part: CFWS around them is dropped); quoted words give
// their content, which address writes as a quoted string again.
func (a *addrParser) addrSpec() (string, bool) {
	var b strings.Builder
	words, prevWord := 0, false
	for {
		t, ok := a.peek()
		if !ok {
			return "", false
		}
		word := t.kind == tokAtom || t.kind == tokQuoted
		if word && prevWord || !word && !t.is('.') {
			break // two words need a dot between them
		}
		if word {
			words++
		}
		prevWord = word
		b.WriteString(t.text)
		a.i++
	}
	if words == 0 || !a.accept('@') {
		return "", false
	}
	domain, ok := a.domain()
	if !ok {
		return "", false
	}
	b.WriteByte('@')
	b.WriteString(domain)
	return b.String(), true
}

// domain reads a domain literal or atoms separated by dots.
func (a *addrParser) domain() (string, bool) {
	t, ok := a.peek()
	if !ok {
		return "", false
	}
	if t.kind == tokLiteral {
		a.i++
		return t.text, true
	}
	var b strings.Builder
	for {
		t, ok := a.peek()
		if !ok || t.kind != tokAtom {
			return "", false
		}
		b.WriteString(t.text)
		a.i++
		if t, ok := a.peek(); !ok || !t.is('.') {
			return b.String(), true
		}
		a.i++
		b.WriteByte('.')
	}
}

// quoteEncodedPhrases replaces each run of encoded words that stands as a
// phrase (outside quoted strings, comments and angle brackets, and not glued
// to an addr-spec) by a quoted string of its decoded text. parseAddressList
// then sees a well-formed phrase even when the encoded text held commas or white
// space, and words in one charset are decoded together. An encoded word in an
// addr-spec is left alone: RFC 2047 section 5 forbids decoding it.
func (p *parser) quoteEncodedPhrases(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	var out strings.Builder
	angle := false
	for i := 0; i < len(s); {
		k, end, _ := span(s, i)
		switch {
		case k == tokSpecial && s[i] == '<':
			angle = true
		case k == tokSpecial && s[i] == '>':
			angle = false
		case k == tokAtom && !angle && strings.HasPrefix(s[i:], "=?") && phraseStart(s, i):
			// An encoded word may hold specials (against RFC 2047 section 5):
			// the run is measured with parseWord, not with span.
			wend := i
			for {
				w, ok := parseWord(s[wend:])
				if !ok {
					break
				}
				wend += w.n
				k := wend
				for k < len(s) && (s[k] == ' ' || s[k] == '\t') {
					k++
				}
				if _, ok := parseWord(s[k:]); !ok {
					break
				}
				wend = k
			}
			if wend > i && phraseEnd(s, wend) {
				text := p.decodeWords(s[i:wend])
				text = strings.Map(func(r rune) rune {
					if r < 0x20 || r == 0x7f {
						return ' '
					}
					return r
				}, text)
				text = quotedStringEscaper.Replace(text)
				out.WriteString(` "` + text + `" `)
				i = wend
				continue
			}
		}
		out.WriteString(s[i:end])
		i = end
	}
	return out.String()
}

func phraseStart(s string, i int) bool {
	if i == 0 {
		return true
	}
	switch s[i-1] {
	case ' ', '\t', '\r', '\n', ',', ':', ';', '"', ')', '>':
		return true
	}
	return false
}

func phraseEnd(s string, i int) bool {
	if i >= len(s) {
		return true
	}
	switch s[i] {
	case ' ', '\t', '\r', '\n', ',', ';', '<', '"', '(':
		return true
	}
	return false
}

// ---- message ids and date ----

// messageID is the Message-ID without <>. A value go-message rejects gives
// the first <...> in it, else the bare value when it is one word.
func (p *parser) messageID(h msgmail.Header) string {
	v := strings.TrimSpace(p.raw(h.Get("Message-Id")))
	if v == "" {
		return ""
	}
	if id, err := h.MessageID(); err == nil {
		return id
	}
	if ids := extractIDs(v); len(ids) > 0 {
		return ids[0]
	}
	return ""
}

// msgIDList reads In-Reply-To or References. Junk that go-message's strict
// parser rejects is searched for <...> tokens instead, else for bare words
// with an "@".
func (p *parser) msgIDList(h msgmail.Header, key string) []string {
	if strings.TrimSpace(h.Get(key)) == "" {
		return nil
	}
	if ids, err := h.MsgIDList(key); err == nil {
		return ids
	}
	return extractIDs(p.raw(h.Get(key)))
}

// extractIDs finds the message ids in v: each <...>, with the comments and
// white space inside dropped (obs-id-left and obs-id-right allow them:
// "<1234   @   local(blah)  .machine .example>" is 1234@local.machine.example),
// else the bare words with an "@".
func extractIDs(v string) []string {
	var ids []string
	var id strings.Builder
	in := false
	toks, _ := lexStructured(v)
	for _, t := range toks {
		switch {
		case t.is('<'):
			in = true
			id.Reset()
		case t.is('>') && in:
			if id.Len() > 0 {
				ids = append(ids, id.String())
			}
			in = false
		case !in || t.kind == tokComment:
		case t.kind == tokQuoted:
			id.WriteString(`"` + quotedStringEscaper.Replace(t.text) + `"`)
		default:
			id.WriteString(strings.Join(strings.Fields(t.text), ""))
		}
	}
	if len(ids) > 0 || strings.Contains(v, "<") {
		return ids
	}
	for _, w := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' }) {
		if strings.Contains(w, "@") {
			ids = append(ids, w)
		}
	}
	return ids
}

var dateLayouts = []string{
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"2 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04:05 MST",
	"2 Jan 2006 15:04:05 MST",
	"Mon, 2 Jan 2006 15:04 -0700",
	"2 Jan 2006 15:04 -0700",
	"Mon, 2 Jan 06 15:04:05 -0700",
	"2 Jan 06 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04:05 -0700 MST",
	"Mon, 2 Jan 2006 15:04:05",
	"2 Jan 2006 15:04:05",
	"Mon Jan 2 15:04:05 2006",
	"Mon Jan 2 15:04:05 MST 2006",
	"Mon Jan 2 15:04:05 -0700 2006",
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05",
	time.RFC3339,
}

// commonDate parses the date format that nearly every mail uses
// ("Mon, 2 Jan 2006 15:04:05 -0700"), with the result net/mail would give.
// net/mail tries 24 layouts before this one, each failing with an error to
// allocate. A value in this format starts with a day name and has no sign
// before its zone, so net/mail neither cuts it nor matches an earlier layout.
func commonDate(v string) (time.Time, bool) {
	if strings.ContainsAny(v, "\r\n") {
		return time.Time{}, false
	}
	t, err := time.Parse("Mon, 2 Jan 2006 15:04:05 -0700", v)
	return t, err == nil
}

// date parses Date: the common format first, then the RFC 5322 grammar with
// its obsolete forms (parseDate), then go-message (net/mail), then a list of
// layouts seen in the wild after dropping comments and doubled spaces. Zero
// when it fails.
func (p *parser) date(h msgmail.Header) time.Time {
	v := h.Get("Date")
	if strings.TrimSpace(v) == "" {
		return time.Time{}
	}
	if t, ok := commonDate(v); ok {
		return t
	}
	if t, ok := parseDate(v); ok {
		return t
	}
	if t, err := h.Date(); err == nil {
		return t
	}
	s := strings.Join(strings.Fields(stripComments(v)), " ")
	s = strings.TrimSuffix(strings.TrimSpace(s), ",")
	s = strings.Replace(s, ",", ", ", 1)
	s = strings.Join(strings.Fields(s), " ")
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t
		}
	}
	p.warn("unparseable Date header")
	return time.Time{}
}

var monthNames = map[string]time.Month{
	"jan": time.January, "feb": time.February, "mar": time.March, "apr": time.April,
	"may": time.May, "jun": time.June, "jul": time.July, "aug": time.August,
	"sep": time.September, "oct": time.October, "nov": time.November, "dec": time.December,
}

var dayNames = map[string]bool{"mon": true, "tue": true, "wed": true, "thu": true, "fri": true, "sat": true, "sun": true}

// zoneOffsets are the named zones of RFC 5322 section 4.3 (obs-zone), in
// seconds east of UTC. Military zones and other names are -0000 (UTC), as
// the section says for zones whose meaning is not known.
var zoneOffsets = map[string]int{
	"ut": 0, "gmt": 0, "utc": 0, "z": 0,
	"edt": -4 * 3600, "est": -5 * 3600, "cdt": -5 * 3600, "cst": -6 * 3600,
	"mdt": -6 * 3600, "mst": -7 * 3600, "pdt": -7 * 3600, "pst": -8 * 3600,
}

// parseDate parses a date-time of RFC 5322 section 3.3 with the obsolete
// forms of section 4.3: comments and folding white space between any of
// its parts ("Fri, 21 Nov 1997 09(comment):   55  :  06 -0600"), a missing
// day of the week, missing seconds, two- and three-digit years (00-49 are
// 2000-2049, 50-99 and three digits are 1900 plus the year) and named zones.
// A missing zone is read as -0000. A value out of range (31 Feb, 24:00, a
// zone minute of 60) is no date.
func parseDate(v string) (time.Time, bool) {
	var toks []token
	all, _ := lexStructured(v) // an unclosed comment at the end ends the date
	for _, t := range all {
		if t.kind != tokComment {
			toks = append(toks, t)
		}
	}
	i := 0
	atom := func() (string, bool) {
		if i < len(toks) && toks[i].kind == tokAtom {
			i++
			return toks[i-1].text, true
		}
		return "", false
	}
	number := func(minDigits, maxDigits int) (int, bool) {
		if i >= len(toks) || toks[i].kind != tokAtom {
			return 0, false
		}
		s := toks[i].text
		if len(s) < minDigits || len(s) > maxDigits {
			return 0, false
		}
		n := 0
		for _, c := range []byte(s) {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		i++
		return n, true
	}
	colon := func() bool {
		if i < len(toks) && toks[i].is(':') {
			i++
			return true
		}
		return false
	}
	if i < len(toks) && toks[i].kind == tokAtom && len(toks[i].text) >= 3 && dayNames[strings.ToLower(toks[i].text[:3])] {
		i++
		if i < len(toks) && toks[i].is(',') {
			i++
		}
	}
	day, ok := number(1, 2)
	if !ok {
		return time.Time{}, false
	}
	m, ok := atom()
	month := monthNames[strings.ToLower(m)]
	if !ok || month == 0 {
		return time.Time{}, false
	}
	yt := ""
	if i < len(toks) {
		yt = toks[i].text
	}
	year, ok := number(2, 4)
	if !ok {
		return time.Time{}, false
	}
	switch {
	case len(yt) == 2 && year < 50:
		year += 2000
	case len(yt) < 4:
		year += 1900
	}
	hour, ok := number(1, 2)
	if !ok || !colon() {
		return time.Time{}, false
	}
	minute, ok := number(1, 2)
	if !ok {
		return time.Time{}, false
	}
	second := 0
	if colon() {
		if second, ok = number(1, 2); !ok {
			return time.Time{}, false
		}
	}
	if i < len(toks) && toks[i].is('.') { // fractions of a second, seen in the wild
		i++
		if _, ok := number(1, 9); !ok {
			return time.Time{}, false
		}
	}
	offset := 0
	if z, ok := atom(); ok {
		switch {
		case len(z) == 5 && (z[0] == '+' || z[0] == '-'):
			n, err := strconv.Atoi(z[1:])
			if err != nil || n%100 > 59 {
				return time.Time{}, false
			}
			offset = (n/100*3600 + n%100*60)
			if z[0] == '-' {
				offset = -offset
			}
		case isAlpha(z):
			offset = zoneOffsets[strings.ToLower(z)]
		default:
			return time.Time{}, false
		}
	}
	if i != len(toks) || hour > 23 || minute > 59 || second > 60 || day < 1 || day > daysIn(month, year) {
		return time.Time{}, false
	}
	second = min(second, 59) // a leap second
	loc := time.UTC
	if offset != 0 {
		loc = time.FixedZone("", offset)
	}
	return time.Date(year, month, day, hour, minute, second, 0, loc), true
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func isAlpha(s string) bool {
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return s != ""
}
