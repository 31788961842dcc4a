package redact

import "strings"

// ibanLength is the IBAN length of the countries of the SEPA area and a
// few more (SWIFT IBAN registry). Other country codes take 15 to 34.
var ibanLength = map[string]int{
	"AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22,
	"DK": 18, "EE": 20, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GI": 23,
	"GL": 18, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IS": 26, "IT": 27, "LI": 21,
	"LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28,
	"PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "VA": 22,
	"AL": 28, "BA": 20, "IL": 23, "ME": 22, "MK": 19, "RS": 22, "SA": 24, "TR": 26, "UA": 29,
}

const (
	ibanMin = 15
	ibanMax = 34
)

func isAlnum(b byte) bool { return isDigit(b) || isASCIILetter(b) }

// redactIBANs replaces IBANs in s.
func redactIBANs(s string) (string, int) {
	var b strings.Builder
	last, count := 0, 0
	// ends[k] is the byte offset after the k+1-th character of the
	// candidate, chunkEnd[k] whether a chunk ends there.
	var chars []byte
	var ends []int
	var chunkEnd []bool
	for i := 0; i+4 <= len(s); {
		if !isASCIILetter(s[i]) || !isASCIILetter(s[i+1]) || !isDigit(s[i+2]) || !isDigit(s[i+3]) || !boundaryBefore(s, i) {
			i++
			continue
		}
		chars, ends, chunkEnd = chars[:0], ends[:0], chunkEnd[:0]
		j := i
		for len(chars) < ibanMax {
			if j < len(s) && isAlnum(s[j]) {
				chars = append(chars, upper(s[j]))
				j++
				ends = append(ends, j)
				end := j >= len(s) || !isAlnum(s[j])
				chunkEnd = append(chunkEnd, end)
				continue
			}
			sep := 0
			if j < len(s) && s[j] == ' ' && j+1 < len(s) && isAlnum(s[j+1]) {
				sep = 1
			} else if strings.HasPrefix(s[j:], "\u00a0") && j+2 < len(s) && isAlnum(s[j+2]) {
				sep = 2
			}
			if sep == 0 {
				break
			}
			j += sep
		}
		n := 0 // characters of the IBAN found
		if l, ok := ibanLength[string(chars[:2])]; ok {
			if len(chars) >= l && chunkEnd[l-1] && boundaryAfter(s, ends[l-1]) && mod97(chars[:l]) {
				n = l
			}
		} else {
			for l := len(chars); l >= ibanMin; l-- {
				if chunkEnd[l-1] && boundaryAfter(s, ends[l-1]) && mod97(chars[:l]) {
					n = l
					break
				}
			}
		}
		if n == 0 {
			i++
			continue
		}
		if b.Cap() == 0 {
			b.Grow(len(s) + len(s)/4) // once: the marks are a little longer than the IBANs
		}
		b.WriteString(s[last:i])
		b.WriteString(Mark(KindIBAN))
		last = ends[n-1]
		count++
		i = last
	}
	if count == 0 {
		return s, 0
	}
	b.WriteString(s[last:])
	return b.String(), count
}

func upper(b byte) byte {
	if b >= 'a' && b <= 'z' {
		return b - 0x20
	}
	return b
}

// mod97 checks an IBAN of upper-case letters and digits (ISO 7064 MOD
// 97-10): the first four characters moved to the end, letters as 10..35,
// the number modulo 97 must be 1. The BBAN must hold a digit.
func mod97(c []byte) bool {
	if !isDigit(c[2]) || !isDigit(c[3]) {
		return false
	}
	digit := false
	r := 0
	for k := range c {
		ch := c[(k+4)%len(c)]
		switch {
		case isDigit(ch):
			if k < len(c)-4 {
				digit = true
			}
			r = (r*10 + int(ch-'0')) % 97
		default:
			r = (r*100 + int(ch-'A'+10)) % 97
		}
	}
	return digit && r == 1
}
