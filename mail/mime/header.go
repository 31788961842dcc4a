package mime

import (
	"net/textproto"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	msgmail "github.com/emersion/go-message/mail"
)

// The top-level header fields of Message, and RFC 2047 encoded words.

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
