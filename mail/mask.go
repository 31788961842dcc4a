package mail

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"unicode/utf8"
)

// MaskEmail masks a mail address for a log line (GDPR Art. 5(1)(c) and
// 32): the first letter of the local part and of the domain, and the
// top-level domain: "jane.doe@example.com" becomes "j***@e***.com". A
// value without "@" becomes "***"; "" stays "".
func MaskEmail(addr string) string {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return ""
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return "***"
	}
	local, domain := addr[:at], addr[at+1:]
	tld := ""
	if dot := strings.LastIndexByte(domain, '.'); dot >= 0 {
		tld, domain = domain[dot:], domain[:dot]
	}
	return first(local) + "***@" + first(domain) + "***" + tld
}

func first(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 || r == utf8.RuneError {
		return ""
	}
	return string(r)
}

// addrLike finds what looks like a mail address in free text: an error
// from an SMTP server ("550 5.1.1 <jane@example.com>: Recipient address
// rejected"), a configuration warning, a command's error.
var addrLike = regexp.MustCompile(`[\p{L}\p{N}.!#$%&'*+/=?^_` + "`" + `{|}~-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)*`)

// MaskAddresses masks every mail address in s with MaskEmail.
func MaskAddresses(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	return addrLike.ReplaceAllStringFunc(s, func(a string) string {
		if strings.Contains(a, "***@") {
			return a // masked already
		}
		return MaskEmail(a)
	})
}

// MaskingHandler wraps h so that no mail address reaches the log in clear:
// the message and every attribute value (strings, errors, Stringers, lists
// of them, groups) pass through MaskAddresses. It is the safety net under
// the rule that log lines carry identifiers (ticket, message, person
// numbers), never personal data: a subject or a body cannot be recognised
// in a string, so no call site logs one.
func MaskingHandler(h slog.Handler) slog.Handler { return maskHandler{h} }

type maskHandler struct{ h slog.Handler }

func (m maskHandler) Enabled(ctx context.Context, l slog.Level) bool { return m.h.Enabled(ctx, l) }

func (m maskHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, MaskAddresses(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(maskAttr(a))
		return true
	})
	return m.h.Handle(ctx, out)
}

func (m maskHandler) WithAttrs(as []slog.Attr) slog.Handler {
	masked := make([]slog.Attr, len(as))
	for i, a := range as {
		masked[i] = maskAttr(a)
	}
	return maskHandler{m.h.WithAttrs(masked)}
}

func (m maskHandler) WithGroup(name string) slog.Handler { return maskHandler{m.h.WithGroup(name)} }

func maskAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, MaskAddresses(v.String()))
	case slog.KindGroup:
		g := v.Group()
		masked := make([]slog.Attr, len(g))
		for i, ga := range g {
			masked[i] = maskAttr(ga)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(masked...)}
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, MaskAddresses(x.Error()))
		case fmt.Stringer:
			return slog.String(a.Key, MaskAddresses(x.String()))
		case []string:
			masked := make([]string, len(x))
			for i, s := range x {
				masked[i] = MaskAddresses(s)
			}
			return slog.Any(a.Key, masked)
		case string:
			return slog.String(a.Key, MaskAddresses(x))
		case []byte:
			return slog.String(a.Key, MaskAddresses(string(x)))
		default:
			s := fmt.Sprint(x)
			if strings.Contains(s, "@") {
				return slog.String(a.Key, MaskAddresses(s))
			}
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
