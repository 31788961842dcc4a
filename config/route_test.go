package config_test

import (
	"strings"
	"testing"

	"ticketd/config"
	"ticketd/config/configtest"
)

// routes is a configuration with three queues and the given [[route]] tables.
func routes(t *testing.T, rules string) *config.Config {
	t.Helper()
	return configtest.Parse(t, `
[[queue]]
name = "support"
purpose = "support"
response_time = "1d"

[[queue]]
name = "billing"
purpose = "support"
response_time = "2d"

[[queue]]
name = "partners"
purpose = "support"
response_time = "4h"
`, rules)
}

func TestRouteMatch(t *testing.T) {
	c := routes(t, `
[[route]]
queue = "partners"
mailbox = "support"
sender_domain = ["Partner.example", "bücher.example"]

[[route]]
queue = "billing"
to = ["Billing@Example.com", "support+billing@example.com"]

[[route]]
queue = "billing"
subject = ["rechnung*", "Straße", "payment due", "請求"]

[[route]]
queue = "partners"
body = ["Rückerstattung", "credit card*"]
`)
	for _, tc := range []struct {
		name string
		m    config.RouteMail
		rule int
		why  string
	}{
		{"sender domain", config.RouteMail{Mailbox: "support", Sender: "a@partner.example", Subject: "Rechnung"}, 1, `sender_domain "Partner.example"`},
		{"subdomain", config.RouteMail{Mailbox: "support", Sender: "a@eu.PARTNER.example"}, 1, `sender_domain "Partner.example"`},
		{"idn domain in ascii", config.RouteMail{Mailbox: "support", Sender: "a@xn--bcher-kva.example"}, 1, `sender_domain "bücher.example"`},
		{"not a subdomain", config.RouteMail{Mailbox: "support", Sender: "a@notpartner.example"}, 0, ""},
		{"other mailbox", config.RouteMail{Mailbox: "shop", Sender: "a@partner.example", Subject: "Rechnung"}, 3, `subject "rechnung*"`},
		{"to, case", config.RouteMail{Recipients: []string{"BILLING@example.COM"}}, 2, `to "Billing@Example.com"`},
		{"plus-address", config.RouteMail{Recipients: []string{"x@example.com", "<Support+Billing@example.com>"}}, 2, `to "support+billing@example.com"`},
		{"base address is not the plus-address", config.RouteMail{Recipients: []string{"support@example.com"}}, 0, ""},
		{"other plus-address", config.RouteMail{Recipients: []string{"support+sales@example.com"}}, 0, ""},
		{"prefix keyword", config.RouteMail{Subject: "Ihre RECHNUNGSNUMMER 4711"}, 3, `subject "rechnung*"`},
		{"prefix at word start only", config.RouteMail{Subject: "Berechnung der Kosten"}, 0, ""},
		{"ß folds", config.RouteMail{Subject: "Neue STRASSE"}, 3, `subject "Straße"`},
		{"phrase", config.RouteMail{Subject: "Re: payment   due!"}, 3, `subject "payment due"`},
		{"phrase words apart", config.RouteMail{Subject: "payment is due"}, 0, ""},
		{"han inside a run", config.RouteMail{Subject: "請求書について"}, 3, `subject "請求"`},
		{"decomposed umlaut in body", config.RouteMail{Body: "Bitte um RU\u0308CKERSTATTUNG."}, 4, `body "Rückerstattung"`},
		{"body prefix phrase", config.RouteMail{Body: "my Credit Cards were charged"}, 4, `body "credit card*"`},
		{"keyword only in body, rule on subject", config.RouteMail{Body: "Rechnung"}, 0, ""},
		{"first match wins", config.RouteMail{Recipients: []string{"billing@example.com"}, Body: "Rückerstattung"}, 2, `to "Billing@Example.com"`},
		{"nothing", config.RouteMail{Mailbox: "support", Sender: "a@example.org", Subject: "Hallo"}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, why := c.Route(&tc.m)
			got := 0
			if r != nil {
				got = r.Index
			}
			if got != tc.rule || why != tc.why {
				t.Errorf("Route = rule %d, %q; want %d, %q", got, why, tc.rule, tc.why)
			}
		})
	}
}

func TestRouteAllConditionsMustHold(t *testing.T) {
	c := routes(t, `
[[route]]
queue = "billing"
to = ["support@example.com"]
subject = ["invoice"]
`)
	for _, tc := range []struct {
		m    config.RouteMail
		want bool
	}{
		{config.RouteMail{Recipients: []string{"support@example.com"}, Subject: "invoice"}, true},
		{config.RouteMail{Recipients: []string{"support@example.com"}, Subject: "hello"}, false},
		{config.RouteMail{Recipients: []string{"other@example.com"}, Subject: "invoice"}, false},
	} {
		if r, _ := c.Route(&tc.m); (r != nil) != tc.want {
			t.Errorf("%+v: matched %v, want %v", tc.m, r != nil, tc.want)
		}
	}
}

// TestRouteWarnings: a valid configuration with a rule that loses some of
// its mail to an earlier one of another queue loads, with a warning
// naming the position and what is lost; the same rule of the same queue,
// or an exception written before the general rule, draws none.
func TestRouteWarnings(t *testing.T) {
	c := routes(t, `
[[route]]
queue = "billing"
to = ["billing@example.com"]
subject = ["urgent"]

[[route]]
queue = "support"
to = ["billing@example.com"]

[[route]]
queue = "billing"
sender_domain = ["example.org"]

[[route]]
queue = "partners"
sender_domain = ["eu.example.org", "example.net"]

[[route]]
queue = "billing"
sender_domain = ["example.net", "example.com"]
`)
	var got []string
	for _, w := range c.Warnings {
		got = append(got, w.Error())
	}
	want := []string{
		`test.toml:59:1: warning: [[route]] #4 overlaps route[3]: its mail with sender_domain "eu.example.org" goes to queue "billing" by route[3], not to "partners"`,
		`test.toml:63:1: warning: [[route]] #5 overlaps route[4]: its mail with sender_domain "example.net" goes to queue "partners" by route[4], not to "billing"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestWarningFormat(t *testing.T) {
	e := &config.Error{File: "c.toml", Line: 3, Col: 1, Msg: "m", Warning: true}
	if got := e.Error(); got != "c.toml:3:1: warning: m" {
		t.Errorf("Error() = %q", got)
	}
}

// TestRouteNotParsedMatchesNothing: a Route that did not come through
// Parse has no compiled conditions; it must match no mail, not all.
func TestRouteNotParsedMatchesNothing(t *testing.T) {
	c := &config.Config{Routes: []config.Route{{Queue: "billing", To: []string{"billing@example.com"}}}}
	if r, _ := c.Route(&config.RouteMail{Recipients: []string{"other@example.com"}}); r != nil {
		t.Errorf("an unparsed rule matched: %+v", r)
	}
}
