package mime

import (
	"strconv"
	"strings"
	"time"

	msgmail "github.com/emersion/go-message/mail"
)

// The Date field: RFC 5322 section 3.3 and the obsolete forms of section 4.3.

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
