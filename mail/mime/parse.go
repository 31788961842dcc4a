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
	"ticketd/mail"

	_ "github.com/emersion/go-message/charset" // sets message.CharsetReader: the last resort of our charset lookup
	mtextproto "github.com/emersion/go-message/textproto"
	"golang.org/x/text/encoding/charmap"
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
	charset   string // the charset parameter of a text part
	utf8      bool   // the content read is UTF-8 already (a text part converted)
	body      bool   // the whole copy of a long body: not an attachment of its own, no type check
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
	total        int64 // decoded bytes of the attachments kept (AttachmentPolicy.MaxTotal)
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
		charset:   charset,
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
	sha, size, kept, err := p.put(meta, br)
	if err != nil {
		if p.src.err != nil {
			return p.src.err
		}
		return err
	}
	if br.err != nil {
		p.damaged(meta.no, br.err)
	}
	if kept {
		p.addAttachment(meta, sha, size)
	}
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
		meta.utf8 = true
		return p.attachment(meta, text)
	}
	limit := p.opts.MaxTextBytes
	p.buf.head.Reset()
	p.buf.head.ReadFrom(io.LimitReader(text, limit+1)) // a bodyReader does not fail
	head := p.buf.head.Bytes()
	next := bodyCandidate{set: true, inAlt: inAlt, weak: weak, meta: meta}
	if int64(len(head)) > limit {
		whole := meta
		whole.utf8, whole.body = true, true
		whole.filename = "body.txt"
		if meta.media == "text/html" {
			whole.filename = "body.html"
		}
		sha, size, kept, err := p.put(whole, io.MultiReader(bytes.NewReader(head), text))
		if err != nil {
			if p.src.err != nil {
				return p.src.err
			}
			return err
		}
		if kept {
			next.whole = &Attachment{ContentType: meta.media, Size: size, SHA256: sha}
		}
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
	meta := c.meta
	meta.utf8 = true
	sha, size, kept, err := p.put(meta, strings.NewReader(c.content))
	if err != nil {
		return err
	}
	if kept {
		p.addAttachment(c.meta, sha, size)
	}
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
