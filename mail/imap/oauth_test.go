package imap_test

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ticketd/config"
	"ticketd/mail/imap"
	"ticketd/mail/mailtest"
	"ticketd/mail/oauth"
	"ticketd/mail/oauth/oauthtest"
)

// oauthSetup starts a bearer-only IMAP server and an authorization server;
// box logs in with a refresh token in a token file, or with client
// credentials when refresh is false.
func oauthSetup(t *testing.T, refresh bool) (*mailtest.MemServer, *oauthtest.Server, *config.Mailbox, *oauthtest.Clock) {
	clk := oauthtest.NewClock()
	as := oauthtest.New(t, clk.Now)
	srv := mailtest.MemIMAP(t, nil)
	srv.BearerOnly(as)
	box := supervisedBox(t, &srv.Account)
	box.Auth, box.Password = config.AuthOAuth2, ""
	box.OAuth = config.OAuth{Provider: config.ProviderCustom, ClientID: as.ClientID, TokenURL: as.TokenURL()}
	if refresh {
		box.OAuth.TokenFile = filepath.Join(t.TempDir(), "support.token")
		if err := oauth.WriteTokenFile(box.OAuth.TokenFile, as.IssueRefresh()); err != nil {
			t.Fatal(err)
		}
	} else {
		box.OAuth.ClientSecret = as.ClientSecret
	}
	return srv, as, box, clk
}

func withTokens(box *config.Mailbox, clk *oauthtest.Clock) func(*imap.Supervisor) {
	return func(s *imap.Supervisor) {
		s.Tokens = oauth.NewSource(&box.OAuth, box.Name)
		s.Tokens.Now = clk.Now
	}
}

// noSecrets fails if any token of as is in what.
func noSecrets(t *testing.T, as *oauthtest.Server, where string, what ...string) {
	t.Helper()
	for _, tok := range as.AccessTokens() {
		for _, s := range what {
			if strings.Contains(s, tok) {
				t.Errorf("a token is in %s: %s", where, s)
			}
		}
	}
}

func TestOAuthLoginBothMechanisms(t *testing.T) {
	for _, mech := range []string{"", config.MechXOAuth2, config.MechOAuthBearer} {
		t.Run("mech="+mech, func(t *testing.T) {
			srv, as, box, clk := oauthSetup(t, false)
			box.OAuth.SASLMechanism = mech
			srv.Deliver(t, "INBOX", supMail(1, ""))
			s, d, _ := runSupervisor(t, box, discardLog(), newClock(0), withTokens(box, clk))
			mailtest.WaitFor(t, 20*time.Second, "the mail imported", func() bool { return len(d.mails()) == 1 })
			if st := s.Status(); !st.Connected || st.LastError != "" {
				t.Errorf("status %+v", st)
			}
			if n := as.Requests("client_credentials"); n != 1 {
				t.Errorf("%d token requests", n)
			}
		})
	}
}

// TestTokenExpiryDuringIdle: the token runs out while the session idles
// and the server ends the session; the mailbox refreshes, reconnects and
// imports the mail that came meanwhile, each mail once. Then a server that
// expires tokens early gets one refresh and one retry.
func TestTokenExpiryDuringIdle(t *testing.T) {
	srv, as, box, clk := oauthSetup(t, true)
	as.Rotate = true
	srv.Deliver(t, "INBOX", supMail(1, ""))
	log, records := newCapture()
	s, d, db := runSupervisor(t, box, log, newClock(0), withTokens(box, clk))
	mailtest.WaitFor(t, 20*time.Second, "the first mail", func() bool { return len(d.mails()) == 1 && s.Status().Idle })

	clk.Add(time.Hour + time.Minute) // the token has expired
	srv.Deliver(t, "INBOX", supMail(2, ""))
	srv.Kick("token expired")
	mailtest.WaitFor(t, 20*time.Second, "the second mail", func() bool { return len(d.mails()) == 2 })
	mailtest.WaitFor(t, 20*time.Second, "idle again", func() bool { return s.Status().Idle })
	if n := as.Requests("refresh_token"); n != 2 {
		t.Errorf("%d refreshes, want 2 (start, expiry)", n)
	}

	as.ExpireAccess() // the server's view: the cached token, valid by the clock, no longer works
	srv.Deliver(t, "INBOX", supMail(3, ""))
	srv.Kick("session ended")
	mailtest.WaitFor(t, 20*time.Second, "the third mail", func() bool { return len(d.mails()) == 3 })
	if n := as.Requests("refresh_token"); n != 3 {
		t.Errorf("%d refreshes, want 3 (one after the refusal)", n)
	}
	uids := map[uint32]bool{}
	for _, m := range d.mails() {
		if uids[m.uid] {
			t.Errorf("uid %d imported twice", m.uid)
		}
		uids[m.uid] = true
	}
	if got := checkpointUID(t, db); got != 3 {
		t.Errorf("checkpoint %d", got)
	}
	st, _ := json.Marshal(s.Status())
	var logged []string
	for _, r := range records() {
		logged = append(logged, r.msg)
		for _, v := range r.attrs {
			logged = append(logged, v)
		}
	}
	noSecrets(t, as, "the log or status", append(logged, string(st))...)
}

// TestRevokedConsent: a refresh token the endpoint refuses makes the
// mailbox unhealthy with the reason, backs off, and asks the endpoint once
// per HoldFailure however often it reconnects: no retry storm.
func TestRevokedConsent(t *testing.T) {
	srv, as, box, clk := oauthSetup(t, true)
	srv.Deliver(t, "INBOX", supMail(1, ""))
	as.Revoke()
	log, records := newCapture()
	c := newClock(8)
	s, d, _ := runSupervisor(t, box, log, c, withTokens(box, clk))
	select {
	case <-c.held:
	case <-time.After(20 * time.Second):
		t.Fatal("no eighth reconnect")
	}
	st := s.Status()
	if st.Connected || st.AuthFailures != 8 || !strings.Contains(st.LastError, "invalid_grant: the refresh token has expired or consent was revoked: run `ticketd oauth login support` again") {
		t.Errorf("status %+v", st)
	}
	if n := as.Requests(""); n != 1 {
		t.Errorf("%d token requests in 8 attempts within HoldFailure, want 1", n)
	}
	for i, w := range c.backoffs() {
		if want := min(time.Second<<i, 4*time.Second); w < want*8/10 {
			t.Errorf("wait %d = %v: no backoff", i+1, w)
		}
	}
	refused := 0
	for _, r := range records() {
		if strings.Contains(r.msg, "login refused") && r.attrs["code"] == "invalid_grant" {
			refused++
		}
	}
	if refused != 8 {
		t.Errorf("%d refusals logged with code invalid_grant", refused)
	}
	// A new sign-in mends it at the next attempt.
	if err := oauth.WriteTokenFile(box.OAuth.TokenFile, as.IssueRefresh()); err != nil {
		t.Fatal(err)
	}
	c.release <- time.Time{}
	mailtest.WaitFor(t, 20*time.Second, "the mail imported", func() bool { return len(d.mails()) == 1 })
	if st := s.Status(); st.AuthFailures != 0 {
		t.Errorf("after signing in again: %+v", st)
	}
}

// TestTokenRefusedTwice: a server that refuses even a fresh token (here: it
// is not this account's) gets exactly one retry per attempt, and the
// reason names the server's SASL status.
func TestTokenRefusedTwice(t *testing.T) {
	srv, as, box, clk := oauthSetup(t, false)
	box.Username = "someone-else"
	box.OAuth.SASLMechanism = config.MechXOAuth2
	_ = srv
	c := newClock(2)
	s, _, _ := runSupervisor(t, box, discardLog(), c, withTokens(box, clk))
	select {
	case <-c.held:
	case <-time.After(20 * time.Second):
		t.Fatal("no second reconnect")
	}
	st := s.Status()
	if st.AuthFailures != 2 || !strings.Contains(st.LastError, "authentication failed [AUTHENTICATIONFAILED]") ||
		!strings.Contains(st.LastError, "with a fresh token: the server refused the access token (status 401)") {
		t.Errorf("status %+v", st)
	}
	// The first attempt fetches a token and refreshes it; the second starts
	// with the refreshed one, still valid by the clock, and refreshes it.
	if n := as.Requests(""); n != 3 {
		t.Errorf("%d token requests in 2 attempts, want 3 (one refresh each)", n)
	}
}

// TestOAuthMechanismNotOffered: a server without OAUTHBEARER and XOAUTH2
// (or without the configured one) is a refused login that says what it
// offers; no token is fetched for it.
func TestOAuthMechanismNotOffered(t *testing.T) {
	srv, as, box, clk := oauthSetup(t, false)
	srv.BearerOnly(as)
	box.OAuth.SASLMechanism = "XOAUTH2"
	_, err := imap.CheckLogin(box, oauth.NewSource(&box.OAuth, box.Name))
	if err != nil {
		t.Fatalf("XOAUTH2 offered: %v", err)
	}
	plain := mailtest.MemIMAP(t, nil) // PLAIN only
	box2 := supervisedBox(t, &plain.Account)
	box2.Auth, box2.OAuth = config.AuthOAuth2, box.OAuth
	src := oauth.NewSource(&box2.OAuth, box2.Name)
	src.Now = clk.Now
	before := as.Requests("")
	_, err = imap.CheckLogin(box2, src)
	var le *imap.LoginError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "sasl_mechanism XOAUTH2: the server does not offer it (it offers PLAIN)") {
		t.Errorf("err = %v", err)
	}
	if as.Requests("") != before {
		t.Error("a token was fetched for a server that cannot take it")
	}
}
