package mime

import (
	"bytes"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// Charsets: the label a part declares, what its bytes look like when it
// declares none or a wrong one, and raw 8-bit header bytes.

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
