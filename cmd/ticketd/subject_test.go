package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ticketd/desk"
	"ticketd/mail/mailtest"
)

// ticketdIn runs the binary in dir and returns stdout, stderr and the exit code.
func ticketdIn(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return stdout.String(), stderr.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), 0
}

const subjectMail = "From: Erika Mustermann <erika@example.org>\r\nSubject: Hilfe\r\nMessage-ID: <s1@example.org>\r\n" +
	"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nText\r\n" +
	"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"a.bin\"\r\n\r\nabc\r\n--b--\r\n"

// exportedDoc reads subject.json of an export archive.
func exportedDoc(t *testing.T, path string) *desk.SubjectExport {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	f, err := zr.Open("subject.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var doc desk.SubjectExport
	if err := json.NewDecoder(f).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return &doc
}

// testSubjectCommands runs every subject command and ropa against the
// configuration cfg, with or without a daemon.
func testSubjectCommands(t *testing.T, dir, cfg string) {
	// export: default name in the current directory, never overwritten without -force.
	out, errOut, code := ticketdIn(t, dir, "subject", "-config", cfg, "export", "Erika@example.org")
	if code != 0 || !strings.Contains(out, "exported person 1 to subject-1.zip: 1 tickets, 1 attachment files") {
		t.Fatalf("export: exit %d %q %q", code, out, errOut)
	}
	path := filepath.Join(dir, "subject-1.zip")
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("export file: %v, mode %v", err, fi.Mode())
	}
	if doc := exportedDoc(t, path); doc.Person.Email != "erika@example.org" || len(doc.Tickets) != 1 || len(doc.Tickets[0].Messages) != 1 {
		t.Errorf("exported %+v", doc)
	}
	if _, errOut, code := ticketdIn(t, dir, "subject", "-config", cfg, "export", "erika@example.org"); code != 1 || !strings.Contains(errOut, "exists") {
		t.Errorf("export over an existing file: exit %d %q", code, errOut)
	}
	other := filepath.Join(dir, "other.zip")
	os.WriteFile(other, []byte("keep"), 0o600)
	if _, _, code := ticketdIn(t, dir, "subject", "-config", cfg, "export", "erika@example.org", "-o", other); code != 1 {
		t.Errorf("export -o over an existing file: exit %d", code)
	}
	if b, _ := os.ReadFile(other); string(b) != "keep" {
		t.Error("an existing file was overwritten without -force")
	}
	if out, errOut, code := ticketdIn(t, dir, "subject", "-config", cfg, "export", "-force", "-o", other, "erika@example.org"); code != 0 || !strings.Contains(out, other) {
		t.Errorf("export -force: exit %d %q %q", code, out, errOut)
	}
	exportedDoc(t, other)
	if _, errOut, code := ticketdIn(t, dir, "subject", "-config", cfg, "export", "nobody@example.org"); code != 1 || !strings.Contains(errOut, "no data subject") {
		t.Errorf("export of an unknown address: exit %d %q", code, errOut)
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, ".ticketd-export-*")); len(matches) != 0 {
		t.Errorf("temporary files left: %v", matches)
	}

	// rectify: a taken address is refused; usage errors exit 64.
	if _, errOut, code := ticketdIn(t, dir, "subject", "-config", cfg, "rectify", "erika@example.org", "-email", "otto@example.net"); code != 1 ||
		!strings.Contains(errOut, "belongs to another person") {
		t.Errorf("rectify to a taken address: exit %d %q", code, errOut)
	}
	if _, _, code := ticketdIn(t, dir, "subject", "-config", cfg, "rectify", "erika@example.org"); code != exitUsage {
		t.Errorf("rectify without -name or -email: exit %d", code)
	}
	if _, _, code := ticketdIn(t, dir, "subject", "-config", cfg, "frobnicate", "x@example.org"); code != exitUsage {
		t.Errorf("unknown subcommand: exit %d", code)
	}
	out, errOut, code = ticketdIn(t, dir, "subject", "-config", cfg, "rectify", "erika@example.org", "-name", "Erika Musterfrau", "-json")
	var rect desk.RectifyReport
	if code != 0 || json.Unmarshal([]byte(out), &rect) != nil || rect.Messages != 1 {
		t.Errorf("rectify: exit %d %q %q", code, out, errOut)
	}

	// erase: a dry run reports and changes nothing; then the erasure.
	out, errOut, code = ticketdIn(t, dir, "subject", "-config", cfg, "erase", "erika@example.org", "-dry-run", "-json")
	var rep desk.ErasureReport
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || !rep.DryRun || len(rep.Erased.Tickets) != 1 {
		t.Errorf("erase -dry-run: exit %d %q %q", code, out, errOut)
	}
	out, errOut, code = ticketdIn(t, dir, "subject", "-config", cfg, "erase", "erika@example.org")
	if code != 0 || !strings.Contains(out, "Erased:") || !strings.Contains(out, "tickets opened by the person, deleted whole: 1") ||
		!strings.Contains(out, "Free pages of the database overwritten") {
		t.Errorf("erase: exit %d %q %q", code, out, errOut)
	}
	if _, errOut, code := ticketdIn(t, dir, "subject", "-config", cfg, "erase", "erika@example.org"); code != 1 || !strings.Contains(errOut, "no data subject") {
		t.Errorf("erase again: exit %d %q", code, errOut)
	}

	// offboard.
	out, errOut, code = ticketdIn(t, dir, "subject", "-config", cfg, "offboard", "otto@example.net")
	if code != 0 || !strings.Contains(out, "Anonymised now: 1 ticket (#") {
		t.Errorf("offboard: exit %d %q %q", code, out, errOut)
	}

	// ropa in both formats.
	out, errOut, code = ticketdIn(t, dir, "ropa", "-config", cfg)
	if code != 0 || !strings.HasPrefix(out, "# Record of processing activities") || !strings.Contains(out, "Beispiel GmbH") {
		t.Errorf("ropa: exit %d %q %q", code, out, errOut)
	}
	out, _, code = ticketdIn(t, dir, "ropa", "-config", cfg, "-format", "json")
	var r desk.RecordOfProcessing
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || len(r.Activities) != 2 || r.Activities[0].Purpose != "support" || r.Activities[1].LegalBasis != "consent" {
		t.Errorf("ropa -format json: exit %d %q", code, out)
	}
	if _, _, code := ticketdIn(t, dir, "ropa", "-config", cfg, "-format", "xml"); code != exitUsage {
		t.Errorf("ropa -format xml: exit %d", code)
	}
	if out, errOut, code := ticketd(t, nil, "audit", "-config", cfg, "verify"); code != 0 {
		t.Errorf("audit verify after the subject commands: exit %d %q %q", code, out, errOut)
	}
}

func TestSubjectCommandsWithoutDaemon(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "127.0.0.1:1", "")
	for i, m := range []string{subjectMail, "From: Otto <otto@example.net>\r\nSubject: Otto\r\nMessage-ID: <o1@example.net>\r\n\r\nx\r\n"} {
		if out, errOut, code := ticketd(t, []byte(m), "ingest", "-config", cfg, "-mailbox", "support", "-"); code != 0 {
			t.Fatalf("ingest %d: exit %d %q %q", i, code, out, errOut)
		}
	}
	testSubjectCommands(t, dir, cfg)
}

func TestSubjectCommandsWithDaemon(t *testing.T) {
	srv := mailtest.MemIMAP(t, nil)
	srv.Append(t, "INBOX", []byte(subjectMail))
	srv.Append(t, "INBOX", []byte("From: Otto <otto@example.net>\r\nSubject: Otto\r\nMessage-ID: <o1@example.net>\r\n\r\nx\r\n"))
	dir := t.TempDir()
	cfg := writeConfig(t, dir, srv.Addr, "")
	d := startRun(t, cfg)
	d.waitLog(t, "ticketd started")
	mailtest.WaitFor(t, 20*time.Second, "two tickets", func() bool { return len(listTickets(t, cfg)) == 2 })
	testSubjectCommands(t, dir, cfg)
	if strings.Contains(d.log(), "admin operation failed") {
		t.Errorf("the daemon logged a failed operation:\n%s", d.log())
	}
}
