package desk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ticketd/config"
	"ticketd/mail/redact"
	"ticketd/store"
)

// The values the minimisation tests plant, in the forms they are written.
var planted = []string{"4111 1111 1111 1111", "4111111111111111", "5555-5555-5555-4444", "5555555555554444",
	"DE89 3704 0044 0532 0130 00", "DE89370400440532013000", "KD-4711-0815"}

// paymentMail is a customer's mail with a card number in the subject,
// card numbers and an IBAN in the text, and in the HTML one card number as
// text and one split by markup.
func paymentMail(id string) []byte {
	return []byte("Message-ID: <" + id + ">\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n" +
		"From: Erika Mustermann <erika@example.org>\r\nTo: support@example.com\r\n" +
		"Subject: Karte 4111 1111 1111 1111 belastet\r\nX-Secret-Trace: trace-7f3a9\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		"Meine Karte 4111 1111 1111 1111 wurde doppelt belastet, meine zweite 5555-5555-5555-4444 auch.\r\n" +
		"Bitte erstatten Sie auf DE89 3704 0044 0532 0130 00. Kunde KD-4711-0815, Bestellung 100234567.\r\n" +
		"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
		"<p>Meine Karte 4111111111111111 wurde doppelt belastet, meine zweite <b>5555</b>-5555-5555-4444 auch.</p>" +
		"<p>Bitte erstatten Sie auf DE89370400440532013000. Kunde KD-4711-0815, Bestellung 100234567.</p>\r\n" +
		"--b--\r\n")
}

func withRule(c *config.Config) {
	c.Redact = []config.RedactRule{{Name: "customer number", Pattern: `\bKD-\d{4}-\d{4}\b`}}
}

// noPlanted fails when s holds one of the planted values.
func noPlanted(t *testing.T, what, s string) {
	t.Helper()
	for _, v := range planted {
		if strings.Contains(s, v) {
			t.Errorf("%s holds %q:\n%s", what, v, s)
		}
	}
}

func TestCustomerMailIsRedactedBeforeStorage(t *testing.T) {
	fd := newFileDesk(t, withRule)
	out := fd.ingest(paymentMail("pay1@example.org"))
	if !out.NewTicket || !out.AckQueued {
		t.Fatalf("outcome %+v", out)
	}
	tk := fd.ticket(out.Ticket)
	msgs := fd.messages(out.Ticket)
	m := msgs[0]
	noPlanted(t, "ticket subject", tk.Subject)
	noPlanted(t, "message subject", m.Subject)
	noPlanted(t, "text", m.Text)
	noPlanted(t, "HTML", m.HTML)
	if m.Subject != "Karte [redacted: card number] belastet" {
		t.Errorf("subject %q", m.Subject)
	}
	if !strings.Contains(m.Text, "Meine Karte [redacted: card number] wurde") || !strings.Contains(m.Text, "[redacted: IBAN]") ||
		!strings.Contains(m.Text, "Kunde [redacted: customer number], Bestellung 100234567.") {
		t.Errorf("text %q", m.Text)
	}
	// The HTML hides a card number in its markup: it is not stored.
	if m.HTML != "" || !strings.Contains(strings.Join(m.Warnings, "\n"), "HTML body not stored") {
		t.Errorf("HTML %q, warnings %q", m.HTML, m.Warnings)
	}
	want := map[string]int{"card number": 3, "IBAN": 1, "customer number": 1}
	if !maps.Equal(m.Redacted, want) {
		t.Errorf("Redacted %v, want %v", m.Redacted, want)
	}
	// The acknowledgement says so, and repeats none of it.
	ack := string(fd.outbox()[0].Raw)
	noPlanted(t, "acknowledgement", ack)
	if !strings.Contains(ack, "Zahlungsdaten oder andere Daten") || !strings.Contains(ack, "Kartennummer") {
		t.Errorf("acknowledgement lacks the notice:\n%s", ack)
	}
	// Nothing of it in any file of the data directory.
	fd.db.Close()
	scanDataDir(t, fd.d.Config().Server.DataDir, append(planted, "trace-7f3a9"))
}

// scanDataDir fails when a file under dir holds one of values.
func scanDataDir(t *testing.T, dir string, values []string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n++
		for _, v := range values {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("%s holds %q", path, v)
			}
		}
		return nil
	})
	if err != nil || n == 0 {
		t.Fatalf("scan %s: %d files, %v", dir, n, err)
	}
}

func TestHTMLIsRedactedAndKept(t *testing.T) {
	fd := newFileDesk(t, withRule)
	raw := strings.Replace(string(paymentMail("pay2@example.org")), "<b>5555</b>-5555-5555-4444", "5555-5555-5555-4444", 1)
	out := fd.ingest([]byte(raw))
	m := fd.messages(out.Ticket)[0]
	noPlanted(t, "HTML", m.HTML)
	if !strings.Contains(m.HTML, "<p>Meine Karte [redacted: card number] wurde") || len(m.Warnings) != 0 {
		t.Errorf("HTML %q, warnings %q", m.HTML, m.Warnings)
	}
	if want := map[string]int{"card number": 3, "IBAN": 1, "customer number": 1}; !maps.Equal(m.Redacted, want) {
		t.Errorf("Redacted %v, want %v", m.Redacted, want)
	}
}

func TestMailWithoutPaymentDataIsUnchanged(t *testing.T) {
	fd := newFileDesk(t)
	out := fd.ingest(routeMail("plain1@example.org", "From: erika@example.org\nTo: support@example.com\nSubject: Bestellung 100234567",
		"Rufen Sie mich an: +49 30 1234567, Bestellung 100234567 vom 07.12.2026."))
	m := fd.messages(out.Ticket)[0]
	if m.Redacted != nil || m.Subject != "Bestellung 100234567" || !strings.Contains(m.Text, "+49 30 1234567, Bestellung 100234567 vom 07.12.2026.") {
		t.Errorf("message %+v", m)
	}
	if ack := string(fd.outbox()[0].Raw); strings.Contains(ack, "Zahlungsdaten") {
		t.Errorf("acknowledgement has the notice:\n%s", ack)
	}
}

// The parser hook for text attachments redacts and counts into the
// message's counts.
func TestTextAttachmentHook(t *testing.T) {
	fd := newFileDesk(t, withRule)
	rt := fd.d.rt.Load()
	c := redact.Counts{}
	opts := rt.parseOptions(c)
	if opts.RedactText == nil {
		t.Fatal("no RedactText")
	}
	if got := opts.RedactText("card;4111111111111111\niban;DE89370400440532013000\n"); got != "card;[redacted: card number]\niban;[redacted: IBAN]\n" {
		t.Errorf("got %q", got)
	}
	if c.String() != "IBAN ×1, card number ×1" {
		t.Errorf("counts %q", c.String())
	}
}

func TestAgentReplyIsRedacted(t *testing.T) {
	fd := newAgentDesk(t)
	n, ms := fd.customerTicket("c1@example.org", "Erstattung", "Bitte erstatten.")
	ra := replyTo(t, ms, "anna@example.com")
	body := "Wir erstatten auf Ihre Karte 4111 1111 1111 1111 und nicht auf DE89 3704 0044 0532 0130 00.\n"
	out, sent := fd.reply(agentRaw("a1@example.com", "Anna <anna@example.com>", ra, fmt.Sprintf("Re: [#%d] Erstattung", n), body))
	if out.AgentReply != store.DirectionOut || len(sent) != 1 {
		t.Fatalf("outcome %+v, sent %v", out, kinds(sent))
	}
	noPlanted(t, "relayed answer", sent[0].raw)
	if !strings.Contains(sent[0].msg.Text, "Karte [redacted: card number] und nicht auf [redacted: IBAN].") {
		t.Errorf("relayed text %q", sent[0].msg.Text)
	}
	msgs := fd.messages(n)
	last := msgs[len(msgs)-1]
	noPlanted(t, "stored answer", last.Text)
	if want := map[string]int{"card number": 1, "IBAN": 1}; last.Direction != store.DirectionOut || !maps.Equal(last.Redacted, want) {
		t.Errorf("stored answer %s, Redacted %v", last.Direction, last.Redacted)
	}
}

// minimalMail has every header field a stored message keeps, and more.
const minimalMail = "Return-Path: <bounce@example.org>\r\n" +
	"Authentication-Results: mx.example.com; dkim=pass header.d=example.org; spf=pass smtp.mailfrom=example.org\r\n" +
	"Authentication-Results: evil.example; dkim=fail\r\n" +
	"Received: from mail.example.org (mail.example.org [192.0.2.7]) by mx.example.com\r\n" +
	"Message-ID: <min1@example.org>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n" +
	"From: Erika Mustermann <erika@example.org>\r\nTo: support@example.com\r\nCc: Max <max@example.org>\r\n" +
	"Reply-To: Erika privat <erika.privat@example.org>\r\nSubject: Frage zur Rechnung\r\n" +
	"In-Reply-To: <earlier@example.org>\r\nReferences: <first@example.org> <earlier@example.org>\r\n" +
	"Content-Language: de-DE\r\nAuto-Submitted: no\r\nX-Mailer: Beispiel Mail 1.0\r\n" +
	"X-Customer-Id: 12345\r\nX-Customer-Id: KD-4711-0815\r\nX-Originating-IP: [198.51.100.23]\r\n" +
	"User-Agent: Beispiel\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHallo, eine Frage.\r\n"

// TestStoredHeaderGolden shows, for some mails of the Zammad corpus (read
// in place) and one with every kept field, the stored message record: the
// header fields of its own, Headers with keep_headers = ["X-Customer-Id"],
// and nothing else of the header. Text and HTML are cut to their first
// 200 bytes here.
func TestStoredHeaderGolden(t *testing.T) {
	keep := func(c *config.Config) {
		withRule(c)
		c.Minimise.KeepHeaders = []string{"X-Customer-Id"}
		c.Spam.AuthservIDs = []string{"mx.example.com"}
	}
	mails := map[string][]byte{"minimal": []byte(minimalMail)}
	dir := zammadDir(t)
	for _, name := range []string{"mail001", "mail005", "mail013", "mail024"} {
		raw, err := os.ReadFile(filepath.Join(dir, name+".eml"))
		if err != nil {
			t.Skipf("Zammad corpus: %v", err)
		}
		mails[name] = raw
	}
	for name, raw := range mails {
		t.Run(name, func(t *testing.T) {
			fd := newFileDesk(t, keep)
			out := fd.ingest(raw)
			if out.Message == 0 {
				t.Fatalf("outcome %+v", out)
			}
			m := *fd.messages(out.Ticket)[0]
			m.Text, m.HTML = cut(m.Text), cut(m.HTML)
			b, err := json.MarshalIndent(m, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got := string(b) + "\n"
			golden(t, "stored-"+name+".json", got)
			for _, gone := range []string{"Received", "X-Mailer", "X-Originating-IP", "198.51.100.23", "User-Agent", "Return-Path", "evil.example", "X-Original-To"} {
				if strings.Contains(got, gone) {
					t.Errorf("stored record holds %q", gone)
				}
			}
		})
	}
}

func cut(s string) string {
	if len(s) <= 200 {
		return s
	}
	return fmt.Sprintf("%s… (%d bytes)", strings.ToValidUTF8(s[:200], ""), len(s))
}

// zammadDir is the Zammad corpus: $TICKETD_CORPUS, else
// /work/shared/corpus/zammad beside the module root.
func zammadDir(t *testing.T) string {
	if d := os.Getenv("TICKETD_CORPUS"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(wd, "..", "..", "shared", "corpus", "zammad")
}

func TestKeepOriginal(t *testing.T) {
	raw := paymentMail("orig1@example.org")
	fd := newFileDesk(t, func(c *config.Config) { c.Minimise.KeepOriginal = true })
	out := fd.ingest(raw)
	m := fd.messages(out.Ticket)[0]
	if m.Original == nil || m.Original.ContentType != "message/rfc822" || m.Original.Size != int64(len(raw)) {
		t.Fatalf("Original %+v", m.Original)
	}
	r, err := fd.db.OpenBlob(m.Original.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.ReadFrom(r)
	r.Close()
	if !bytes.Equal(b.Bytes(), raw) {
		t.Errorf("original differs from the raw mail")
	}

	// Without keep_original nothing of the raw mail is stored.
	fd = newFileDesk(t)
	out = fd.ingest(raw)
	if m := fd.messages(out.Ticket)[0]; m.Original != nil || m.Headers != nil {
		t.Errorf("Original %+v, Headers %v", m.Original, m.Headers)
	}
	fd.db.Close()
	scanDataDir(t, fd.d.Config().Server.DataDir, []string{"X-Secret-Trace", "trace-7f3a9", "boundary=b"})
}

// Erasing a person mentioned in another's message takes their address out
// of its Reply-To and kept header fields, and drops its original, which
// still holds it.
func TestEraseReachesMinimisedFields(t *testing.T) {
	fd := newFileDesk(t, func(c *config.Config) {
		c.Minimise.KeepOriginal = true
		c.Minimise.KeepHeaders = []string{"X-Forwarded-For-Customer"}
	})
	fd.ingest(routeMail("max1@example.org", "From: max@example.org\nTo: support@example.com\nSubject: Hallo", "Max fragt."))
	out := fd.ingest(routeMail("erika1@example.org", "From: erika@example.org\nTo: support@example.com\nReply-To: max@example.org\n"+
		"X-Forwarded-For-Customer: Max <max@example.org>\nSubject: Frage", "Bitte antworten Sie Max."))
	m := fd.messages(out.Ticket)[0]
	if m.Original == nil || len(m.ReplyTo) != 1 || len(m.Headers["X-Forwarded-For-Customer"]) != 1 {
		t.Fatalf("stored %+v", m)
	}
	sum := m.Original.SHA256
	if _, err := fd.d.Erase(t.Context(), "max@example.org", false); err != nil {
		t.Fatal(err)
	}
	m = fd.messages(out.Ticket)[0]
	if m.Original != nil || len(m.ReplyTo) != 0 || strings.Contains(m.Headers["X-Forwarded-For-Customer"][0], "max@") {
		t.Errorf("after erasure: original %+v, reply-to %v, headers %v", m.Original, m.ReplyTo, m.Headers)
	}
	if r, err := fd.db.OpenBlob(sum); err == nil {
		r.Close()
		t.Errorf("the original's blob is still there")
	}
}

// A text attachment is redacted before it is stored: the blob holds the
// redacted text, the message counts what went, the acknowledgement says so.
func TestTextAttachmentIsRedacted(t *testing.T) {
	fd := newFileDesk(t)
	csv := "Datum;Karte;Konto\n2026-11-20;4111 1111 1111 1111;DE89 3704 0044 0532 0130 00\n"
	out := fd.ingest(mailWithFiles("From: Erika <erika@example.org>\nTo: support@example.com\nSubject: Abbuchungen\nMessage-ID: <csv1@example.org>",
		"Die Liste anbei.", [3]string{"abbuchungen.csv", "text/csv", csv}))
	if !out.NewTicket {
		t.Fatalf("outcome %+v", out)
	}
	m := fd.messages(out.Ticket)[0]
	if want := map[string]int{"card number": 1, "IBAN": 1}; !maps.Equal(m.Redacted, want) {
		t.Errorf("Redacted %v, want %v", m.Redacted, want)
	}
	if len(m.Attachments) != 1 {
		t.Fatalf("attachments %+v", m.Attachments)
	}
	r, err := fd.db.OpenBlob(m.Attachments[0].SHA256)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if want := "Datum;Karte;Konto\n2026-11-20;[redacted: card number];[redacted: IBAN]\n"; string(got) != want {
		t.Errorf("stored attachment %q, want %q", got, want)
	}
	if ack := string(fd.outbox()[0].Raw); !strings.Contains(ack, "Kartennummer") {
		t.Errorf("acknowledgement lacks the notice:\n%s", ack)
	}
	fd.db.Close()
	scanDataDir(t, fd.d.Config().Server.DataDir, planted)
}
