package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ticketd/mail/mailtest"
	"ticketd/mail/oauth/oauthtest"
)

// TestOAuthInterop runs the daemon end to end on a real Dovecot whose
// oauth2 passdb checks the tokens at oauthtest's introspection endpoint,
// with the acknowledgement submitted to a real Postfix that authenticates
// through Dovecot's auth socket the same way (make interop; skipped
// otherwise). The mail becomes a ticket, the acknowledgement reaches the
// customer, and Postfix logged an XOAUTH2 or OAUTHBEARER login.
func TestOAuthInterop(t *testing.T) {
	as := oauthtest.New(t, nil)
	d := mailtest.StartDovecot(t, mailtest.DovecotOAuth2(as.IntrospectURL()+"?user=test"))
	pf := mailtest.StartPostfixSASL(t, d.AuthSocket)
	dir := t.TempDir()
	cfg := oauthConfig(t, dir, as, d.Addr, d.Username, "", pf.Addr, d.Username)

	out, errOut, code := ticketd(t, nil, "oauth", "test", "-config", cfg)
	if code != 0 || strings.Count(out, "login (") != 2 {
		t.Fatalf("oauth test: exit %d\n%s%s", code, out, errOut)
	}
	run := startRun(t, cfg)
	run.waitLog(t, "imap session ready") // mail there before the first sync gets no acknowledgement
	d.Deliver(t, "INBOX", []byte("From: Erika <erika@example.org>\r\nTo: support@example.com\r\nSubject: Drucker\r\n"+
		"Message-ID: <oi1@example.org>\r\n\r\nDer Drucker druckt nicht.\r\n"))
	run.waitLog(t, "mail stored")
	var msgs [][]byte
	for deadline := time.Now().Add(60 * time.Second); len(msgs) == 0; msgs = pf.Messages(t) {
		if time.Now().After(deadline) {
			t.Fatalf("no acknowledgement reached Postfix; log:\n%s", run.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !bytes.Contains(msgs[0], []byte("erika@example.org")) || !bytes.Contains(msgs[0], []byte("[#1]")) {
		t.Errorf("the acknowledgement:\n%s", msgs[0])
	}
	if tickets := listTickets(t, cfg); len(tickets) != 1 {
		t.Errorf("%d tickets", len(tickets))
	}
	log, _ := os.ReadFile(filepath.Join(pf.Dir, "postfix.log"))
	if !bytes.Contains(log, []byte("sasl_method=OAUTHBEARER")) && !bytes.Contains(log, []byte("sasl_method=XOAUTH2")) {
		t.Errorf("Postfix logged no OAuth2 login:\n%s", log)
	}
	for _, tok := range as.AccessTokens() {
		if strings.Contains(run.log(), tok) {
			t.Error("a token is in the daemon's log")
		}
	}
}
