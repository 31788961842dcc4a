package mime

import (
	"strings"
	"ticketd/store"
	"unicode/utf8"
)

// Address fields (RFC 5322 section 3.4, obsolete forms of section 4.4).

// firstAddress is the first address of the first From field that has one.
// A From without any address gives the first display name found.
func (p *parser) firstAddress(values []string) store.Address {
	var named store.Address
	for _, v := range values {
		for _, a := range p.addressList("From", []string{v}) {
			if a.Email != "" {
				return a
			}
			if named.Name == "" {
				named = a
			}
		}
	}
	return named
}

// addressList parses address fields as RFC 5322 section 3.4 defines them,
// with the obsolete forms of section 4.4 (see parseAddressList): groups,
// comments anywhere, quoted local parts, routes, a phrase with dots, CFWS
// around the dots of an addr-spec. Encoded words outside quotes are decoded
// first (parseable even when they hold commas or spaces, as some mailers
// send them). A field that does not parse is split at top-level commas and
// each piece is parsed alone, falling back to a tolerant extraction (an
// address in <...>, else the first word with an "@"), with a warning.
func (p *parser) addressList(field string, values []string) []store.Address {
	var out []store.Address
	for _, v := range values {
		v = p.raw(v)
		if strings.TrimSpace(v) == "" {
			continue
		}
		pre := p.quoteEncodedPhrases(v)
		if list, ok := parseAddressList(pre); ok {
			for _, a := range list {
				out = append(out, p.parsedAddress(a))
			}
			continue
		}
		p.warn("malformed %s field: address read leniently", field)
		for _, piece := range splitAddressList(pre) {
			if strings.TrimSpace(piece) == "" {
				continue
			}
			if list, ok := parseAddressList(piece); ok && len(list) > 0 {
				for _, a := range list {
					out = append(out, p.parsedAddress(a))
				}
				continue
			}
			// A piece without any address is kept only for From, whose
			// display name alone still says who wrote.
			if a, ok := p.looseAddress(piece); ok && (a.Email != "" || field == "From") {
				out = append(out, a)
			}
		}
	}
	return out
}

func (p *parser) parsedAddress(a rawAddress) store.Address {
	out := p.address(a.name, a.email)
	if a.group != "" {
		out.Group = collapseASCIISpace(p.decodeWords(a.group))
	}
	return out
}

// address normalizes one parsed address: the display name is decoded (also
// encoded words inside a quoted string), stripped of surrounding quotes and
// white space, with inner white space collapsed; the domain is lower-cased.
func (p *parser) address(name, email string) store.Address {
	name = collapseASCIISpace(p.decodeWords(name))
	name = strings.Trim(name, `"' `)
	email = strings.TrimSpace(email)
	if at := strings.LastIndexByte(email, '@'); at >= 0 {
		email = quoteLocal(email[:at]) + "@" + strings.ToLower(email[at+1:])
	}
	return store.Address{Name: name, Email: email}
}

// quoteLocal writes a local part as RFC 5322 section 3.4.1 wants it: as is
// when it is a dot-atom, else as a quoted string. net/mail hands out quoted
// local parts unquoted ("a b"@example.com becomes a b@example.com), which is
// no address one could reply to.
func quoteLocal(local string) string {
	if isDotAtom(local) || local == "" {
		return local
	}
	return `"` + quotedStringEscaper.Replace(local) + `"`
}

// quotedStringEscaper escapes text for a quoted string.
var quotedStringEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		if r >= utf8.RuneSelf || r == '.' {
			continue
		}
		if r <= ' ' || r == 0x7f || strings.ContainsRune(`()<>[]:;@\,"`, r) {
			return false
		}
	}
	return true
}

// collapseASCIISpace turns each run of ASCII white space and control
// characters into one space and trims the ends. Other white space, such as
// the ideographic space of CJK names, is content and stays.
func collapseASCIISpace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteByte(s[i])
	}
	return b.String()
}

// looseAddress extracts an address from a piece net/mail could not parse.
func (p *parser) looseAddress(s string) (store.Address, bool) {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		if j := strings.IndexByte(s[i:], '>'); j > 0 {
			inner := unquoteLocal(strings.TrimPrefix(strings.TrimSpace(s[i+1:i+j]), "mailto:"))
			if plausibleAddress(inner) {
				return p.address(stripComments(s[:i]), inner), true
			}
		}
	}
	words := splitWords(s)
	for i, w := range words {
		if !strings.Contains(w, "@") {
			continue
		}
		email := strings.Trim(w, "<>()[],;:")
		email = unquoteLocal(strings.TrimPrefix(email, "mailto:"))
		if !plausibleAddress(email) {
			continue
		}
		rest := append(append([]string{}, words[:i]...), words[i+1:]...)
		return p.address(stripComments(strings.Join(rest, " ")), email), true
	}
	if name := strings.TrimSpace(stripComments(s)); name != "" {
		return p.address(name, ""), true
	}
	return store.Address{}, false
}

// plausibleAddress accepts what the tolerant extraction may call an
// address: something before and after the last "@", and a domain without
// white space or a second "@".
func plausibleAddress(email string) bool {
	at := strings.LastIndexByte(email, '@')
	if at <= 0 || at == len(email)-1 {
		return false
	}
	local, domain := email[:at], email[at+1:]
	return strings.Trim(local, `"`) != "" && !strings.ContainsAny(domain, " \t@<>\"")
}

// unquoteLocal writes a quoted local part ("a b"@example.com) the way
// net/mail does: without the quotes.
func unquoteLocal(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 2 || email[0] != '"' || email[at-1] != '"' {
		return email
	}
	return strings.ReplaceAll(email[1:at-1], `\"`, `"`) + email[at:]
}

// stripComments turns "(comment)" into its text when nothing else is left,
// and drops it otherwise (RFC 5322 comments in From often hold the name).
func stripComments(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if k, end, _ := span(s, 0); k == tokComment && end == len(s) && strings.Count(s, "(") == 1 {
		return s[1 : len(s)-1]
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		k, end, _ := span(s, i)
		if k != tokComment {
			b.WriteString(s[i:end])
		}
		i = end
	}
	return b.String()
}

// splitWords splits at white space outside quoted strings and comments.
func splitWords(s string) []string {
	var words []string
	start := 0
	for i := 0; i < len(s); {
		k, end, _ := span(s, i)
		if k == tokSpace {
			if i > start {
				words = append(words, s[start:i])
			}
			start = end
		}
		i = end
	}
	if start < len(s) {
		words = append(words, s[start:])
	}
	return words
}

// splitAddressList splits an address field at commas outside quoted
// strings, comments and angle brackets.
func splitAddressList(s string) []string {
	var out []string
	start, angle := 0, false
	for i := 0; i < len(s); {
		k, end, _ := span(s, i)
		if k == tokSpecial {
			switch s[i] {
			case '<':
				angle = true
			case '>':
				angle = false
			case ',':
				if !angle {
					out = append(out, s[start:i])
					start = end
				}
			}
		}
		i = end
	}
	return append(out, s[start:])
}

// rawAddress is a mailbox as parseAddressList found it.
type rawAddress struct {
	name, email string
	group       string // display name of the group it was listed in
}

// addrParser reads addresses from tokens, skipping comments (the last one
// skipped is kept: a comment after an addr-spec names the mailbox).
type addrParser struct {
	toks    []token
	i       int
	comment string
}

// peek skips comments and returns the next token; ok is false at the end.
func (a *addrParser) peek() (token, bool) {
	for a.i < len(a.toks) && a.toks[a.i].kind == tokComment {
		a.comment = a.toks[a.i].text
		a.i++
	}
	if a.i == len(a.toks) {
		return token{}, false
	}
	return a.toks[a.i], true
}

func (a *addrParser) accept(special byte) bool {
	if t, ok := a.peek(); ok && t.is(special) {
		a.i++
		return true
	}
	return false
}

// parseAddressList parses an address-list (RFC 5322 section 3.4) and its
// obsolete forms (section 4.4): empty list elements, groups (their members
// carry the group's name; an empty group gives no address), a phrase with
// dots ("Joe Q. Public"), routes ("<@node.test:mary@example.net>"), and CFWS
// between the parts of an addr-spec ("jdoe@machine(comment).  example" is
// jdoe@machine.example). ok is false when s is not such a list.
func parseAddressList(s string) ([]rawAddress, bool) {
	toks, broken := lexStructured(s)
	if broken {
		return nil, false
	}
	a := &addrParser{toks: toks}
	var out []rawAddress
	for {
		for a.accept(',') {
		}
		if _, more := a.peek(); !more {
			return out, true
		}
		list, ok := a.address()
		if !ok {
			return nil, false
		}
		out = append(out, list...)
		if _, more := a.peek(); more && !a.accept(',') {
			return nil, false
		}
	}
}

// address is a mailbox or a group.
func (a *addrParser) address() ([]rawAddress, bool) {
	start := a.i
	if name, ok := a.phrase(); ok && a.accept(':') {
		var members []rawAddress
		for {
			for a.accept(',') {
			}
			t, more := a.peek()
			if !more { // the ";" is missing at the end of the field: taken as there
				return members, true
			}
			if t.is(';') {
				a.i++
				return members, true
			}
			m, ok := a.mailbox()
			if !ok {
				return nil, false
			}
			m.group = name
			members = append(members, m)
			if t, more := a.peek(); more && !t.is(',') && !t.is(';') {
				return nil, false
			}
		}
	}
	a.i = start
	m, ok := a.mailbox()
	return []rawAddress{m}, ok
}

// mailbox is a name-addr or an addr-spec.
func (a *addrParser) mailbox() (rawAddress, bool) {
	start := a.i
	name, _ := a.phrase()
	if a.accept('<') {
		email, ok := a.angleAddr()
		return rawAddress{name: name, email: email}, ok
	}
	a.i = start
	email, ok := a.addrSpec()
	if !ok {
		return rawAddress{}, false
	}
	// A comment right after the addr-spec is the name: "marc@example.com (Marc Smith)".
	a.peek()
	name = ""
	for j := a.i - 1; j >= start && a.toks[j].kind == tokComment; j-- {
		name = a.toks[j].text
	}
	return rawAddress{name: name, email: email}, true
}

// phrase reads a display name: words (atoms, quoted strings) and, as
// obs-phrase allows, dots after the first word. Words are joined with one
// space, a dot keeps the spacing it was written with.
func (a *addrParser) phrase() (string, bool) {
	var b strings.Builder
	prevWord := false
	for {
		t, ok := a.peek()
		if !ok {
			break
		}
		word := t.kind == tokAtom || t.kind == tokQuoted
		if !word && !(t.is('.') && b.Len() > 0) {
			break
		}
		if b.Len() > 0 && (t.space || prevWord && word) {
			b.WriteByte(' ')
		}
		b.WriteString(t.text)
		prevWord = word
		a.i++
	}
	return b.String(), b.Len() > 0
}

// angleAddr reads what follows "<": an optional obs-route, an addr-spec and ">".
func (a *addrParser) angleAddr() (string, bool) {
	if t, ok := a.peek(); ok && (t.is('@') || t.is(',')) {
		for !a.accept(':') {
			switch {
			case a.accept(','):
			case a.accept('@'):
				if _, ok := a.domain(); !ok {
					return "", false
				}
			default:
				return "", false
			}
		}
	}
	email, ok := a.addrSpec()
	if !ok || !a.accept('>') {
		return "", false
	}
	return email, true
}

// addrSpec reads local-part "@" domain. The local part is words joined by
// dots (obs-local-part: CFWS around them is dropped); quoted words give
// their content, which address writes as a quoted string again.
func (a *addrParser) addrSpec() (string, bool) {
	var b strings.Builder
	words, prevWord := 0, false
	for {
		t, ok := a.peek()
		if !ok {
			return "", false
		}
		word := t.kind == tokAtom || t.kind == tokQuoted
		if word && prevWord || !word && !t.is('.') {
			break // two words need a dot between them
		}
		if word {
			words++
		}
		prevWord = word
		b.WriteString(t.text)
		a.i++
	}
	if words == 0 || !a.accept('@') {
		return "", false
	}
	domain, ok := a.domain()
	if !ok {
		return "", false
	}
	b.WriteByte('@')
	b.WriteString(domain)
	return b.String(), true
}

// domain reads a domain literal or atoms separated by dots.
func (a *addrParser) domain() (string, bool) {
	t, ok := a.peek()
	if !ok {
		return "", false
	}
	if t.kind == tokLiteral {
		a.i++
		return t.text, true
	}
	var b strings.Builder
	for {
		t, ok := a.peek()
		if !ok || t.kind != tokAtom {
			return "", false
		}
		b.WriteString(t.text)
		a.i++
		if t, ok := a.peek(); !ok || !t.is('.') {
			return b.String(), true
		}
		a.i++
		b.WriteByte('.')
	}
}

// quoteEncodedPhrases replaces each run of encoded words that stands as a
// phrase (outside quoted strings, comments and angle brackets, and not glued
// to an addr-spec) by a quoted string of its decoded text. parseAddressList
// then sees a well-formed phrase even when the encoded text held commas or white
// space, and words in one charset are decoded together. An encoded word in an
// addr-spec is left alone: RFC 2047 section 5 forbids decoding it.
func (p *parser) quoteEncodedPhrases(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	var out strings.Builder
	angle := false
	for i := 0; i < len(s); {
		k, end, _ := span(s, i)
		switch {
		case k == tokSpecial && s[i] == '<':
			angle = true
		case k == tokSpecial && s[i] == '>':
			angle = false
		case k == tokAtom && !angle && strings.HasPrefix(s[i:], "=?") && phraseStart(s, i):
			// An encoded word may hold specials (against RFC 2047 section 5):
			// the run is measured with parseWord, not with span.
			wend := i
			for {
				w, ok := parseWord(s[wend:])
				if !ok {
					break
				}
				wend += w.n
				k := wend
				for k < len(s) && (s[k] == ' ' || s[k] == '\t') {
					k++
				}
				if _, ok := parseWord(s[k:]); !ok {
					break
				}
				wend = k
			}
			if wend > i && phraseEnd(s, wend) {
				text := p.decodeWords(s[i:wend])
				text = strings.Map(func(r rune) rune {
					if r < 0x20 || r == 0x7f {
						return ' '
					}
					return r
				}, text)
				text = quotedStringEscaper.Replace(text)
				out.WriteString(` "` + text + `" `)
				i = wend
				continue
			}
		}
		out.WriteString(s[i:end])
		i = end
	}
	return out.String()
}

func phraseStart(s string, i int) bool {
	if i == 0 {
		return true
	}
	switch s[i-1] {
	case ' ', '\t', '\r', '\n', ',', ':', ';', '"', ')', '>':
		return true
	}
	return false
}

func phraseEnd(s string, i int) bool {
	if i >= len(s) {
		return true
	}
	switch s[i] {
	case ' ', '\t', '\r', '\n', ',', ';', '<', '"', '(':
		return true
	}
	return false
}
