package desk

import (
	"io"
	"slices"
	"strings"

	"ticketd/store"
)

// redactMessage replaces the address in m's subject, text, HTML and kept
// header fields and drops the To, Cc and Reply-To entries with it; it
// returns how many places it changed. A message it changes loses its
// original (keep_original), which cannot be redacted: the store drops the
// blob with the record's last reference.
func redactMessage(m *store.Message, addr string, names []string) int {
	n := 0
	for _, s := range []*string{&m.Subject, &m.Text, &m.HTML} {
		var k int
		*s, k = redactAddress(*s, addr, names)
		n += k
	}
	for _, vs := range m.Headers {
		for i := range vs {
			var k int
			vs[i], k = redactAddress(vs[i], addr, names)
			n += k
		}
	}
	for _, list := range []*[]store.Address{&m.To, &m.Cc, &m.ReplyTo} {
		before := len(*list)
		*list = slices.DeleteFunc(slices.Clone(*list), func(a store.Address) bool { return addressEntryMatches(a, addr) })
		n += before - len(*list)
	}
	if n > 0 {
		m.Original = nil
	}
	return n
}

// erasedMark replaces an erased address.
const erasedMark = "[erased]"

// redactAddress replaces each occurrence of addr in s with "[erased]": ASCII
// case-insensitive, and only where it is not part of a longer address. An
// address in angle brackets goes with them, and with one of names right
// before it ("Name <addr>", "\"Name\" <addr>"). It returns the new s and the
// number of occurrences.
func redactAddress(s, addr string, names []string) (string, int) {
	spans := addressSpans(s, addr)
	if len(spans) == 0 {
		return s, 0
	}
	lower := asciiLower(s)
	var b strings.Builder
	last := 0
	for _, sp := range spans {
		start, end := sp[0], sp[1]
		if start > last && s[start-1] == '<' && end < len(s) && s[end] == '>' {
			start, end = start-1, end+1
			start = nameBefore(s, lower, start, last, names)
		}
		b.WriteString(s[last:start])
		b.WriteString(erasedMark)
		last = end
	}
	b.WriteString(s[last:])
	return b.String(), len(spans)
}

// addressSpans are the byte ranges of the occurrences of addr in s: ASCII
// case-insensitive, and only where it is not part of a longer address.
// Export and erasure both find the address through it.
func addressSpans(s, addr string) [][2]int {
	if addr == "" || len(s) < len(addr) {
		return nil
	}
	lower, a := asciiLower(s), asciiLower(addr)
	var out [][2]int
	for i := 0; ; {
		j := strings.Index(lower[i:], a)
		if j < 0 {
			return out
		}
		start, end := i+j, i+j+len(a)
		if !addressBoundaryBefore(lower, start) || !addressBoundaryAfter(lower, end) {
			i = start + 1
			continue
		}
		out = append(out, [2]int{start, end})
		i = end
	}
}

// nameBefore extends a match starting at start backwards over one of names
// (quoted or not, then spaces), not before min.
func nameBefore(s, lower string, start, min int, names []string) int {
	k := start
	for k > min && s[k-1] == ' ' {
		k--
	}
	for _, name := range names {
		ln := asciiLower(name)
		for _, form := range []string{`"` + ln + `"`, ln} {
			if k-len(form) >= min && lower[k-len(form):k] == form {
				from := k - len(form)
				if from == 0 || !isWordByte(s[from-1]) {
					return from
				}
			}
		}
	}
	return start
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// asciiLower lower-cases A-Z only, so that byte offsets stay the same.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// addressBoundaryBefore reports whether an address may start at i: the byte
// before is not one that continues the local part.
func addressBoundaryBefore(lower string, i int) bool {
	if i == 0 {
		return true
	}
	c := lower[i-1]
	return !(isWordByte(c) || strings.IndexByte(".!#$%&'*+-/=?^_`{|}~", c) >= 0)
}

// addressBoundaryAfter reports whether an address may end at i: the domain
// does not go on (a dot is only a sentence's end when no label follows).
func addressBoundaryAfter(lower string, i int) bool {
	if i >= len(lower) {
		return true
	}
	c := lower[i]
	if c == '.' {
		return i+1 >= len(lower) || !isWordByte(lower[i+1]) && lower[i+1] != '-'
	}
	return !isWordByte(c) && c != '-'
}

// containsAddress reports whether r holds addr (as redactAddress finds it),
// reading it in blocks.
func containsAddress(r io.Reader, addr string) (bool, error) {
	a := asciiLower(addr)
	if a == "" {
		return false, nil
	}
	keep := len(a) + 1 // a match cut at a block's end is looked at again with its context
	buf := make([]byte, 0, 64<<10+keep)
	block := make([]byte, 64<<10)
	first := true
	for {
		n, err := io.ReadFull(r, block)
		eof := err == io.EOF || err == io.ErrUnexpectedEOF
		if err != nil && !eof {
			return false, err
		}
		buf = append(buf, block[:n]...)
		w := asciiLower(string(buf))
		for i := 0; ; {
			j := strings.Index(w[i:], a)
			if j < 0 {
				break
			}
			start, end := i+j, i+j+len(a)
			i = start + 1
			if (start == 0 && !first) || (end == len(w) && !eof) {
				continue // judged in the block before, or in the next one
			}
			if addressBoundaryBefore(w, start) && addressBoundaryAfter(w, end) {
				return true, nil
			}
		}
		if eof {
			return false, nil
		}
		if len(buf) > keep {
			buf = append(buf[:0], buf[len(buf)-keep:]...)
		}
		first = false
	}
}
