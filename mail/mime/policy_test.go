package mime

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

// Minimal samples of what a mail may carry, as their first bytes are on disk.
var (
	samplePE = func() []byte { // a DOS/PE executable: "MZ", e_lfanew at 0x3c, "PE\0\0"
		b := make([]byte, 0x200)
		copy(b, "MZ")
		b[0x3c] = 0x80
		copy(b[0x80:], "PE\x00\x00")
		return b
	}()
	sampleELF = func() []byte {
		b := make([]byte, 64)
		copy(b, "\x7fELF\x02\x01\x01")
		b[16] = 2 // ET_EXEC
		return b
	}()
	sampleShell = []byte("#!/bin/sh\nrm -rf ~\n")
	samplePDF   = []byte("%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n")
	sampleISO   = append(make([]byte, 0x8001), "CD001"...) // the ISO 9660 signature lies beyond the sniffed prefix
)

type part struct {
	name, ctype string
	content     []byte
}

// mailWith builds a multipart/mixed mail with a text body and the parts, base64.
func mailWith(parts ...part) []byte {
	var b bytes.Buffer
	b.WriteString("From: Jane <jane@example.com>\r\nTo: support@example.org\r\nSubject: files\r\nMessage-ID: <m1@example.com>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n" +
		"--BB\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the files.\r\n")
	for _, p := range parts {
		fmt.Fprintf(&b, "--BB\r\nContent-Type: %s\r\nContent-Disposition: attachment; filename=%q\r\nContent-Transfer-Encoding: base64\r\n\r\n", p.ctype, p.name)
		enc := base64.StdEncoding.EncodeToString(p.content)
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n")
	}
	b.WriteString("--BB--\r\n")
	return b.Bytes()
}

func parseWith(t *testing.T, raw []byte, opts ParseOptions) (*Message, *memSink) {
	t.Helper()
	sink := newMemSink()
	m, err := Parse(bytes.NewReader(raw), sink, opts)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	checkBlobs(t, m, sink)
	return m, sink
}

var testPolicy = &AttachmentPolicy{
	MaxSize: 10_000, MaxTotal: 15_000,
	Allow:  []string{"application/pdf", "image/*", "text/plain", "text/csv", "message/rfc822"},
	Refuse: []string{"application/vnd.microsoft.portable-executable", "application/x-elf", "application/x-sh"},
}

func TestPolicyDisguisedExecutable(t *testing.T) {
	raw := mailWith(part{"invoice.pdf", "application/pdf", samplePE}, part{"real.pdf", "application/pdf", samplePDF})
	m, sink := parseWith(t, raw, ParseOptions{Attachments: testPolicy})
	want := []Dropped{{Filename: "invoice.pdf", ContentType: "application/vnd.microsoft.portable-executable",
		Declared: "application/pdf", Size: int64(len(samplePE)), Reason: "type application/vnd.microsoft.portable-executable refused"}}
	if !reflect.DeepEqual(m.Dropped, want) {
		t.Errorf("Dropped = %+v\nwant %+v", m.Dropped, want)
	}
	if len(m.Attachments) != 1 || m.Attachments[0].Filename != "real.pdf" {
		t.Errorf("Attachments = %+v, want real.pdf only", m.Attachments)
	}
	if strings.TrimSpace(m.Text) != "See the files." {
		t.Errorf("Text = %q", m.Text)
	}
	for _, b := range sink.blobs {
		if bytes.HasPrefix(b, []byte("MZ")) {
			t.Error("the executable reached the blob sink")
		}
	}
}

func TestPolicyTypes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content []byte
		sniffed string
		reason  string
	}{
		{"elf", sampleELF, "application/x-executable", "type application/x-executable refused"}, // refused as a kind of application/x-elf
		{"script", sampleShell, "text/x-shellscript", "type text/x-shellscript refused"},        // refused by its alias application/x-sh
		{"disk image", sampleISO[:9000], "application/octet-stream", "type not allowed"},
		{"pdf", samplePDF, "application/pdf", ""},
		{"text", []byte("plain words\n"), "text/plain", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Sniff(tc.content); got != tc.sniffed {
				t.Errorf("Sniff = %q, want %q", got, tc.sniffed)
			}
			m, _ := parseWith(t, mailWith(part{"file.txt", "text/plain", tc.content}), ParseOptions{Attachments: testPolicy})
			got := ""
			if len(m.Dropped) == 1 {
				got = m.Dropped[0].Reason
			}
			if got != tc.reason || len(m.Dropped)+len(m.Attachments) != 1 {
				t.Errorf("reason %q, want %q (dropped %+v, kept %+v)", got, tc.reason, m.Dropped, m.Attachments)
			}
		})
	}
}

func TestPolicySizes(t *testing.T) {
	pdf := func(n int) []byte {
		return append(bytes.Clone(samplePDF), bytes.Repeat([]byte{'x'}, n-len(samplePDF))...)
	}
	raw := mailWith(part{"big.pdf", "application/pdf", pdf(31_500)}, part{"a.pdf", "application/pdf", pdf(9000)},
		part{"b.pdf", "application/pdf", pdf(7000)}, part{"c.pdf", "application/pdf", pdf(6000)})
	m, sink := parseWith(t, raw, ParseOptions{Attachments: testPolicy})
	var reasons []string
	for _, d := range m.Dropped {
		reasons = append(reasons, fmt.Sprintf("%s %d %s", d.Filename, d.Size, d.Reason))
	}
	want := []string{"big.pdf 31500 too large (31.5 KB > max_size 10 KB)", "b.pdf 7000 mail total over max_total"}
	if !reflect.DeepEqual(reasons, want) {
		t.Errorf("dropped %q\nwant    %q", reasons, want)
	}
	var kept []string
	for _, a := range m.Attachments {
		kept = append(kept, a.Filename)
	}
	if !reflect.DeepEqual(kept, []string{"a.pdf", "c.pdf"}) {
		t.Errorf("kept %v", kept)
	}
	if len(sink.blobs) != 2 {
		t.Errorf("sink holds %d blobs, want the 2 kept", len(sink.blobs))
	}
}

// abortSink records what Put was given and whether it saw the content end.
type abortSink struct {
	puts   int
	failed int
	read   int64
}

func (s *abortSink) Put(r io.Reader) (string, int64, error) {
	s.puts++
	n, err := io.Copy(io.Discard, r)
	s.read += n
	if err != nil {
		s.failed++
		return "", 0, err
	}
	return "x", n, nil
}

// A part over max_size is cut off at the limit: the sink gets an error
// after max_size+1 bytes (and so stores nothing), the rest is only counted.
func TestPolicyAbortsAtLimit(t *testing.T) {
	big := append(bytes.Clone(samplePDF), bytes.Repeat([]byte{'y'}, 200_000)...)
	sink := &abortSink{}
	m, err := Parse(bytes.NewReader(mailWith(part{"big.pdf", "application/pdf", big})), sink, ParseOptions{Attachments: testPolicy})
	if err != nil {
		t.Fatal(err)
	}
	if sink.failed != 1 || sink.read > testPolicy.MaxSize+1 {
		t.Errorf("sink: %d puts, %d failed, %d bytes read; want the one put failed after at most %d", sink.puts, sink.failed, sink.read, testPolicy.MaxSize+1)
	}
	if len(m.Dropped) != 1 || m.Dropped[0].Size != int64(len(big)) {
		t.Errorf("Dropped = %+v", m.Dropped)
	}
}

func TestPolicyNestedMail(t *testing.T) {
	inner := mailWith(part{"setup.pdf", "application/pdf", samplePE})
	clean := mailWith(part{"ok.pdf", "application/pdf", samplePDF})
	raw := mailWith(part{"fwd.eml", "message/rfc822", inner}, part{"clean.eml", "message/rfc822", clean})
	m, _ := parseWith(t, raw, ParseOptions{Attachments: testPolicy})
	if len(m.Dropped) != 1 || m.Dropped[0].Filename != "fwd.eml" || m.Dropped[0].ContentType != "message/rfc822" ||
		m.Dropped[0].Reason != "attached mail holds a refused attachment: type application/vnd.microsoft.portable-executable refused" {
		t.Errorf("Dropped = %+v", m.Dropped)
	}
	if len(m.Attachments) != 1 || m.Attachments[0].Filename != "clean.eml" {
		t.Errorf("Attachments = %+v", m.Attachments)
	}
}

func TestPolicyNestedTooDeep(t *testing.T) {
	raw := mailWith(part{"x.pdf", "application/pdf", samplePDF})
	for range maxNestedMail + 1 {
		raw = mailWith(part{"fwd.eml", "message/rfc822", raw})
	}
	m, _ := parseWith(t, raw, ParseOptions{Attachments: &AttachmentPolicy{}})
	if len(m.Dropped) != 1 || !strings.Contains(m.Dropped[0].Reason, "nested deeper") {
		t.Errorf("Dropped = %+v", m.Dropped)
	}
}

func TestInlineImageFollowsPolicy(t *testing.T) {
	raw := []byte("From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=R\r\n\r\n" +
		"--R\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>hi <img src=\"cid:i1\"></p>\r\n" +
		"--R\r\nContent-Type: image/png\r\nContent-Disposition: inline\r\nContent-ID: <i1>\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString(samplePE) + "\r\n--R--\r\n")
	m, _ := parseWith(t, raw, ParseOptions{Attachments: testPolicy})
	if len(m.Dropped) != 1 || m.Dropped[0].Declared != "image/png" || len(m.Attachments) != 0 {
		t.Errorf("Dropped = %+v, Attachments = %+v", m.Dropped, m.Attachments)
	}
}

func TestRedactTextAttachments(t *testing.T) {
	redact := func(s string) string { return strings.ReplaceAll(s, "4111 1111 1111 1111", "[redacted: card number]") }
	latin1 := []byte("Name;Karte\nJ\xfcrgen;4111 1111 1111 1111\n")
	raw := mailWith(part{"list.csv", "text/csv; charset=iso-8859-1", latin1},
		part{"doc.pdf", "application/pdf", append(bytes.Clone(samplePDF), "4111 1111 1111 1111"...)})
	raw = bytes.Replace(raw, []byte(`Content-Type: text/csv; charset=iso-8859-1`), []byte(`Content-Type: text/csv; charset="iso-8859-1"`), 1)
	for _, opts := range []ParseOptions{{RedactText: redact}, {RedactText: redact, Attachments: &AttachmentPolicy{MaxSize: 1000}}} {
		m, sink := parseWith(t, raw, opts)
		if len(m.Attachments) != 2 {
			t.Fatalf("Attachments = %+v, Dropped %+v", m.Attachments, m.Dropped)
		}
		if got := string(sink.get(t, m.Attachments[0].SHA256)); got != "Name;Karte\nJürgen;[redacted: card number]\n" {
			t.Errorf("csv stored as %q", got)
		}
		if got := sink.get(t, m.Attachments[1].SHA256); !bytes.Contains(got, []byte("4111 1111")) {
			t.Errorf("a pdf was changed: %q", got)
		}
	}
}

func TestRedactTextLongBodyCopy(t *testing.T) {
	body := strings.Repeat("line\n", 50) + "card 4111 1111 1111 1111\n"
	raw := []byte("From: a@example.com\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body)
	redact := func(s string) string { return strings.ReplaceAll(s, "4111 1111 1111 1111", "[redacted]") }
	m, sink := parseWith(t, raw, ParseOptions{MaxTextBytes: 100, RedactText: redact})
	if len(m.Attachments) != 1 || m.Attachments[0].Filename != "body.txt" {
		t.Fatalf("Attachments = %+v", m.Attachments)
	}
	if got := string(sink.get(t, m.Attachments[0].SHA256)); strings.Contains(got, "4111") || !strings.Contains(got, "[redacted]") {
		t.Errorf("body.txt = %q", got)
	}
}

func TestNoPolicyKeepsEverything(t *testing.T) {
	raw := mailWith(part{"invoice.pdf", "application/pdf", samplePE})
	m, sink := parseWith(t, raw, ParseOptions{})
	if len(m.Dropped) != 0 || len(m.Attachments) != 1 || !bytes.Equal(sink.get(t, m.Attachments[0].SHA256), samplePE) {
		t.Errorf("without a policy: Dropped %+v, Attachments %+v", m.Dropped, m.Attachments)
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1 KB", 31_500_000: "31.5 MB", 25_000_000: "25 MB", 2e9: "2 GB"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}
