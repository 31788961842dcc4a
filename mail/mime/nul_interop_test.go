package mime_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"

	"ticketd/mail/mailtest"
	"ticketd/mail/mime"
)

type hashOnly struct{}

func (hashOnly) Put(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

// TestNulInHeaderThroughDovecot imports testdata/nul-header.eml, whose header
// holds NULs, from a real Dovecot, which sends each NUL as 0x80 (IMAP cannot
// carry a NUL): the parse gives U+FFFD, not "€". Runs under make interop.
func TestNulInHeaderThroughDovecot(t *testing.T) {
	if !mailtest.Interop() {
		t.Skip("needs Dovecot (TICKETD_INTEROP=1, make interop)")
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "nul-header.eml"))
	if err != nil {
		t.Fatal(err)
	}
	d := mailtest.StartDovecot(t)
	d.WriteMaildir(t, "INBOX", [][]byte{raw})
	acct := &mailtest.Account{Addr: d.Addr, Username: d.Username, Password: d.Password}
	got := acct.Folder(t, "INBOX")
	if len(got) != 1 {
		t.Fatalf("%d mails in INBOX", len(got))
	}
	if bytes.IndexByte(got[0].Raw, 0) >= 0 {
		t.Log("this Dovecot sends NULs as they are")
	}
	m, err := mime.Parse(bytes.NewReader(got[0].Raw), hashOnly{}, mime.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Rechnung\uFFFDNr. 4711" || m.From.Name != "J\uFFFDrg Müller" {
		t.Errorf("Subject %q, From %q", m.Subject, m.From.Name)
	}
	if len(m.Attachments) != 1 || m.Attachments[0].Filename != "Rechnung\uFFFD.pdf" {
		t.Errorf("attachments %+v", m.Attachments)
	}
}
