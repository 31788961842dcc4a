package templates

import (
	"strings"
	"unicode"
)

func knownLang(l string) bool { return l == "de" || l == "en" }

// sniffBytes is how much of a mail's text Language reads.
const sniffBytes = 4 << 10

// minVotes is how many marker words the winning language needs, and it needs
// twice as many as the other: a short or mixed text keeps the default.
const minVotes = 3

// Marker words: frequent in one language and not words of the other (no
// "die", "also", "was", "will", "in", "an", "so").
var (
	germanWords = words("und der die das den dem des nicht ich sie ihr ihre ihnen bitte danke dank " +
		"vielen mit für ist sind ein eine einen einer auf wir mein meine meiner habe haben hallo " +
		"guten grüße bei von zu auch noch wie kann können wurde werden oder aber keine kein")
	englishWords = words("the and is are to you your please thanks thank with for not i my me " +
		"we have has this that it of can could would be been hello hi dear regards " +
		"on at from any no but or")
)

func words(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

// Language picks "de" or "en" for a customer. The first language tag in
// contentLanguage (the Content-Language header, RFC 3282: "de-DE", "en-US",
// "de, en") that is German or English wins. Otherwise the first few KB of
// text (quoted lines left out) are counted for marker words of each
// language, a word with ä, ö, ü or ß counting for German; a language with at
// least three votes and twice as many as the other wins. Otherwise, for a
// short, mixed or other-language text, the result is def.
func Language(contentLanguage, text, def string) string {
	for _, tag := range strings.Split(contentLanguage, ",") {
		tag, _, _ = strings.Cut(tag, ";")
		tag = strings.TrimSpace(tag)
		if i := strings.IndexAny(tag, "-_"); i >= 0 {
			tag = tag[:i]
		}
		if tag = strings.ToLower(tag); knownLang(tag) {
			return tag
		}
	}

	if len(text) > sniffBytes {
		text = text[:sniffBytes] // half a rune at the end is a separator
	}
	de, en := countVotes(text)
	switch {
	case de >= minVotes && de >= 2*en:
		return "de"
	case en >= minVotes && en >= 2*de:
		return "en"
	}
	return def
}

// decided is when countVotes stops early: the verdict can no longer change
// in practice once one side has this many votes and three times the other's.
const decided = 10

// countVotes counts the marker words of each language in text, skipping
// quoted lines, without allocating.
func countVotes(text string) (de, en int) {
	var lower [24]byte
	for len(text) > 0 {
		line, rest, _ := strings.Cut(text, "\n")
		text = rest
		if strings.HasPrefix(strings.TrimSpace(line), ">") {
			continue // quoted from an earlier mail, maybe ours
		}
		for len(line) > 0 {
			// Skip to the next letter, then take the word.
			i := strings.IndexFunc(line, unicode.IsLetter)
			if i < 0 {
				break
			}
			line = line[i:]
			j := strings.IndexFunc(line, func(r rune) bool { return !unicode.IsLetter(r) })
			if j < 0 {
				j = len(line)
			}
			w := line[:j]
			line = line[j:]
			if strings.ContainsAny(w, "äöüßÄÖÜ") {
				de++
			} else if len(w) <= len(lower) {
				n := copy(lower[:], w)
				for k := range n {
					if c := lower[k]; 'A' <= c && c <= 'Z' {
						lower[k] = c + 'a' - 'A'
					}
				}
				switch {
				case germanWords[string(lower[:n])]:
					de++
				case englishWords[string(lower[:n])]:
					en++
				}
			}
			if (de >= decided && de >= 3*en) || (en >= decided && en >= 3*de) {
				return de, en
			}
		}
	}
	return de, en
}
