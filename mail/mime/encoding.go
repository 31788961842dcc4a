package mime

import (
	"bufio"
	"bytes"
	"io"
	"strings"
)

// Content transfer encodings (RFC 2045 section 6): quoted-printable and
// base64, decoded leniently and streamed.

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
