package oauth_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"ticketd/config"
	"ticketd/mail/oauth"
	"ticketd/mail/oauth/oauthtest"
)

func customOAuth(as *oauthtest.Server, tokenFile string) *config.OAuth {
	o := &config.OAuth{Provider: config.ProviderCustom, ClientID: as.ClientID, TokenURL: as.TokenURL(),
		DeviceAuthURL: as.DeviceURL(), TokenFile: tokenFile}
	if tokenFile == "" {
		o.ClientSecret = as.ClientSecret
	}
	return o
}

func TestClientCredentialsRefreshBeforeExpiry(t *testing.T) {
	clk := oauthtest.NewClock()
	as := oauthtest.New(t, clk.Now)
	src := oauth.NewSource(customOAuth(as, ""), "support")
	src.Now = clk.Now
	ctx := context.Background()
	tok, err := src.Token(ctx)
	if err != nil || !as.Valid(tok) {
		t.Fatalf("token %v, valid %v", err, as.Valid(tok))
	}
	if again, _ := src.Token(ctx); again != tok || as.Requests("client_credentials") != 1 {
		t.Errorf("the token was not reused: %d requests", as.Requests(""))
	}
	clk.Add(time.Hour - oauth.Margin + time.Second) // inside the margin: still valid, but replaced
	if next, err := src.Token(ctx); err != nil || next == tok || as.Requests("client_credentials") != 2 {
		t.Errorf("not refreshed before expiry: %v, %d requests", err, as.Requests(""))
	}
}

func writeToken(t *testing.T, rt string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "support.token")
	if err := oauth.WriteTokenFile(p, rt); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRotatedRefreshTokenIsWrittenBack(t *testing.T) {
	clk := oauthtest.NewClock()
	as := oauthtest.New(t, clk.Now)
	as.Rotate = true
	first := as.IssueRefresh()
	file := writeToken(t, first)
	src := oauth.NewSource(customOAuth(as, file), "support")
	src.Now = clk.Now
	if _, err := src.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	rt, err := oauth.ReadTokenFile(file)
	if err != nil || rt == first || !strings.HasPrefix(rt, "rt-") {
		t.Fatalf("token file after rotation: %q, %v", rt, err)
	}
	fi, _ := os.Stat(file)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v", fi.Mode())
	}
	if entries, _ := os.ReadDir(filepath.Dir(file)); len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
	// The rotated token works on the next refresh; the old one is gone.
	if _, err := src.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestRevokedRefreshToken checks the clear reason of a revoked consent,
// that no token is in it, and that asking again within HoldFailure does
// not reach the endpoint.
func TestRevokedRefreshToken(t *testing.T) {
	clk := oauthtest.NewClock()
	as := oauthtest.New(t, clk.Now)
	rt := as.IssueRefresh()
	file := writeToken(t, rt)
	as.Revoke()
	src := oauth.NewSource(customOAuth(as, file), "support")
	src.Now = clk.Now
	_, err := src.Token(context.Background())
	var oe *oauth.Error
	if !errors.As(err, &oe) || !oe.Permanent || oe.Code != "invalid_grant" ||
		!strings.Contains(err.Error(), "expired or consent was revoked: run `ticketd oauth login support` again") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), rt) {
		t.Errorf("the refresh token is in the error: %v", err)
	}
	for range 50 {
		src.Refresh(context.Background())
		clk.Add(time.Second)
	}
	if n := as.Requests(""); n != 1 {
		t.Errorf("%d token requests within HoldFailure, want 1", n)
	}
	clk.Add(oauth.HoldFailure)
	src.Token(context.Background())
	if n := as.Requests(""); n != 2 {
		t.Errorf("%d token requests after HoldFailure, want 2", n)
	}
	// A new sign-in (a new token file) is tried at once.
	if err := oauth.WriteTokenFile(file, as.IssueRefresh()); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Token(context.Background()); err != nil {
		t.Errorf("after a new sign-in: %v", err)
	}
}

func TestErrorReasons(t *testing.T) {
	clk := oauthtest.NewClock()
	as := oauthtest.New(t, clk.Now)
	for code, want := range map[string]string{
		"invalid_client":      "check client_id, the client secret (it may have expired) and the tenant",
		"unauthorized_client": "check client_id",
		"invalid_scope":       "check scopes and the app's API permissions",
		"invalid_grant":       "check the tenant, and that an admin consented",
	} {
		as.Fail(code)
		src := oauth.NewSource(customOAuth(as, ""), "support")
		_, err := src.Token(context.Background())
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), as.ClientSecret) {
			t.Errorf("%s: %v", code, err)
		}
	}
}

func TestTokenFileRules(t *testing.T) {
	as := oauthtest.New(t, nil)
	file := writeToken(t, "rt-x")
	os.Chmod(file, 0o644)
	_, err := oauth.NewSource(customOAuth(as, file), "support").Token(context.Background())
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a readable token file: %v", err)
	}
	os.WriteFile(file, []byte("rt-secret-value"), 0o600)
	_, err = oauth.NewSource(customOAuth(as, file), "support").Token(context.Background())
	if err == nil || strings.Contains(err.Error(), "rt-secret-value") {
		t.Errorf("a token file that is not JSON: %v", err)
	}
	_, err = oauth.NewSource(customOAuth(as, filepath.Join(t.TempDir(), "none")), "support").Token(context.Background())
	if err == nil || !strings.Contains(err.Error(), "run `ticketd oauth login support`") {
		t.Errorf("no token file: %v", err)
	}
}

// TestDeviceLogin runs the device authorization grant against the mock
// in a synctest bubble: the polling interval passes on the fake clock.
func TestDeviceLogin(t *testing.T) {
	as := oauthtest.New(t, nil)
	file := filepath.Join(t.TempDir(), "support.token")
	synctest.Test(t, func(t *testing.T) {
		src := oauth.NewSource(customOAuth(as, file), "support")
		src.HTTP = &http.Client{Transport: as.Transport()}
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() { done <- src.Login(context.Background(), pw); pw.Close() }()
		line, _ := bufio.NewReader(pr).ReadString('\n')
		go io.Copy(io.Discard, pr)
		f := strings.Fields(line)
		code := f[len(f)-1]
		if !strings.Contains(line, as.URL+"/verify") {
			t.Errorf("no URL: %q", line)
		}
		time.Sleep(3 * time.Second) // the admin signs in elsewhere, on the fake clock
		if !as.Approve(code, false) {
			t.Fatalf("no pending code %q", code)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	if rt, err := oauth.ReadTokenFile(file); err != nil || !strings.HasPrefix(rt, "rt-") {
		t.Fatalf("token file: %q %v", rt, err)
	}
	if n := as.Requests("urn:ietf:params:oauth:grant-type:device_code"); n < 2 || n > 4 {
		t.Errorf("%d polls in 3 s at an interval of 1 s", n)
	}
}
