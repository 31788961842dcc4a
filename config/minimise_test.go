package config_test

import (
	"strings"
	"testing"

	"ticketd/config"
	"ticketd/config/configtest"
)

func TestMinimise(t *testing.T) {
	c := configtest.Parse(t)
	if len(c.Redact) != 0 || len(c.Minimise.KeepHeaders) != 0 || c.Minimise.KeepOriginal {
		t.Errorf("defaults: %+v %+v", c.Redact, c.Minimise)
	}
	c = configtest.Parse(t, `
[[redact]]
name = "customer number"
pattern = '\bKD-\d{4}\b'

[minimise]
keep_headers = ["X-Customer-Id"]
keep_original = true
`)
	if r := c.RedactRules(); len(r) != 1 || r[0].Name != "customer number" || r[0].Pattern != `\bKD-\d{4}\b` {
		t.Errorf("rules %+v", r)
	}
	if !c.Minimise.KeepOriginal || c.Minimise.KeepHeaders[0] != "X-Customer-Id" {
		t.Errorf("minimise %+v", c.Minimise)
	}

	_, err := config.Parse("test.toml", []byte(configtest.Text(t, `
[[redact]]
name = "a"
pattern = '('

[[redact]]
name = "b"
pattern = 'x*'

[[redact]]
name = "IBAN"
pattern = 'x'

[[redact]]
name = "A"
pattern = 'y'

[[redact]]
pattern = 'z'

[minimise]
keep_headers = ["X Bad:"]
`)))
	if err == nil {
		t.Fatal("bad rules accepted")
	}
	for _, want := range []string{`redact[1]: "a": pattern: error parsing regexp`, `redact[2]: "b": pattern matches the empty string`,
		`redact[3]: "IBAN": the name is used before (or is a built-in kind)`, `redact[4].name: duplicate redact rule name "a"`,
		`redact[5]: no name`, `minimise.keep_headers[1]: must be a header field name`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors:\n%v\nwant %q", err, want)
		}
	}

	c = configtest.Parse(t, `
[minimise]
keep_headers = ["message-id"]
`)
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings.Error(), "Message-Id is always kept") {
		t.Errorf("warnings %v", c.Warnings)
	}
}
