package mime

import (
	"fmt"
	"strings"
	"testing"
	"ticketd/store"
	"time"
)

// appendixA is what RFC 5322 Appendix A says each of its examples means.
// The mails are testdata/rfc5322-a<section>.eml, typed from the RFC; the
// whole decoding is also compared with the .golden next to each.
var appendixA = []struct {
	name, section   string
	from, sender    store.Address
	to, cc, replyTo []store.Address
	date            time.Time
	messageID       string
	inReplyTo, refs []string
	subject, text   string
}{
	{
		name: "rfc5322-a1-1", section: "A.1.1 a message from one person to another with simple addressing",
		from:      store.Address{Name: "John Doe", Email: "jdoe@machine.example"},
		to:        []store.Address{{Name: "Mary Smith", Email: "mary@example.net"}},
		date:      time.Date(1997, 11, 21, 9, 55, 6, 0, time.FixedZone("", -6*3600)),
		messageID: "1234@local.machine.example",
		subject:   "Saying Hello", text: "This is a message just to say hello.\nSo, \"Hello\".\n",
	},
	{
		name: "rfc5322-a1-2", section: "A.1.2 different types of mailboxes",
		from: store.Address{Name: "Joe Q. Public", Email: "john.q.public@example.com"},
		to: []store.Address{{Name: "Mary Smith", Email: "mary@x.test"}, {Email: "jdoe@example.org"},
			{Name: "Who?", Email: "one@y.test"}},
		cc:        []store.Address{{Email: "boss@nil.test"}, {Name: `Giant; "Big" Box`, Email: "sysservices@example.net"}},
		date:      time.Date(2003, 7, 1, 10, 52, 37, 0, time.FixedZone("", 2*3600)),
		messageID: "5678.21-Nov-1997@example.com",
		text:      "Hi everyone.\n",
	},
	{
		name: "rfc5322-a1-3", section: "A.1.3 group addresses",
		from: store.Address{Name: "Pete", Email: "pete@silly.example"},
		to: []store.Address{{Name: "Ed Jones", Email: "c@a.test", Group: "A Group"}, {Email: "joe@where.test", Group: "A Group"},
			{Name: "John", Email: "jdoe@one.test", Group: "A Group"}},
		// Cc: Undisclosed recipients:; is an empty group: no address.
		date:      time.Date(1969, 2, 13, 23, 32, 54, 0, time.FixedZone("", -(3*3600+30*60))),
		messageID: "testabcd.1234@silly.example",
		text:      "Testing.\n",
	},
	{
		name: "rfc5322-a2-1", section: "A.2 reply messages: the original",
		from:      store.Address{Name: "John Doe", Email: "jdoe@machine.example"},
		to:        []store.Address{{Name: "Mary Smith", Email: "mary@example.net"}},
		date:      time.Date(1997, 11, 21, 9, 55, 6, 0, time.FixedZone("", -6*3600)),
		messageID: "1234@local.machine.example",
		subject:   "Saying Hello", text: "This is a message just to say hello.\nSo, \"Hello\".\n",
	},
	{
		name: "rfc5322-a2-2", section: "A.2 reply messages: the reply",
		from:      store.Address{Name: "Mary Smith", Email: "mary@example.net"},
		to:        []store.Address{{Name: "John Doe", Email: "jdoe@machine.example"}},
		replyTo:   []store.Address{{Name: "Mary Smith: Personal Account", Email: "smith@home.example"}},
		date:      time.Date(1997, 11, 21, 10, 1, 10, 0, time.FixedZone("", -6*3600)),
		messageID: "3456@example.net",
		inReplyTo: []string{"1234@local.machine.example"}, refs: []string{"1234@local.machine.example"},
		subject: "Re: Saying Hello", text: "This is a reply to your hello.\n",
	},
	{
		name: "rfc5322-a2-3", section: "A.2 reply messages: the reply to the reply",
		from:      store.Address{Name: "John Doe", Email: "jdoe@machine.example"},
		to:        []store.Address{{Name: "Mary Smith: Personal Account", Email: "smith@home.example"}},
		date:      time.Date(1997, 11, 21, 11, 0, 0, 0, time.FixedZone("", -6*3600)),
		messageID: "abcd.1234@local.machine.test",
		inReplyTo: []string{"3456@example.net"}, refs: []string{"1234@local.machine.example", "3456@example.net"},
		subject: "Re: Saying Hello", text: "This is a reply to your reply.\n",
	},
	{
		name: "rfc5322-a3", section: "A.3 resent messages (the Resent- fields are not the message's own)",
		from:      store.Address{Name: "John Doe", Email: "jdoe@machine.example"},
		to:        []store.Address{{Name: "Mary Smith", Email: "mary@example.net"}},
		date:      time.Date(1997, 11, 21, 9, 55, 6, 0, time.FixedZone("", -6*3600)),
		messageID: "1234@local.machine.example",
		subject:   "Saying Hello", text: "This is a message just to say hello.\nSo, \"Hello\".\n",
	},
	{
		name: "rfc5322-a4", section: "A.4 messages with trace fields",
		from:      store.Address{Name: "John Doe", Email: "jdoe@node.example"},
		to:        []store.Address{{Name: "Mary Smith", Email: "mary@example.net"}},
		date:      time.Date(1997, 11, 21, 9, 55, 6, 0, time.FixedZone("", -6*3600)),
		messageID: "1234@local.node.example",
		subject:   "Saying Hello", text: "This is a message just to say hello.\nSo, \"Hello\".\n",
	},
	{
		name: "rfc5322-a5", section: "A.5 white space, comments, and other oddities",
		from: store.Address{Name: "Pete", Email: "pete@silly.test"},
		to: []store.Address{{Name: "Chris Jones", Email: "c@public.example", Group: "A Group"},
			{Email: "joe@example.org", Group: "A Group"}, {Name: "John", Email: "jdoe@one.test", Group: "A Group"}},
		// Cc: (Empty list)(start)Hidden recipients  :(nobody(that I know))  ; is an empty group.
		date:      time.Date(1969, 2, 13, 23, 32, 0, 0, time.FixedZone("", -(3*3600+30*60))),
		messageID: "testabcd.1234@silly.test",
		text:      "Testing.\n",
	},
	{
		name: "rfc5322-a6-1", section: "A.6.1 obsolete addressing",
		from:      store.Address{Name: "Joe Q. Public", Email: "john.q.public@example.com"},
		to:        []store.Address{{Name: "Mary Smith", Email: "mary@example.net"}, {Email: "jdoe@test.example"}},
		date:      time.Date(2003, 7, 1, 10, 52, 37, 0, time.FixedZone("", 2*3600)),
		messageID: "5678.21-Nov-1997@example.com",
		text:      "Hi everyone.\n",
	},
	{
		name: "rfc5322-a6-2", section: "A.6.2 obsolete dates",
		from:      store.Address{Name: "John Doe", Email: "jdoe@machine.example"},
		to:        []store.Address{{Name: "Mary Smith", Email: "mary@example.net"}},
		date:      time.Date(1997, 11, 21, 9, 55, 6, 0, time.UTC),
		messageID: "1234@local.machine.example",
		subject:   "Saying Hello", text: "This is a message just to say hello.\nSo, \"Hello\".\n",
	},
	{
		name: "rfc5322-a6-3", section: "A.6.3 obsolete white space and comments",
		from:      store.Address{Name: "John Doe", Email: "jdoe@machine.example"},
		to:        []store.Address{{Name: "Mary Smith", Email: "mary@example.net"}},
		date:      time.Date(1997, 11, 21, 9, 55, 6, 0, time.FixedZone("", -6*3600)),
		messageID: "1234@local.machine.example",
		subject:   "Saying Hello", text: "This is a message just to say hello.\nSo, \"Hello\".\n",
	},
}

func TestRFC5322AppendixA(t *testing.T) {
	for _, tc := range appendixA {
		t.Run(tc.name, func(t *testing.T) {
			m, s := parseTestdata(t, tc.name, ParseOptions{})
			eq(t, tc.section+": From", m.From, tc.from)
			eq(t, tc.section+": Sender", m.Sender, tc.sender)
			eq(t, tc.section+": To", fmt.Sprint(m.To), fmt.Sprint(tc.to))
			eq(t, tc.section+": Cc", fmt.Sprint(m.Cc), fmt.Sprint(tc.cc))
			eq(t, tc.section+": Reply-To", fmt.Sprint(m.ReplyTo), fmt.Sprint(tc.replyTo))
			if !m.Date.Equal(tc.date) || m.Date.Format("-0700") != tc.date.Format("-0700") {
				t.Errorf("%s: Date = %v, want %v", tc.section, m.Date, tc.date)
			}
			eq(t, tc.section+": Message-ID", m.MessageID, tc.messageID)
			eq(t, tc.section+": In-Reply-To", fmt.Sprint(m.InReplyTo), fmt.Sprint(tc.inReplyTo))
			eq(t, tc.section+": References", fmt.Sprint(m.References), fmt.Sprint(tc.refs))
			eq(t, tc.section+": Subject", m.Subject, tc.subject)
			eq(t, tc.section+": Text", m.Text, tc.text)
			if len(m.Warnings) > 0 {
				t.Errorf("%s: warnings %q", tc.section, m.Warnings)
			}
			golden(t, tc.name, m, s)
		})
	}
}

// TestParseObsoleteDates checks the date rules of RFC 5322 sections 3.3 and 4.3.
func TestParseObsoleteDates(t *testing.T) {
	est := time.FixedZone("", -5*3600)
	for _, tc := range []struct {
		date string
		want time.Time // zero: no date
	}{
		{"21 Nov 97 09:55:06 GMT", time.Date(1997, 11, 21, 9, 55, 6, 0, time.UTC)},
		{"1 Jan 49 00:00 +0000", time.Date(2049, 1, 1, 0, 0, 0, 0, time.UTC)}, // 00-49: 2000 plus the year
		{"1 Jan 50 00:00 +0000", time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC)}, // 50-99: 1900 plus the year
		{"1 Jan 69 00:00 +0000", time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"1 Jan 103 00:00 +0000", time.Date(2003, 1, 1, 0, 0, 0, 0, time.UTC)}, // three digits: 1900 plus the year
		{"Fri, 21 Nov 1997 09:55:06 EST", time.Date(1997, 11, 21, 9, 55, 6, 0, est)},
		{"Fri, 21 Nov 1997 09:55:06 edt", time.Date(1997, 11, 21, 9, 55, 6, 0, time.FixedZone("", -4*3600))},
		{"Fri, 21 Nov 1997 09:55:06 PST", time.Date(1997, 11, 21, 9, 55, 6, 0, time.FixedZone("", -8*3600))},
		{"Fri, 21 Nov 1997 09:55:06 UT", time.Date(1997, 11, 21, 9, 55, 6, 0, time.UTC)},
		{"Fri, 21 Nov 1997 09:55:06 A", time.Date(1997, 11, 21, 9, 55, 6, 0, time.UTC)},   // military zones are -0000
		{"Fri, 21 Nov 1997 09:55:06 XYZ", time.Date(1997, 11, 21, 9, 55, 6, 0, time.UTC)}, // so are unknown names
		{"Thu,\r\n      13\r\n        Feb\r\n          1969\r\n      23:32\r\n               -0330 (Newfoundland Time)",
			time.Date(1969, 2, 13, 23, 32, 0, 0, time.FixedZone("", -(3*3600+30*60)))},
		{"(a comment first) Fri, 21 Nov 1997 09 : 55 : 06 (and between) -0600 (and after)",
			time.Date(1997, 11, 21, 9, 55, 6, 0, time.FixedZone("", -6*3600))},
		{"Fri, 21 Nov 1997 09:55:06 -0600 (unclosed comment", time.Date(1997, 11, 21, 9, 55, 6, 0, time.FixedZone("", -6*3600))},
		{"Sat, 31 Feb 2026 10:00:00 +0100", time.Time{}},
		{"Fri, 21 Nov 1997 24:00:00 +0100", time.Time{}},
	} {
		m, err := Parse(strings.NewReader("From: a@example.org\r\nDate: "+tc.date+"\r\n\r\nx"), newMemSink(), ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Date; !got.Equal(tc.want) || !got.IsZero() && got.Format("-0700") != tc.want.Format("-0700") {
			t.Errorf("Date: %q = %v, want %v", tc.date, got, tc.want)
		}
		if tc.want.IsZero() != hasWarning(m, "unparseable Date") {
			t.Errorf("Date: %q: warnings %q", tc.date, m.Warnings)
		}
	}
}

func TestParseAddressListRFC5322(t *testing.T) {
	for _, tc := range []struct{ field, want string }{
		{`A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;`,
			`[{Ed Jones c@a.test A Group} { joe@where.test A Group} {John jdoe@one.test A Group}]`},
		{`Undisclosed recipients:;`, `[]`},
		{`Undisclosed recipients:;, after@example.org`, `[{ after@example.org }]`},
		{`Team: a@example.org`, `[{ a@example.org Team}]`}, // the closing ";" missing at the end
		{`pete(his account)@silly.test(his host)`, `[{his host pete@silly.test }]`},
		{`Pete(A nice \) chap) <pete(his account)@silly.test(his host)>`, `[{Pete pete@silly.test }]`},
		{`"Joe Q. Public" <john.q.public@example.com>`, `[{Joe Q. Public john.q.public@example.com }]`},
		{`Joe Q. Public <john.q.public@example.com>`, `[{Joe Q. Public john.q.public@example.com }]`},
		{`Mary Smith <@node.test,@other.test:mary@example.net>`, `[{Mary Smith mary@example.net }]`},
		{`John Doe <jdoe@machine(comment).  example>`, `[{John Doe jdoe@machine.example }]`},
		{`, , jdoe@test  . example,`, `[{ jdoe@test.example }]`},
		{`"quoted local"@example.org`, `[{ "quoted local"@example.org }]`},
		{`"a\"b"@example.org`, `[{ "a\"b"@example.org }]`},
		{`x@[192.0.2.1]`, `[{ x@[192.0.2.1] }]`},
		{`=?utf-8?q?Gr=C3=BCn?= Team: a@example.org;`, `[{ a@example.org Grün Team}]`},
	} {
		m, err := Parse(strings.NewReader("From: a@example.org\r\nTo: "+tc.field+"\r\n\r\nx"), newMemSink(), ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := "[]"
		if len(m.To) > 0 {
			got = fmt.Sprint(m.To)
		}
		eq(t, tc.field, got, tc.want)
		if len(m.Warnings) > 0 {
			t.Errorf("%s: warnings %q", tc.field, m.Warnings)
		}
	}
}
