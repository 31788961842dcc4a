package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// oauthMailbox replaces the minimal mailbox's password with an oauth table.
func oauthMailbox(t *testing.T, table string) string {
	return edit(t, minimal, "password_file = \"imap.pass\"\nqueue = \"support\"\n", "auth = \"oauth2\"\nqueue = \"support\"\n"+table+"\n")
}

func TestOAuthPresets(t *testing.T) {
	c, err := Parse("config.toml", []byte(oauthMailbox(t, `oauth = { provider = "microsoft", tenant = "contoso.onmicrosoft.com", client_id = "app", client_secret_file = "s" }`)))
	if err != nil {
		t.Fatal(err)
	}
	o := &c.Mailboxes[0].OAuth
	tok, dev := o.Endpoints()
	if c.Mailboxes[0].Auth != AuthOAuth2 || !o.ClientCredentials() ||
		tok != "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token" ||
		dev != "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/devicecode" ||
		!slices.Equal(o.AllScopes(), []string{"https://outlook.office365.com/.default"}) {
		t.Errorf("microsoft app-only: %+v %s %s %v", o, tok, dev, o.AllScopes())
	}
	c, err = Parse("config.toml", []byte(oauthMailbox(t, `oauth = { provider = "google", client_id = "app", token_file = "t" }`)))
	if err != nil {
		t.Fatal(err)
	}
	o = &c.Mailboxes[0].OAuth
	if tok, _ := o.Endpoints(); o.ClientCredentials() || tok != "https://oauth2.googleapis.com/token" ||
		!slices.Equal(o.AllScopes(), []string{"https://mail.google.com/"}) {
		t.Errorf("google: %+v %v", o, o.AllScopes())
	}
	if c.SMTP.Auth != AuthPassword {
		t.Errorf("smtp.auth defaults to %q", c.SMTP.Auth)
	}
}

// TestOAuthErrors checks that every mistake in the OAuth settings is
// reported at once, each at its line and naming its key.
func TestOAuthErrors(t *testing.T) {
	text := edit(t, oauthMailbox(t, `[mailbox.oauth]
provider = "microsoft"
tenant = "contoso/../evil"
token_url = "http://login.example.com/token"
scopes = ["a b"]
sasl_mechanism = "PLAIN"
`), `host = "smtp.example.com"`, "host = \"smtp.example.com\"\nauth = \"oauth2\"\noauth = { provider = \"google\", client_id = \"x\" }\ntls = \"none\"")
	_, err := Parse("config.toml", []byte(text))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"mailbox[1].oauth.tenant: must be a directory",
		`missing required key "client_id" in mailbox[1].oauth`,
		"mailbox[1].oauth: client credentials (no token_file) need client_secret_file",
		"mailbox[1].oauth.token_url: must be https",
		`mailbox[1].oauth.scopes[1]: must be one scope`,
		`mailbox[1].oauth.sasl_mechanism: must be one of`,
		"smtp.oauth: Google offers no client credentials grant",
		"smtp.tls: refusing to send an access token unencrypted",
		`missing required key "username" in [smtp]`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if !strings.HasPrefix(line, "config.toml:") {
			t.Errorf("error without a position: %s", line)
		}
	}

	_, err = Parse("config.toml", []byte(edit(t, minimal, `queue = "support"
`, `queue = "support"
oauth = { provider = "google" }
`)))
	if err == nil || !strings.Contains(err.Error(), `mailbox[1].oauth: only with auth = "oauth2"`) {
		t.Errorf("oauth table with a password: %v", err)
	}
	_, err = Parse("config.toml", []byte(edit(t, minimal, `password_file = "imap.pass"`, `auth = "oauth2"`)))
	if err == nil || !strings.Contains(err.Error(), "missing [mailbox[1].oauth] table") {
		t.Errorf("auth = oauth2 without a table: %v", err)
	}
}

// TestOAuthFiles checks the secret file rules of client_secret_file and
// token_file, and that a token file not made yet is a warning naming the
// command that makes it.
func TestOAuthFiles(t *testing.T) {
	dir := t.TempDir()
	text := oauthMailbox(t, `oauth = { provider = "microsoft", tenant = "t1", client_id = "app", client_secret_file = "secret", token_file = "token" }`)
	writeFiles(t, dir, map[string]string{"config.toml": text, "imap.pass": "pw\n", "secret": "s3cret\n"})
	c, err := Load(filepath.Join(dir, "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if o := c.Mailboxes[0].OAuth; o.ClientSecret != "s3cret" || o.TokenFile != filepath.Join(dir, "token") {
		t.Errorf("oauth = %+v", o)
	}
	if !strings.Contains(c.Warnings.Error(), "run `ticketd oauth login support`") {
		t.Errorf("warnings = %v", c.Warnings)
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "secret"), 0o640); err != nil {
		t.Fatal(err)
	}
	_, err = Load(filepath.Join(dir, "config.toml"))
	for _, want := range []string{"mailbox[1].oauth.token_file: ", "mailbox[1].oauth.client_secret_file: ", "chmod 600"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}
