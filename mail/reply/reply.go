package reply

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// Kind says what a Part of a reply is.
type Kind int

const (
	// New is text the author wrote.
	New Kind = iota
	// Quote is quoted history: ">"-quoted lines, an attribution line and
	// what follows it, an "Original Message" separator or an Outlook header
	// block and what follows it.
	Quote
	// Signature is the author's signature: from a "-- " line to the end of
	// the author's block, or a mobile footer ("Sent from my iPhone").
	Signature
	// Forward is a message the author forwards ("Begin forwarded message:",
	// "---------- Forwarded message ---------") and everything after it. It
	// belongs to what the author sends, so it counts as new text.
	Forward
)

func (k Kind) String() string {
	switch k {
	case New:
		return "new"
	case Quote:
		return "quote"
	case Signature:
		return "signature"
	case Forward:
		return "forward"
	}
	return "unknown"
}

// Part is a run of consecutive lines of the input of one Kind.
type Part struct {
	Kind Kind
	Text string // the lines, joined with "\n"
}

// Reply is a reply cut into what its author wrote, what it quotes and its
// signature. Every line of Text, Quoted and Signature is a line of the
// input, unchanged (line ends normalised to "\n"), in the order of the input.
type Reply struct {
	// Text is what the author wrote: the New and Forward parts, joined by a
	// blank line, without leading and trailing blank lines.
	Text string
	// Quoted is the quoted history that was removed, the Quote parts joined.
	Quoted string
	// Signature is the signature that was removed, the Signature parts joined.
	Signature string
	// Interleaved says the author wrote between quotes: Text joins blocks
	// of the author's between which quoted lines were removed (Parts says
	// where). A reply below a quote alone (bottom posting) is not.
	Interleaved bool
	// Parts is the whole input, in order, cut into parts; blank lines
	// between parts belong to the part before them.
	Parts []Part
}

// maxAttrLen bounds an attribution, joined over up to maxAttrLines lines:
// real ones are a name, an address and a date.
const (
	maxAttrLen   = 400
	maxAttrLines = 3
	maxHeadBlock = 8 // lines of an Outlook header block
)

var (
	// Attributions that mark quoted history on their own, also when the
	// quote below them carries no ">" (HTML mail rendered as text).
	attrStrict = []*regexp.Regexp{
		// English: Gmail, Apple Mail, Thunderbird, mutt, Outlook for Mac.
		// "On Mon, Dec 7, 2026 at 10:00 AM Max <max@example.com> wrote:"
		regexp.MustCompile(`^-*\s?On\s.+\s(?:wrote|sent|writes)(?:\s*:\s*-*|\s*-+)$`),
		// German: "Am 07.12.2026 um 10:00 schrieb Max Mustermann <max@example.com>:"
		regexp.MustCompile(`^-*\s?Am\s.*\d.*\sschrieb\s.+:\s*-*$`),
		// German: "Max Mustermann <max@example.com> schrieb am Mo., 7. Dez. 2026, 10:00:"
		regexp.MustCompile(`^.+\sschrieb am\s.*\d.*:$`),
		// Old Gmail: "2026-12-07 10:00 GMT+01:00 Max <max@example.com>:"
		regexp.MustCompile(`^\d{4}-\d{2}-\d{2}\s+\d{1,2}:\d{2}\s+GMT.*@.*:$`),
	}
	// GroupWise's German attribution begins with ">>> " and is wrapped:
	// ">>> Max <max@example.com> schrieb am 07.12.2026 um 10:00 in
	// Nachricht <id@example.com>:". It is the one quoted-looking line
	// that can be an attribution.
	attrGroupWise = regexp.MustCompile(`^>>> .+\sschrieb am\s.*\d.*\sin Nachricht <[^<>]+>:$`)
	// Attributions that mark quoted history only when a ">"-quoted line
	// follows: Thunderbird's "Max Mustermann wrote:", mutt's
	// "* Max <max@example.com> [2026-12-07 10:00]:".
	attrLoose = []*regexp.Regexp{
		regexp.MustCompile(`^.{1,300}\s(?:wrote|writes|schrieb|schreibt|a écrit|escribió|ha scritto|skrev|schreef|napisał)\s*:$`),
		regexp.MustCompile(`^\*\s.+\s\[.+\]:$`),
	}
	// "-----Original Message-----" (Outlook), "-------- Original Message
	// --------" (Thunderbird) and their German forms.
	separator = regexp.MustCompile(`(?i)^\s*-{2,}\s*(?:Original Message|Ursprüngliche Nachricht|Reply Message|Antwort Nachricht)\s*-{2,}\s*$`)
	// Forwarded messages: Apple Mail, Gmail, Thunderbird, in both languages.
	forward = regexp.MustCompile(`(?i)^\s*(?:Begin forwarded message:|Anfang der weitergeleiteten Nachricht:|-{2,}\s*(?:Forwarded message|Forwarded Message|Weitergeleitete Nachricht)\s*-{2,})\s*$`)
	// A field of an Outlook header block ("From: ...", "*Von:* ...").
	headField = regexp.MustCompile(`^\s*\*?(From|Von|Sent|Gesendet|Date|Datum|To|An|Cc|Subject|Betreff)\s?:\*?`)
	// The line of underscores Outlook sets above its header block.
	underscores = regexp.MustCompile(`^\s*_{10,}\s*$`)
	// Mobile and webmail footers, matched against the last line of a block
	// of the author's text, after a trailing link is cut off.
	footers = []*regexp.Regexp{
		regexp.MustCompile(`^(?:Sent|Gesendet) (?:from|von|with|via|mit) .{1,60}$`),
		regexp.MustCompile(`^Von meinem .{1,40} gesendet\.?$`),
		regexp.MustCompile(`^Get Outlook for (?:iOS|Android)$`),
		regexp.MustCompile(`^Outlook für (?:iOS|Android) herunterladen$`),
	}
	trailingLink = regexp.MustCompile(`\s*(?:<https?://[^\s>]*>|\(https?://[^\s)]*\))$`)
)

// quoted reports whether a line is quoted with ">" (at any depth, with or
// without a space, after leading white space).
func quoted(line string) bool {
	return strings.HasPrefix(strings.TrimLeft(line, " \t"), ">")
}

func blank(line string) bool { return strings.TrimSpace(line) == "" }

// tabQuoted reports whether a line is indented with a tab, as s-nail and
// mailx quote (indentprefix); it counts as quoted only below an attribution.
func tabQuoted(line string) bool { return strings.HasPrefix(line, "\t") && !blank(line) }

// sigDelim is the signature delimiter of RFC 3676 section 4.3, "-- ", also
// without its space, which many clients strip.
func sigDelim(line string) bool {
	return line == "-- " || line == "--"
}

func footer(line string) bool {
	s := trailingLink.ReplaceAllString(strings.TrimSpace(line), "")
	for _, re := range footers {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// attribution reports how many lines, starting at lines[i], make an
// attribution (0 if none), whether it needs a quoted line below it, and the
// attribution joined into one line.
func attribution(lines []string, i int) (n int, loose bool, joinedText string) {
	var joined strings.Builder
	for k := 0; k < maxAttrLines && i+k < len(lines); k++ {
		l := lines[i+k]
		if blank(l) || quoted(l) && k > 0 {
			break
		}
		if k > 0 {
			joined.WriteByte(' ')
		}
		joined.WriteString(strings.TrimSpace(l))
		if joined.Len() > maxAttrLen {
			break
		}
		s := joined.String()
		if !strings.HasSuffix(s, ":") && !strings.HasSuffix(s, "-") {
			continue
		}
		if quoted(lines[i]) {
			if attrGroupWise.MatchString(s) {
				return k + 1, false, s
			}
			continue
		}
		for _, re := range attrStrict {
			if re.MatchString(s) {
				return k + 1, false, s
			}
		}
		if k == 0 {
			for _, re := range attrLoose {
				if re.MatchString(s) {
					return 1, true, s
				}
			}
		}
	}
	return 0, false, ""
}

// clockOrAddress matches what every attribution above a quote without ">"
// in the corpus carries: a time of day or an address. A sentence such as
// "Am Montag schrieb der Kunde Folgendes:" has neither and stays the
// author's.
var clockOrAddress = regexp.MustCompile(`\d{1,2}:\d{2}|@`)

// headerBlock reports whether an Outlook header block starts at lines[i]
// (after an optional line of underscores): a From/Von, Sent/Gesendet or
// Date/Datum field and at least one other field among the next lines.
func headerBlock(lines []string, i int) bool {
	if i < len(lines) && underscores.MatchString(lines[i]) {
		i++
	}
	if i >= len(lines) {
		return false
	}
	m := headField.FindStringSubmatch(lines[i])
	if m == nil {
		return false
	}
	switch m[1] {
	case "From", "Von", "Sent", "Gesendet", "Date", "Datum":
		// An Outlook block starts with one of these.
	default:
		return false
	}
	seen := map[string]bool{m[1]: true}
	for k := i + 1; k < len(lines) && k < i+maxHeadBlock && !blank(lines[k]); k++ {
		if f := headField.FindStringSubmatch(lines[k]); f != nil {
			seen[f[1]] = true
		}
	}
	return len(seen) >= 2
}

// nextNonBlank returns the index of the first non-blank line at or after i,
// or len(lines).
func nextNonBlank(lines []string, i int) int {
	for i < len(lines) && blank(lines[i]) {
		i++
	}
	return i
}

// Strip cuts a reply into what its author wrote, the quoted history and the
// signature. It never fails: text it does not recognise is the author's.
func Strip(text string) Reply {
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	text = strings.ReplaceAll(text, "\r\n", "\n")
	lines := strings.Split(text, "\n")
	kinds := classify(lines)
	markSignatures(lines, kinds)
	return assemble(lines, kinds)
}

// classify gives every line New, Quote or Forward.
func classify(lines []string) []Kind {
	kinds := make([]Kind, len(lines))
	for i := 0; i < len(lines); {
		l := lines[i]
		n, loose, attr := 0, false, ""
		if !quoted(l) || strings.HasPrefix(l, ">>> ") {
			n, loose, attr = attribution(lines, i)
		}
		switch {
		case n > 0:
		case quoted(l):
			kinds[i] = Quote
			i++
			continue
		case blank(l):
			kinds[i] = New
			i++
			continue
		case forward.MatchString(l):
			// A forward the author passes on: kept whole, its headers
			// and quotes included.
			for ; i < len(lines); i++ {
				kinds[i] = Forward
			}
			continue
		case separator.MatchString(l) || headerBlock(lines, i):
			// Outlook quotes without ">": the rest is history.
			for ; i < len(lines); i++ {
				kinds[i] = Quote
			}
			continue
		}
		if n == 0 {
			kinds[i] = New
			i++
			continue
		}
		next := nextNonBlank(lines, i+n)
		switch {
		case next < len(lines) && tabQuoted(lines[next]):
			// s-nail and mailx quote by indenting each line with a tab
			// (their indentprefix): the attribution and the indented run
			// below it are the quote, which ends at the author's next
			// line that is not indented.
			for ; i < next; i++ {
				kinds[i] = Quote
			}
			for ; i < len(lines) && (tabQuoted(lines[i]) || blank(lines[i])); i++ {
				kinds[i] = Quote
			}
		case next < len(lines) && quoted(lines[next]):
			// The attribution and the blank lines below it go with the
			// ">" quote that follows; the quote ends at the author's
			// next line (bottom posting, interleaving).
			for ; i < next; i++ {
				kinds[i] = Quote
			}
		case loose || !clockOrAddress.MatchString(attr):
			kinds[i] = New
			i++
		default:
			// An attribution above a quote without ">" (HTML mail as
			// text, Outlook, Apple Mail): the rest is history.
			for ; i < len(lines); i++ {
				kinds[i] = Quote
			}
		}
	}
	// Blank lines between two quoted lines belong to the quote.
	for i := 0; i < len(lines); i++ {
		if kinds[i] != New || !blank(lines[i]) {
			continue
		}
		j := i
		for j < len(lines) && kinds[j] == New && blank(lines[j]) {
			j++
		}
		if i > 0 && kinds[i-1] == Quote && j < len(lines) && kinds[j] == Quote {
			for k := i; k < j; k++ {
				kinds[k] = Quote
			}
		}
		i = j
	}
	return kinds
}

// markSignatures turns the signature of each block of New lines into
// Signature: from its first "-- " line to the block's end, else a mobile
// footer on its last non-blank line (above a rule of underscores, if any)
// to the block's end.
func markSignatures(lines []string, kinds []Kind) {
	for start := 0; start < len(lines); {
		if kinds[start] != New {
			start++
			continue
		}
		end := start
		for end < len(lines) && kinds[end] == New {
			end++
		}
		sig := -1
		for k := start; k < end; k++ {
			if sigDelim(lines[k]) {
				sig = k
				break
			}
		}
		if sig < 0 {
			// The footer may stand above a closing rule of underscores.
			last := end - 1
			for last >= start && (blank(lines[last]) || underscores.MatchString(lines[last])) {
				last--
			}
			if last >= start && footer(lines[last]) {
				sig = last
			}
		}
		if sig >= 0 {
			for k := sig; k < end; k++ {
				kinds[k] = Signature
			}
		}
		start = end
	}
}

// assemble groups the lines into parts and joins them. Blank lines are
// given to the part before them, so no part begins with one.
func assemble(lines []string, kinds []Kind) Reply {
	var r Reply
	for i := 0; i < len(lines); {
		k := kinds[i]
		if blank(lines[i]) && len(r.Parts) > 0 && k != Forward {
			k = r.Parts[len(r.Parts)-1].Kind
		}
		j := i + 1
		for j < len(lines) && (kinds[j] == k || blank(lines[j]) && kinds[j] != Forward) {
			j++
		}
		part := strings.Join(lines[i:j], "\n")
		if n := len(r.Parts); n > 0 && r.Parts[n-1].Kind == k {
			r.Parts[n-1].Text += "\n" + part
		} else {
			r.Parts = append(r.Parts, Part{Kind: k, Text: part})
		}
		i = j
	}
	var text, quote, sig []string
	quoteSinceText := false
	for _, p := range r.Parts {
		t := trimBlankLines(p.Text)
		if t == "" {
			continue
		}
		switch p.Kind {
		case New, Forward:
			if quoteSinceText && len(text) > 0 {
				r.Interleaved = true
			}
			quoteSinceText = false
			text = append(text, t)
		case Quote:
			quoteSinceText = true
			quote = append(quote, t)
		case Signature:
			sig = append(sig, t)
		}
	}
	r.Text = strings.Join(text, "\n\n")
	r.Quoted = strings.Join(quote, "\n")
	r.Signature = strings.Join(sig, "\n")
	return r
}

// trimBlankLines drops blank lines at the start and the end of s.
func trimBlankLines(s string) string {
	lines := strings.Split(s, "\n")
	i, j := 0, len(lines)
	for i < j && blank(lines[i]) {
		i++
	}
	for j > i && blank(lines[j-1]) {
		j--
	}
	return strings.Join(lines[i:j], "\n")
}
