package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// routesTOML adds a billing queue and three rules to writeConfig's
// configuration: the third loses its mail to "invoice" to the second.
const routesTOML = `
[[queue]]
name = "billing"
purpose = "support"
response_time = "2d"
supervisors = ["carol@example.com"]

[[route]]
queue = "billing"
to = ["support+billing@example.com"]

[[route]]
queue = "billing"
subject = ["invoice*"]

[[route]]
queue = "support"
subject = ["invoices", "complaint"]
`

// TestCheckWarnings: check prints each warning as FILE:LINE:COL: warning:
// on stderr and exits 0; with an error among them it prints both, in the
// order of the file, and exits 78.
func TestCheckWarnings(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "127.0.0.1:143", routesTOML)
	out, errOut, code := ticketd(t, nil, "check", "-config", cfg)
	line := lineOf(t, cfg, "[[route]]", 3)
	want := cfg + ":" + line + ":1: warning: [[route]] #3 overlaps route[2]: its mail with subject \"invoices\" goes to queue \"billing\" by route[2], not to \"support\"\n"
	if code != 0 || errOut != want || !strings.HasSuffix(out, ": ok (1 mailboxes, 2 queues, 3 routes, 2 purposes, 1 warning)\n") {
		t.Errorf("check: exit %d\nstdout %q\nstderr %q\nwant stderr %q", code, out, errOut, want)
	}

	bad := writeConfig(t, t.TempDir(), "127.0.0.1:143", routesTOML+`
[[route]]
queue = "support"
subject = ["Invoice"]
`)
	_, errOut, code = ticketd(t, nil, "check", "-config", bad)
	wantLines := []string{
		bad + ":" + lineOf(t, bad, "[[route]]", 3) + ":1: warning: [[route]] #3 overlaps route[2]",
		bad + ":" + lineOf(t, bad, "[[route]]", 4) + ":1: [[route]] #4 can never match: route[2] takes all its mail first; remove it or move it above",
	}
	got := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
	if code != exitConfig || len(got) != 2 || !strings.HasPrefix(got[0], wantLines[0]) || got[1] != wantLines[1] {
		t.Errorf("check: exit %d, stderr:\n%s\nwant (prefixes):\n%s", code, errOut, strings.Join(wantLines, "\n"))
	}
}

// lineOf is the line number of the n-th line of the file that is s.
func lineOf(t *testing.T, path, s string, n int) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if l == s {
			if n--; n == 0 {
				return itoa(uint64(i + 1))
			}
		}
	}
	t.Fatalf("%s has no %d-th line %q", path, n, s)
	return ""
}

// TestTicketsShowRouting: a ticket's queue is chosen by the rules, and
// tickets show names the rule.
func TestTicketsShowRouting(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "127.0.0.1:143", routesTOML)
	mails := map[string]string{
		"plus.eml":  "From: erika@example.org\r\nTo: Support+Billing@example.com\r\nSubject: Frage\r\nMessage-ID: <r1@example.org>\r\n\r\nHallo\r\n",
		"plain.eml": "From: erika@example.org\r\nTo: support@example.com\r\nSubject: Frage\r\nMessage-ID: <r2@example.org>\r\n\r\nHallo\r\n",
	}
	for _, name := range []string{"plus.eml", "plain.eml"} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(mails[name]), 0o600)
		if out, errOut, code := ticketd(t, nil, "ingest", "-silent", "-mailbox", "support", "-config", cfg, p); code != 0 {
			t.Fatalf("ingest %s: exit %d, %q %q", name, code, out, errOut)
		}
	}
	for n, want := range map[string]string{
		"1": "Queue:     billing\nRouted:    route[1]: to \"support+billing@example.com\"\n",
		"2": "Queue:     support\nRouted:    no route matched: the queue of mailbox support\n",
	} {
		out, errOut, code := ticketd(t, nil, "tickets", "show", n, "-config", cfg)
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("tickets show %s: exit %d, %q\n%s\nwant it to hold %q", n, code, errOut, out, want)
		}
	}
}
