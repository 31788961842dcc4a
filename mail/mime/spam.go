package mime

import (
	"net/textproto"
	"strings"
)

// Kinds of spam-filter header a SpamPolicy can trust (config [spam] trust).
const (
	SpamXSpamFlag   = "x-spam-flag"            // X-Spam-Flag: YES (SpamAssassin and others)
	SpamXSpamStatus = "x-spam-status"          // X-Spam-Status: Yes, score=... (SpamAssassin)
	SpamRspamd      = "rspamd"                 // X-Rspamd-Action, X-Spamd-Result (rspamd)
	SpamAuthResults = "authentication-results" // Authentication-Results with dmarc=fail (RFC 8601, RFC 7489)
)

// SpamKinds are the values of SpamPolicy.Trust.
var SpamKinds = []string{SpamXSpamFlag, SpamXSpamStatus, SpamRspamd, SpamAuthResults}

// SpamHeaders are the header fields SpamPolicy.Verdict reads (pass them in
// ParseOptions.KeepHeaders).
var SpamHeaders = []string{"X-Spam-Flag", "X-Spam-Status", "X-Rspamd-Action", "X-Spamd-Result", "Authentication-Results"}

// SpamPolicy reads the verdict of an upstream spam filter from the header
// fields it added. Anyone can write those fields into a mail, so only the
// kinds in Trust count, and of each only the instance the filter added:
// the topmost one (a filter prepends its field above those the mail came
// with), and for Authentication-Results only one whose authserv-id is in
// AuthservIDs (RFC 8601 §5: the receiving border MTA removes fields with
// its own authserv-id from incoming mail).
type SpamPolicy struct {
	Trust       []string // kinds from SpamKinds; none: no header is trusted
	AuthservIDs []string // the authserv-ids of the own MTA, compared case-insensitively
}

// Verdict returns why a trusted filter header marks m as spam, or "" when
// none does. The reason is a fixed phrase naming the header; it never
// contains text from the mail beyond a keyword of a fixed set (and the
// configured authserv-id).
//
// The rules, each for a trusted kind, in this order:
//
//   - x-spam-flag: the topmost X-Spam-Flag is YES.
//   - x-spam-status: the topmost X-Spam-Status starts with Yes.
//   - rspamd: the topmost X-Rspamd-Action is reject, "add header" or
//     "rewrite subject" (rspamd's actions for spam), or the topmost
//     X-Spamd-Result says True for the spam verdict ("default: True [...]").
//   - authentication-results: the topmost Authentication-Results field with
//     a trusted authserv-id that has a dmarc result says dmarc=fail, and the
//     domain's policy is reject or quarantine: given as a comment "(p=reject
//     ...)" (OpenDMARC, Gmail), "(policy=reject)" (rspamd), a property
//     policy.dmarc=reject, or action=reject|oreject|quarantine (Microsoft).
//     A failure under policy none, or with no policy stated, is no verdict.
func (p *SpamPolicy) Verdict(m *Message) string {
	if p == nil || m == nil {
		return ""
	}
	if p.trusts(SpamXSpamFlag) {
		if v, ok := topmost(m, "X-Spam-Flag"); ok && strings.EqualFold(strings.TrimSpace(v), "yes") {
			return "spam (X-Spam-Flag: YES)"
		}
	}
	if p.trusts(SpamXSpamStatus) {
		if v, ok := topmost(m, "X-Spam-Status"); ok {
			first, _, _ := strings.Cut(strings.TrimSpace(v), ",")
			if f := strings.Fields(first); len(f) > 0 && strings.EqualFold(f[0], "yes") {
				return "spam (X-Spam-Status: Yes)"
			}
		}
	}
	if p.trusts(SpamRspamd) {
		if v, ok := topmost(m, "X-Rspamd-Action"); ok {
			switch a := strings.ToLower(strings.Join(strings.Fields(v), " ")); a {
			case "reject", "add header", "rewrite subject":
				return "spam (X-Rspamd-Action: " + a + ")"
			}
		}
		if v, ok := topmost(m, "X-Spamd-Result"); ok {
			if _, rest, found := strings.Cut(v, ":"); found {
				if f := strings.Fields(rest); len(f) > 0 && strings.EqualFold(f[0], "true") {
					return "spam (X-Spamd-Result: True)"
				}
			}
		}
	}
	if p.trusts(SpamAuthResults) {
		return p.dmarc(m)
	}
	return ""
}

func (p *SpamPolicy) trusts(kind string) bool {
	for _, k := range p.Trust {
		if strings.EqualFold(strings.TrimSpace(k), kind) {
			return true
		}
	}
	return false
}

// topmost is the first (topmost) value of the field name in m.Headers.
func topmost(m *Message, name string) (string, bool) {
	vs := m.Headers[textproto.CanonicalMIMEHeaderKey(name)]
	if len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}

// dmarc applies the Authentication-Results rule of Verdict.
func (p *SpamPolicy) dmarc(m *Message) string {
	for _, v := range m.Headers["Authentication-Results"] {
		segs := splitAuthResults(v)
		id := ""
		if f := strings.Fields(segs[0].text); len(f) > 0 {
			id = f[0]
		}
		trusted := ""
		for _, a := range p.AuthservIDs {
			if a = strings.TrimSpace(a); a != "" && strings.EqualFold(a, id) {
				trusted = a
			}
		}
		if trusted == "" {
			continue // another server's, or forged: RFC 8601 §7.1
		}
		for _, s := range segs[1:] {
			f := strings.Fields(strings.ToLower(s.text))
			if len(f) == 0 {
				continue
			}
			method, result, _ := strings.Cut(f[0], "=")
			if method, _, _ = strings.Cut(method, "/"); method != "dmarc" {
				continue
			}
			// The topmost trusted field with a dmarc result decides.
			if result != "fail" {
				return ""
			}
			if policy := dmarcPolicy(f[1:], s.comments); policy != "" {
				return "DMARC fail with policy " + policy + " (Authentication-Results from " + trusted + ")"
			}
			return ""
		}
	}
	return ""
}

// dmarcPolicy finds the published policy in a dmarc resinfo's properties
// and comments: "reject", "quarantine" or "" (none or not stated).
func dmarcPolicy(props, comments []string) string {
	norm := func(v string) string {
		v = strings.Trim(strings.ToLower(v), `"';,.`)
		switch v {
		case "reject", "oreject", "pct.reject":
			return "reject"
		case "quarantine", "pct.quarantine":
			return "quarantine"
		}
		return ""
	}
	for _, kv := range props {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "policy.dmarc", "policy", "p", "action":
			if pol := norm(v); pol != "" {
				return pol
			}
		}
	}
	for _, c := range comments {
		for _, kv := range strings.Fields(strings.ToLower(c)) {
			k, v, _ := strings.Cut(kv, "=")
			if k == "p" || k == "policy" {
				if pol := norm(v); pol != "" {
					return pol
				}
			}
		}
	}
	return ""
}

// arSegment is one ";"-separated part of an Authentication-Results value:
// its text without comments, and the comments.
type arSegment struct {
	text     string
	comments []string
}

// splitAuthResults splits an Authentication-Results value (RFC 8601 §2.2)
// at the semicolons outside comments and quoted strings, taking the
// comments (nested ones included) out of the text. It returns at least one
// segment.
func splitAuthResults(v string) []arSegment {
	segs := []arSegment{{}}
	var text strings.Builder
	for i := 0; i < len(v); {
		k, end, broken := span(v, i)
		if k == tokLiteral {
			k, end = spanLoose(v, i)
		}
		cur := &segs[len(segs)-1]
		switch {
		case k == tokComment:
			inner := v[i+1 : end]
			if !broken {
				inner = v[i+1 : end-1]
				text.WriteByte(' ')
			}
			cur.comments = append(cur.comments, unquotePairs(inner))
		case k == tokQuoted:
			text.WriteString(v[i:i+1] + unquotePairs(v[i+1:end]))
		case k == tokSpecial && v[i] == ';':
			cur.text = text.String()
			text.Reset()
			segs = append(segs, arSegment{})
		default:
			text.WriteString(v[i:end])
		}
		i = end
	}
	segs[len(segs)-1].text = text.String()
	return segs
}
