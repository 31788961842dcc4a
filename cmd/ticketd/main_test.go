package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"ticketd/desk"
	"ticketd/mail/mailtest"
	"ticketd/store"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ticketd-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "ticketd")
	out, err := exec.Command("go", "build", "-race", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build ticketd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// ticketd runs the binary to completion and returns stdout, stderr and the exit code.
func ticketd(t *testing.T, stdin []byte, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

// writeConfig writes a configuration for one mailbox on addr into dir.
func writeConfig(t testing.TB, dir, addr string, extra string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	os.WriteFile(filepath.Join(dir, "imap.pass"), []byte("secret\n"), 0o600)
	cfg := fmt.Sprintf(`[server]
data_dir = "data"
http_listen = %q
public_url = "http://127.0.0.1:8080"

[smtp]
host = "127.0.0.1"
tls = "none"
from = "support@example.com"

[[queue]]
name = "support"
purpose = "support"
response_time = "1d"

[[mailbox]]
name = "support"
address = "support@example.com"
host = %q
port = %s
tls = "none"
username = "support"
password_file = "imap.pass"
queue = "support"
%s`+demoNotice, freePort(t), host, port, extra)
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// freePort is a loopback address that was free a moment ago.
func freePort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	good := writeConfig(t, dir, "127.0.0.1:143", "")
	out, errOut, code := ticketd(t, nil, "check", "-config", good)
	if code != 0 || !strings.Contains(out, "ok") {
		t.Errorf("check good config: code %d, out %q, err %q", code, out, errOut)
	}
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("[server]\nhots = 1\npublic_url = 5\n"), 0o600)
	_, errOut, code = ticketd(t, nil, "check", "-config", bad)
	if code != exitConfig {
		t.Errorf("check bad config: exit %d, want %d", code, exitConfig)
	}
	for _, want := range []string{bad + ":2:1:", bad + ":3:"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("check output lacks %q:\n%s", want, errOut)
		}
	}
}

func TestUsage(t *testing.T) {
	if _, errOut, code := ticketd(t, nil, "frobnicate"); code != exitUsage || !strings.Contains(errOut, "unknown command") {
		t.Errorf("unknown command: exit %d, %q", code, errOut)
	}
	if _, _, code := ticketd(t, nil, "tickets", "-config", "/nonexistent", "show"); code != exitUsage {
		t.Errorf("tickets show without number: exit %d, want %d", code, exitUsage)
	}
	for _, addr := range []string{"0.0.0.0:2525", "192.0.2.1:25", "example.org:25", "nonsense"} {
		if _, errOut, code := ticketd(t, nil, "demo", "-smtp", addr); code != exitUsage || !strings.Contains(errOut, "usage: ticketd demo") {
			t.Errorf("demo -smtp %s: exit %d, %q; want 64 (loopback only)", addr, code, errOut)
		}
	}
}

// daemonProc is a running "ticketd run".
type daemonProc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{} // closed when the process has exited; err is then set
	err  error
}

func (d *daemonProc) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.logs.Write(p)
}

func (d *daemonProc) log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.logs.String()
}

func startRun(t *testing.T, cfg string) *daemonProc {
	t.Helper()
	return startProc(t, "run", "-config", cfg)
}

// startProc starts the binary with args; its output is collected, and it is
// killed at the end of the test.
func startProc(t *testing.T, args ...string) *daemonProc {
	t.Helper()
	d := &daemonProc{cmd: exec.Command(binary, args...), done: make(chan struct{})}
	d.cmd.Stdout, d.cmd.Stderr = d, d
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		<-d.done
	})
	return d
}

func (d *daemonProc) waitLog(t *testing.T, s string) {
	t.Helper()
	mailtest.WaitFor(t, 20*time.Second, fmt.Sprintf("log line %q (log so far:\n%s)", s, d.log()), func() bool {
		return strings.Contains(d.log(), s)
	})
}

func listTickets(t *testing.T, cfg string) []desk.TicketSummary {
	t.Helper()
	out, errOut, code := ticketd(t, nil, "tickets", "-config", cfg, "list", "-json")
	if code != 0 {
		t.Fatalf("tickets list: exit %d: %s", code, errOut)
	}
	var pg desk.TicketPage
	if err := json.Unmarshal([]byte(out), &pg); err != nil {
		t.Fatalf("tickets list -json: %v\n%s", err, out)
	}
	return pg.Tickets
}

func TestRunLifecycle(t *testing.T) {
	srv := mailtest.MemIMAP(t, nil)
	srv.Append(t, "INBOX", []byte("From: Erika <erika@example.org>\r\nSubject: Hallo\r\nMessage-ID: <l1@example.org>\r\n\r\nText\r\n"))
	dir := t.TempDir()
	cfg := writeConfig(t, dir, srv.Addr, "")
	d := startRun(t, cfg)
	d.waitLog(t, "mail stored")

	// /healthz on http_listen reports the mailbox connected, and nothing more.
	cfgText, _ := os.ReadFile(cfg)
	var httpAddr string
	fmt.Sscanf(string(cfgText[strings.Index(string(cfgText), "http_listen"):]), "http_listen = %q", &httpAddr)
	resp, err := http.Get("http://" + httpAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	health, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(health) != "ok\n" {
		t.Errorf("/healthz: %s %q", resp.Status, health)
	}

	// The CLI goes through the admin socket while the daemon owns the file.
	if fi, err := os.Stat(filepath.Join(dir, "data", "admin.sock")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin socket: %v, mode %v", err, fi.Mode())
	}
	tks := listTickets(t, cfg)
	if len(tks) != 1 || tks[0].Subject != "Hallo" || tks[0].Origin.Channel != "email" || tks[0].Requester.Email != "erika@example.org" {
		t.Fatalf("tickets = %+v", tks)
	}
	out, errOut, code := ticketd(t, nil, "tickets", "-config", cfg, "show", "1")
	if code != 0 || !strings.Contains(out, "Ticket #1: Hallo") || !strings.Contains(out, "Text") {
		t.Errorf("tickets show: exit %d, %q %q", code, out, errOut)
	}
	if _, errOut, code := ticketd(t, nil, "tickets", "-config", cfg, "show", "99"); code != 1 || !strings.Contains(errOut, "no ticket #99") {
		t.Errorf("show missing ticket: exit %d, %q", code, errOut)
	}

	// A backup and the audit check while the daemon owns the file, through its socket.
	backup := filepath.Join(t.TempDir(), "running.db")
	if out, errOut, code := ticketd(t, nil, "backup", "-config", cfg, backup); code != 0 || !strings.Contains(out, "backup written") {
		t.Errorf("backup while running: exit %d, %q %q", code, out, errOut)
	} else {
		openBackupCopy(t, backup, dir).View(func(tx *store.Tx) error {
			if tk, err := tx.Ticket(1); err != nil || tk.Subject != "Hallo" {
				t.Errorf("backup while running lacks the ticket: %v", err)
			}
			return nil
		})
	}
	if out, errOut, code := ticketd(t, nil, "audit", "-config", cfg, "verify"); code != 0 || !strings.Contains(out, "audit trail ok") {
		t.Errorf("audit verify while running: exit %d, %q %q", code, out, errOut)
	}

	// A second daemon on the same data dir fails at once with a clear message.
	start := time.Now()
	_, errOut, code = ticketd(t, nil, "run", "-config", cfg)
	if code == 0 || !strings.Contains(errOut, "already running") || time.Since(start) > 15*time.Second {
		t.Errorf("second run: exit %d after %v: %q", code, time.Since(start), errOut)
	}

	// ingest through the socket.
	out, errOut, code = ticketd(t, []byte("From: bob@example.net\r\nSubject: per Pipe\r\nMessage-ID: <pipe1@example.net>\r\n\r\nhi\r\n"),
		"ingest", "-config", cfg, "-")
	if code != 0 || !strings.Contains(out, "new ticket #2") {
		t.Errorf("ingest: exit %d, %q %q", code, out, errOut)
	}
	// The same mail again is recognised.
	out, _, _ = ticketd(t, []byte("From: bob@example.net\r\nSubject: per Pipe\r\nMessage-ID: <pipe1@example.net>\r\n\r\nhi\r\n"),
		"ingest", "-config", cfg, "-")
	if !strings.Contains(out, "already stored in ticket #2") {
		t.Errorf("ingest twice: %q", out)
	}

	// SIGHUP with a broken config keeps the old one.
	good, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte("[server\n"), 0o600)
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitLog(t, "reload rejected")
	// SIGHUP with a good config applies it.
	os.WriteFile(cfg, good, 0o600)
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitLog(t, "configuration reloaded")
	srv.Append(t, "INBOX", []byte("From: Erika <erika@example.org>\r\nSubject: nach Reload\r\nMessage-ID: <l2@example.org>\r\n\r\nText\r\n"))
	mailtest.WaitFor(t, 20*time.Second, "ticket after reload", func() bool { return len(listTickets(t, cfg)) == 3 })

	// SIGTERM stops cleanly.
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		if d.err != nil {
			t.Errorf("run exited with %v\n%s", d.err, d.log())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop on SIGTERM")
	}
	// Without a daemon the CLI opens the file directly.
	if tks := listTickets(t, cfg); len(tks) != 3 {
		t.Errorf("after stop: %d tickets, want 3", len(tks))
	}
}

func TestIngestWithoutDaemon(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "127.0.0.1:1", "")
	mailFile := filepath.Join(dir, "a.eml")
	os.WriteFile(mailFile, []byte("From: a@example.org\r\nSubject: Datei\r\nMessage-ID: <f1@example.org>\r\n\r\nx\r\n"), 0o600)
	out, errOut, code := ticketd(t, nil, "ingest", "-config", cfg, "-mailbox", "support", mailFile)
	if code != 0 || !strings.Contains(out, "new ticket #1") {
		t.Fatalf("ingest: exit %d %q %q", code, out, errOut)
	}
	tks := listTickets(t, cfg)
	if len(tks) != 1 || tks[0].Origin.Channel != "file" || tks[0].Origin.Mailbox != "support" {
		t.Errorf("tickets = %+v", tks)
	}
	// Malformed mail is quarantined, not lost, and that is not a failure.
	out, _, code = ticketd(t, []byte("garbage without any header\r\n\x00\r\n"), "ingest", "-config", cfg, "-")
	if code != 0 || !strings.Contains(out, "quarantined") {
		t.Errorf("ingest garbage: exit %d %q", code, out)
	}
	out, _, _ = ticketd(t, nil, "quarantine", "-config", cfg, "list")
	if !strings.Contains(out, "file") {
		t.Errorf("quarantine list: %q", out)
	}
	// A temporary failure (here: no readable configuration) exits 75 so the MTA retries.
	if _, _, code := ticketd(t, []byte("x"), "ingest", "-config", filepath.Join(dir, "missing.toml"), "-"); code != exitTempFail {
		t.Errorf("ingest with missing config: exit %d, want %d", code, exitTempFail)
	}
}

func TestDemo(t *testing.T) {
	// Port 0: the demo takes free ports, so no other process can take them
	// between a look and the demo's listen.
	d := startProc(t, "demo", "-for", "60s", "-smtp", "127.0.0.1:0", "-imap", "127.0.0.1:0", "-http", "127.0.0.1:0")
	d.waitLog(t, "Send more mail")

	// The way to send more mail that it prints works with nothing but the binary.
	send := regexp.MustCompile(`ticketd (demo send -smtp \S+) -from`).FindStringSubmatch(d.log())
	smtpAddr := regexp.MustCompile(`SMTP server  (127\.0\.0\.1:\d+)`).FindStringSubmatch(d.log())
	if send == nil || smtpAddr == nil || smtpAddr[1] == "127.0.0.1:0" || !strings.Contains(send[1], smtpAddr[1]) {
		t.Fatalf("demo printed no demo send line for its SMTP server:\n%s", d.log())
	}
	runWant(t, 0, append(strings.Fields(send[1]), "-from", "Kim <kim@example.org>", "-subject", "Noch eine Frage", "Wo", "ist", "mein", "Paket?")...)
	d.waitLog(t, "new ticket #3")

	// The consent link it prints works: the page with a button to give consent.
	link := regexp.MustCompile(`consent page for ticket #1: (http://127\.0\.0\.1:\d+/consent/\S+)`).FindStringSubmatch(d.log())
	if link == nil {
		t.Fatalf("demo printed no consent link for ticket #1:\n%s", d.log())
	}
	resp, err := http.Get(link[1])
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "Drucker druckt nicht") || !strings.Contains(string(page), "Einwilligung erteilen") {
		t.Errorf("GET %s: %s\n%s", link[1], resp.Status, page)
	}

	d.cmd.Process.Signal(os.Interrupt)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop on SIGINT")
	}
	out := d.log()
	if d.err != nil {
		t.Fatalf("demo: %v\n%s", d.err, out)
	}
	for _, want := range []string{"new ticket #1", "new ticket #2", "reply added to ticket #1", "quarantined mail", "demo send -smtp " + smtpAddr[1],
		"acknowledgement sent to joerg@example.org (de)", "acknowledgement sent to ann@example.com (en)",
		"consent page for ticket #2: http://", "stopping"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	// The agent's loop, in its order: notified with a reply address, the
	// demo's reply with quote and signature, the answer as the customer got
	// it (from the support address, threaded, without the quote), #close.
	loop := []string{
		`agent notified: anna@demo\.example\n\s+subject "\[#1\] Drucker druckt nicht[^"]*"\n\s+Reply-To (support\+t1\.a1\.[a-z0-9]+@demo\.example)`,
		`The demo plays the agent anna@demo\.example: it replies to support\+t1\.a1\.[a-z0-9]+@demo\.example\n\s+with its answer, its signature and the quoted notification`,
		`agent anna@demo\.example answered ticket #1`,
		`the customer received the agent's answer, saved as \S+:\n\s+From:\s+Beispiel GmbH <support@demo\.example>\n\s+To:\s+Jörg Müller <joerg@example\.org>\n` +
			`\s+Subject:\s+Re: \[#1\] Drucker druckt nicht[^\n]*\n\s+In-Reply-To: <demo-de-2@example\.org>\n\s+\| Guten Tag Herr Müller,`,
		`Fehler 42 ist dann behoben\.\n\s+the quoted history and the signature are gone`,
		`The agent closes the ticket: a reply to support\+t1\.a1\.[a-z0-9]+@demo\.example that is only "#close"`,
		`agent anna@demo\.example steered ticket #1 \(#close\)`,
		`ticket #1 is closed`,
	}
	rest := out
	for _, re := range loop {
		loc := regexp.MustCompile(re).FindStringIndex(rest)
		if loc == nil {
			t.Errorf("demo output lacks, after the step before, %s:\n%s", re, out)
			break
		}
		rest = rest[loc[1]:]
	}
	answer, _, _ := strings.Cut(out, "The agent closes")
	if i := strings.Index(answer, "the customer received the agent's answer"); i >= 0 {
		answer = answer[i:]
	}
	for _, gone := range []string{"> ", "Anna Agent", "schrieb"} {
		if strings.Contains(answer, gone) {
			t.Errorf("the customer's copy holds %q:\n%s", gone, answer)
		}
	}
}
