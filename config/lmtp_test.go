package config

import (
	"strings"
	"testing"
	"time"
)

func TestLMTPDefaults(t *testing.T) {
	c, err := Parse("config.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	l := c.LMTP
	if l.Listen != "" || l.Mode != 0o660 || l.SocketGroup != "" || l.Mailbox != c.Mailboxes[0].Name ||
		l.MaxMessageSize != c.Mailboxes[0].MaxMessageSize || l.MaxConnections != 32 || l.MaxRecipients != 50 ||
		l.Timeout.Duration != 5*time.Minute {
		t.Errorf("defaults = %+v", l)
	}
}

func TestLMTPListen(t *testing.T) {
	for listen, ok := range map[string]bool{
		"unix:/run/ticketd/lmtp.sock": true,
		"127.0.0.1:2424":              true,
		"[::1]:2424":                  true,
		"unix:lmtp.sock":              false,
		"0.0.0.0:2424":                false,
		"192.0.2.1:2424":              false,
		"localhost:2424":              false, // a name could resolve anywhere
		"127.0.0.1":                   false,
		"127.0.0.1:0":                 false,
	} {
		_, err := Parse("config.toml", []byte(minimal+"\n[lmtp]\nlisten = \""+listen+"\"\n"))
		if (err == nil) != ok {
			t.Errorf("listen = %q: err = %v, want ok = %v", listen, err, ok)
		}
		if err != nil && !strings.Contains(err.Error(), "lmtp.listen") {
			t.Errorf("listen = %q: error does not name the key: %v", listen, err)
		}
	}
}

func TestLMTPMailbox(t *testing.T) {
	two := minimal + `
[[mailbox]]
name = "sales"
address = "Sales@Example.com"
host = "imap.example.com"
username = "sales"
password_file = "imap.pass"
queue = "support"
`
	for _, tc := range []struct {
		mailbox, rcpt, want string
	}{
		{"", "support@example.com", "support"},
		{"", "sales@example.com", "support"}, // one of ticketd's, counted as the configured mailbox
		{"", "nobody@example.com", ""},
		{"*", "sales@example.com", "sales"},
		{"*", "SALES@EXAMPLE.COM", "sales"},
		{"*", "<support+t12.a3.xyz@example.com>", "support"},
		{"*", "support@example.org", ""},
		{"*", "supportx@example.com", ""},
		{"*", "support", ""},
		{"sales", "support@example.com", "sales"},
	} {
		text := two
		if tc.mailbox != "" {
			text += "\n[lmtp]\nmailbox = \"" + tc.mailbox + "\"\n"
		}
		c, err := Parse("config.toml", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if b := c.LMTPMailbox(tc.rcpt); b != nil {
			got = b.Name
		}
		if got != tc.want {
			t.Errorf("mailbox %q, LMTPMailbox(%q) = %q, want %q", tc.mailbox, tc.rcpt, got, tc.want)
		}
	}
}
