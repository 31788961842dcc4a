package redact

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Kinds of the built-in redactions, as counted.
const (
	KindCard = "card number"
	KindIBAN = "IBAN"
)

// Rule is an admin-configured pattern (config [[redact]]).
type Rule struct {
	Name        string // the kind it is counted as
	Pattern     string // Go regular expression (RE2)
	Replacement string // literal; "" means "[redacted: NAME]"
}

// Counts is how many replacements of each kind were made.
type Counts map[string]int

// Add adds the counts of o to c.
func (c Counts) Add(o Counts) {
	for k, n := range o {
		c[k] += n
	}
}

// Total is the sum of all counts.
func (c Counts) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// String is "card number ×2, IBAN ×1", kinds sorted by name; "" when empty.
func (c Counts) String() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(c)) {
		if c[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s ×%d", k, c[k]))
		}
	}
	return strings.Join(parts, ", ")
}

type rule struct {
	name string
	re   *regexp.Regexp
	repl string
}

// Redactor replaces payment data and the configured patterns in text. It
// is immutable and safe for concurrent use.
type Redactor struct {
	rules []rule
}

// Mark is the replacement of a redacted value of kind.
func Mark(kind string) string { return "[redacted: " + kind + "]" }

// New returns a Redactor with the built-in kinds and rules. A rule without
// a name or pattern, with a pattern that does not compile or that matches
// the empty string, or with a name used before (or a built-in kind's) is
// an error; all such errors are returned together.
func New(rules []Rule) (*Redactor, error) {
	r := &Redactor{}
	var errs []error
	seen := map[string]bool{strings.ToLower(KindCard): true, strings.ToLower(KindIBAN): true}
	for i, ru := range rules {
		name := strings.TrimSpace(ru.Name)
		switch {
		case name == "":
			errs = append(errs, fmt.Errorf("redact rule %d: no name", i+1))
			continue
		case seen[strings.ToLower(name)]:
			errs = append(errs, fmt.Errorf("redact rule %q: the name is used before (or is a built-in kind)", name))
			continue
		case ru.Pattern == "":
			errs = append(errs, fmt.Errorf("redact rule %q: no pattern", name))
			continue
		}
		seen[strings.ToLower(name)] = true
		re, err := regexp.Compile(ru.Pattern)
		if err != nil {
			errs = append(errs, fmt.Errorf("redact rule %q: pattern: %w", name, err))
			continue
		}
		if re.MatchString("") {
			errs = append(errs, fmt.Errorf("redact rule %q: pattern matches the empty string", name))
			continue
		}
		repl := ru.Replacement
		if repl == "" {
			repl = Mark(name)
		}
		r.rules = append(r.rules, rule{name: name, re: re, repl: repl})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return r, nil
}

// Text returns s with every IBAN, card number and rule match replaced, and
// how many of each kind. A nil Redactor redacts the built-in kinds only.
func (r *Redactor) Text(s string) (string, Counts) {
	var c Counts
	add := func(kind string, n int) {
		if n > 0 {
			if c == nil {
				c = Counts{}
			}
			c[kind] += n
		}
	}
	digits := countDigits(s)
	if digits >= 2 {
		var n int
		s, n = redactIBANs(s)
		add(KindIBAN, n)
		digits = countDigits(s)
	}
	if digits >= 13 {
		var n int
		s, n = redactCards(s)
		add(KindCard, n)
	}
	if r != nil {
		for _, ru := range r.rules {
			n := 0
			s = ru.re.ReplaceAllStringFunc(s, func(string) string { n++; return ru.repl })
			add(ru.name, n)
		}
	}
	return s, c
}

// Func returns a function that redacts its argument and adds what it
// replaced to c (guarded by a mutex of its own, so it may be called from
// several goroutines); for mime.ParseOptions.RedactText.
func (r *Redactor) Func(c Counts) func(string) string {
	var mu sync.Mutex
	return func(s string) string {
		out, n := r.Text(s)
		if len(n) > 0 {
			mu.Lock()
			c.Add(n)
			mu.Unlock()
		}
		return out
	}
}

func countDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	return n
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func isASCIILetter(b byte) bool { return b|0x20 >= 'a' && b|0x20 <= 'z' }

// wordRune reports whether the rune glues to a number: a letter, digit,
// "_" or "@".
func wordRune(r rune) bool {
	return r == '_' || r == '@' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// boundaryBefore reports whether a number starting at i stands alone on its
// left side.
func boundaryBefore(s string, i int) bool {
	if i == 0 {
		return true
	}
	r, n := utf8.DecodeLastRuneInString(s[:i])
	if wordRune(r) {
		return false
	}
	if (r == '.' || r == ',') && i-n > 0 && isDigit(s[i-n-1]) {
		return false // 1.4111..., 3,4111...
	}
	return true
}

// boundaryAfter reports whether a number ending at j (exclusive) stands
// alone on its right side.
func boundaryAfter(s string, j int) bool {
	if j >= len(s) {
		return true
	}
	r, n := utf8.DecodeRuneInString(s[j:])
	if wordRune(r) {
		return false
	}
	if (r == '.' || r == ',') && j+n < len(s) && isDigit(s[j+n]) {
		return false
	}
	return true
}

// separator is the length of a group separator at i (a space, a dash or
// a no-break space) followed by want (a digit, or for IBANs an ASCII
// letter or digit), 0 if there is none.
func separator(s string, i int, next func(byte) bool) int {
	n := 0
	switch {
	case i < len(s) && (s[i] == ' ' || s[i] == '-'):
		n = 1
	case strings.HasPrefix(s[i:], "\u00a0"):
		n = 2
	default:
		return 0
	}
	if i+n < len(s) && next(s[i+n]) {
		return n
	}
	return 0
}

// group is a run of digits [start, end).
type group struct{ start, end int }

// redactCards replaces card numbers in s.
func redactCards(s string) (string, int) {
	var b strings.Builder
	last, count := 0, 0
	var groups []group
	for i := 0; i < len(s); {
		if !isDigit(s[i]) || (i > 0 && isDigit(s[i-1])) {
			i++
			continue
		}
		// A run of digit groups starts at i.
		groups = groups[:0]
		j := i
		for {
			k := j
			for k < len(s) && isDigit(s[k]) {
				k++
			}
			groups = append(groups, group{j, k})
			sep := separator(s, k, isDigit)
			if sep == 0 {
				j = k
				break
			}
			j = k + sep
		}
		runEnd := j
		for a := 0; a < len(groups); {
			g0 := groups[a]
			if a == 0 && (!boundaryBefore(s, g0.start) || g0.start > 0 && s[g0.start-1] == '+') {
				a++ // glued to a longer token, or a phone number (+49 ...)
				continue
			}
			best := -1
			digits := 0
			for e := a; e < len(groups); e++ {
				l := groups[e].end - groups[e].start
				digits += l
				if digits > 19 || e > a && (groups[a].end-groups[a].start != 4 || l < 3 || l > 6) {
					// Written in groups, a card number starts with four
					// digits and has groups of three to six.
					break
				}
				if digits >= 13 && s[g0.start] >= '2' && s[g0.start] <= '6' &&
					(e < len(groups)-1 || boundaryAfter(s, groups[e].end)) &&
					luhn(s[g0.start:groups[e].end]) {
					best = e
				}
			}
			if best < 0 {
				a++
				continue
			}
			if b.Cap() == 0 {
				b.Grow(len(s) + len(s)/4) // once: the marks are a little longer than the numbers
			}
			b.WriteString(s[last:g0.start])
			b.WriteString(Mark(KindCard))
			last = groups[best].end
			count++
			a = best + 1
		}
		i = runEnd
	}
	if count == 0 {
		return s, 0
	}
	b.WriteString(s[last:])
	return b.String(), count
}

// luhn checks the Luhn sum of the digits in s (other bytes are skipped).
func luhn(s string) bool {
	sum, double := 0, false
	for i := len(s) - 1; i >= 0; i-- {
		if !isDigit(s[i]) {
			continue
		}
		d := int(s[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}
