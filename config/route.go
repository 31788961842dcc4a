package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/net/idna"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Route is one routing rule, a [[route]] table: the queue a new ticket goes
// to when every condition the rule states holds for its first mail. Rules
// are tried in file order and the first that matches wins; when none does,
// the ticket goes to the queue of the mailbox the mail came in through.
// Within one condition any listed value is enough; a rule states at least
// one of to, sender_domain, subject and body.
//
// Routing sorts mail, it decides no permission: every header it reads can
// be written by the sender, who can so choose the queue of their own
// ticket and nothing more.
type Route struct {
	Queue string `toml:"queue"` // required, names a [[queue]]
	// Mailbox limits the rule to mail of one [[mailbox]]; default: any.
	Mailbox string `toml:"mailbox"`
	// To are addresses the mail came to: any of its To, Cc, Delivered-To,
	// X-Original-To and Envelope-To addresses, compared exactly but for
	// case (a plus-address is an address of its own).
	To []string `toml:"to"`
	// SenderDomain are domains of the sender's address; a domain covers its
	// subdomains.
	SenderDomain []string `toml:"sender_domain"`
	// Subject and Body are keywords: words or phrases found as whole words,
	// in any case; a trailing "*" makes the last word a prefix ("rechnung*").
	Subject []string `toml:"subject"`
	Body    []string `toml:"body"`

	// Index is the rule's place in the file, from 1.
	Index int `toml:"-"`

	to, domains     []string // normalised: lower-case addresses, ASCII domains
	subject, body   []phrase
	subjectN, bodyN []string // the keywords as written, by phrase
	toN, senderDomN []string // the addresses and domains as written
	hasConds        bool
	bad             bool // a condition has a wrong value: left out of the reach checks
}

// RouteMail is what the routing rules read of a new ticket's first mail.
// Route keeps its subject and body as words once they are needed, so a
// RouteMail serves one goroutine.
type RouteMail struct {
	Mailbox    string   // the [[mailbox]] it came in through; "" for ingest without -mailbox
	Recipients []string // the addresses of To, Cc, Delivered-To, X-Original-To, Envelope-To
	Sender     string   // the sender's address
	Subject    string
	Body       string // the text of the mail

	subject, body *text // tokenised on first use
	recipients    map[string]bool
}

// RouteHeaders are the header fields besides To and Cc whose addresses
// count as recipients for routing; the MTA adds them on delivery.
var RouteHeaders = []string{"Delivered-To", "X-Original-To", "Envelope-To"}

// Route returns the first rule that matches m and what of it held, or nil
// when none does.
func (c *Config) Route(m *RouteMail) (*Route, string) {
	for i := range c.Routes {
		if why, ok := c.Routes[i].match(m); ok {
			return &c.Routes[i], why
		}
	}
	return nil, ""
}

// match reports whether every condition of r holds for m, and which value
// of each did, as `to "x", subject "y"`.
func (r *Route) match(m *RouteMail) (string, bool) {
	// A rule that did not pass Parse has no compiled condition and
	// matches nothing, rather than everything.
	if !r.hasConds || r.Mailbox != "" && r.Mailbox != m.Mailbox {
		return "", false
	}
	var why []string
	if len(r.to) > 0 {
		if m.recipients == nil {
			m.recipients = map[string]bool{}
			for _, a := range m.Recipients {
				m.recipients[normalAddress(a)] = true
			}
		}
		i := slices.IndexFunc(r.to, func(a string) bool { return m.recipients[a] })
		if i < 0 {
			return "", false
		}
		why = append(why, "to "+strconv.Quote(r.toN[i]))
	}
	if len(r.domains) > 0 {
		d := ""
		if at := strings.LastIndexByte(m.Sender, '@'); at >= 0 {
			d = normalDomain(m.Sender[at+1:])
		}
		i := slices.IndexFunc(r.domains, func(x string) bool { return d != "" && coversDomain(x, d) })
		if i < 0 {
			return "", false
		}
		why = append(why, "sender_domain "+strconv.Quote(r.senderDomN[i]))
	}
	for _, kw := range []struct {
		key    string
		rule   []phrase
		names  []string
		text   **text
		source string
	}{
		{"subject", r.subject, r.subjectN, &m.subject, m.Subject},
		{"body", r.body, r.bodyN, &m.body, m.Body},
	} {
		if len(kw.rule) == 0 {
			continue
		}
		if *kw.text == nil {
			*kw.text = tokenize(kw.source)
		}
		i := slices.IndexFunc(kw.rule, (*kw.text).has)
		if i < 0 {
			return "", false
		}
		why = append(why, kw.key+" "+strconv.Quote(kw.names[i]))
	}
	return strings.Join(why, ", "), true
}

// normalAddress is an address as routing compares it: lower case, the
// domain in ASCII (IDNA), surrounding angle brackets and space removed.
func normalAddress(a string) string {
	a = strings.Trim(strings.TrimSpace(a), "<>")
	at := strings.LastIndexByte(a, '@')
	if at < 0 {
		return strings.ToLower(a)
	}
	return strings.ToLower(a[:at]) + "@" + normalDomain(a[at+1:])
}

// normalDomain is a domain in lower-case ASCII, or as written in lower case
// when it is no valid IDNA name.
func normalDomain(d string) string {
	d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
	if a, err := idna.Lookup.ToASCII(d); err == nil {
		return a
	}
	return d
}

// coversDomain reports whether domain d is parent or equal to sub.
func coversDomain(d, sub string) bool {
	return sub == d || strings.HasSuffix(sub, "."+d)
}

// phrase is a keyword: its words, the last a prefix when prefix is set.
type phrase struct {
	words  []string
	prefix bool
}

// text is a subject or body as words, with where each word occurs.
type text struct {
	words []string
	at    map[string][]int
}

// fold prepares text for comparison: compatibility-normalised (NFKC, so a
// decomposed "ü" is the composed one) and case-folded ("STRASSE" and
// "Straße" are the same).
func fold(s string) string {
	return norm.NFC.String(cases.Fold().String(norm.NFKC.String(s)))
}

// ownWord reports runes of scripts written without spaces, each of which is
// a word of its own, so that a keyword in them is found inside a run.
func ownWord(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana)
}

// words splits s into its words: runs of letters, digits and marks.
func words(s string) []string {
	var out []string
	start := -1
	for i, r := range s {
		switch {
		case ownWord(r):
			if start >= 0 {
				out = append(out, s[start:i])
			}
			out = append(out, string(r))
			start = -1
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
			if start < 0 {
				start = i
			}
		default:
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}

func tokenize(s string) *text {
	t := &text{words: words(fold(s)), at: map[string][]int{}}
	for i, w := range t.words {
		t.at[w] = append(t.at[w], i)
	}
	return t
}

// has reports whether the phrase occurs in t.
func (t *text) has(p phrase) bool {
	n := len(p.words)
	if n == 1 && p.prefix {
		for w := range t.at {
			if strings.HasPrefix(w, p.words[0]) {
				return true
			}
		}
		return false
	}
	for _, i := range t.at[p.words[0]] {
		if i+n > len(t.words) {
			break
		}
		ok := true
		for j := 1; j < n && ok; j++ {
			w := t.words[i+j]
			if j == n-1 && p.prefix {
				ok = strings.HasPrefix(w, p.words[j])
			} else {
				ok = w == p.words[j]
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// parsePhrase reads a keyword as written in the file.
func parsePhrase(written string) (phrase, error) {
	p := phrase{}
	s, prefix := strings.CutSuffix(written, "*")
	p.prefix = prefix
	switch p.words = words(fold(s)); {
	case strings.Contains(s, "*"):
		return p, fmt.Errorf(`"*" is allowed only at the end, got %q`, written)
	case len(p.words) == 0:
		return p, fmt.Errorf("must hold a word (letters or digits), got %q", written)
	case prefix && strings.TrimRightFunc(s, unicode.IsSpace) != s:
		return p, fmt.Errorf(`"*" must follow a word directly, got %q`, written)
	}
	return p, nil
}

func routePath(i int) string { return index("route", i+1) }

// routeValidate checks the [[route]] tables against the queues and
// mailboxes and compiles their conditions; then it reports rules that can
// never match (errors) and rules part of whose mail an earlier rule of
// another queue takes (warnings).
func (d *decoder) routeValidate(c *Config, queues, mailboxes map[string]string) {
	for i := range c.Routes {
		r, p := &c.Routes[i], routePath(i)
		r.Index = i + 1
		switch qp := p + ".queue"; {
		case r.Queue == "" && d.has(qp):
			d.keyErrorf(qp, "must not be empty")
		case r.Queue == "":
			d.errorf(qp, "missing required key %q%s: the queue the rule routes to", "queue", in(p))
		case queues[r.Queue] == "" && len(c.Queues) > 0:
			d.keyErrorf(qp, "no [[queue]] named %q", r.Queue)
		}
		switch mp := p + ".mailbox"; {
		case r.Mailbox == "" && d.has(mp):
			d.keyErrorf(mp, "must not be empty: leave mailbox out for a rule of every mailbox")
		case r.Mailbox != "" && mailboxes[r.Mailbox] == "" && len(c.Mailboxes) > 0:
			d.keyErrorf(mp, "no [[mailbox]] named %q", r.Mailbox)
		}
		ok := d.routeConditions(p, r)
		r.bad = !ok
		if !r.hasConds && ok {
			d.errorf(p, "[[route]] #%d has no condition: it would take all mail; state at least one of to, sender_domain, "+
				"subject and body (the mailbox's queue key is where mail no rule takes goes)", i+1)
		}
	}
	d.routeReach(c)
}

// routeConditions compiles the conditions of r and reports bad values; it
// returns false when a condition is written but wrong (then r.hasConds says
// nothing about the rule).
func (d *decoder) routeConditions(p string, r *Route) bool {
	ok := true
	present := func(key string, n int) {
		if d.has(p+"."+key) && n == 0 {
			d.keyErrorf(p+"."+key, "must not be empty: leave the key out when the rule has no such condition")
			ok = false
		}
		r.hasConds = r.hasConds || n > 0
	}
	first := map[string]int{}
	for i, a := range r.To {
		ap := index(p+".to", i+1)
		if a == "" {
			d.keyErrorf(ap, "must not be empty")
			ok = false
			continue
		}
		d.address(ap, a)
		n := normalAddress(a)
		if j, dup := first[n]; dup {
			d.keyErrorf(ap, "duplicate address %q, first listed as to[%d]", a, j)
			continue
		}
		first[n] = i + 1
		r.to, r.toN = append(r.to, n), append(r.toN, a)
	}
	present("to", len(r.To))
	for i, dom := range r.SenderDomain {
		dp := index(p+".sender_domain", i+1)
		n, err := checkDomain(dom)
		if err != nil {
			d.keyErrorf(dp, "%v", err)
			ok = false
			continue
		}
		if j := slices.Index(r.domains, n); j >= 0 {
			d.keyErrorf(dp, "duplicate domain %q, first listed as sender_domain[%d]", dom, j+1)
			continue
		}
		r.domains, r.senderDomN = append(r.domains, n), append(r.senderDomN, dom)
	}
	present("sender_domain", len(r.SenderDomain))
	keywords := func(key string, list []string, into *[]phrase, names *[]string) {
		for i, k := range list {
			kp := index(p+"."+key, i+1)
			ph, err := parsePhrase(k)
			if err != nil {
				d.keyErrorf(kp, "%v", err)
				ok = false
				continue
			}
			*into, *names = append(*into, ph), append(*names, k)
		}
		present(key, len(list))
	}
	keywords("subject", r.Subject, &r.subject, &r.subjectN)
	keywords("body", r.Body, &r.body, &r.bodyN)
	return ok
}

// checkDomain checks a sender_domain value and returns it normalised.
func checkDomain(s string) (string, error) {
	switch {
	case strings.Contains(s, "@"):
		return "", fmt.Errorf("must be a domain such as example.org, without @, got %q", s)
	case strings.TrimSpace(s) == "":
		return "", fmt.Errorf("must not be empty")
	}
	a, err := idna.Lookup.ToASCII(strings.ToLower(strings.TrimSuffix(s, ".")))
	if err != nil || !strings.Contains(a, ".") || strings.HasPrefix(a, "*") {
		return "", fmt.Errorf("must be a domain such as example.org (it covers its subdomains), got %q", s)
	}
	return a, nil
}

// The reach of the rules. A rule is split into its cases: one value of
// each of its conditions, such as (to a, subject x). Every mail a rule
// matches matches one of its cases. An earlier rule takes a case when it
// matches every mail the case does: its mailbox is none or the same, and
// each of its conditions is one the case has, with a value that covers the
// case's (an equal address, a parent domain, a keyword found in every text
// that holds the case's keyword). A rule whose every case an earlier rule
// takes can never match; one with some cases taken by an earlier rule of
// another queue loses that mail to it.

// maxCases bounds the cases checked for a rule that can never match; above
// it only single earlier rules are compared with the rule as a whole.
const maxCases = 1024

// kinds of condition, in the order a case lists its values.
const (
	condTo = iota
	condDomain
	condSubject
	condBody
	nConds
)

var condKeys = [nConds]string{"to", "sender_domain", "subject", "body"}

// values returns the number of values of r's condition k (0: none).
func (r *Route) values(k int) int {
	switch k {
	case condTo:
		return len(r.to)
	case condDomain:
		return len(r.domains)
	case condSubject:
		return len(r.subject)
	}
	return len(r.body)
}

// covers reports whether value i of a's condition k matches every mail
// value j of b's condition k matches.
func covers(a, b *Route, k, i, j int) bool {
	switch k {
	case condTo:
		return a.to[i] == b.to[j]
	case condDomain:
		return coversDomain(a.domains[i], b.domains[j])
	case condSubject:
		return coversPhrase(a.subject[i], b.subject[j])
	}
	return coversPhrase(a.body[i], b.body[j])
}

// coversPhrase reports whether every text holding phrase b holds a: a's
// words are found in b's, a prefix of a covering any word it begins.
func coversPhrase(a, b phrase) bool {
	for off := 0; off+len(a.words) <= len(b.words); off++ {
		ok := true
		for j, w := range a.words {
			bw, bPrefix := b.words[off+j], b.prefix && off+j == len(b.words)-1
			if a.prefix && j == len(a.words)-1 {
				ok = strings.HasPrefix(bw, w)
			} else {
				ok = !bPrefix && bw == w
			}
			if !ok {
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// name names the value j of r's condition k as written.
func (r *Route) name(k, j int) string {
	switch k {
	case condTo:
		return r.toN[j]
	case condDomain:
		return r.senderDomN[j]
	case condSubject:
		return r.subjectN[j]
	}
	return r.bodyN[j]
}

// mayTake reports whether a can take mail of b at all: a's mailbox is none
// or b's, and b has every condition a has.
func mayTake(a, b *Route) bool {
	if a.Mailbox != "" && a.Mailbox != b.Mailbox {
		return false
	}
	for k := range nConds {
		if a.values(k) > 0 && b.values(k) == 0 {
			return false
		}
	}
	return true
}

// takes reports whether a takes the case of b given by one value index
// per condition (-1 where b has none).
func takes(a, b *Route, cs [nConds]int) bool {
	if !mayTake(a, b) {
		return false
	}
	for k := range nConds {
		if a.values(k) == 0 {
			continue
		}
		if !slices.ContainsFunc(seq(a.values(k)), func(i int) bool { return covers(a, b, k, i, cs[k]) }) {
			return false
		}
	}
	return true
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// taken returns, for each condition of a, the values of b that a covers;
// ok is false when a takes none of b's cases.
func taken(a, b *Route) (vals [nConds][]int, ok bool) {
	if !mayTake(a, b) {
		return vals, false
	}
	for k := range nConds {
		if a.values(k) == 0 {
			continue
		}
		for j := range b.values(k) {
			if slices.ContainsFunc(seq(a.values(k)), func(i int) bool { return covers(a, b, k, i, j) }) {
				vals[k] = append(vals[k], j)
			}
		}
		if len(vals[k]) == 0 {
			return vals, false
		}
	}
	return vals, true
}

// routeReach reports rules that can never match and rules that lose some
// of their mail to an earlier rule of another queue.
func (d *decoder) routeReach(c *Config) {
	for bi := range c.Routes {
		b := &c.Routes[bi]
		if !b.hasConds || b.bad {
			continue
		}
		if by := d.unreachable(c, bi); by != nil {
			names := make([]string, len(by))
			for i, a := range by {
				names[i] = "route[" + strconv.Itoa(a+1) + "]"
			}
			who := names[0] + " takes"
			if len(names) > 1 {
				who = strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1] + " take"
			}
			d.errorf(routePath(bi), "[[route]] #%d can never match: %s all its mail first; remove it or move it above", bi+1, who)
			continue
		}
		for ai := range bi {
			a := &c.Routes[ai]
			if !a.hasConds || a.bad || a.Queue == b.Queue {
				continue
			}
			vals, ok := taken(a, b)
			if !ok {
				continue
			}
			var parts []string
			for k := range nConds {
				if len(vals[k]) == 0 {
					continue
				}
				var vs []string
				for _, j := range vals[k] {
					vs = append(vs, strconv.Quote(b.name(k, j)))
				}
				parts = append(parts, condKeys[k]+" "+strings.Join(vs, " or "))
			}
			d.warnf(routePath(bi), "[[route]] #%d overlaps route[%d]: its mail with %s goes to queue %q by route[%d], not to %q",
				bi+1, ai+1, strings.Join(parts, " and "), a.Queue, ai+1, b.Queue)
		}
	}
}

// unreachable returns the earlier rules that together take every case of
// rule bi, or nil when some case is left to it.
func (d *decoder) unreachable(c *Config, bi int) []int {
	b := &c.Routes[bi]
	n := 1
	for k := range nConds {
		if v := b.values(k); v > 0 {
			n *= v
		}
		if n > maxCases {
			break
		}
	}
	if n > maxCases {
		// Too many cases: only a single earlier rule taking them all counts.
		for ai := range bi {
			a := &c.Routes[ai]
			if vals, ok := taken(a, b); ok && a.hasConds && !a.bad && func() bool {
				for k := range nConds {
					if a.values(k) > 0 && len(vals[k]) < b.values(k) {
						return false
					}
				}
				return true
			}() {
				return []int{ai}
			}
		}
		return nil
	}
	var by []int
	var cs [nConds]int
	var walk func(k int) bool
	walk = func(k int) bool {
		if k == nConds {
			for ai := range bi {
				if a := &c.Routes[ai]; a.hasConds && !a.bad && takes(a, b, cs) {
					if !slices.Contains(by, ai) {
						by = append(by, ai)
					}
					return true
				}
			}
			return false
		}
		if b.values(k) == 0 {
			cs[k] = -1
			return walk(k + 1)
		}
		for j := range b.values(k) {
			cs[k] = j
			if !walk(k + 1) {
				return false
			}
		}
		return true
	}
	if !walk(0) {
		return nil
	}
	slices.Sort(by)
	return by
}
