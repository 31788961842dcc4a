package mime

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// refText is textWriter.text outside <pre> rune by rune: the rule that the
// text of an HTML body follows (white space collapses, control characters,
// U+FFFD and U+FEFF are dropped).
func refText(w *textWriter, s string) {
	for _, r := range s {
		if r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' || r == '\u00a0' {
			w.space = true
			continue
		}
		if r == utf8.RuneError || r < 0x20 || r == '\ufeff' {
			continue
		}
		w.visible()
		w.b.WriteRune(r)
	}
}

// TestHTMLTextRunsMatchRuneByRune: text written in runs gives the same
// result as rune by rune, for random mixes of ASCII, white space, control
// characters, non-breaking spaces, multi-byte and invalid UTF-8.
func TestHTMLTextRunsMatchRuneByRune(t *testing.T) {
	pieces := []string{"a", "Zz9", " ", "\t", "\r\n", "\f", "\x01", "\x7f", "\u00a0", "ü", "€", "\ufeff", "\ufffd", "\xff", "\xc3", "–", "漢字", "  ", "&"}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		var parts []string
		for range rnd.IntN(6) + 1 {
			var b strings.Builder
			for range rnd.IntN(12) {
				b.WriteString(pieces[rnd.IntN(len(pieces))])
			}
			parts = append(parts, b.String())
		}
		var got, want textWriter
		for i, p := range parts {
			if i == 2 {
				got.raw("- ")
				want.raw("- ")
			}
			got.text([]byte(p), false)
			refText(&want, p)
		}
		if got.b.String() != want.b.String() || got.space != want.space || got.nl != want.nl || got.started != want.started || got.endSp != want.endSp {
			t.Fatalf("text of %q:\n got %q (%+v)\nwant %q (%+v)", parts, got.b.String(), got, want.b.String(), want)
		}
	}
}

// TestHTMLTextAllocations: rendering the HTML of a common mail body (ten
// paragraphs, about 2 KB) allocates little: the output and what the tokenizer needs,
// not one growth of the output per few characters.
func TestHTMLTextAllocations(t *testing.T) {
	para := "<p>Sehr geehrte Damen und Herren, ich habe eine Frage zu meiner Bestellung &uuml;ber Ihren Shop. Die Lieferung ist bis heute nicht eingetroffen.</p>\r\n"
	src := "<html><body>" + strings.Repeat(para, 10) + "</body></html>"
	n := testing.AllocsPerRun(20, func() { htmlToText(src) })
	if n > 35 {
		t.Errorf("htmlToText of %d bytes: %.0f allocations, want at most 35", len(src), n)
	}
}

func BenchmarkHTMLText(b *testing.B) {
	para := "<p>Sehr geehrte Damen und Herren, ich habe eine Frage zu meiner Bestellung &uuml;ber Ihren Shop. Die Lieferung ist bis heute nicht eingetroffen.</p>\r\n"
	src := "<html><body>" + strings.Repeat(para, 10) + "</body></html>"
	b.ReportAllocs()
	for b.Loop() {
		htmlToText(src)
	}
}
