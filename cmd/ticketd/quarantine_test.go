package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ticketd/desk"
	"ticketd/mail/mailtest"
	"ticketd/store"
)

// quarantineCLI runs quarantine list, show, retry and delete on a mail
// without a sender.
func quarantineCLI(t *testing.T, dir, cfg string) {
	file := filepath.Join(dir, "nosender.eml")
	os.WriteFile(file, []byte("To: support@example.com\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\nMessage-ID: <q1@example.net>\r\n\r\nhallo\r\n"), 0o600)
	if out := runWant(t, 0, "ingest", "-config", cfg, "-mailbox", "support", file); !strings.Contains(out, "quarantined as 1") {
		t.Fatalf("ingest: %q", out)
	}
	out := runWant(t, 0, "quarantine", "-config", cfg, "show", "1")
	for _, want := range []string{"Quarantined mail 1", "Reason:    no sender address", "Origin:    file, mailbox support",
		"Raw copy:  inside ticketd.db", "Message-ID: <q1@example.net>", "  Subject: Grüße\n", "  To: support@example.com\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	var v desk.QuarantineView
	if err := json.Unmarshal([]byte(runWant(t, 0, "quarantine", "show", "-json", "1", "-config", cfg)), &v); err != nil ||
		v.ID != 1 || v.StoredIn != "database" || len(v.Headers) != 3 {
		t.Errorf("show -json: %+v %v", v, err)
	}
	if out := runWant(t, 0, "quarantine", "-config", cfg, "retry", "1"); !strings.Contains(out, "still quarantined: no sender address") {
		t.Errorf("retry: %q", out)
	}
	if out := runWant(t, 0, "quarantine", "-config", cfg, "delete", "1"); !strings.Contains(out, "quarantined mail 1 deleted") {
		t.Errorf("delete: %q", out)
	}
	var qs []*store.Quarantine
	if err := json.Unmarshal([]byte(runWant(t, 0, "quarantine", "-config", cfg, "list", "-json")), &qs); err != nil || len(qs) != 0 {
		t.Errorf("list after delete: %+v %v", qs, err)
	}
	for _, sub := range []string{"show", "retry", "delete"} {
		if _, errOut, code := ticketd(t, nil, "quarantine", "-config", cfg, sub, "1"); code != 1 || !strings.Contains(errOut, "no quarantined mail 1") {
			t.Errorf("%s of a deleted record: exit %d %q", sub, code, errOut)
		}
	}
	for _, args := range [][]string{{"show"}, {"retry", "x"}, {"delete", "1", "2"}, {"frob"}} {
		if _, _, code := ticketd(t, nil, append([]string{"quarantine", "-config", cfg}, args...)...); code != exitUsage {
			t.Errorf("quarantine %v: exit %d, want %d", args, code, exitUsage)
		}
	}
}

func TestQuarantineCLIWithoutDaemon(t *testing.T) {
	dir := t.TempDir()
	quarantineCLI(t, dir, writeConfig(t, dir, "127.0.0.1:1", ""))
}

func TestQuarantineCLIWithDaemon(t *testing.T) {
	srv := mailtest.MemIMAP(t, nil)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, srv.Addr, "")
	d := startRun(t, cfg)
	d.waitLog(t, "ticketd started")
	quarantineCLI(t, dir, cfg)
}
