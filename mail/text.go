package mail

import (
	"strings"
	"unicode/utf8"
)

// CutUTF8 returns the largest n <= limit at which b can be cut without
// splitting a UTF-8 sequence.
func CutUTF8[T string | []byte](b T, limit int) int {
	if limit >= len(b) {
		return len(b)
	}
	n := limit
	for n > 0 && n > limit-utf8.UTFMax && !utf8.RuneStart(b[n]) {
		n--
	}
	return n
}

// ServerText makes a text a server sent (an error's text or description)
// safe to log and show: at most 200 bytes of valid UTF-8, control
// characters removed.
func ServerText(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	if len(s) > 200 {
		s = s[:CutUTF8(s, 200)] + "..."
	}
	return s
}
