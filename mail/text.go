package mail

import "unicode/utf8"

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
