package main

import (
	"bytes"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"ticketd/mail/mailtest"
	"ticketd/mail/mime"
	"ticketd/store"
)

// httpListen is the http_listen address of a configuration written by writeConfig.
func httpListen(t *testing.T, cfg string) string {
	t.Helper()
	raw, _ := os.ReadFile(cfg)
	m := regexp.MustCompile(`http_listen = "([^"]+)"`).FindSubmatch(raw)
	if m == nil {
		t.Fatal("no http_listen")
	}
	return string(m[1])
}

// consentPath is the path of the consent link in the first acknowledgement
// in the outbox of the (stopped) store of data directory dir.
func consentPath(t *testing.T, dir string) string {
	t.Helper()
	db, err := store.Open(dir, store.Options{ReadOnly: true, MasterKeyFile: filepath.Join(filepath.Dir(dir), "master.key")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var raw []byte
	db.View(func(tx *store.Tx) error {
		it, err := tx.OutboxItem(1)
		if err == nil {
			raw = it.Raw
		}
		return err
	})
	msg, err := mime.Parse(bytes.NewReader(raw), discardBlobs{}, mime.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`http://[^/\s]+(/consent/\S+)`).FindStringSubmatch(msg.Text)
	if m == nil {
		t.Fatalf("no consent link in the acknowledgement:\n%s", msg.Text)
	}
	return m[1]
}

// TestBackupRestoreRoundTrip: backup (through the running daemon) → a new
// machine's data directory → restore → the consent links of the old
// acknowledgements still work there.
func TestBackupRestoreRoundTrip(t *testing.T) {
	srv := mailtest.MemIMAP(t, nil)
	dirA := t.TempDir()
	cfgA := writeConfig(t, dirA, srv.Addr, "")
	d := startRun(t, cfgA)
	d.waitLog(t, "ticketd started")
	mailFile := filepath.Join(dirA, "a.eml")
	os.WriteFile(mailFile, []byte("From: Erika Mustermann <erika@example.org>\r\nSubject: Drucker\r\nMessage-ID: <r1@example.org>\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n\r\nDer Drucker ist zu laut.\r\n"), 0o600)
	if out := runWant(t, 0, "ingest", "-config", cfgA, "-mailbox", "support", mailFile); !strings.Contains(out, "acknowledgement queued") {
		t.Fatalf("ingest: %q", out)
	}
	backup := filepath.Join(t.TempDir(), "ticketd-backup.tar")
	out := runWant(t, 0, "backup", "-config", cfgA, backup)
	for _, want := range []string{"backup written to " + backup, "keys agent.key, consent.key", "ticketd restore " + backup} {
		if !strings.Contains(out, want) {
			t.Errorf("backup output lacks %q:\n%s", want, out)
		}
	}
	if _, errOut, code := ticketd(t, nil, "backup", "-config", cfgA, backup); code != 1 || !strings.Contains(errOut, "give -force") {
		t.Errorf("backup over an existing file: exit %d %q", code, errOut)
	}
	runWant(t, 0, "backup", "-config", cfgA, "-force", backup)
	d.cmd.Process.Signal(syscall.SIGTERM)
	<-d.done
	link := consentPath(t, filepath.Join(dirA, "data"))

	// The new machine: the same configuration, an empty data directory.
	dirB := t.TempDir()
	cfgB := writeConfig(t, dirB, srv.Addr, "")
	out = runWant(t, 0, "restore", "-config", cfgB, backup)
	if !strings.Contains(out, "audit trail verified") || !strings.Contains(out, "keys: agent.key, consent.key") {
		t.Errorf("restore: %q", out)
	}
	// The archive holds no person keys: the key file and the master key
	// come from the old machine (a key snapshot in practice).
	for _, f := range []string{"data/keys.db", "master.key"} {
		if err := os.WriteFile(filepath.Join(dirB, f), must(os.ReadFile(filepath.Join(dirA, f))), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	keyA, _ := os.ReadFile(filepath.Join(dirA, "data", "consent.key"))
	keyB, _ := os.ReadFile(filepath.Join(dirB, "data", "consent.key"))
	agentA, _ := os.ReadFile(filepath.Join(dirA, "data", "agent.key"))
	agentB, _ := os.ReadFile(filepath.Join(dirB, "data", "agent.key"))
	if len(agentA) == 0 || !bytes.Equal(agentA, agentB) {
		t.Error("the agent key was not restored")
	}
	if len(keyA) == 0 || !bytes.Equal(keyA, keyB) {
		t.Error("the consent key was not restored")
	}
	if _, errOut, code := ticketd(t, nil, "restore", "-config", cfgB, backup); code != 1 || !strings.Contains(errOut, "-force") {
		t.Errorf("restore over a store: exit %d %q", code, errOut)
	}
	d = startRun(t, cfgB)
	d.waitLog(t, "ticketd started")
	if _, errOut, code := ticketd(t, nil, "restore", "-config", cfgB, "-force", backup); code != 1 || !strings.Contains(errOut, "daemon is running") {
		t.Errorf("restore while the daemon runs: exit %d %q", code, errOut)
	}

	// The old link's page answers, and a decision on it is recorded.
	base := "http://" + httpListen(t, cfgB)
	resp, err := http.Get(base + link)
	if err != nil {
		t.Fatal(err)
	}
	page := new(bytes.Buffer)
	page.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s on the restored store: %s", link, resp.Status)
	}
	m := regexp.MustCompile(`name="purpose" value="([^"]+)">\s*<input type="hidden" name="lang" value="([^"]+)">\s*` +
		`<input type="hidden" name="form" value="([^"]+)">\s*<button type="submit" name="decision" value="granted"`).FindStringSubmatch(page.String())
	if m == nil {
		t.Fatalf("no grant form on the page:\n%s", page)
	}
	form := url.Values{"purpose": {m[1]}, "lang": {m[2]}, "form": {m[3]}, "decision": {"granted"}}
	req, _ := http.NewRequest("POST", base+link, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST on the restored store: %s", resp.Status)
	}
	if recs := consentRecords(t, cfgB); len(recs) != 1 || recs[0].Decision != "granted" || recs[0].Channel != "link" {
		t.Errorf("records after the POST: %+v", recs)
	}
	if out := runWant(t, 0, "audit", "-config", cfgB, "verify"); !strings.Contains(out, "audit trail ok") {
		t.Errorf("audit verify after the restore: %q", out)
	}
}
