package mime

import "strings"

// AuthSummary is the verdict of the topmost Authentication-Results field
// (of fields, topmost first) whose authserv-id is in trusted: its dkim,
// spf, dmarc, arc and auth results as "method=result" pairs in the order
// of the field ("dkim=pass spf=pass dmarc=pass"), each result one of RFC
// 8601 §2.7 ("unknown" otherwise). It is "" when no field is trusted. It
// quotes nothing else of the mail, so it may be stored with the message
// in place of the header field.
func AuthSummary(fields []string, trusted []string) string {
	for _, v := range fields {
		segs := authResultsWords(v)
		id := ""
		if len(segs[0]) > 0 {
			id = strings.ToLower(segs[0][0])
		}
		ok := false
		for _, a := range trusted {
			if a = strings.TrimSpace(a); a != "" && strings.EqualFold(a, id) {
				ok = true
			}
		}
		if !ok {
			continue
		}
		var out []string
		for _, words := range segs[1:] {
			if len(words) == 0 {
				continue
			}
			method, result, found := strings.Cut(strings.ToLower(words[0]), "=")
			if !found {
				continue
			}
			method, _, _ = strings.Cut(method, "/")
			switch method {
			case "dkim", "spf", "dmarc", "arc", "auth", "iprev":
			default:
				continue
			}
			if !knownResult(result) {
				result = "unknown"
			}
			out = append(out, method+"="+result)
		}
		if len(out) == 0 {
			return "none"
		}
		return strings.Join(out, " ")
	}
	return ""
}
