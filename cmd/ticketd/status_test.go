package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"ticketd/desk"
	"ticketd/mail/mailtest"
)

func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite testdata/*.golden from the current output")
	}
}

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if updating() {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: got\n%s\nwant\n%s", name, got, want)
	}
}

// TestPrintStatus renders every field, with and without a daemon.
func TestPrintStatus(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.DateTime, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	running := &desk.StatusReport{
		Daemon:  desk.DaemonState{Running: true, PID: 4242, Version: "1.2.3", Started: at("2026-12-07 01:00:00")},
		DataDir: "/var/lib/ticketd",
		Mailboxes: []desk.MailboxState{
			{Name: "support", Host: "imap.example.com", Port: 993, TLS: "implicit", Folder: "INBOX", State: "idling",
				UIDValidity: 7, LastUID: 42, CheckpointAt: at("2026-12-07 01:02:03"), LastSync: at("2026-12-07 01:02:04")},
			{Name: "sales", Host: "::1", Port: 143, TLS: "none", Folder: "Sales", State: "disconnected",
				UIDValidity: 9, LastUID: 3, CheckpointAt: at("2026-12-06 23:00:00"), PendingActions: 2,
				LastError: "dial tcp [::1]:143: connect: connection refused", LastErrorAt: at("2026-12-07 01:05:00")},
			{Name: "new", Host: "imap.example.com", Port: 993, TLS: "implicit", Folder: "INBOX", State: "polling"},
		},
		Outbox: desk.OutboxCounts{Pending: 2, Failed: 1, Sent: 10, NextAttempt: at("2026-12-07 01:06:00")},
		Schedule: &desk.ScheduleState{Purge: at("2026-12-08 03:00:00"), ConsentCheck: at("2026-12-07 01:10:00"),
			Reminders: at("2026-12-07 01:15:00")},
	}
	var b bytes.Buffer
	if err := printStatus(&b, running, time.UTC); err != nil {
		t.Fatal(err)
	}
	golden(t, "status-running.golden", b.Bytes())

	stopped := &desk.StatusReport{DataDir: "/var/lib/ticketd", Mailboxes: []desk.MailboxState{
		{Name: "support", Host: "imap.example.com", Port: 993, TLS: "implicit", Folder: "INBOX", State: "stopped",
			UIDValidity: 7, LastUID: 42, CheckpointAt: at("2026-12-07 01:02:03")},
	}, Outbox: desk.OutboxCounts{Sent: 10}}
	b.Reset()
	if err := printStatus(&b, stopped, time.UTC); err != nil {
		t.Fatal(err)
	}
	golden(t, "status-stopped.golden", b.Bytes())
}

// TestStatus asks a running daemon through its socket, then the store
// without one.
func TestStatus(t *testing.T) {
	srv := mailtest.MemIMAP(t, nil)
	srv.Append(t, "INBOX", []byte("From: Erika <erika@example.org>\r\nSubject: Hallo\r\nMessage-ID: <s1@example.org>\r\n\r\nText\r\n"))
	dir := t.TempDir()
	cfg := writeConfig(t, dir, srv.Addr, "")
	d := startRun(t, cfg)
	d.waitLog(t, "mail stored")

	out := runWant(t, 0, "status", "-config", cfg)
	for _, re := range []string{
		`ticketd is running: pid \d+, version dev, started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d`,
		`mailbox support: (idling|polling)`,
		`server       ` + regexp.QuoteMeta(srv.Addr) + ` \(tls none\), folder INBOX`,
		`checkpoint   UIDVALIDITY \d+, last UID 1, stored \d{4}-`,
		`last sync    \d{4}-`,
		`last error   none`,
		`outbox: 0 pending, 0 failed, 0 sent`,
		`next purge          \d{4}-`,
		`next consent check  \d{4}-`,
		`next reminders      \d{4}-`,
		`next digest         \d{4}-`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("status lacks %s:\n%s", re, out)
		}
	}
	var rep desk.StatusReport
	if err := json.Unmarshal([]byte(runWant(t, 0, "status", "-config", cfg, "-json")), &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.Daemon.Running || rep.Daemon.PID != d.cmd.Process.Pid || len(rep.Mailboxes) != 1 || rep.Mailboxes[0].LastUID != 1 ||
		rep.Mailboxes[0].LastSync.IsZero() || rep.Schedule == nil || rep.Schedule.Purge.IsZero() || rep.Schedule.ConsentCheck.IsZero() ||
		rep.Schedule.Reminders.IsZero() || rep.Schedule.Digest.IsZero() {
		t.Errorf("status -json: %+v", rep)
	}

	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop on SIGTERM")
	}
	out = runWant(t, exitUnavailable, "status", "-config", cfg)
	for _, want := range []string{"ticketd is not running; what the store in " + filepath.Join(dir, "data") + " holds:",
		"mailbox support: stopped", "last UID 1", "no purge, consent check, reminder or digest is scheduled"} {
		if !strings.Contains(out, want) {
			t.Errorf("status without a daemon lacks %q:\n%s", want, out)
		}
	}
	runWant(t, exitUsage, "status", "-config", cfg, "extra")
}
