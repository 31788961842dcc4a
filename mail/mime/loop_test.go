package mime

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"ticketd/store"
)

// loopSink is an in-memory BlobSink for the loop tests.
type loopSink struct{ blobs map[string][]byte }

func (s *loopSink) Put(r io.Reader) (string, int64, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return "", 0, err
	}
	sum := sha256.Sum256(b)
	key := hex.EncodeToString(sum[:])
	if s.blobs == nil {
		s.blobs = map[string][]byte{}
	}
	s.blobs[key] = b
	return key, int64(len(b)), nil
}

// loopPolicy is ticketd at example.com: the SMTP from and two mailboxes,
// one of them configured with a display name.
var loopPolicy = &AutoReplyPolicy{OwnAddresses: []string{
	"tickets-smtp@mail.example.com",
	"support@example.com",
	"Example Help <help@example.com>",
}}

func parseLoopMail(t *testing.T, raw []byte, opts ParseOptions) *Message {
	t.Helper()
	m, err := Parse(bytes.NewReader(raw), &loopSink{}, opts)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return m
}

// Reasons as Suppress gives them.
const (
	rTicketd      = "sent by ticketd itself (X-Ticketd-Loop)"
	rOwn          = "from our own address"
	rOwnReplyTo   = "reply address is our own (Reply-To)"
	rBounce       = "bounce (multipart/report delivery-status)"
	rReadReceipt  = "read receipt (multipart/report disposition-notification)"
	rAbuse        = "abuse report (multipart/report feedback-report)"
	rReport       = "report (multipart/report)"
	rFailed       = "bounce (X-Failed-Recipients)"
	rDaemon       = "sender MAILER-DAEMON"
	rPostmaster   = "sender postmaster"
	rReplied      = "Auto-Submitted: auto-replied"
	rGenerated    = "Auto-Submitted: auto-generated"
	rNotified     = "Auto-Submitted: auto-notified"
	rASOther      = "Auto-Submitted (other keyword)"
	rInboxRule    = "Exchange inbox rule (X-MS-Exchange-Inbox-Rules-Loop)"
	rXAutoreply   = "auto reply (X-Autoreply)"
	rXAutorespond = "auto reply (X-Autorespond)"
	rARSAll       = "X-Auto-Response-Suppress: All"
	rARSAutoReply = "X-Auto-Response-Suppress: AutoReply"
	rARSOOF       = "X-Auto-Response-Suppress: OOF"
	rXLoop        = "loop marker of another system (X-Loop)"
	rListID       = "mailing list (List-Id)"
	rListUnsub    = "mailing list (List-Unsubscribe)"
	rListPost     = "mailing list (List-Post)"
	rBulk         = "Precedence: bulk"
	rJunk         = "Precedence: junk"
	rList         = "Precedence: list"
	rAutoReplyPr  = "Precedence: auto_reply"
	rEmptyRP      = "empty Return-Path"
	rNoReply      = "no-reply sender"
)

// TestSuppressSamples runs Suppress on mails as real systems send them
// (testdata/loop/*.eml), parsed the way ticketd parses them.
func TestSuppressSamples(t *testing.T) {
	samples := []struct {
		file, want string
	}{
		// Automatic replies.
		{"exchange-oof-auto-submitted.eml", rReplied},   // Exchange Online OOF: Auto-Submitted is the only loop signal
		{"exchange-oof-suppress-all.eml", rARSAll},      // Exchange on-premises OOF without Auto-Submitted
		{"exchange-inbox-rule-forward.eml", rInboxRule}, // an Outlook rule forwarding our acknowledgement back to us
		{"gmail-vacation.eml", rReplied},                // Gmail sends Auto-Submitted, no Precedence
		{"ticketd-ack-other-instance.eml", rTicketd},    // another ticketd's acknowledgement, as Compose writes it
		{"ticketd-loop-header-only.eml", rTicketd},      // the same without Auto-Submitted and X-Auto-Response-Suppress
		{"own-address.eml", rOwn},                       // From: Support <SUPPORT@example.com>
		{"postfix-bounce.eml", rBounce},                 // also MAILER-DAEMON, Return-Path <> and Auto-Submitted
		{"exchange-ndr.eml", rBounce},                   // From postmaster, Return-Path <>, CRLF line ends
		{"exim-bounce.eml", rFailed},                    // old-style plain-text bounce
		{"thunderbird-read-receipt.eml", rReadReceipt},  // RFC 8098 MDN from a person's own address
		{"mailman-list.eml", rListID},                   // also Precedence: list, List-Unsubscribe, List-Post
		{"newsletter.eml", rListUnsub},                  // List-Unsubscribe only, normal From
		{"github-noreply.eml", rNoReply},                // From: GitHub <noreply@github.com>
		{"customer-plain.eml", ""},                      // no Return-Path at all (ingested from a file)
		{"customer-auto-submitted-no.eml", ""},          // Auto-Submitted: no
		{"customer-return-path.eml", ""},                // Gmail, Return-Path of a real address
		{"customer-replyguy.eml", ""},                   // replyguy@: "reply" in a word is not a no-reply form
		{"customer-noreplyhero.eml", ""},                // noreplyhero@: neither is "noreply" inside a longer word
		{"apple-mail-html.eml", ""},                     // HTML mail from Apple Mail
		{"outlook-customer.eml", ""},                    // Outlook/Exchange Online mail full of X-MS headers
		{"customer-reply-to-ack.eml", ""},               // a person answering our acknowledgement (iPhone)
	}
	listed := map[string]bool{}
	for _, s := range samples {
		listed[s.file] = true
		t.Run(strings.TrimSuffix(s.file, ".eml"), func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", "loop", s.file))
			if err != nil {
				t.Fatal(err)
			}
			m := parseLoopMail(t, raw, ParseOptions{KeepHeaders: KeepHeaders})
			if got := loopPolicy.Suppress(m); got != s.want {
				t.Errorf("Suppress = %q, want %q", got, s.want)
			}
		})
	}
	files, err := filepath.Glob(filepath.Join("testdata", "loop", "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !listed[filepath.Base(f)] {
			t.Errorf("%s has no expectation in TestSuppressSamples", f)
		}
	}
}

// loopMail builds a small mail from header lines. From, To, Subject, Date
// and Content-Type get defaults (a customer writing plain text) unless a
// line sets them.
func loopMail(lines ...string) []byte {
	var b strings.Builder
	set := map[string]bool{}
	for _, l := range lines {
		if k, _, ok := strings.Cut(l, ":"); ok {
			set[textproto.CanonicalMIMEHeaderKey(k)] = true
		}
		b.WriteString(l + "\r\n")
	}
	for _, d := range []struct{ k, v string }{
		{"From", "Chris Customer <chris@customer.example>"},
		{"To", "support@example.com"},
		{"Subject", "My order"},
		{"Date", "Tue, 24 Mar 2026 10:00:00 +0100"},
		{"Content-Type", "text/plain; charset=utf-8"},
	} {
		if !set[d.k] {
			b.WriteString(d.k + ": " + d.v + "\r\n")
		}
	}
	b.WriteString("\r\n")
	if strings.Contains(strings.Join(lines, "\n"), "boundary=b") {
		b.WriteString("--b\r\nContent-Type: text/plain\r\n\r\nReport.\r\n--b--\r\n")
	} else {
		b.WriteString("Hello.\r\n")
	}
	return []byte(b.String())
}

// TestSuppressRules checks each rule on its own, the parsing of the header
// values, and the order of the rules.
func TestSuppressRules(t *testing.T) {
	cases := []struct {
		name  string
		lines []string
		want  string
	}{
		{"plain customer mail", nil, ""},

		// 1. Ourselves.
		{"loop header", []string{"X-Ticketd-Loop: 7f3c9a2e41d84b0c"}, rTicketd},
		{"loop header of another instance", []string{"X-Ticketd-Loop: b41e07c9d2a35f68"}, rTicketd},
		{"loop header empty", []string{"X-Ticketd-Loop:"}, rTicketd},
		{"loop header lower case", []string{"x-ticketd-loop: 1"}, rTicketd},
		{"loop header beats everything", []string{"X-Ticketd-Loop: 1", "Content-Type: multipart/report; report-type=delivery-status; boundary=b", "From: MAILER-DAEMON@mx.example.net", "List-Id: <l.example>"}, rTicketd},
		{"own From", []string{"From: support@example.com"}, rOwn},
		{"own From upper case", []string{"From: Support <SUPPORT@EXAMPLE.COM>"}, rOwn},
		{"own SMTP from", []string{"From: tickets-smtp@mail.example.com"}, rOwn},
		{"own address configured with a name", []string{"From: help@example.com"}, rOwn},
		{"own Reply-To", []string{"Reply-To: Support <support@example.com>"}, rOwnReplyTo},
		{"own second Reply-To", []string{"Reply-To: chris@customer.example, support@example.com"}, rOwnReplyTo},
		{"own address only in Sender", []string{"Sender: support@example.com"}, ""},             // a web form sending on behalf of the customer
		{"own address only in Return-Path", []string{"Return-Path: <support@example.com>"}, ""}, // same
		{"own address in To", []string{"To: support@example.com, help@example.com"}, ""},
		{"other address at our domain", []string{"From: sales@example.com"}, ""},

		// 2. Reports.
		{"delivery-status report", []string{"Content-Type: multipart/report; report-type=delivery-status; boundary=b"}, rBounce},
		{"report-type in upper case", []string{"Content-Type: Multipart/Report; report-type=\"Delivery-Status\"; boundary=b"}, rBounce},
		{"read receipt", []string{"Content-Type: multipart/report; report-type=disposition-notification; boundary=b"}, rReadReceipt},
		{"abuse report", []string{"Content-Type: multipart/report; report-type=feedback-report; boundary=b"}, rAbuse},
		{"report without report-type", []string{"Content-Type: multipart/report; boundary=b"}, rReport},
		{"report of another type", []string{"Content-Type: multipart/report; report-type=x-custom; boundary=b"}, rReport},
		{"bounce beats Auto-Submitted and Return-Path", []string{"Return-Path: <>", "Auto-Submitted: auto-replied", "From: MAILER-DAEMON@mx.example.net", "Content-Type: multipart/report; report-type=delivery-status; boundary=b"}, rBounce},
		{"X-Failed-Recipients", []string{"X-Failed-Recipients: nobody@customer.example"}, rFailed},
		{"X-Failed-Recipients beats MAILER-DAEMON", []string{"X-Failed-Recipients: nobody@customer.example", "From: Mailer-Daemon@mx.example.net"}, rFailed},

		// 3. Mail system senders.
		{"From MAILER-DAEMON", []string{"From: MAILER-DAEMON@mx.example.net (Mail Delivery System)"}, rDaemon},
		{"From mailer-daemon lower case", []string{"From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>"}, rDaemon},
		{"From postmaster", []string{"From: postmaster@customer.example"}, rPostmaster},
		{"From Postmaster capitalised", []string{"From: Postmaster <Postmaster@customer.example>"}, rPostmaster},
		{"Sender MAILER-DAEMON", []string{"Sender: MAILER-DAEMON@mx.example.net"}, rDaemon},
		{"Reply-To postmaster", []string{"Reply-To: postmaster@customer.example"}, rPostmaster},
		{"Return-Path MAILER-DAEMON", []string{"Return-Path: <MAILER-DAEMON@mx.example.net>"}, rDaemon},
		{"Return-Path MAILER-DAEMON without domain", []string{"Return-Path: <MAILER-DAEMON>"}, rDaemon},
		{"MAILER-DAEMON beats empty Return-Path", []string{"Return-Path: <>", "From: MAILER-DAEMON@mx.example.net"}, rDaemon},
		{"MAILER-DAEMON beats Auto-Submitted", []string{"Auto-Submitted: auto-replied", "From: MAILER-DAEMON@mx.example.net"}, rDaemon},
		{"postmaster only in the domain", []string{"From: chris@postmaster.example"}, ""},
		{"mailer-daemon as part of a word", []string{"From: mailer-daemon-fan@customer.example"}, ""},

		// 4. Auto-Submitted (RFC 3834 §5).
		{"auto-replied", []string{"Auto-Submitted: auto-replied"}, rReplied},
		{"auto-generated", []string{"Auto-Submitted: auto-generated"}, rGenerated},
		{"auto-notified", []string{"Auto-Submitted: auto-notified"}, rNotified},
		{"keyword case and parameters", []string{`Auto-Submitted: Auto-Replied; owner-email="jane@customer.example"`}, rReplied},
		{"keyword with comment", []string{"Auto-Submitted: auto-generated (cron job; nightly)"}, rGenerated},
		{"comment before keyword", []string{"Auto-Submitted: (vacation) auto-replied"}, rReplied},
		{"unknown keyword", []string{"Auto-Submitted: auto-forwarded"}, rASOther},
		{"lower-case field name", []string{"auto-submitted: auto-replied"}, rReplied},
		{"no", []string{"Auto-Submitted: no"}, ""},
		{"No with comment", []string{"Auto-Submitted: No (sent by a person)"}, ""},
		{"no with parameter", []string{"Auto-Submitted: no; x=1"}, ""},
		{"only a comment", []string{"Auto-Submitted: (no)"}, ""},
		{"empty", []string{"Auto-Submitted:"}, ""},
		{"second field counts", []string{"Auto-Submitted: no", "Auto-Submitted: auto-generated"}, rGenerated},
		{"Auto-Submitted beats Precedence and lists", []string{"Precedence: bulk", "List-Id: <l.example>", "Auto-Submitted: auto-generated"}, rGenerated},

		// 5. Vendors.
		{"Exchange inbox rule", []string{"X-MS-Exchange-Inbox-Rules-Loop: jane@customer.example"}, rInboxRule},
		{"Exchange inbox rule lower case", []string{"x-ms-exchange-inbox-rules-loop: jane@customer.example"}, rInboxRule},
		{"X-Autoreply", []string{"X-Autoreply: yes"}, rXAutoreply},
		{"X-Autorespond", []string{"X-Autorespond: Out of office"}, rXAutorespond},
		{"X-Auto-Response-Suppress All", []string{"X-Auto-Response-Suppress: All"}, rARSAll},
		{"X-Auto-Response-Suppress all lower case", []string{"x-auto-response-suppress: all"}, rARSAll},
		{"X-Auto-Response-Suppress list", []string{"X-Auto-Response-Suppress: DR, RN, NRN, OOF, AutoReply"}, rARSAutoReply},
		{"X-Auto-Response-Suppress OOF", []string{"X-Auto-Response-Suppress: OOF"}, rARSOOF},
		{"X-Auto-Response-Suppress without spaces", []string{"X-Auto-Response-Suppress: DR,oof"}, rARSOOF},
		{"X-Auto-Response-Suppress reports only", []string{"X-Auto-Response-Suppress: DR, NDR, RN, NRN"}, ""},
		{"X-Auto-Response-Suppress None", []string{"X-Auto-Response-Suppress: None"}, ""},
		{"X-Loop", []string{"X-Loop: helpdesk@other.example"}, rXLoop},
		{"X-Loop beats lists", []string{"List-Id: <l.example>", "X-Loop: helpdesk@other.example"}, rXLoop},
		{"other X-MS headers are no signal", []string{"X-MS-Has-Attach:", "X-MS-TNEF-Correlator:", "x-ms-exchange-generated-message-source: Outlook"}, ""},

		// 7. Lists and bulk mail.
		{"List-Id", []string{"List-Id: Users <users.lists.example.org>"}, rListID},
		{"List-Id empty", []string{"List-ID:"}, rListID},
		{"List-Unsubscribe", []string{"List-Unsubscribe: <https://shop.example/u/1>"}, rListUnsub},
		{"List-Post", []string{"List-Post: <mailto:users@lists.example.org>"}, rListPost},
		{"List-Id beats Precedence", []string{"Precedence: list", "List-Unsubscribe: <mailto:u@l.example>", "List-Id: <l.example>"}, rListID},
		{"Precedence beats List-Unsubscribe", []string{"List-Unsubscribe: <mailto:u@l.example>", "Precedence: bulk"}, rBulk},
		{"Precedence bulk", []string{"Precedence: bulk"}, rBulk},
		{"Precedence Bulk capitalised", []string{"Precedence: Bulk"}, rBulk},
		{"Precedence junk", []string{"Precedence: junk"}, rJunk},
		{"Precedence list", []string{"Precedence: list"}, rList},
		{"Precedence auto_reply", []string{"Precedence: auto_reply"}, rAutoReplyPr},
		{"Precedence with comment", []string{"Precedence: bulk (newsletter)"}, rBulk},
		{"Precedence second field", []string{"Precedence: normal", "Precedence: bulk"}, rBulk},
		{"Precedence normal", []string{"Precedence: normal"}, ""},
		{"Precedence first-class", []string{"Precedence: first-class"}, ""},
		{"List-Help alone is no signal", []string{"List-Help: <mailto:l-request@l.example>"}, ""},

		// 8. Return-Path.
		{"Return-Path <>", []string{"Return-Path: <>"}, rEmptyRP},
		{"Return-Path < >", []string{"Return-Path: < >"}, rEmptyRP},
		{"Return-Path <> with comment", []string{"Return-Path: <> (null sender)"}, rEmptyRP},
		{"Return-Path empty field", []string{"Return-Path:"}, rEmptyRP},
		{"Return-Path lower case", []string{"return-path: <>"}, rEmptyRP},
		{"Return-Path topmost counts", []string{"Return-Path: <chris@customer.example>", "Return-Path: <>"}, ""},
		{"Return-Path real address", []string{"Return-Path: <chris@customer.example>"}, ""},
		{"Return-Path source route", []string{"Return-Path: <@relay.example:chris@customer.example>"}, ""},
		{"no Return-Path", []string{}, ""},
		{"empty Return-Path beats no-reply", []string{"Return-Path: <>", "From: noreply@shop.example"}, rEmptyRP},

		// 9. No-reply senders.
		{"noreply", []string{"From: GitHub <noreply@github.com>"}, rNoReply},
		{"no-reply", []string{"From: no-reply@accounts.example.com"}, rNoReply},
		{"no_reply", []string{"From: no_reply@shop.example"}, rNoReply},
		{"no.reply", []string{"From: no.reply@shop.example"}, rNoReply},
		{"NoReply capitalised", []string{"From: NoReply@Shop.Example"}, rNoReply},
		{"donotreply", []string{"From: donotreply@bank.example"}, rNoReply},
		{"do-not-reply", []string{"From: Do-Not-Reply@bank.example"}, rNoReply},
		{"do_not_reply", []string{"From: do_not_reply@bank.example"}, rNoReply},
		{"noreply with tag", []string{"From: noreply+xyz@shop.example"}, rNoReply},
		{"no-reply prefix", []string{"From: no-reply-notifications@service.example"}, rNoReply},
		{"noreply suffix", []string{"From: Google Calendar <calendar-noreply@google.com>"}, rNoReply},
		{"bounce", []string{"From: bounce@shop.example"}, rNoReply},
		{"bounces", []string{"From: bounces@shop.example"}, rNoReply},
		{"no-reply Sender", []string{"Sender: no-reply@forms.example"}, rNoReply},
		{"no-reply Reply-To", []string{"Reply-To: noreply@shop.example"}, rNoReply},
		{"VERP Return-Path", []string{"Return-Path: <bounces+848413-a1b2-support=example.com@sgmail.github.com>"}, rNoReply},
		{"VERP Return-Path with dash", []string{"Return-Path: <bounce-mc.us1_1234567.89-support=example.com@mail123.example.net>"}, rNoReply},
		{"replyguy", []string{"From: replyguy@example.org"}, ""},
		{"noreplyhero", []string{"From: noreplyhero@example.net"}, ""},
		{"reply", []string{"From: reply@customer.example"}, ""},
		{"replies", []string{"From: replies@customer.example"}, ""},
		{"bouncer", []string{"From: bouncer@club.example"}, ""},
		{"bounce not first", []string{"From: tom.bounce@customer.example"}, ""},
		{"list bounces address", []string{"Return-Path: <users-bounces+support=example.com@lists.example.org>"}, ""},
		{"noreply only in the domain", []string{"From: chris@noreply.example"}, ""},
		{"no-reply in the display name", []string{"From: \"No Reply\" <chris@customer.example>"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := parseLoopMail(t, loopMail(c.lines...), ParseOptions{KeepHeaders: KeepHeaders})
			if got := loopPolicy.Suppress(m); got != c.want {
				t.Errorf("Suppress = %q, want %q\nheaders: %q", got, c.want, c.lines)
			}
		})
	}
}

// TestLoopKeepHeadersParsed checks that Parse fills Message.Headers with
// every field in KeepHeaders, under its canonical key, whatever the case of
// the field name in the mail and even when the value is empty.
func TestLoopKeepHeadersParsed(t *testing.T) {
	for _, k := range KeepHeaders {
		canon := textproto.CanonicalMIMEHeaderKey(k)
		for _, line := range []string{strings.ToLower(k) + ": x", strings.ToUpper(k) + ":"} {
			m := parseLoopMail(t, loopMail(line), ParseOptions{KeepHeaders: KeepHeaders})
			if _, ok := m.Headers[canon]; !ok {
				t.Errorf("%q: Headers has no %q (keys %v)", line, canon, keysOf(m.Headers))
			}
		}
	}
	if !slices.Contains(KeepHeaders, LoopHeader) {
		t.Errorf("KeepHeaders lacks LoopHeader")
	}
}

func keysOf(h map[string][]string) []string {
	var ks []string
	for k := range h {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// TestSuppressWithoutKeepHeaders documents what Suppress can see in a mail
// parsed without KeepHeaders: the dedicated Message fields, but not the loop
// header and the vendor fields. ticketd always parses with KeepHeaders.
func TestSuppressWithoutKeepHeaders(t *testing.T) {
	cases := []struct {
		lines []string
		want  string
	}{
		{[]string{"Auto-Submitted: auto-replied"}, rReplied},
		{[]string{"Precedence: bulk"}, rBulk},
		{[]string{"List-Id: <l.example>"}, rListID},
		{[]string{"List-Unsubscribe: <mailto:u@l.example>"}, rListUnsub},
		{[]string{"Return-Path: <>"}, rEmptyRP},
		{[]string{"X-Loop: a@b.example"}, rXLoop},
		{[]string{"Content-Type: multipart/report; report-type=delivery-status; boundary=b"}, rBounce},
		{[]string{"From: noreply@shop.example"}, rNoReply},
		{[]string{"Return-Path:"}, ""},                  // an empty field reads like a missing one
		{[]string{"X-Ticketd-Loop: 1"}, ""},             // not visible
		{[]string{"X-Auto-Response-Suppress: All"}, ""}, // not visible
	}
	for _, c := range cases {
		m := parseLoopMail(t, loopMail(c.lines...), ParseOptions{})
		if got := loopPolicy.Suppress(m); got != c.want {
			t.Errorf("%q: Suppress = %q, want %q", c.lines, got, c.want)
		}
	}
}

func TestSuppressNil(t *testing.T) {
	var p *AutoReplyPolicy
	if got := p.Suppress(&Message{From: store.Address{Email: "chris@customer.example"}}); got != "" {
		t.Errorf("nil policy: Suppress = %q", got)
	}
	if got := p.Suppress(nil); got == "" {
		t.Error("nil message not suppressed")
	}
	// An empty From never matches an empty or blank own address.
	blank := &AutoReplyPolicy{OwnAddresses: []string{"", "  "}}
	if got := blank.Suppress(&Message{}); got != "" {
		t.Errorf("blank own address: Suppress = %q", got)
	}
}
