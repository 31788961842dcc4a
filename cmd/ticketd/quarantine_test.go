package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

func TestPrintQuarantineAndAckLine(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 0, 5, 0, time.Local)
	v := &desk.QuarantineView{Quarantine: &store.Quarantine{ID: 4, Reason: "no sender address", Size: 812, Blob: strings.Repeat("ab", 32),
		Folder: "Quarantine", StoredAt: at, Origin: store.Origin{Channel: "email", Mailbox: "support", MessageID: "q1@example.net",
			UID: 17, UIDValidity: 7, ReceivedAt: at}},
		SourceFolder: "INBOX", StoredIn: "/var/lib/ticketd/blobs/ab/" + strings.Repeat("ab", 32),
		Headers:    []desk.Header{{Name: "To", Value: "support@example.com"}, {Name: "Subject", Value: "Grüße\nund mehr"}, {Name: "X-Evil", Value: "a\x1b[31mb\u009bc"}},
		HeaderNote: "1 header lines without a field name were skipped"}
	var b strings.Builder
	if err := printQuarantine(&b, v); err != nil {
		t.Fatal(err)
	}
	want := `Quarantined mail 4, stored 2026-11-23 10:00:05
Reason:    no sender address
Size:      812 bytes
Origin:    email, mailbox support, folder INBOX, UIDVALIDITY 7, UID 17, received 2026-11-23 10:00:05
Moved to:  IMAP folder Quarantine
Message-ID: <q1@example.net>
Raw copy:  /var/lib/ticketd/blobs/ab/` + strings.Repeat("ab", 32) + `
Note:      1 header lines without a field name were skipped

Header of the raw copy:
  To: support@example.com
  Subject: Grüße und mehr
  X-Evil: a�[31mb�c
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}

	ack := &store.Ack{Status: "queued", OutboxID: 3, Language: "de", NoticeHash: strings.Repeat("cd", 32)}
	for _, tc := range []struct {
		v    desk.AckView
		want string
	}{
		{desk.AckView{Ack: ack, Status: desk.AckSent, Attempts: 1, SentAt: at}, "sent 2026-11-23 10:00:05 (outbox 3, de, notice cdcdcdcdcdcd)"},
		{desk.AckView{Ack: ack, Status: desk.AckFailed, Attempts: 1, FailedAt: at, Error: "550 no such user"}, "failed: 550 no such user; at 2026-11-23 10:00:05 (outbox 3, de, notice cdcdcdcdcdcd)"},
		{desk.AckView{Ack: ack, Status: desk.AckQueued}, "queued (outbox 3, de, notice cdcdcdcdcdcd)"},
		{desk.AckView{Ack: ack, Status: desk.AckQueued, Attempts: 2, NextAttempt: at, Error: "451 try later"}, "queued, attempts 2, next 2026-11-23 10:00:05: 451 try later (outbox 3, de, notice cdcdcdcdcdcd)"},
		{desk.AckView{Ack: &store.Ack{Status: "suppressed", Reason: "auto-generated mail (Auto-Submitted)"}, Status: desk.AckSuppressed}, "suppressed: auto-generated mail (Auto-Submitted)"},
	} {
		if got := ackLine(&tc.v); got != tc.want {
			t.Errorf("ackLine = %q, want %q", got, tc.want)
		}
	}
}
