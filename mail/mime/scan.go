package mime

import (
	"strings"
)

// The one scanner of header field bodies. span cuts a structured field body
// (RFC 5322 section 3.2) into its lexical units; the address lists, the
// message ids, the date, the MIME parameters and the loop and spam rules
// all read their fields through it, so quoted strings, quoted pairs and
// (nested) comments mean the same in each of them.

type tokenKind uint8

const (
	tokAtom    tokenKind = iota + 1 // a run of atext (RFC 5322 section 3.2.3), 8-bit bytes included (RFC 6532)
	tokQuoted                       // a quoted string (section 3.2.4)
	tokLiteral                      // a domain literal "[...]" (section 3.4.1)
	tokComment                      // a comment, nested comments included (section 3.2.2)
	tokSpecial                      // one of the specials ) < > ] : ; @ \ , .
	tokSpace                        // a run of white space, line breaks included
)

// span finds the lexical unit that starts at s[i] (i < len(s)) and returns
// its kind and end. Quoted pairs are honoured inside quoted strings,
// comments and domain literals. broken reports a quoted string, comment or
// literal that is not closed: it then runs to the end of s.
func span(s string, i int) (kind tokenKind, end int, broken bool) {
	switch c := s[i]; c {
	case ' ', '\t', '\r', '\n':
		j := i + 1
		for j < len(s) && isFWS(s[j]) {
			j++
		}
		return tokSpace, j, false
	case '"', '[':
		kind, closing := tokQuoted, byte('"')
		if c == '[' {
			kind, closing = tokLiteral, ']'
		}
		for j := i + 1; j < len(s); j++ {
			switch s[j] {
			case '\\':
				j++
			case closing:
				return kind, j + 1, false
			}
		}
		return kind, len(s), true
	case '(':
		depth := 0
		for j := i; j < len(s); j++ {
			switch s[j] {
			case '\\':
				j++
			case '(':
				depth++
			case ')':
				if depth--; depth == 0 {
					return tokComment, j + 1, false
				}
			}
		}
		return tokComment, len(s), true
	}
	if isSpecial(s[i]) {
		return tokSpecial, i + 1, false
	}
	j := i + 1
	for j < len(s) && !isSpecial(s[j]) && !isFWS(s[j]) && s[j] != '"' && s[j] != '(' && s[j] != '[' {
		j++
	}
	return tokAtom, j, false
}

// spanLoose is span for fields in which a bracket has no syntax of its own
// (MIME parameters, Authentication-Results): a domain literal is an
// ordinary character, and so is an unclosed comment, which then cannot hide
// the rest of the field.
func spanLoose(s string, i int) (kind tokenKind, end int) {
	kind, end, broken := span(s, i)
	if kind == tokLiteral || kind == tokComment && broken {
		return tokSpecial, i + 1
	}
	return kind, end
}

func isFWS(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func isSpecial(c byte) bool {
	switch c {
	case ')', '<', '>', ']', ':', ';', '@', '\\', ',', '.':
		return true
	}
	return false
}

// token is one lexical unit of a structured field other than white space.
type token struct {
	kind  tokenKind
	text  string // atoms, specials and literals as written; quoted strings and comments without their delimiters and quoted pairs
	space bool   // white space or a comment stands before it
}

func (t token) is(special byte) bool {
	return t.kind == tokSpecial && t.text[0] == special
}

// lexStructured cuts s into tokens. broken reports an unclosed quoted
// string, comment or literal.
func lexStructured(s string) (toks []token, broken bool) {
	space := false
	for i := 0; i < len(s); {
		k, end, b := span(s, i)
		broken = broken || b
		switch k {
		case tokSpace:
			space = true
		case tokQuoted, tokComment:
			inner := s[i+1 : end]
			if !b {
				inner = s[i+1 : end-1]
			}
			toks = append(toks, token{kind: k, text: unquotePairs(inner), space: space})
			space = k == tokComment
		default:
			toks = append(toks, token{kind: k, text: s[i:end], space: space})
			space = false
		}
		i = end
	}
	return toks, broken
}

// unquotePairs removes the backslash of each quoted pair.
func unquotePairs(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
