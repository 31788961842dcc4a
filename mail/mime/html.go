package mime

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// htmlToText renders an HTML body as plain text for the ticket view and for
// mails that carry no text/plain alternative.
//
// The rendering is deliberately simple and never fails:
//   - the contents of head, title, script, style, template and xml elements are dropped;
//   - block elements start and end a line, paragraphs, headings, lists,
//     tables, blockquote and pre are set apart by a blank line;
//   - <br> is a line break, <li> starts a line with "- " (indented per list level);
//   - a link keeps its text, followed by the URL in parentheses when the URL
//     differs from the text (mailto: and tel: links compare without the scheme);
//   - entities are decoded, runs of white space collapse to one space (except
//     inside <pre>), lines carry no trailing spaces and there is never more
//     than one blank line in a row.
//
// It uses the x/net/html tokenizer, not the tree builder, so arbitrarily deep
// nesting costs no recursion and memory stays proportional to the input.
func htmlToText(src string) string {
	z := html.NewTokenizer(strings.NewReader(src))
	var w textWriter
	w.b.Grow(len(src) / 2) // the text of mail HTML is about half its source
	var (
		skipName  string // element whose content is being dropped
		skipDepth int
		pre       int
		lists     int
		links     []openLink
	)
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return w.String()
		case html.TextToken:
			if skipDepth > 0 {
				continue
			}
			w.text(z.Text(), pre > 0)
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			tag := string(name)
			if skipDepth > 0 {
				switch {
				case tag == skipName && tt == html.StartTagToken:
					skipDepth++
				case skipName == "head" && tag == "body":
					// A head that is never closed ends where the body starts.
					skipDepth = 0
				}
				continue
			}
			if dropElements[tag] {
				if tt == html.StartTagToken {
					skipName, skipDepth = tag, 1
				}
				continue
			}
			switch {
			case tag == "br":
				w.lineBreak()
			case tag == "li":
				w.breakLine(1)
				indent := max(lists-1, 0)
				w.raw(strings.Repeat("  ", indent) + "- ")
			case tag == "ul" || tag == "ol":
				w.breakLine(lineBreakBefore(lists))
				if tt == html.StartTagToken {
					lists++
				}
			case tag == "pre":
				w.breakLine(2)
				if tt == html.StartTagToken {
					pre++
				}
			case tag == "td" || tag == "th":
				w.space = true
			case tag == "a":
				if tt == html.SelfClosingTagToken {
					continue
				}
				href := ""
				for hasAttr {
					var k, v []byte
					k, v, hasAttr = z.TagAttr()
					if string(k) == "href" {
						href = strings.TrimSpace(string(v))
					}
				}
				links = append(links, openLink{href: href, start: w.b.Len()})
			case paragraphElements[tag]:
				w.breakLine(2)
			case blockElements[tag]:
				w.breakLine(1)
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			tag := string(name)
			if skipDepth > 0 {
				if tag == skipName {
					skipDepth--
				}
				continue
			}
			switch {
			case tag == "ul" || tag == "ol":
				if lists > 0 {
					lists--
				}
				w.breakLine(lineBreakBefore(lists))
			case tag == "pre":
				if pre > 0 {
					pre--
				}
				w.breakLine(2)
			case tag == "a":
				if len(links) == 0 {
					continue
				}
				l := links[len(links)-1]
				links = links[:len(links)-1]
				if l.start <= w.b.Len() {
					if u := linkSuffix(l.href, w.b.String()[l.start:]); u != "" {
						w.text([]byte(" ("+u+")"), false)
					}
				}
			case paragraphElements[tag]:
				w.breakLine(2)
			case blockElements[tag]:
				w.breakLine(1)
			}
		}
	}
}

// lineBreakBefore is the separation around a list: a top-level list is a
// paragraph, a nested list just starts on its own line.
func lineBreakBefore(lists int) int {
	if lists > 0 {
		return 1
	}
	return 2
}

type openLink struct {
	href  string
	start int // offset of the link text in the output
}

// linkSuffix returns the URL to print after a link's text, or "" when the
// text already says it (or the link goes nowhere useful).
func linkSuffix(href, text string) string {
	text = strings.TrimSpace(text)
	if href == "" || text == "" || strings.HasPrefix(href, "#") {
		return ""
	}
	lower := strings.ToLower(href)
	if strings.HasPrefix(lower, "javascript:") || strings.HasPrefix(lower, "data:") {
		return ""
	}
	norm := func(s string) string {
		s = strings.ToLower(strings.TrimSpace(s))
		for _, p := range []string{"mailto:", "tel:", "callto:"} {
			s = strings.TrimPrefix(s, p)
		}
		return strings.TrimRight(s, "/")
	}
	h, t := norm(href), norm(text)
	if h == t || strings.TrimPrefix(strings.TrimPrefix(h, "https://"), "http://") == t {
		return ""
	}
	return href
}

// dropElements are elements whose content is not part of the text.
var dropElements = map[string]bool{
	"head": true, "title": true, "script": true, "style": true,
	"template": true, "xml": true, "noframes": true,
}

// paragraphElements are set apart from their surroundings by a blank line.
var paragraphElements = map[string]bool{
	"p": true, "h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true,
	"blockquote": true, "table": true, "hr": true, "dl": true, "figure": true,
}

// blockElements start and end a line.
var blockElements = map[string]bool{
	"div": true, "tr": true, "caption": true, "thead": true, "tbody": true, "tfoot": true,
	"section": true, "article": true, "header": true, "footer": true, "nav": true,
	"aside": true, "main": true, "address": true, "center": true, "form": true,
	"fieldset": true, "legend": true, "dt": true, "dd": true, "figcaption": true,
	"details": true, "summary": true, "body": true, "html": true, "li": true,
}

// textWriter accumulates rendered text. It keeps track of pending white space
// and of the newlines at the end of the output so that white space collapses
// and blank lines never pile up.
type textWriter struct {
	b       strings.Builder
	nl      int  // newlines at the end of b
	space   bool // a space is due before the next visible character
	started bool // something visible was written
	endSp   bool // b ends in a list bullet with nothing after it yet
}

// text writes s, collapsing white space unless pre is set.
func (w *textWriter) text(s []byte, pre bool) {
	if pre {
		s = bytes.ReplaceAll(s, []byte("\r\n"), []byte("\n"))
		for _, r := range string(s) {
			switch {
			case r == '\n' || r == '\r':
				if w.started && w.nl < 2 {
					w.b.WriteByte('\n')
					w.nl++
				}
			default:
				w.writeRune(r)
			}
		}
		return
	}
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			switch {
			case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
				w.space = true
				i++
			case c < 0x20:
				i++
			default:
				// A run of visible ASCII is written at once.
				j := i + 1
				for j < len(s) && s[j] > ' ' && s[j] < utf8.RuneSelf {
					j++
				}
				w.visible()
				w.b.Write(s[i:j])
				i = j
			}
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		i += size
		switch r {
		case '\u00a0':
			w.space = true
		case utf8.RuneError, '\ufeff':
		default:
			w.visible()
			w.b.WriteRune(r)
		}
	}
}

// visible is what writing a visible character does besides writing it:
// the space due before it, and the state after it.
func (w *textWriter) visible() {
	if w.space && w.started && w.nl == 0 && !w.endSp {
		w.b.WriteByte(' ')
	}
	w.space = false
	w.nl = 0
	w.started = true
	w.endSp = false
}

func (w *textWriter) writeRune(r rune) {
	w.b.WriteRune(r)
	w.nl = 0
	w.started = true
	w.endSp = false
}

// raw writes s as is at the current position (used for list bullets).
func (w *textWriter) raw(s string) {
	w.space = false
	w.b.WriteString(s)
	w.nl = 0
	w.started = true
	w.endSp = strings.HasSuffix(s, " ")
}

// breakLine makes sure the output ends in at least n newlines (n is 1 or 2).
func (w *textWriter) breakLine(n int) {
	w.space = false
	if !w.started || w.endSp {
		return
	}
	for w.nl < n {
		w.b.WriteByte('\n')
		w.nl++
	}
	w.endSp = false
}

// lineBreak is a <br>: always a new line, but never a second blank line.
func (w *textWriter) lineBreak() {
	w.space = false
	if !w.started || w.nl >= 2 || w.endSp {
		return
	}
	w.b.WriteByte('\n')
	w.nl++
	w.endSp = false
}

// String returns the text without trailing white space.
func (w *textWriter) String() string {
	return strings.TrimRight(w.b.String(), " \n")
}
