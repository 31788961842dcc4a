package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"ticketd/mail/mailtest"
	"ticketd/retention"
)

// holdTOML adds a hold category to writeConfig's configuration.
const holdTOML = `
[[hold]]
name = "letters"
duration = "6y"
`

// setRetention rewrites the support purpose's retention in the config file.
func setRetention(t *testing.T, cfg, period string) {
	t.Helper()
	raw, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	i := strings.Index(text, "retention = \"")
	j := strings.Index(text[i+len("retention = \""):], "\"")
	text = text[:i] + "retention = \"" + period + text[i+len("retention = \"")+j:]
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// run runs ticketd and fails the test unless it exits with code.
func runWant(t *testing.T, code int, args ...string) string {
	t.Helper()
	out, errOut, got := ticketd(t, nil, args...)
	if got != code {
		t.Fatalf("ticketd %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), got, code, out, errOut)
	}
	return out + errOut
}

func ingestMail(t *testing.T, dir, cfg, from, id string) {
	t.Helper()
	file := filepath.Join(dir, id+".eml")
	os.WriteFile(file, []byte("From: "+from+"\r\nSubject: Frage "+id+"\r\nMessage-ID: <"+id+"@example.org>\r\n\r\nGeheimer Text "+id+"\r\n"), 0o600)
	runWant(t, 0, "ingest", "-config", cfg, "-silent", file)
}

// retentionCLI runs the commands of the deletion concept against cfg, with
// or without a daemon: close and reopen, holds, dry run and purge.
func retentionCLI(t *testing.T, dir, cfg string) {
	ingestMail(t, dir, cfg, "Erika <erika@example.org>", "r1")
	ingestMail(t, dir, cfg, "Bob <bob@example.net>", "r2")

	if out := runWant(t, 0, "tickets", "-config", cfg, "close", "1"); !strings.Contains(out, "ticket #1 is closed; purge planned: 20") {
		t.Errorf("close: %q", out)
	}
	if out := runWant(t, 1, "tickets", "-config", cfg, "close", "#1"); !strings.Contains(out, "already has this status") {
		t.Errorf("close twice: %q", out)
	}
	if out := runWant(t, 0, "tickets", "-config", cfg, "reopen", "1"); !strings.Contains(out, "ticket #1 is open; purge planned: not planned") {
		t.Errorf("reopen: %q", out)
	}
	runWant(t, 0, "tickets", "-config", cfg, "close", "1")
	runWant(t, 1, "tickets", "-config", cfg, "close", "99")
	runWant(t, exitUsage, "tickets", "-config", cfg, "close")

	if out := runWant(t, 0, "hold", "-config", cfg, "add", "2", "letters"); !strings.Contains(out, "ticket #2 is under hold letters until") {
		t.Errorf("hold add: %q", out)
	}
	if out := runWant(t, 1, "hold", "-config", cfg, "add", "2", "nonsense"); !strings.Contains(out, "no such [[hold]] category") {
		t.Errorf("hold add unknown: %q", out)
	}
	runWant(t, exitUsage, "hold", "-config", cfg, "add", "2")
	runWant(t, 0, "tickets", "-config", cfg, "close", "2")
	if out := runWant(t, 0, "hold", "-config", cfg, "list"); !strings.Contains(out, "#2") || !strings.Contains(out, "letters") || !strings.Contains(out, "admin") {
		t.Errorf("hold list: %q", out)
	}
	var holds []retention.ActiveHold
	if err := json.Unmarshal([]byte(runWant(t, 0, "hold", "-config", cfg, "list", "-json")), &holds); err != nil || len(holds) != 1 || holds[0].Ticket != 2 {
		t.Errorf("hold list -json: %+v %v", holds, err)
	}

	// Planning: in 2 years and a day ticket 1 goes, ticket 2 is held.
	future := time.Now().AddDate(2, 0, 2).Format(time.DateOnly)
	out := runWant(t, 0, "purge", "-config", cfg, "-dry-run", "-at", future)
	if !strings.Contains(out, "dry run") || !strings.Contains(out, "#1") || strings.Contains(out, "#2 ") ||
		!strings.Contains(out, "1 would be anonymized, 0 would be deleted") {
		t.Errorf("dry run: %q", out)
	}
	if out := runWant(t, 1, "purge", "-config", cfg, "-at", future); !strings.Contains(out, "future") {
		t.Errorf("purge in the future: %q", out)
	}
	runWant(t, exitUsage, "purge", "-config", cfg, "-dry-run", "-at", "next week")
	if out := runWant(t, 0, "purge", "-config", cfg); !strings.Contains(out, "0 anonymized, 0 deleted") {
		t.Errorf("purge with nothing due: %q", out)
	}
}

func TestRetentionCLIWithoutDaemon(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "127.0.0.1:1", holdTOML)
	retentionCLI(t, dir, cfg)

	// Retention 0d: the closed ticket is due now; the held one is kept.
	setRetention(t, cfg, "0d")
	out := runWant(t, 0, "purge", "-config", cfg)
	if !strings.Contains(out, "#1") || !strings.Contains(out, "retention 0d counted from closing") || !strings.Contains(out, "1 anonymized, 0 deleted") {
		t.Errorf("purge: %q", out)
	}
	if out := runWant(t, 0, "tickets", "-config", cfg, "show", "1"); !strings.Contains(out, "Anonymized:") || strings.Contains(out, "erika") || strings.Contains(out, "Geheimer") {
		t.Errorf("show anonymized: %q", out)
	}
	if out := runWant(t, 0, "tickets", "-config", cfg, "list"); !strings.Contains(out, "closed,anonymized") || !strings.Contains(out, "closed,held") {
		t.Errorf("list: %q", out)
	}
	if out := runWant(t, 0, "tickets", "-config", cfg, "show", "2"); !strings.Contains(out, "Hold:      letters since") {
		t.Errorf("show held: %q", out)
	}
	if out := runWant(t, 0, "hold", "-config", cfg, "release", "2", "letters"); !strings.Contains(out, "hold letters on ticket #2 released; purge planned: 20") {
		t.Errorf("release: %q", out)
	}
	runWant(t, 1, "hold", "-config", cfg, "release", "2", "letters")
	var rep retention.Report
	if err := json.Unmarshal([]byte(runWant(t, 0, "purge", "-config", cfg, "-json")), &rep); err != nil ||
		len(rep.Tickets) != 1 || rep.Tickets[0].Ticket != 2 || rep.Anonymized != 1 || rep.Scrub == nil {
		t.Errorf("purge -json: %+v %v", rep, err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "data", "ticketd.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"erika@example.org", "bob@example.net", "Geheimer Text"} {
		if strings.Contains(string(raw), s) {
			t.Errorf("%q still in the database file", s)
		}
	}
	if out := runWant(t, 0, "audit", "-config", cfg, "verify"); !strings.Contains(out, "audit trail ok") {
		t.Errorf("audit: %q", out)
	}
}

func TestRetentionCLIWithDaemon(t *testing.T) {
	srv := mailtest.MemIMAP(t, nil)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, srv.Addr, holdTOML+"\n[retention]\nschedule = \"@every 1s\"\n")
	d := startRun(t, cfg)
	d.waitLog(t, "ticketd started")
	retentionCLI(t, dir, cfg)

	// The scheduler purges what a changed configuration makes due, after SIGHUP.
	setRetention(t, cfg, "0d")
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitLog(t, "configuration reloaded")
	d.waitLog(t, "anonymized=1")
	if out := runWant(t, 0, "tickets", "-config", cfg, "show", "1"); !strings.Contains(out, "Anonymized:") {
		t.Errorf("show after the scheduled purge: %q", out)
	}
	if strings.Contains(d.log(), "erika") {
		t.Errorf("the log holds an address:\n%s", d.log())
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		if d.err != nil {
			t.Errorf("run exited with %v\n%s", d.err, d.log())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop on SIGTERM")
	}
}
