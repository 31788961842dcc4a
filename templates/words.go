package templates

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"ticketd/config"
)

// unit is one unit of a duration or period with its singular and plural in
// each language.
type unit struct{ de1, deN, en1, enN string }

var (
	unitYear   = unit{"Jahr", "Jahre", "year", "years"}
	unitDay    = unit{"Tag", "Tage", "day", "days"}
	unitHour   = unit{"Stunde", "Stunden", "hour", "hours"}
	unitMinute = unit{"Minute", "Minuten", "minute", "minutes"}
)

// count formats n of u in lang: "1 Tag", "2 days".
func (u unit) count(n int64, lang string) string {
	var w string
	switch {
	case lang == "de" && n == 1:
		w = u.de1
	case lang == "de":
		w = u.deN
	case n == 1:
		w = u.en1
	default:
		w = u.enN
	}
	return strconv.FormatInt(n, 10) + " " + w
}

// list joins parts as "a", "a und b", "a, b und c" ("and" in English).
func list(parts []string, lang string) string {
	and := " and "
	if lang == "de" {
		and = " und "
	}
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + and + parts[len(parts)-1]
}

// Duration formats a response time in lang ("de" or "en"; anything else is
// English) in days, hours and minutes: "8 Stunden"/"8 hours", "1 Tag"/"1 day",
// "2 Tage"/"2 days", "30 Minuten"/"30 minutes", "1 Tag und 12 Stunden"/"1 day
// and 12 hours". The German form is nominative, so a template writes
// "spätestens 2 Tage nach Eingang", not "innerhalb von 2 Tage". Seconds are
// rounded to the nearest minute, but a positive duration is at least
// "1 Minute"; zero or less is "0 Minuten".
func Duration(d time.Duration, lang string) string {
	if d <= 0 {
		return unitMinute.count(0, lang)
	}
	m := int64((d + 30*time.Second) / time.Minute)
	if m == 0 {
		m = 1
	}
	var parts []string
	for _, p := range []struct {
		n int64
		u unit
	}{{m / (24 * 60), unitDay}, {m / 60 % 24, unitHour}, {m % 60, unitMinute}} {
		if p.n != 0 {
			parts = append(parts, p.u.count(p.n, lang))
		}
	}
	return list(parts, lang)
}

// Period formats a retention period in lang: "2 Jahre"/"2 years",
// "90 Tage"/"90 days", "1 Jahr und 30 Tage". The zero period is "0 Tage";
// templates say "as soon as the ticket is closed" instead.
func Period(p config.Period, lang string) string {
	var parts []string
	if p.Years != 0 {
		parts = append(parts, unitYear.count(int64(p.Years), lang))
	}
	if p.Days != 0 || p.Years == 0 {
		parts = append(parts, unitDay.count(int64(p.Days), lang))
	}
	return list(parts, lang)
}

// textWidth is the column the text part is wrapped at (RFC 5322 2.1.1 asks
// for at most 78 characters; 72 leaves room for quoting in replies).
const textWidth = 72

// reflow word-wraps every line of s longer than textWidth runes, so that
// templates write each paragraph and list item on one line. A continuation
// line keeps the line's leading white space, plus two spaces after a list
// item's "- " or "* " (a hanging indent). A word longer than the width (a
// URL) stands alone on its line, unbroken. Trailing white space is removed.
// Lines are reflowed independently, so reflowing a text that contains a
// block of whole lines contains that block reflowed.
func reflow(s string) string {
	lines := strings.Split(s, "\n")
	for i, line := range lines {
		line = strings.TrimRightFunc(line, unicode.IsSpace)
		if utf8.RuneCountInString(line) > textWidth {
			line = wrapLine(line)
		}
		lines[i] = line
	}
	return strings.Join(lines, "\n")
}

func wrapLine(line string) string {
	body := strings.TrimLeftFunc(line, unicode.IsSpace)
	first := line[:len(line)-len(body)]
	indent := first
	if strings.HasPrefix(body, "- ") || strings.HasPrefix(body, "* ") {
		first += body[:2]
		indent += "  "
		body = body[2:]
	}
	var b strings.Builder
	b.WriteString(first)
	start := utf8.RuneCountInString(first)
	col := start
	for _, w := range glue(strings.FieldsFunc(body, unicode.IsSpace)) {
		n := utf8.RuneCountInString(w)
		switch {
		case col == start:
		case col+1+n > textWidth:
			b.WriteString("\n" + indent)
			col = utf8.RuneCountInString(indent)
			start = col
		default:
			b.WriteByte(' ')
			col++
		}
		b.WriteString(w)
		col += n
	}
	return b.String()
}

// glue joins a word that must not end a line to the next one, so that
// "Art. 22 DSGVO", "Abs. 1", "lit. f", "§ 257" and "z. B." stay on one line.
func glue(words []string) []string {
	out := words[:0:0]
	for i := 0; i < len(words); i++ {
		w := words[i]
		for i+1 < len(words) && (noBreakAfter(w) || noBreakBefore(words[i+1])) {
			i++
			w += " " + words[i]
		}
		out = append(out, w)
	}
	return out
}

func noBreakBefore(w string) bool {
	return strings.HasPrefix(w, "DSGVO") || strings.HasPrefix(w, "GDPR")
}

func noBreakAfter(w string) bool {
	w = strings.TrimLeft(w, "(")
	switch w {
	case "Art.", "Abs.", "lit.", "§", "z.", "Nr.":
		return true
	}
	return false
}

// oneLine reduces a header value to one line: control characters and runs
// of white space become one space, and the ends are trimmed. A subject or
// name is one line, and must not start new lines in the text part.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
}

// Limits of what an acknowledgement repeats from the customer's mail.
const (
	MaxEchoSubject = 100 // characters of the subject
	MaxEchoName    = 64  // characters of the sender's display name
)

// EchoSubject is the subject of a mail as an acknowledgement repeats it:
// one line, without control and format characters (bidirectional
// overrides, zero-width characters), at most MaxEchoSubject characters.
// Anyone can write any From address, so this is all of the sender's text
// that reaches that address.
func EchoSubject(s string) string { return echo(s, MaxEchoSubject) }

// EchoName is a display name as an acknowledgement repeats it, like
// EchoSubject, at most MaxEchoName characters.
func EchoName(s string) string { return echo(s, MaxEchoName) }

// echo reduces s like EchoSubject, to at most limit characters (no limit
// if limit < 0).
func echo(s string, limit int) string {
	s = oneLine(strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, s))
	if limit < 0 || utf8.RuneCountInString(s) <= limit {
		return s
	}
	r := []rune(s)
	return strings.TrimRight(string(r[:limit-1]), " ") + "…"
}

// redactedKind are the built-in kinds of redaction (package redact) in German.
var redactedKindDE = map[string]string{"card number": "Kartennummer", "IBAN": "IBAN"}

// redactedKinds lists the kinds of redacted data in lang: "card number and
// IBAN", "Kartennummer und IBAN"; names of [[redact]] rules stay as the
// configuration writes them.
func redactedKinds(kinds []string, lang string) string {
	out := make([]string, 0, len(kinds))
	for _, k := range kinds {
		if de, ok := redactedKindDE[k]; ok && lang == "de" {
			k = de
		}
		out = append(out, k)
	}
	return list(out, lang)
}
