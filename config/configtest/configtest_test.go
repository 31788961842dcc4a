package configtest_test

import (
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"ticketd/config"
	"ticketd/config/configtest"
)

func TestBaseIsValid(t *testing.T) {
	c := configtest.Parse(t)
	if c.Queue("support") == nil || c.Mailbox("support") == nil || c.Purpose("support") == nil {
		t.Fatalf("base has no queue, mailbox or purpose named support: %+v", c)
	}
	if c.Controller.DPO != "dsb@example.com" || c.Server.Language != "en" {
		t.Errorf("controller %+v, language %q", c.Controller, c.Server.Language)
	}
}

// TestFragmentRoundTripIsLossless: applying a fragment re-encodes the base;
// the result must be the same configuration.
func TestFragmentRoundTripIsLossless(t *testing.T) {
	if a, b := configtest.Parse(t), configtest.Parse(t, "[server]\n"); !reflect.DeepEqual(a, b) {
		t.Errorf("re-encoded base differs:\n%+v\n%+v", a, b)
	}
}

func TestTablesMergeKeyByKey(t *testing.T) {
	c := configtest.Parse(t, `
[server]
language = "de"

[controller]
dpo = "Dr. Erika Muster, dsb@example.com"
`, `
[server]
data_dir = "state"
`)
	switch {
	case c.Server.Language != "de" || c.Server.DataDir != "state":
		t.Errorf("server = %+v, want language de and data_dir state", c.Server)
	case c.Server.PublicURL != "https://help.example.com":
		t.Errorf("public_url = %q, the base's was lost", c.Server.PublicURL)
	case c.Controller.DPO != "Dr. Erika Muster, dsb@example.com" || c.Controller.Name != "Beispiel GmbH":
		t.Errorf("controller = %+v", c.Controller)
	}
}

func TestArraysOfTablesReplace(t *testing.T) {
	c := configtest.Parse(t, `
[[queue]]
name = "billing"
purpose = "invoices"
response_time = "2d"

[[mailbox]]
name = "billing"
address = "billing@example.com"
host = "127.0.0.1"
port = 1143
tls = "none"
username = "billing"
password_file = "billing.pass"
queue = "billing"

[[purpose]]
name = "invoices"
description = { de = "Rechnungen", en = "Invoices" }
legal_basis = "legal_obligation"
retention = "10y"
recipients = ["Steuerberatung Beispiel"]
transfers = []
required = { de = "Gesetzlich vorgeschrieben.", en = "Required by law." }
`)
	if len(c.Queues) != 1 || len(c.Mailboxes) != 1 || len(c.Purposes) != 1 {
		t.Fatalf("queues %d, mailboxes %d, purposes %d; want 1 each", len(c.Queues), len(c.Mailboxes), len(c.Purposes))
	}
	if q, m := c.Queue("billing"), c.Mailbox("billing"); q == nil || q.ResponseTime.Duration != 48*time.Hour ||
		m == nil || m.Port != 1143 || m.Host != "127.0.0.1" {
		t.Errorf("queue %+v, mailbox %+v", q, m)
	}
}

func TestTextWithoutFragmentsIsTheBase(t *testing.T) {
	text := configtest.Text(t)
	if !strings.HasPrefix(text, "[server]\n") || !strings.Contains(text, `dpo = "dsb@example.com"`+"\n") {
		t.Errorf("base text:\n%s", text)
	}
	if _, err := config.Parse("base.toml", []byte(text)); err != nil {
		t.Error(err)
	}
}

// fatalTB records the first Fatalf and ends the goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// fails runs fn with a fatalTB in its own goroutine and returns the message.
func fails(t *testing.T, fn func(tb testing.TB)) string {
	t.Helper()
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); fn(f) }()
	<-done
	return f.msg
}

func TestBadInputFailsTheTest(t *testing.T) {
	for _, tc := range []struct{ name, fragment, want string }{
		{"syntax", "[server\n", "configtest: fragment 1:"},
		{"invalid", "[server]\nlanguage = \"fr\"\n", "language"},
		{"unknown key", "[server]\ncolour = \"blue\"\n", "colour"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := fails(t, func(tb testing.TB) { configtest.Parse(tb, tc.fragment) })
			if !strings.Contains(msg, tc.want) {
				t.Errorf("Parse failed with %q, want it to mention %q", msg, tc.want)
			}
		})
	}
}
