package mime

import (
	"strings"

	msgmail "github.com/emersion/go-message/mail"
)

// Message-ID, In-Reply-To and References (RFC 5322 section 3.6.4).

// messageID is the Message-ID without <>. A value go-message rejects gives
// the first <...> in it, else the bare value when it is one word.
func (p *parser) messageID(h msgmail.Header) string {
	v := strings.TrimSpace(p.raw(h.Get("Message-Id")))
	if v == "" {
		return ""
	}
	if id, err := h.MessageID(); err == nil {
		return id
	}
	if ids := extractIDs(v); len(ids) > 0 {
		return ids[0]
	}
	return ""
}

// msgIDList reads In-Reply-To or References. Junk that go-message's strict
// parser rejects is searched for <...> tokens instead, else for bare words
// with an "@".
func (p *parser) msgIDList(h msgmail.Header, key string) []string {
	if strings.TrimSpace(h.Get(key)) == "" {
		return nil
	}
	if ids, err := h.MsgIDList(key); err == nil {
		return ids
	}
	return extractIDs(p.raw(h.Get(key)))
}

// extractIDs finds the message ids in v: each <...>, with the comments and
// white space inside dropped (obs-id-left and obs-id-right allow them:
// "<1234   @   local(blah)  .machine .example>" is 1234@local.machine.example),
// else the bare words with an "@".
func extractIDs(v string) []string {
	var ids []string
	var id strings.Builder
	in := false
	toks, _ := lexStructured(v)
	for _, t := range toks {
		switch {
		case t.is('<'):
			in = true
			id.Reset()
		case t.is('>') && in:
			if id.Len() > 0 {
				ids = append(ids, id.String())
			}
			in = false
		case !in || t.kind == tokComment:
		case t.kind == tokQuoted:
			id.WriteString(`"` + quotedStringEscaper.Replace(t.text) + `"`)
		default:
			id.WriteString(strings.Join(strings.Fields(t.text), ""))
		}
	}
	if len(ids) > 0 || strings.Contains(v, "<") {
		return ids
	}
	for _, w := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' }) {
		if strings.Contains(w, "@") {
			ids = append(ids, w)
		}
	}
	return ids
}
