package desk

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"ticketd/config/configtest"
	"ticketd/mail"
)

// routeTOML adds to the desk tests' configuration a second mailbox (shop),
// three queues with purposes of their own, a hold for billing's tickets,
// and routing rules.
const routeTOML = `
[[queue]]
name = "support"
purpose = "support"
response_time = "1d"

[[queue]]
name = "billing"
purpose = "invoices"
response_time = "2d"
supervisors = ["carol@example.com"]

[[queue]]
name = "partners"
purpose = "support"
response_time = "4h"

[[mailbox]]
name = "support"
address = "support@example.com"
host = "127.0.0.1"
port = 1
tls = "none"
username = "support"
password_file = "imap.pass"
queue = "support"

[[mailbox]]
name = "shop"
address = "shop@example.com"
host = "127.0.0.1"
port = 1
tls = "none"
username = "shop"
password_file = "imap.pass"
queue = "partners"

[[purpose]]
name = "support"
description = { de = "Bearbeitung Ihrer Anfrage", en = "Handling your request" }
legal_basis = "contract"
retention = "2y"
recipients = ["Example Hosting GmbH (mail hosting, processor)"]
transfers = []
required = { de = "Ohne Ihre Adresse können wir nicht antworten.", en = "Without your address we cannot answer." }

[[purpose]]
name = "invoices"
description = { de = "Rechnungen", en = "Invoices" }
legal_basis = "legal_obligation"
retention = "10y"
recipients = ["Steuerberatung Beispiel"]
transfers = []
required = { de = "Gesetzlich vorgeschrieben.", en = "Required by law." }

[[hold]]
name = "invoice"
duration = "10y"
queues = ["billing"]

[[route]]
queue = "partners"
mailbox = "support"
sender_domain = ["partner.example"]

[[route]]
queue = "billing"
to = ["billing@example.com", "support+billing@example.com"]

[[route]]
queue = "billing"
subject = ["rechnung*", "invoice"]

[[route]]
queue = "billing"
body = ["Rückerstattung"]
`

// newRouteDesk is a desk over a fresh store with routeTOML.
func newRouteDesk(t *testing.T) *fileDesk {
	t.Helper()
	cfg := configtest.Parse(t, fmt.Sprintf(testTOML, "127.0.0.1", 1), routeTOML)
	cfg.Server.DataDir, cfg.Server.MasterKeyFile = t.TempDir(), filepath.Join(t.TempDir(), "master.key")
	return openFileDesk(t, cfg)
}

// routeMail is a mail with the given header fields (From, To, Subject, ...
// as "Name: value" lines) and body.
func routeMail(id, header, body string) []byte {
	return []byte("Message-ID: <" + id + ">\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n" +
		strings.ReplaceAll(strings.TrimSpace(header), "\n", "\r\n") +
		"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n")
}

func (fd *fileDesk) ingestInto(mailbox string, raw []byte) Outcome {
	fd.t.Helper()
	f, err := mail.ReadFetched(bytes.NewReader(raw), fd.t.TempDir(), 1<<20)
	if err != nil {
		fd.t.Fatal(err)
	}
	out, err := fd.d.Ingest(context.Background(), f, mailbox, false)
	if err != nil {
		fd.t.Fatal(err)
	}
	return out
}

func TestNewTicketsAreRouted(t *testing.T) {
	fd := newRouteDesk(t)
	const from = "From: Erika Mustermann <erika@example.org>\n"
	for _, tc := range []struct {
		name, mailbox, header, body string
		queue, purpose, routedBy    string
	}{
		{"no rule: the mailbox's queue", "support", from + "To: support@example.com\nSubject: Hallo", "Guten Tag",
			"support", "support", "no route matched: the queue of mailbox support"},
		{"no rule, other mailbox", "shop", from + "To: shop@example.com\nSubject: Hallo", "Guten Tag",
			"partners", "support", "no route matched: the queue of mailbox shop"},
		{"ingest without mailbox", "", from + "To: support@example.com\nSubject: Hallo", "Guten Tag",
			"support", "support", "no route matched: the first queue"},
		{"alias in To, other case", "support", from + "To: Buchhaltung <BILLING@Example.COM>\nSubject: Frage", "x",
			"billing", "invoices", `route[2]: to "billing@example.com"`},
		{"alias in Cc", "support", from + "To: support@example.com\nCc: billing@example.com\nSubject: Frage", "x",
			"billing", "invoices", `route[2]: to "billing@example.com"`},
		{"plus-address the server recorded", "support", from + "To: support@example.com\nDelivered-To: Support+Billing@example.com\nSubject: Frage", "x",
			"billing", "invoices", `route[2]: to "support+billing@example.com"`},
		{"Bcc seen in X-Original-To", "support", from + "To: someone@example.net\nX-Original-To: <billing@example.com>\nSubject: Frage", "x",
			"billing", "invoices", `route[2]: to "billing@example.com"`},
		{"another plus-address is no match", "support", from + "To: support+sales@example.com\nSubject: Frage", "x",
			"support", "support", "no route matched: the queue of mailbox support"},
		{"subject keyword with umlaut and case", "support", from + "To: support@example.com\nSubject: =?utf-8?q?Ihre_RECHNUNGSNUMMER_f=C3=BCr_M=C3=A4rz?=", "x",
			"billing", "invoices", `route[3]: subject "rechnung*"`},
		{"subject keyword is a whole word", "support", from + "To: support@example.com\nSubject: Berechnung", "x",
			"support", "support", "no route matched: the queue of mailbox support"},
		{"body keyword, decomposed umlaut", "support", from + "To: support@example.com\nSubject: Frage", "Ich bitte um RU\u0308CKERSTATTUNG.",
			"billing", "invoices", `route[4]: body "Rückerstattung"`},
		{"first match wins", "support", "From: p@eu.partner.example\nTo: billing@example.com\nSubject: invoice", "x",
			"partners", "support", `route[1]: sender_domain "partner.example"`},
		{"a rule of one mailbox only", "shop", "From: p@partner.example\nTo: shop@example.com\nSubject: invoice", "x",
			"billing", "invoices", `route[3]: subject "invoice"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := fd.ingestInto(tc.mailbox, routeMail(strings.ReplaceAll(tc.name, " ", ".")+"@example.org", tc.header, tc.body))
			if !out.NewTicket {
				t.Fatalf("outcome %+v, want a new ticket", out)
			}
			tk := fd.ticket(out.Ticket)
			if tk.Queue != tc.queue || tk.Purpose != tc.purpose || tk.RoutedBy != tc.routedBy {
				t.Errorf("queue %q, purpose %q, routed by %q; want %q, %q, %q", tk.Queue, tk.Purpose, tk.RoutedBy,
					tc.queue, tc.purpose, tc.routedBy)
			}
			if held := len(tk.Holds) > 0; held != (tc.queue == "billing") {
				t.Errorf("holds %+v: billing's hold rule follows the routed queue", tk.Holds)
			}
			v, err := fd.d.ShowTicket(out.Ticket)
			if err != nil || v.RoutedBy != tc.routedBy {
				t.Errorf("ShowTicket: routed by %q, %v", v.RoutedBy, err)
			}
		})
	}
}

// TestReplyKeepsItsQueue: a reply that threads into a ticket never moves
// it, whatever the rules would say of it as a new mail.
func TestReplyKeepsItsQueue(t *testing.T) {
	fd := newRouteDesk(t)
	first := fd.ingestInto("support", routeMail("q1@example.org", "From: erika@example.org\nTo: support@example.com\nSubject: Frage", "Hallo"))
	reply := fd.ingestInto("support", routeMail("q2@example.org",
		"From: erika@example.org\nTo: billing@example.com\nIn-Reply-To: <q1@example.org>\nSubject: Re: Frage zur Rechnung", "Rückerstattung"))
	if reply.NewTicket || reply.Ticket != first.Ticket {
		t.Fatalf("reply %+v did not thread into ticket %d", reply, first.Ticket)
	}
	if tk := fd.ticket(first.Ticket); tk.Queue != "support" || tk.RoutedBy != "no route matched: the queue of mailbox support" {
		t.Errorf("after the reply: queue %q, routed by %q", tk.Queue, tk.RoutedBy)
	}
}

// TestRoutedOverIMAP: mail fetched by the mailbox supervisor is routed by
// the addresses its server recorded, a plus-address among them.
func TestRoutedOverIMAP(t *testing.T) {
	acct := server(t)
	host, port := splitAddr(t, acct.Addr)
	cfg := configtest.Parse(t, fmt.Sprintf(testTOML, host, port), `
[[queue]]
name = "support"
purpose = "support"
response_time = "1d"

[[queue]]
name = "billing"
purpose = "support"
response_time = "2d"

[[route]]
queue = "billing"
to = ["support+billing@example.com"]
`)
	cfg.Server.DataDir, cfg.Server.MasterKeyFile = t.TempDir(), filepath.Join(t.TempDir(), "master.key")
	cfg.Mailboxes[0].Username, cfg.Mailboxes[0].Password = acct.Username, acct.Password
	h := &harness{t: t, cfg: cfg, acct: acct}
	acct.Append(t, "INBOX", routeMail("i1@example.org", "From: erika@example.org\nTo: support@example.com\nSubject: Hallo", "x"))
	acct.Append(t, "INBOX", routeMail("i2@example.org",
		"From: erika@example.org\nDelivered-To: support+billing@example.com\nTo: support+billing@example.com\nSubject: Hallo", "x"))
	h.start()
	h.waitMessages(2)
	got := map[string]string{}
	for _, tk := range h.tickets() {
		got[tk.Origin.MessageID] = tk.Queue + " / " + tk.RoutedBy
	}
	want := map[string]string{
		"i1@example.org": "support / no route matched: the queue of mailbox support",
		"i2@example.org": `billing / route[1]: to "support+billing@example.com"`,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("tickets: %v\nwant %v", got, want)
	}
}
