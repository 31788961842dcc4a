package mime

import (
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// AuthHeaders are the header fields SenderAuthentication reads (pass them
// in ParseOptions.KeepHeaders; SpamHeaders has it too).
var AuthHeaders = []string{"Authentication-Results"}

// AuthVerdict is what the own mail server's Authentication-Results field
// says of the sender of a mail.
type AuthVerdict int

const (
	// AuthNoneTrusted: no Authentication-Results field with a trusted
	// authserv-id (or none is trusted), so there is nothing to believe.
	AuthNoneTrusted AuthVerdict = iota
	// AuthPass: the topmost trusted field shows dkim, spf or dmarc pass
	// for a domain aligned with the From domain.
	AuthPass
	// AuthFail: the topmost trusted field shows no such pass.
	AuthFail
)

func (v AuthVerdict) String() string {
	switch v {
	case AuthPass:
		return "pass"
	case AuthFail:
		return "fail"
	}
	return "none-trusted"
}

// SenderAuth is the verdict and why. Reason is made of fixed phrases,
// method and result names of a fixed set and the trusted authserv-id; it
// quotes nothing else from the mail, so it may be logged and mailed back.
type SenderAuth struct {
	Verdict    AuthVerdict
	AuthservID string // the trusted authserv-id of the field that decided ("" for AuthNoneTrusted)
	Reason     string
}

// SenderAuthentication evaluates the Authentication-Results fields of a
// mail, topmost first as they stand in the header (Message.Headers keeps
// that order), for the domain of the From address, believing only fields
// whose authserv-id is in trusted (case-insensitive; RFC 8601 §5 and §7.1).
//
// Only the topmost trusted field counts: the own server prepends its field
// above everything the mail came with, and a sender can write any field
// with any authserv-id below it. That field passes when one of its results
// is
//
//   - dkim=pass with header.d (or, without header.d, the domain of
//     header.i) aligned with fromDomain,
//   - spf=pass with the domain of smtp.mailfrom aligned with fromDomain, or
//   - dmarc=pass with header.from aligned with fromDomain (DMARC pass
//     means an aligned DKIM or SPF pass, RFC 7489 §4.2).
//
// Aligned is relaxed alignment (RFC 7489 §3.1): the same organizational
// domain, by the public suffix list; a domain that has none (a public
// suffix, a single label) must be equal. Domains compare in their ASCII
// form, case-insensitively, without a trailing dot. Comments are not
// results: "(... header.d=x ...)" counts for nothing.
func SenderAuthentication(fields []string, fromDomain string, trusted []string) SenderAuth {
	from := normDomain(fromDomain)
	for _, v := range fields {
		segs := authResultsWords(v)
		id := ""
		if len(segs[0]) > 0 {
			id = strings.ToLower(segs[0][0])
		}
		auth := ""
		for _, a := range trusted {
			if a = strings.TrimSpace(a); a != "" && strings.EqualFold(a, id) {
				auth = strings.ToLower(a)
			}
		}
		if auth == "" {
			continue // another server's, or forged: RFC 8601 §7.1
		}
		res := SenderAuth{Verdict: AuthFail, AuthservID: auth}
		if from == "" {
			res.Reason = "no From domain to authenticate (Authentication-Results from " + auth + ")"
			return res
		}
		var seen []string
		for _, words := range segs[1:] {
			if len(words) == 0 {
				continue
			}
			method, result, ok := strings.Cut(strings.ToLower(words[0]), "=")
			if !ok {
				continue // "none" (RFC 8601 §2.2: no method was applied), or garbage
			}
			method, _, _ = strings.Cut(method, "/") // dkim/1=pass: a method version
			var props []string
			switch method {
			case "dkim":
				d := prop(words[1:], "header.d")
				if d == "" {
					d = afterAt(prop(words[1:], "header.i"))
				}
				props = []string{d}
			case "spf":
				props = []string{afterAt(prop(words[1:], "smtp.mailfrom"))}
			case "dmarc":
				props = []string{prop(words[1:], "header.from")}
			default:
				continue
			}
			if !knownResult(result) {
				result = "unknown"
			}
			if result == "pass" && aligned(normDomain(props[0]), from) {
				res.Verdict = AuthPass
				res.Reason = method + "=pass aligned with the From domain (Authentication-Results from " + auth + ")"
				return res
			}
			s := method + "=" + result
			if result == "pass" {
				s += " not aligned with the From domain"
			}
			seen = append(seen, s)
		}
		if len(seen) == 0 {
			res.Reason = "no dkim, spf or dmarc result (Authentication-Results from " + auth + ")"
		} else {
			res.Reason = "no aligned pass: " + strings.Join(seen, ", ") + " (Authentication-Results from " + auth + ")"
		}
		return res
	}
	return SenderAuth{Verdict: AuthNoneTrusted, Reason: "no Authentication-Results from a trusted authserv-id"}
}

// knownResult reports a result value of RFC 8601 §2.7 (and the hardfail
// and softfail of SPF).
func knownResult(r string) bool {
	switch r {
	case "none", "pass", "fail", "softfail", "hardfail", "neutral", "policy", "temperror", "permerror":
		return true
	}
	return false
}

// prop is the value of the property name (ptype.property, lower case) among
// the words of one result, or "".
func prop(words []string, name string) string {
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if ok && strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// afterAt is the domain of an address or of "@domain"; a bare domain is
// itself. The last @ counts: a quoted local part may hold another.
func afterAt(s string) string {
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// normDomain is d lower-cased, in its ASCII form, without a trailing dot;
// "" for what cannot be a domain.
func normDomain(d string) string {
	d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
	if d == "" || strings.ContainsAny(d, " @\"\\()[]<>,;:") {
		return ""
	}
	if a, err := idna.Lookup.ToASCII(d); err == nil {
		return a
	}
	return d
}

// aligned reports relaxed alignment of d with from (both normalised).
func aligned(d, from string) bool {
	if d == "" || from == "" {
		return false
	}
	if d == from {
		return true
	}
	od, err1 := publicsuffix.EffectiveTLDPlusOne(d)
	of, err2 := publicsuffix.EffectiveTLDPlusOne(from)
	return err1 == nil && err2 == nil && od == of
}

// authResultsWords cuts an Authentication-Results value (RFC 8601 §2.2)
// into its ";"-separated parts and each part into words: the runs of text
// between white space and comments, with quoted strings unquoted in place
// (so smtp.mailfrom="a b"@example.com is one word, and a quoted local part
// cannot make a property of its own). Comments, nested ones included, are
// dropped; a semicolon in a comment or quoted string separates nothing. An
// "=" with white space around it joins its neighbours (dkim = pass). It
// returns at least one part.
func authResultsWords(v string) [][]string {
	parts := [][]string{nil}
	var word strings.Builder
	inWord := false
	end := func() {
		if inWord {
			parts[len(parts)-1] = append(parts[len(parts)-1], word.String())
		}
		word.Reset()
		inWord = false
	}
	for i := 0; i < len(v); {
		k, next, broken := span(v, i)
		if k == tokLiteral || k == tokComment && broken {
			k, next = tokSpecial, i+1 // as spanLoose: no syntax of their own here
		}
		switch {
		case k == tokSpace || k == tokComment:
			end()
		case k == tokSpecial && v[i] == ';':
			end()
			parts = append(parts, nil)
		case k == tokQuoted:
			inner := v[i+1 : next]
			if !broken {
				inner = v[i+1 : next-1]
			}
			word.WriteString(unquotePairs(inner))
			inWord = true
		default:
			word.WriteString(v[i:next])
			inWord = true
		}
		i = next
	}
	end()
	for p, words := range parts {
		parts[p] = joinEquals(words)
	}
	return parts
}

// joinEquals joins the words around an "=" that stood apart.
func joinEquals(words []string) []string {
	var out []string
	for _, w := range words {
		if n := len(out); n > 0 && (strings.HasSuffix(out[n-1], "=") || strings.HasPrefix(w, "=")) {
			out[n-1] += w
			continue
		}
		out = append(out, w)
	}
	return out
}
