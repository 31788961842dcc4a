package config

import (
	"net/textproto"
	"strings"

	"ticketd/mail/redact"
)

// RedactRule is one [[redact]] table: a pattern whose matches are replaced
// in subjects, bodies and text attachments before they are stored, besides
// the built-in card numbers and IBANs (package redact).
type RedactRule struct {
	// Name is the kind the replacements are counted as on the message and
	// named in the acknowledgement ("customer number"); required, unique,
	// not "card number" or "IBAN".
	Name string `toml:"name"`
	// Pattern is a Go regular expression (RE2 syntax: linear time, no
	// backreferences); required; it must not match the empty string.
	Pattern string `toml:"pattern"`
	// Replacement replaces each match literally; default
	// "[redacted: NAME]".
	Replacement string `toml:"replacement"`
}

// Minimise says what of a mail is stored beyond what a ticket needs
// (GDPR Art. 5(1)(c)).
type Minimise struct {
	// KeepHeaders are header fields stored with each message besides those
	// a ticket always keeps (MinimalHeaders); default none.
	KeepHeaders []string `toml:"keep_headers"`
	// KeepOriginal stores the raw mail of each message as a blob,
	// encrypted and purged like attachments. The raw mail is the mail
	// before redaction: it keeps the payment data redaction removed from
	// the text. Default false.
	KeepOriginal bool `toml:"keep_original"`
}

// MinimalHeaders are the header fields a stored message always keeps, in
// fields of its own (store.Message): keep_headers need not name them.
var MinimalHeaders = []string{"From", "To", "Cc", "Reply-To", "Date", "Subject", "Message-Id",
	"In-Reply-To", "References", "Content-Language", "Auto-Submitted", "Authentication-Results"}

// RedactRules are the [[redact]] tables as redact.Rules.
func (c *Config) RedactRules() []redact.Rule {
	var rules []redact.Rule
	for _, r := range c.Redact {
		rules = append(rules, redact.Rule(r))
	}
	return rules
}

// minimiseDefaults fills in the [minimise] keys the file leaves out.
func (d *decoder) minimiseDefaults(c *Config) {
	setDefault(d, "minimise.keep_headers", &c.Minimise.KeepHeaders, []string{})
}

// minimiseValidate checks the [[redact]] tables and [minimise].
func (d *decoder) minimiseValidate(c *Config) {
	for i, r := range c.Redact {
		p := index("redact", i+1)
		if strings.TrimSpace(r.Name) == "" {
			d.errorf(p, "%s: no name", p)
			continue
		}
		if _, err := redact.New([]redact.Rule{redact.Rule(r)}); err != nil {
			d.errorf(p, "%s: %s", p, strings.TrimPrefix(err.Error(), "redact rule "))
		}
	}
	names := map[string]string{}
	for i, r := range c.Redact {
		d.unique(names, index("redact", i+1)+".name", "redact rule", strings.ToLower(strings.TrimSpace(r.Name)))
	}
	for i, h := range c.Minimise.KeepHeaders {
		p := index("minimise.keep_headers", i+1)
		if h == "" || strings.ContainsAny(h, ": \t\r\n") || strings.IndexFunc(h, func(r rune) bool { return r < 33 || r > 126 }) >= 0 {
			d.keyErrorf(p, "must be a header field name such as \"X-Customer-Id\", got %q", h)
			continue
		}
		for _, m := range MinimalHeaders {
			if strings.EqualFold(m, h) {
				d.warnf(p, "%s: %s is always kept", p, textproto.CanonicalMIMEHeaderKey(h))
			}
		}
	}
}
