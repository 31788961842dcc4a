package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"ticketd/mail/mailtest"
	"ticketd/mail/oauth"
	"ticketd/mail/oauth/oauthtest"
)

// oauthConfig writes a configuration whose mailbox on imapAddr logs in
// with tokens of as (client credentials, or a token file when tokenFile)
// as user, and, with smtpAddr, whose relay there does too, as smtpUser.
func oauthConfig(t *testing.T, dir string, as *oauthtest.Server, imapAddr, user, tokenFile, smtpAddr, smtpUser string) string {
	t.Helper()
	table := fmt.Sprintf(`oauth = { provider = "custom", client_id = %q, token_url = %q, device_auth_url = %q`, as.ClientID, as.TokenURL(), as.DeviceURL())
	if tokenFile != "" {
		table += fmt.Sprintf(`, token_file = %q }`, tokenFile)
	} else {
		os.WriteFile(filepath.Join(dir, "client.secret"), []byte(as.ClientSecret+"\n"), 0o600)
		table += `, client_secret_file = "client.secret" }`
	}
	cfg := writeConfig(t, dir, imapAddr, "auth = \"oauth2\"\n"+table+"\n")
	text, _ := os.ReadFile(cfg)
	text = bytes.Replace(text, []byte("password_file = \"imap.pass\"\n"), nil, 1)
	text = bytes.Replace(text, []byte("username = \"support\"\n"), fmt.Appendf(nil, "username = %q\n", user), 1)
	if smtpAddr != "" {
		host, port, _ := strings.Cut(smtpAddr, ":")
		text = bytes.Replace(text, []byte("host = \"127.0.0.1\"\ntls = \"none\"\n"), fmt.Appendf(nil,
			"host = %q\nport = %s\ntls = \"none\"\nusername = %q\nauth = \"oauth2\"\n%s\n", host, port, smtpUser, table), 1)
	}
	os.WriteFile(cfg, text, 0o600)
	return cfg
}

// oauthServers starts an authorization server and an IMAP server that
// takes only its tokens, and makes the test's directory.
func oauthServers(t *testing.T) (*oauthtest.Server, *mailtest.MemServer, string) {
	as := oauthtest.New(t, nil)
	srv := mailtest.MemIMAP(t, nil)
	srv.BearerOnly(as)
	return as, srv, t.TempDir()
}

func TestOAuthTestCommand(t *testing.T) {
	as := oauthtest.New(t, nil)
	srv := mailtest.MemIMAP(t, nil)
	srv.BearerOnly(as)
	sink := mailtest.StartSMTPSink(t)
	sink.RequireBearer("bot@example.com", as)
	dir := t.TempDir()
	cfg := oauthConfig(t, dir, as, srv.Addr, srv.Username, "", sink.Addr, "bot@example.com")

	_, errOut, code := ticketd(t, nil, "check", "-config", cfg)
	if code != 0 {
		t.Fatalf("check: %d %s", code, errOut)
	}
	out, errOut, code := ticketd(t, nil, "oauth", "test", "-config", cfg)
	for _, want := range []string{"mailbox support: token (client credentials): ok", "mailbox support: imap login (OAUTHBEARER): ok",
		"smtp: token (client credentials): ok", "smtp: smtp login (OAUTHBEARER): ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("oauth test lacks %q: exit %d\n%s%s", want, code, out, errOut)
		}
	}
	if code != 0 {
		t.Errorf("exit %d", code)
	}

	as.Fail("invalid_client")
	out, errOut, code = ticketd(t, nil, "oauth", "test", "support", "-config", cfg)
	if code != exitConfig || !strings.Contains(out, "mailbox support: token (client credentials): FAILED: oauth2 token: invalid_client: the client was refused") ||
		strings.Contains(out, "smtp:") {
		t.Errorf("a refused client: exit %d\n%s%s", code, out, errOut)
	}
	for _, tok := range append(as.AccessTokens(), as.ClientSecret) {
		if strings.Contains(out+errOut, tok) {
			t.Errorf("a token or secret in the output")
		}
	}
	_, errOut, code = ticketd(t, nil, "oauth", "test", "nosuch", "-config", cfg)
	if code != exitUsage || !strings.Contains(errOut, `no [[mailbox]] named "nosuch"`) {
		t.Errorf("an unknown mailbox: exit %d %s", code, errOut)
	}
}

// TestOAuthLoginCommand signs in with the device flow: the command prints
// the URL and the code, the admin approves, and the refresh token is in
// token_file, mode 0600; `ticketd oauth test` then logs in with it.
func TestOAuthLoginCommand(t *testing.T) {
	as, srv, dir := oauthServers(t)
	tokenFile := filepath.Join(dir, "support.token")
	cfg := oauthConfig(t, dir, as, srv.Addr, srv.Username, tokenFile, "", "")

	_, errOut, code := ticketd(t, nil, "check", "-config", cfg)
	if code != 0 || !strings.Contains(errOut, "run `ticketd oauth login support`") {
		t.Errorf("check before the sign-in: exit %d, %s", code, errOut)
	}
	cmd := exec.Command(binary, "oauth", "login", "-config", cfg, "support")
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(stdout)
	line, _ := r.ReadString('\n')
	f := strings.Fields(line)
	if !strings.HasPrefix(line, "To sign in, open "+as.URL+"/verify and enter the code ") || !as.Approve(f[len(f)-1], false) {
		t.Fatalf("login printed %q", line)
	}
	rest, _ := io.ReadAll(r)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("login: %v\n%s%s", err, rest, stderr.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("login did not finish")
	}
	if !strings.Contains(string(rest), "Signed in; the refresh token is in "+tokenFile) {
		t.Errorf("login said %q", rest)
	}
	if fi, err := os.Stat(tokenFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi, err)
	}
	if _, err := oauth.ReadTokenFile(tokenFile); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := ticketd(t, nil, "oauth", "test", "-config", cfg)
	if code != 0 || !strings.Contains(out, "imap login (OAUTHBEARER): ok") {
		t.Errorf("test after login: exit %d\n%s%s", code, out, errOut)
	}
	// Revoked consent: the reason, exit 78.
	as.Revoke()
	out, _, code = ticketd(t, nil, "oauth", "test", "-config", cfg)
	if code != exitConfig || !strings.Contains(out, "the refresh token has expired or consent was revoked: run `ticketd oauth login support` again") {
		t.Errorf("after revoking: exit %d\n%s", code, out)
	}
}

// TestOAuthDaemonHealth runs the daemon on an OAuth2 mailbox: it imports
// mail, and when the token endpoint refuses the client it turns unhealthy
// with the reason; no token is in the log, /healthz or ticketd status.
func TestOAuthDaemonHealth(t *testing.T) {
	as, srv, dir := oauthServers(t)
	cfg := oauthConfig(t, dir, as, srv.Addr, srv.Username, "", "", "")
	text, _ := os.ReadFile(cfg)
	httpAddr := regexp.MustCompile(`http_listen = "([^"]+)"`).FindSubmatch(text)[1]
	healthz := func() (int, string) {
		resp, err := http.Get("http://" + string(httpAddr) + "/healthz")
		if err != nil {
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	srv.Deliver(t, "INBOX", []byte("From: Erika <erika@example.org>\r\nSubject: Hallo\r\nMessage-ID: <o1@example.org>\r\n\r\nText\r\n"))
	d := startRun(t, cfg)
	d.waitLog(t, "mail stored")
	mailtest.WaitFor(t, 30*time.Second, "/healthz 200", func() bool { code, _ := healthz(); return code == 200 })

	as.Fail("invalid_client")
	as.ExpireAccess()
	srv.Kick("token expired")
	var out string
	mailtest.WaitFor(t, 30*time.Second, "status to say why", func() bool {
		out = runWant(t, 0, "status", "-config", cfg)
		return strings.Contains(out, "invalid_client: the client was refused: check client_id, the client secret")
	})
	if code, _ := healthz(); code != 503 {
		t.Errorf("/healthz %d while the client is refused", code)
	}
	_, body := healthz()
	js := runWant(t, 0, "status", "-config", cfg, "-json")
	for _, tok := range append(as.AccessTokens(), as.ClientSecret) {
		for where, s := range map[string]string{"the log": d.log(), "/healthz": body, "status": out, "status -json": js} {
			if strings.Contains(s, tok) {
				t.Errorf("a token or the client secret is in %s", where)
			}
		}
	}
}
