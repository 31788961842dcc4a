package mime

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	netmail "net/mail"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"ticketd/store"
	"time"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the parser's output")

// memSink is an in-memory BlobSink: sha256 hex -> content.
type memSink struct {
	mu    sync.Mutex
	blobs map[string][]byte
}

func newMemSink() *memSink { return &memSink{blobs: map[string][]byte{}} }

func (s *memSink) Put(r io.Reader) (string, int64, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return "", 0, err
	}
	sum := sha256.Sum256(b)
	key := hex.EncodeToString(sum[:])
	s.mu.Lock()
	s.blobs[key] = b
	s.mu.Unlock()
	return key, int64(len(b)), nil
}

func (s *memSink) get(t *testing.T, sha string) []byte {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.blobs[sha]
	if !ok {
		t.Fatalf("blob %s not stored", sha)
	}
	return b
}

// checkBlobs verifies that every attachment is in the sink under the hash of
// its content, with the right size.
func checkBlobs(t *testing.T, m *Message, s *memSink) {
	t.Helper()
	for _, a := range m.Attachments {
		b := s.get(t, a.SHA256)
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != a.SHA256 || int64(len(b)) != a.Size {
			t.Errorf("attachment %q: stored %d bytes with hash %x, Attachment says %d / %s", a.Filename, len(b), sum, a.Size, a.SHA256)
		}
	}
}

func parseTestdata(t *testing.T, name string, opts ParseOptions) (*Message, *memSink) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name+".eml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sink := newMemSink()
	m, err := Parse(f, sink, opts)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	checkBlobs(t, m, sink)
	return m, sink
}

// golden compares the JSON dump of m (and of the blobs it references) with
// testdata/<name>.golden; -update rewrites the file.
func golden(t *testing.T, name string, m *Message, s *memSink) {
	t.Helper()
	blobs := map[string]string{}
	for _, a := range m.Attachments {
		b := s.get(t, a.SHA256)
		if utf8.Valid(b) && len(b) <= 2048 {
			blobs[a.SHA256] = string(b)
		} else {
			blobs[a.SHA256] = fmt.Sprintf("<%d bytes>", len(b))
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(struct {
		Message *Message
		Blobs   map[string]string
	}{m, blobs}); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestParse -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the parser's output (go test -run TestParse -update rewrites it):\n%s", path, got)
	}
}

func hasWarning(m *Message, substr string) bool {
	return slices.ContainsFunc(m.Warnings, func(w string) bool { return strings.Contains(w, substr) })
}

func attachmentNamed(t *testing.T, m *Message, name string) Attachment {
	t.Helper()
	for _, a := range m.Attachments {
		if a.Filename == name {
			return a
		}
	}
	t.Fatalf("no attachment %q in %+v", name, m.Attachments)
	return Attachment{}
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

var parseCases = []struct {
	name  string
	opts  ParseOptions
	check func(t *testing.T, m *Message, s *memSink)
}{
	{"plain-de", ParseOptions{}, func(t *testing.T, m *Message, _ *memSink) {
		eq(t, "From", m.From, store.Address{Name: "Jörg Müller", Email: "Joerg@example.org"})
		eq(t, "Subject", m.Subject, "Drucker kaputt")
		eq(t, "Text", m.Text, "Hallo zusammen,\n\nder Drucker im 2. Stock druckt nur noch Streifen. Könnt ihr bitte helfen?\n\nGrüße\nJörg\n")
		eq(t, "ContentLanguage", m.ContentLanguage, "de-DE")
		eq(t, "MessageID", m.MessageID, "plain-de.1@example.org")
		eq(t, "ReturnPath", m.ReturnPath, "<joerg@example.org>")
		eq(t, "ContentType", m.ContentType, "text/plain")
		eq(t, "Date", m.Date.UTC(), time.Date(2026, 3, 2, 8, 15, 0, 0, time.UTC))
		eq(t, "warnings", len(m.Warnings), 0)
	}},
	{"cp1252-qp", ParseOptions{}, func(t *testing.T, m *Message, _ *memSink) {
		eq(t, "Text", m.Text, "Die Rechnung über 100 € ist „falsch“.\n"+
			"Eine lange Zeile mit weichem Umbruch, die hier weitergeht.\n"+
			"Leerzeichen am Zeilenende werden entfernt.\n"+
			"Ein = ohne Hex bleibt, = ist ein Gleichheitszeichen.\n\nGrüße\n")
	}},
	{"latin1-words", ParseOptions{}, func(t *testing.T, m *Message, _ *memSink) {
		eq(t, "From", m.From, store.Address{Name: "Jörg Müller", Email: "joerg@example.org"})
		eq(t, "Subject", m.Subject, "Drucker kaputt – bitte helfen")
		eq(t, "To", fmt.Sprint(m.To), fmt.Sprint([]store.Address{{Name: "Support Désk", Email: "support@example.com"}, {Name: "Bärbel", Email: "baerbel@example.com"}}))
		eq(t, "Cc", len(m.Cc), 0)
	}},
	{"alternative", ParseOptions{}, func(t *testing.T, m *Message, _ *memSink) {
		eq(t, "Text", m.Text, "Ich habe mein Passwort vergessen. Könnt ihr es zurücksetzen?\n")
		eq(t, "HTML", m.HTML, "<html><body><p>Ich habe mein Passwort vergessen. Könnt ihr es zurücksetzen?</p></body></html>\r\n")
		eq(t, "TextFromHTML", m.TextFromHTML, false)
		eq(t, "attachments", len(m.Attachments), 0)
	}},
	{"html-only", ParseOptions{}, func(t *testing.T, m *Message, _ *memSink) {
		eq(t, "TextFromHTML", m.TextFromHTML, true)
		eq(t, "Text", m.Text, "Hallo & willkommen\n\n"+
			"Erste Zeile\nzweite Zeile\ndritte Zeile\n\n"+
			"- eins\n- zwei\n  - zwei-a\n\n"+
			"Siehe unsere Hilfe (https://example.org/hilfe), https://example.org oder support@example.com. Preis: 10€.\n\n"+
			"A B\nC D\n\n"+
			"  code\n    eingerückt\n\n"+
			"Ende")
	}},
	{"rfc2231-filename", ParseOptions{}, func(t *testing.T, m *Message, s *memSink) {
		pdf := attachmentNamed(t, m, "Rechnung ä.pdf")
		eq(t, "pdf type", pdf.ContentType, "application/pdf")
		eq(t, "pdf content", string(s.get(t, pdf.SHA256)), "%PDF-1.4\n% fake pdf for tests €\n%%EOF\n")
		txt := attachmentNamed(t, m, "Grüße aus Köln.txt")
		// A text file is stored byte for byte, in its own charset.
		eq(t, "txt content", string(s.get(t, txt.SHA256)), "Gr\xfc\xdfe aus K\xf6ln\n")
		eq(t, "Text", m.Text, "Siehe Anhang.")
	}},
	{"rfc2047-filename", ParseOptions{}, func(t *testing.T, m *Message, _ *memSink) {
		attachmentNamed(t, m, "Angebot für Kunde.pdf")
		xls := attachmentNamed(t, m, "Preisliste März.xls")
		eq(t, "xls type", xls.ContentType, "application/vnd.ms-excel")
		bin := attachmentNamed(t, m, "")
		eq(t, "nameless type", bin.ContentType, "application/octet-stream")
		eq(t, "nameless size", bin.Size, int64(4))
	}},
	{"inline-image", ParseOptions{}, func(t *testing.T, m *Message, s *memSink) {
		img := attachmentNamed(t, m, "logo.png")
		eq(t, "ContentID", img.ContentID, "logo@example.org")
		eq(t, "Inline", img.Inline, true)
		eq(t, "ContentType", img.ContentType, "image/png")
		if !bytes.HasPrefix(s.get(t, img.SHA256), []byte("\x89PNG\r\n\x1a\n")) {
			t.Error("image content not decoded")
		}
		eq(t, "Text", m.Text, "Siehe Bild:\n\nDanke")
	}},
	{"nested", ParseOptions{}, func(t *testing.T, m *Message, _ *memSink) {
		eq(t, "Text", m.Text, "Der Vertrag liegt bei.\n")
		eq(t, "HTML", m.HTML, "<p>Der Vertrag liegt <b>bei</b>.</p>\r\n")
		eq(t, "attachments", len(m.Attachments), 1)
		attachmentNamed(t, m, "vertrag.pdf")
		eq(t, "ContentType", m.ContentType, "multipart/mixed")
	}},
	{"unknown-charset", ParseOptions{}, func(t *testing.T, m *Message, _ *memSink) {
		eq(t, "Text", m.Text, "Qapla\uFFFD tlhIngan Hol\n")
		eq(t, "Subject", m.Subject, "Qapla\uFFFD")
		if !hasWarning(m, `unknown charset "x-klingon"`) {
			t.Errorf("no charset warning in %q", m.Warnings)
		}
	}},
	{"unknown-cte-part", ParseOptions{}, func(t *testing.T, m *Message, s *memSink) {
		eq(t, "Text", m.Text, "See attachment.")
		a := attachmentNamed(t, m, "a.txt")
		eq(t, "raw content", string(s.get(t, a.SHA256)), "begin 644 a.txt\r\n#86)C\r\n`\r\nend")
		if !hasWarning(m, `unknown Content-Transfer-Encoding "x-uuencode"`) {
			t.Errorf("no CTE warning in %q", m.Warnings)
		}
	}},
	{"unknown-cte-top", ParseOptions{}, func(t *testing.T, m *Message, _ *memSink) {
		eq(t, "Text", m.Text, "begin 644 body.txt\n#86)C\n`\nend\n")
		if !hasWarning(m, "body kept undecoded") {
			t.Errorf("no CTE warning in %q", m.Warnings)
		}
	}},
	{"truncated", ParseOptions{}, func(t *testing.T, m *Message, s *memSink) {
		eq(t, "Text", m.Text, "Der Anhang ist abgeschnitten.")
		a := attachmentNamed(t, m, "teil.pdf")
		eq(t, "partial content", string(s.get(t, a.SHA256)), "%PDF-1.4\n% fake pdf for tests €\n%%")
		if !hasWarning(m, "no closing boundary") {
			t.Errorf("no truncation warning in %q", m.Warnings)
		}
	}},
	{"no-message-id", ParseOptions{}, func(t *testing.T, m *Message, _ *memSink) {
		eq(t, "MessageID", m.MessageID, "")
	}},
	{"references-junk", ParseOptions{}, func(t *testing.T, m *Message, _ *memSink) {
		eq(t, "MessageID", m.MessageID, "bare-id@example.org")
		eq(t, "InReplyTo", fmt.Sprint(m.InReplyTo), "[a1@example.org]")
		eq(t, "References", fmt.Sprint(m.References), "[r1@example.org r2@example.org r3@example.org]")
	}},
	{"mbox-from", ParseOptions{}, func(t *testing.T, m *Message, _ *memSink) {
		eq(t, "From", m.From.Email, "joerg@example.org")
		eq(t, "Subject", m.Subject, "Aus einer mbox")
		eq(t, "MessageID", m.MessageID, "")
		eq(t, "warnings", len(m.Warnings), 0)
		eq(t, "Text", m.Text, "Zeile eins\n>From here on it is body text.\n")
	}},
	{"rfc822-attachment", ParseOptions{}, func(t *testing.T, m *Message, s *memSink) {
		eq(t, "attachments", len(m.Attachments), 1)
		a := m.Attachments[0]
		eq(t, "ContentType", a.ContentType, "message/rfc822")
		b := s.get(t, a.SHA256)
		if !bytes.HasPrefix(b, []byte("From: Kollege <kollege@example.org>\r\n")) || !bytes.HasSuffix(b, []byte("Das ist die weitergeleitete Mail.\r\n")) {
			t.Errorf("attached mail not kept byte for byte: %q", b)
		}
		// The attached mail's header does not leak into the outer message.
		eq(t, "Subject", m.Subject, "Fwd: Originalmail")
	}},
	{"long-body", ParseOptions{MaxTextBytes: 64}, func(t *testing.T, m *Message, s *memSink) {
		if len(m.Text) > 64 || len(m.HTML) > 64 || !utf8.ValidString(m.Text) || !utf8.ValidString(m.HTML) {
			t.Errorf("bodies not capped at a UTF-8 boundary: %d %q / %d %q", len(m.Text), m.Text, len(m.HTML), m.HTML)
		}
		txt := attachmentNamed(t, m, "body.txt")
		html := attachmentNamed(t, m, "body.html")
		eq(t, "body.txt type", txt.ContentType, "text/plain")
		wholeText := string(s.get(t, txt.SHA256))
		if !strings.HasPrefix(wholeText, m.Text) || len(wholeText) != 4*len("Lange Zeile mit Umlauten äöü und noch mehr Text. ") {
			t.Errorf("body.txt = %q", wholeText)
		}
		if !strings.HasPrefix(string(s.get(t, html.SHA256)), m.HTML) {
			t.Error("body.html does not start with HTML")
		}
		if !hasWarning(m, "kept whole as body.txt") || !hasWarning(m, "kept whole as body.html") {
			t.Errorf("warnings %q", m.Warnings)
		}
	}},
	{"malformed-from", ParseOptions{}, func(t *testing.T, m *Message, _ *memSink) {
		eq(t, "From", m.From, store.Address{Name: "Jörg Müller", Email: "joerg@example.org"})
		eq(t, "Sender", m.Sender, store.Address{Name: "Support Desk", Email: "desk@example.com"})
		eq(t, "ReplyTo", fmt.Sprint(m.ReplyTo), fmt.Sprint([]store.Address{{Name: "Jörg", Email: "joerg.privat@example.org"}, {Name: "", Email: "x@example.net"}}))
		if !hasWarning(m, "malformed From field") {
			t.Errorf("no From warning in %q", m.Warnings)
		}
	}},
	{"no-from", ParseOptions{}, func(t *testing.T, m *Message, _ *memSink) {
		eq(t, "From", m.From, store.Address{})
		eq(t, "Subject", m.Subject, "Kein Absender")
	}},
	{"bad-header-line", ParseOptions{}, func(t *testing.T, m *Message, _ *memSink) {
		eq(t, "From", m.From.Email, "joerg@example.org")
		eq(t, "Subject", m.Subject, "Kaputte Kopfzeile mit Fortsetzung")
		eq(t, "MessageID", m.MessageID, "bad-header-line.1@example.org")
		eq(t, "Text", m.Text, "Inhalt.\n")
		if !hasWarning(m, "skipped 2 malformed line(s)") {
			t.Errorf("warnings %q", m.Warnings)
		}
	}},
	{"dsn-report", ParseOptions{KeepHeaders: []string{"x-custom", "X-Absent"}}, func(t *testing.T, m *Message, _ *memSink) {
		eq(t, "ContentType", m.ContentType, "multipart/report")
		eq(t, "ReportType", m.ReportType, "delivery-status")
		eq(t, "AutoSubmitted", m.AutoSubmitted, "auto-replied")
		eq(t, "Precedence", m.Precedence, "bulk")
		eq(t, "ListID", m.ListID, "Helpdesk <helpdesk.example.com>")
		eq(t, "ListUnsubscribe", m.ListUnsubscribe, "<mailto:unsubscribe@example.com>")
		eq(t, "ReturnPath", m.ReturnPath, "<>")
		eq(t, "XLoop", fmt.Sprint(m.XLoop), "[helpdesk@example.com other@example.com]")
		eq(t, "Headers", fmt.Sprint(m.Headers), "map[X-Custom:[eins zwei]]")
		eq(t, "From", m.From, store.Address{Name: "Mail Delivery System", Email: "MAILER-DAEMON@mx.example.com"})
		eq(t, "Text", m.Text, "Your message could not be delivered.")
		eq(t, "attachments", len(m.Attachments), 2)
	}},
	{"iso2022jp", ParseOptions{}, func(t *testing.T, m *Message, _ *memSink) {
		eq(t, "From", m.From, store.Address{Name: "田中", Email: "tanaka@example.jp"})
		eq(t, "Subject", m.Subject, "お問い合わせ")
		eq(t, "Text", m.Text, "これはテストメールです。\nお問い合わせありがとうございます。\n")
	}},
	{"html-meta-charset", ParseOptions{}, func(t *testing.T, m *Message, _ *memSink) {
		eq(t, "Text", m.Text, "Grüße aus Köln")
		if !strings.Contains(m.HTML, "Grüße aus Köln") {
			t.Errorf("HTML = %q", m.HTML)
		}
	}},
	{"raw-8bit-header", ParseOptions{}, func(t *testing.T, m *Message, _ *memSink) {
		eq(t, "From", m.From, store.Address{Name: "Jörg Müller", Email: "joerg@example.org"})
		eq(t, "Subject", m.Subject, "Grüße ohne Kodierung")
		eq(t, "Text", m.Text, "Grüße\n")
	}},
	{"prefer-alternative", ParseOptions{}, func(t *testing.T, m *Message, s *memSink) {
		eq(t, "Text", m.Text, "Die eigentliche Nachricht.")
		eq(t, "HTML", m.HTML, "<p>Die eigentliche Nachricht.</p>")
		var texts []string
		for _, a := range m.Attachments {
			if a.ContentType == "text/plain" {
				texts = append(texts, string(s.get(t, a.SHA256)))
			}
		}
		eq(t, "other text parts", fmt.Sprint(texts), "[Dieser Hinweis wurde vom Gateway vorangestellt. Ein Nachsatz als zweiter Textteil.]")
	}},
	{"support-qp", ParseOptions{}, func(t *testing.T, m *Message, s *memSink) {
		para := "Sehr geehrte Damen und Herren, ich habe eine Frage zu meiner Bestellung über Ihren Shop. " +
			"Die Lieferung ist bis heute nicht eingetroffen, und die Rechnung wurde bereits abgebucht. Summe: 100 €, Rabatt = 0."
		eq(t, "Text", m.Text, strings.Repeat(para+"\n", 10))
		if !strings.HasPrefix(m.HTML, `<html><body><p style="margin:0">`+para+"</p><p") {
			t.Errorf("HTML = %.200q", m.HTML)
		}
		eq(t, "From", m.From, store.Address{Name: "Jörg Müller", Email: "joerg.mueller@example.org"})
		eq(t, "Subject", m.Subject, "Re: [Ticket #4711] Rechnung für Bestellung 12345")
		eq(t, "Date", m.Date.UTC(), time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
		pdf := attachmentNamed(t, m, "rechnung.pdf")
		eq(t, "pdf size", pdf.Size, int64(1509))
		if !bytes.HasPrefix(s.get(t, pdf.SHA256), []byte("%PDF-1.4\n")) {
			t.Error("pdf content not decoded")
		}
		eq(t, "warnings", len(m.Warnings), 0)
	}},
	{"unknown-cte-multipart", ParseOptions{}, func(t *testing.T, m *Message, _ *memSink) {
		// The only text part of a multipart, in an unknown transfer
		// encoding: still the text, as in a single-part mail.
		eq(t, "Text", m.Text, "Der Drucker im Lager druckt leere Seiten.\nBitte um Rückruf.")
		attachmentNamed(t, m, "seite.png")
		eq(t, "attachments", len(m.Attachments), 1)
		if !hasWarning(m, `part 1: unknown Content-Transfer-Encoding "x-company-7bit": text kept undecoded`) {
			t.Errorf("warnings %q", m.Warnings)
		}
	}},
	{"dsn-mislabelled", ParseOptions{}, func(t *testing.T, m *Message, s *memSink) {
		// The prose of the bounce is labelled message/delivery-status.
		eq(t, "Text", m.Text, "This is the mail system at host mx.example.net.\n\n"+
			"I'm sorry to have to inform you that your message could not\nbe delivered to one or more recipients.\n\n"+
			"<support@example.com>: mailbox full")
		eq(t, "ReportType", m.ReportType, "delivery-status")
		eq(t, "attachments", len(m.Attachments), 2)
		eq(t, "report part", m.Attachments[0].ContentType, "message/delivery-status")
		if !strings.HasPrefix(string(s.get(t, m.Attachments[0].SHA256)), "Reporting-MTA: dns; mx.example.net") {
			t.Errorf("the machine-readable report is not kept as is")
		}
	}},
	{"nul-header", ParseOptions{}, func(t *testing.T, m *Message, _ *memSink) {
		eq(t, "Subject", m.Subject, "Rechnung\uFFFDNr. 4711")
		eq(t, "From", m.From, store.Address{Name: "J\uFFFDrg Müller", Email: "joerg@example.org"})
		attachmentNamed(t, m, "Rechnung\uFFFD.pdf")
	}},
	{"nul-header-imap", ParseOptions{}, func(t *testing.T, m *Message, _ *memSink) {
		// The same mail as an IMAP server sends it: each NUL became 0x80.
		eq(t, "Subject", m.Subject, "Rechnung\uFFFDNr. 4711")
		eq(t, "From", m.From, store.Address{Name: "J\uFFFDrg Müller", Email: "joerg@example.org"})
		attachmentNamed(t, m, "Rechnung\uFFFD.pdf")
		eq(t, "warnings", len(m.Warnings), 0)
	}},
	{"wrong-boundary", ParseOptions{}, func(t *testing.T, m *Message, _ *memSink) {
		eq(t, "Text", m.Text, "äöüß ad asd\n\n-Martin\n")
		if !hasWarning(m, "has no parts") {
			t.Errorf("warnings %q", m.Warnings)
		}
	}},
}

// TestParse parses each testdata/<name>.eml of parseCases, checks the stored
// blobs and the case's expectations, and compares the whole result with
// testdata/<name>.golden.
func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			m, s := parseTestdata(t, tc.name, tc.opts)
			tc.check(t, m, s)
			golden(t, tc.name, m, s)
		})
	}
}

func TestParseMessageIDEmptyBrackets(t *testing.T) {
	m, err := Parse(strings.NewReader("From: a@example.org\r\nMessage-ID:  <>\r\nSubject: x\r\n\r\nbody"), newMemSink(), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "MessageID", m.MessageID, "")
}

func TestParseSubjectUnfolding(t *testing.T) {
	for _, tc := range []struct{ header, want string }{
		{"Subject: a\r\n\tb\r\n  c", "a b c"},
		{"Subject: =?UTF-8?B?DQrooK3pvpU=?=", "蠭龕"},                                  // an encoded CRLF at the start
		{"Subject: =?UTF-8?Q?line1=0D=0Aline2?=", "line1 line2"},                     // no header injection through a reply
		{"Subject: =?UTF-8?Q?=E2=82?= =?UTF-8?Q?=AC?=", "€"},                         // a character split across two words
		{"Subject: =?utf-8?b?w6Q=?==?utf-8?q?_x?=", "ä x"},                           // glued words
		{"Subject: =?UTF-8?B?w6Q==?=", "ä"},                                          // excess padding
		{"Subject: Re: =?iso-8859-1?q?Gr=FC=DFe?= aus K=?x?", "Re: Grüße aus K=?x?"}, // a stray "=?"
		{"Subject:   ", ""},
	} {
		m, err := Parse(strings.NewReader("From: a@example.org\r\n"+tc.header+"\r\n\r\nbody"), newMemSink(), ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		eq(t, tc.header, m.Subject, tc.want)
	}
}

func TestParseAddresses(t *testing.T) {
	for _, tc := range []struct {
		from string
		want store.Address
	}{
		{`"Müller, Bernd" <Bernd.Mueller@Example.COM>`, store.Address{Name: "Müller, Bernd", Email: "Bernd.Mueller@example.com"}},
		{`marc@example.com (Marc Smith)`, store.Address{Name: "Marc Smith", Email: "marc@example.com"}},
		{`=?iso-8859-1?Q?B=FCrling,=20Andreas?= <smith@example.com>`, store.Address{Name: "Bürling, Andreas", Email: "smith@example.com"}},
		{`"=?utf-8?Q?J=C3=B6rg?=" <j@example.org>`, store.Address{Name: "Jörg", Email: "j@example.org"}},
		{`'Jörg' <j@example.org>`, store.Address{Name: "Jörg", Email: "j@example.org"}},
		{`"your secret past" <power quadrant system@example.com>`, store.Address{Name: "your secret past", Email: `"power quadrant system"@example.com`}},
		{`"Millions Lottery"@example.com>`, store.Address{Name: "", Email: `"Millions Lottery"@example.com`}},
		{`=?utf-8?Q?agent?=@example.com`, store.Address{Name: "", Email: `=?utf-8?Q?agent?=@example.com`}}, // RFC 2047 section 5: not decoded in an addr-spec
		{`Test test@example.com`, store.Address{Name: "Test", Email: "test@example.com"}},
		{`<info@example.com>`, store.Address{Name: "", Email: "info@example.com"}},
		{`Mailer Daemon`, store.Address{Name: "Mailer Daemon", Email: ""}},
		{`=?utf-8?B?6YO955C5?= <ghgbwum@185.com.cn>`, store.Address{Name: "都琹", Email: "ghgbwum@185.com.cn"}},
	} {
		m, err := Parse(strings.NewReader("From: "+tc.from+"\r\nSubject: x\r\n\r\nbody"), newMemSink(), ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		eq(t, tc.from, m.From, tc.want)
	}
}

// TestParseWeakBody checks that text kept undecoded, or prose found in a
// message/delivery-status part, gives way to a text part that decodes.
func TestParseWeakBody(t *testing.T) {
	for _, first := range []string{
		"Content-Type: text/plain\r\nContent-Transfer-Encoding: x-unknown\r\n\r\nundecoded",
		"Content-Type: message/delivery-status\r\n\r\nYour mail could not be delivered.",
	} {
		raw := "From: a@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" + first +
			"\r\n--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nthe r=C3=A9al text\r\n--b--\r\n"
		s := newMemSink()
		m, err := Parse(strings.NewReader(raw), s, ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		eq(t, "Text", m.Text, "the réal text")
		if len(m.Attachments) != 1 || !strings.Contains(string(s.get(t, m.Attachments[0].SHA256)), "d") {
			t.Errorf("%.40q: the weak part was not kept as an attachment: %+v", first, m.Attachments)
		}
	}
}

// TestParseNulInHeader checks that NULs and their IMAP stand-in 0x80 become
// U+FFFD, while a "€" of a raw windows-1252 header stays one.
func TestParseNulInHeader(t *testing.T) {
	for _, tc := range []struct{ subject, want string }{
		{"a\x00b", "a\uFFFDb"},
		{"a\x80b", "a\uFFFDb"},
		{"Gr\xc3\xbc\xc3\x9fe\x80", "Grüße\uFFFD"}, // UTF-8 otherwise
		{"Gr\xfc\xdfe 10 \x80", "Grüße 10 €"},      // windows-1252
		{"=?utf-8?q?a=00b?=", "a\uFFFDb"},          // in an encoded word
		{"=?windows-1252?q?10_=80?=", "10 €"},
	} {
		m, err := Parse(strings.NewReader("From: a@example.org\r\nSubject: "+tc.subject+"\r\n\r\nx"), newMemSink(), ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		eq(t, fmt.Sprintf("Subject %q", tc.subject), m.Subject, tc.want)
	}
}

func TestParseFromFallsThroughToNextFromField(t *testing.T) {
	m, err := Parse(strings.NewReader("From: [??????]\r\nFrom: Real <real@example.org>\r\n\r\nx"), newMemSink(), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "From", m.From, store.Address{Name: "Real", Email: "real@example.org"})
}

func TestParseErrors(t *testing.T) {
	var pe *ParseError
	for _, tc := range []struct{ name, in, reason string }{
		{"empty", "", "unreadable header"},
		{"blank header", "\r\n\r\nbody", "unreadable header"},
		{"garbage", "\x00\x01\x02 no header here\n\xff\xfe", "unreadable header"},
		{"huge header", "X-Big: " + strings.Repeat("a", 1<<20+10) + "\r\n\r\n", "header too large"},
	} {
		_, err := Parse(strings.NewReader(tc.in), newMemSink(), ParseOptions{})
		if !errors.As(err, &pe) || pe.Reason != tc.reason {
			t.Errorf("%s: err = %v, want ParseError %q", tc.name, err, tc.reason)
		}
	}
}

type failingSink struct{ err error }

func (f failingSink) Put(r io.Reader) (string, int64, error) {
	io.Copy(io.Discard, r)
	return "", 0, f.err
}

type panickingSink struct{}

func (panickingSink) Put(io.Reader) (string, int64, error) { panic("boom") }

type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(b []byte) (int, error) {
	n, err := f.r.Read(b)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func TestParseTemporaryErrors(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "nested.eml"))
	if err != nil {
		t.Fatal(err)
	}
	var pe *ParseError

	errDisk := errors.New("disk full")
	_, err = Parse(bytes.NewReader(raw), failingSink{errDisk}, ParseOptions{})
	if !errors.Is(err, errDisk) || errors.As(err, &pe) {
		t.Errorf("blob error: got %v, want the sink's error as is", err)
	}

	errConn := errors.New("connection reset")
	// (Cut before the closing boundary: the epilogue is never read.)
	for _, cut := range []int{10, len(raw) / 2, len(raw) - 20} {
		_, err = Parse(&failingReader{bytes.NewReader(raw[:cut]), errConn}, newMemSink(), ParseOptions{})
		if !errors.Is(err, errConn) || errors.As(err, &pe) {
			t.Errorf("read error after %d bytes: got %v, want the reader's error", cut, err)
		}
	}

	_, err = Parse(bytes.NewReader(raw), panickingSink{}, ParseOptions{})
	if !errors.As(err, &pe) || pe.Reason != "parser failure" {
		t.Errorf("panic: got %v, want ParseError parser failure", err)
	}

	if _, err := Parse(bytes.NewReader(raw), nil, ParseOptions{}); err == nil {
		t.Error("nil BlobSink accepted")
	}
}

// TestCommonDate checks that the shortcut for the common date format gives
// what net/mail gives, and leaves the other formats to it.
func TestCommonDate(t *testing.T) {
	for _, v := range []string{
		"Mon, 23 Nov 2026 10:00:00 +0100",
		"Fri, 06 Mar 2026 08:00:00 -0000",
		"wed, 2 jan 2006 15:04:05 +0530",
		"Thu,  2 Jan 2006  15:04:05  -0700",
		"Sun, 2 Jan 2006 15:04:05.25 -0700",
		"Mon, 2 Jan 2006 15:04:05 -0700 (MST)",
		"2 Jan 2006 15:04:05 -0700",
		"Mon, 2 Jan 2006 15:04 -0700",
		"Mon, 2 Jan 06 15:04:05 -0700",
		"Mon, 2 Jan 2006 15:04:05 GMT",
		"Mon, 2 Jan 2006 15:04:05 -0700\r\n",
		" Mon, 2 Jan 2006 15:04:05 -0700",
	} {
		got, ok := commonDate(v)
		want, err := netmail.ParseDate(v)
		if ok && (err != nil || !got.Equal(want) || got.Location().String() != want.Location().String()) {
			t.Errorf("commonDate(%q) = %v, net/mail %v, %v", v, got, want, err)
		}
	}
	if _, ok := commonDate("Mon, 23 Nov 2026 10:00:00 +0100"); !ok {
		t.Error("commonDate does not take the common format")
	}
}

func TestNormalizeNewlines(t *testing.T) {
	// Every string of up to 6 bytes over {a, \r, \n} against the definition.
	words := []string{""}
	for i := 0; i < len(words); i++ {
		if len(words[i]) < 6 {
			words = append(words, words[i]+"a", words[i]+"\r", words[i]+"\n")
		}
	}
	for _, w := range words {
		want := strings.ReplaceAll(strings.ReplaceAll(w, "\r\n", "\n"), "\r", "\n")
		eq(t, fmt.Sprintf("normalizeNewlines(%q)", w), normalizeNewlines(w), want)
	}
}

func TestHTMLToText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"<p>a</p><p>b</p>", "a\n\nb"},
		{"a<br><br><br><br>b", "a\n\nb"},
		{"<div>a</div><div>b</div>", "a\nb"},
		{"<ul><li><p>x</p></li><li>y</li></ul>", "- x\n\n- y"},
		{`<a href="https://x.example/">x.example</a>`, "x.example"},
		{`<a href="https://x.example/a">hier</a>`, "hier (https://x.example/a)"},
		{`<a href="#top">nach oben</a> <a href="javascript:void(0)">js</a>`, "nach oben js"},
		{`<a href="tel:+49301234">+49301234</a>`, "+49301234"},
		{"<head><title>t</title><body>after an unclosed head", "after an unclosed head"},
		{"<style>x{}</style><script>if (a<b) {}</script>text", "text"},
		{"&lt;tag&gt; &amp;&#x20AC;&euro;", "<tag> &€€"},
		{"  lots \n\t of   space  ", "lots of space"},
		{"<p>unclosed <b>tags", "unclosed tags"},
		{strings.Repeat("<div>", 10000) + "deep" + strings.Repeat("</div>", 10000), "deep"},
	} {
		eq(t, fmt.Sprintf("htmlToText(%.40q)", tc.in), htmlToText(tc.in), tc.want)
	}
}

// hashSink discards attachment contents while hashing them.
type hashSink struct{}

func (hashSink) Put(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

// writeBigMail writes a mail with a base64 attachment of size bytes to w,
// line by line, and returns the SHA-256 of the attachment's content. It
// allocates nothing per line, so the parser's allocations are what the
// memory test measures.
func writeBigMail(w io.Writer, size int) (string, error) {
	head := "From: big@example.org\r\nTo: support@example.com\r\nSubject: big\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"big\"\r\n\r\n" +
		"--big\r\nContent-Type: text/plain\r\n\r\nSee attachment.\r\n" +
		"--big\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"big.bin\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n"
	if _, err := io.WriteString(w, head); err != nil {
		return "", err
	}
	h := sha256.New()
	var raw [57]byte
	var line [78]byte
	x := uint32(1)
	for written := 0; written < size; {
		n := min(len(raw), size-written)
		for i := range n {
			x = x*1664525 + 1013904223
			raw[i] = byte(x >> 24)
		}
		h.Write(raw[:n])
		m := base64.StdEncoding.EncodedLen(n)
		base64.StdEncoding.Encode(line[:m], raw[:n])
		line[m], line[m+1] = '\r', '\n'
		if _, err := w.Write(line[:m+2]); err != nil {
			return "", err
		}
		written += n
	}
	if _, err := io.WriteString(w, "--big--\r\n"); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func TestParseLargeAttachmentFlatMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MB mail")
	}
	const size = 50 << 20
	pr, pw := io.Pipe()
	shaCh := make(chan string, 1)
	go func() {
		sha, err := writeBigMail(pw, size)
		pw.CloseWithError(err)
		shaCh <- sha
	}()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m, err := Parse(pr, hashSink{}, ParseOptions{})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	want := <-shaCh
	if len(m.Attachments) != 1 || m.Attachments[0].Size != size || m.Attachments[0].SHA256 != want {
		t.Fatalf("attachments %+v, want one of %d bytes with sha %s", m.Attachments, size, want)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	heap := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("50 MB attachment: TotalAlloc +%d KiB, HeapInuse %+d KiB", alloc>>10, heap>>10)
	const limit = 16 << 20
	if alloc > limit || heap > limit {
		t.Errorf("memory grew with the attachment: TotalAlloc +%d, HeapInuse %+d (limit %d)", alloc, heap, limit)
	}
}
