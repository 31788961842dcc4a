package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ticketd/store"
)

func TestAuditVerifyAndBackup(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "127.0.0.1:1", "")
	mailFile := filepath.Join(dir, "a.eml")
	os.WriteFile(mailFile, []byte("From: Erika <erika@example.org>\r\nSubject: Backup\r\nMessage-ID: <b1@example.org>\r\n\r\nx\r\n"), 0o600)
	if out, errOut, code := ticketd(t, nil, "ingest", "-config", cfg, "-mailbox", "support", mailFile); code != 0 {
		t.Fatalf("ingest: exit %d %q %q", code, out, errOut)
	}
	out, errOut, code := ticketd(t, nil, "audit", "-config", cfg, "verify")
	if code != 0 || !strings.Contains(out, "audit trail ok") {
		t.Fatalf("audit verify: exit %d %q %q", code, out, errOut)
	}
	backup := filepath.Join(dir, "copy.db")
	out, errOut, code = ticketd(t, nil, "backup", "-config", cfg, backup)
	if code != 0 || !strings.Contains(out, "backup written") {
		t.Fatalf("backup: exit %d %q %q", code, out, errOut)
	}
	if bytes.Contains(must(os.ReadFile(backup)), []byte("erika@example.org")) {
		t.Error("the backup holds the address in clear")
	}
	openBackupCopy(t, backup, dir).View(func(tx *store.Tx) error {
		if _, err := tx.PersonByEmail("erika@example.org"); err != nil {
			t.Fatalf("backup does not hold the live data: %v", err)
		}
		return nil
	})

	// One changed byte in an audit event is reported with the event's number.
	path := filepath.Join(dir, "data", "ticketd.db")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.LastIndex(raw, []byte(`"action":"ticket.created"`))
	if i < 0 {
		t.Fatal("no ticket.created event in the file")
	}
	raw[i+len(`"action":"ticket.c`)] = 'R'
	os.WriteFile(path, raw, 0o600)
	out, errOut, code = ticketd(t, nil, "audit", "-config", cfg, "verify")
	if code == 0 || !strings.Contains(errOut, "audit event") {
		t.Fatalf("audit verify after tampering: exit %d %q %q", code, out, errOut)
	}
}
