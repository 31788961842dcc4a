package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTicketsShowDropped: an executable named like a PDF is dropped at
// ingest, and tickets show names it with the type found, the declared
// type, its size and the reason; the ticket and the rest of the mail are kept.
func TestTicketsShowDropped(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "127.0.0.1:143", "")
	exe := make([]byte, 0x200)
	copy(exe, "MZ")
	exe[0x3c] = 0x80
	copy(exe[0x80:], "PE\x00\x00")
	raw := "From: Erika <erika@example.org>\r\nTo: support@example.com\r\nSubject: Rechnung\r\nMessage-ID: <d1@example.org>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nAnbei die Rechnung.\r\n" +
		"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"invoice\x1b[2J.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString(exe) + "\r\n--b--\r\n"
	file := filepath.Join(dir, "m.eml")
	if err := os.WriteFile(file, []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	runWant(t, 0, "ingest", "-config", cfg, "-silent", file)
	out := runWant(t, 0, "tickets", "-config", cfg, "show", "1")
	want := `[dropped attachment "invoice[2J.pdf", application/vnd.microsoft.portable-executable (declared application/pdf), 512 bytes: type application/vnd.microsoft.portable-executable refused]`
	if !strings.Contains(out, want) || !strings.Contains(out, "Anbei die Rechnung.") || strings.Contains(out, "\x1b") {
		t.Errorf("tickets show:\n%s\nwant a line %s", out, want)
	}
	js := runWant(t, 0, "tickets", "-config", cfg, "show", "-json", "1")
	if !strings.Contains(js, `"content_type": "application/vnd.microsoft.portable-executable"`) || !strings.Contains(js, `"declared": "application/pdf"`) ||
		!strings.Contains(js, `"reason": "type application/vnd.microsoft.portable-executable refused"`) {
		t.Errorf("tickets show -json:\n%s", js)
	}
}
