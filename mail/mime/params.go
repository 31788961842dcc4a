package mime

import (
	"fmt"
	"mime"
	"strings"
)

// MIME parameters (RFC 2045 section 5.1, RFC 2231) and file names.

// parseMediaType parses a Content-Type value: the media type in lower case,
// "text/plain" when missing or unusable (RFC 2045 section 5.2), and its
// parameters (see parseParams).
func parseMediaType(v string) (string, map[string]string) {
	media, params := parseParams(v)
	if !strings.Contains(media, "/") {
		media = "text/plain"
	}
	return media, params
}

// parseParams parses a header value of the form "token; key=value; ...".
// The token is lower case; parameter keys are lower case and RFC 2231
// extended values are decoded (in any charset, not only the UTF-8 and ASCII
// the standard library accepts). When the standard parser gives up
// (duplicate parameters, 8-bit bytes, stray semicolons), each parameter is
// parsed on its own and the ones that make sense are kept, so a boundary or
// a file name survives a broken neighbour.
func parseParams(v string) (string, map[string]string) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", map[string]string{}
	}
	token, params, err := mime.ParseMediaType(v)
	if err != nil {
		token, params = parseParamsLoose(v)
	}
	if params == nil {
		params = map[string]string{}
	}
	lower := strings.ToLower(v)
	for _, k := range []string{"filename", "name"} {
		// The standard library drops RFC 2231 values in charsets other
		// than UTF-8 and ASCII, even a single piece of a continuation.
		if strings.Contains(lower, k+"*") {
			if val, ok := rfc2231(v, k); ok {
				params[k] = val
			}
		}
	}
	return strings.ToLower(strings.TrimSpace(token)), params
}

func parseParamsLoose(v string) (string, map[string]string) {
	segs := splitParams(v)
	token := strings.ToLower(strings.TrimSpace(segs[0]))
	if i := strings.IndexAny(token, " \t"); i >= 0 {
		token = token[:i]
	}
	params := map[string]string{}
	for _, seg := range segs[1:] {
		seg = strings.TrimSpace(seg)
		if seg == "" {
			continue
		}
		if _, ps, err := mime.ParseMediaType("x/x; " + seg); err == nil {
			for k, val := range ps {
				if _, dup := params[k]; !dup {
					params[k] = val
				}
			}
			continue
		}
		k, val, ok := strings.Cut(seg, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		val = strings.TrimSpace(val)
		if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			val = strings.ReplaceAll(val[1:len(val)-1], `\"`, `"`)
		}
		if _, dup := params[k]; !dup && k != "" && !strings.Contains(k, "*") {
			params[k] = val
		}
	}
	return token, params
}

// rfc2231 decodes the RFC 2231 parameter key from a raw header value:
// key*=charset'lang'%XX..., or continuations key*0*=..., key*1=...
func rfc2231(v, key string) (string, bool) {
	type piece struct {
		enc bool
		val string
	}
	pieces := map[int]piece{}
	for _, seg := range splitParams(v)[1:] {
		k, val, ok := strings.Cut(strings.TrimSpace(seg), "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		val = strings.TrimSpace(val)
		if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			val = val[1 : len(val)-1]
		}
		rest, ok := strings.CutPrefix(k, key+"*")
		if !ok {
			continue
		}
		enc := strings.HasSuffix(rest, "*") || rest == ""
		rest = strings.TrimSuffix(rest, "*")
		n := 0
		if rest != "" {
			if _, err := fmt.Sscanf(rest, "%d", &n); err != nil || n < 0 || n > 100 {
				continue
			}
		}
		if _, dup := pieces[n]; !dup {
			pieces[n] = piece{enc, val}
		}
	}
	first, ok := pieces[0]
	if !ok {
		return "", false
	}
	charset := ""
	if first.enc {
		parts := strings.SplitN(first.val, "'", 3)
		if len(parts) == 3 {
			charset = parts[0]
			first.val = parts[2]
		}
	}
	var raw []byte
	for i := 0; i <= 100; i++ {
		pc, ok := pieces[i]
		if !ok {
			break
		}
		if i == 0 {
			pc = first
		}
		if !pc.enc {
			raw = append(raw, pc.val...)
			continue
		}
		for j := 0; j < len(pc.val); j++ {
			if pc.val[j] == '%' && j+2 < len(pc.val) && isHex(pc.val[j+1]) && isHex(pc.val[j+2]) {
				raw = append(raw, unhex(pc.val[j+1])<<4|unhex(pc.val[j+2]))
				j += 2
				continue
			}
			raw = append(raw, pc.val[j])
		}
	}
	if charset == "" {
		charset = "utf-8"
	}
	s, _ := decodeBytes(charset, raw)
	return s, true
}

// splitParams splits a header value at the semicolons outside quoted strings
// and comments (spanLoose).
func splitParams(v string) []string {
	segs := make([]string, 0, strings.Count(v, ";")+1)
	start := 0
	for i := 0; i < len(v); {
		k, end := spanLoose(v, i)
		if k == tokSpecial && v[i] == ';' {
			segs = append(segs, v[start:i])
			start = end
		}
		i = end
	}
	return append(segs, v[start:])
}

// filename is the decoded file name of a part: Content-Disposition filename,
// else Content-Type name. RFC 2231 was decoded by parseMediaType; RFC 2047
// encoded words inside the quoted value (what many mailers send) and raw
// 8-bit bytes are decoded here. Control characters are removed.
func (p *parser) filename(dparams, ctparams map[string]string) string {
	name := dparams["filename"]
	if strings.TrimSpace(name) == "" {
		name = ctparams["name"]
	}
	name = p.headerText(name)
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, name)
	return strings.TrimSpace(name)
}
