package imap_test

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"ticketd/config"
	"ticketd/mail/imap"
	"ticketd/mail/mailtest"
	"ticketd/mail/oauth"
	"ticketd/mail/oauth/oauthtest"
)

// TestOAuthDovecotInterop logs in to a real Dovecot whose oauth2 passdb
// checks tokens at oauthtest's introspection endpoint (make interop;
// skipped otherwise), with each mechanism; a token Dovecot refuses gets one
// refresh and one retry.
func TestOAuthDovecotInterop(t *testing.T) {
	as := oauthtest.New(t, nil)
	d := mailtest.StartDovecot(t, mailtest.DovecotOAuth2(as.IntrospectURL()+"?user=test"))
	host, port, _ := net.SplitHostPort(d.Addr)
	p, _ := strconv.Atoi(port)
	for _, mech := range []string{"", config.MechXOAuth2, config.MechOAuthBearer} {
		box := &config.Mailbox{Name: "support", Host: host, Port: p, TLS: "none", Username: d.Username, Folder: "INBOX",
			CommandTimeout: config.Duration{Duration: 10 * time.Second}, Auth: config.AuthOAuth2,
			OAuth: config.OAuth{Provider: config.ProviderCustom, ClientID: as.ClientID, ClientSecret: as.ClientSecret,
				TokenURL: as.TokenURL(), SASLMechanism: mech}}
		src := oauth.NewSource(&box.OAuth, box.Name)
		got, err := imap.CheckLogin(box, src)
		if err != nil || got == "" || mech != "" && got != mech {
			t.Errorf("mech %q: logged in with %q: %v", mech, got, err)
		}
		as.ExpireAccess()
		if _, err := imap.CheckLogin(box, src); err != nil {
			t.Errorf("mech %q, after the token expired early: %v", mech, err)
		}
	}
	// A token of another user: refused, with one retry.
	box := &config.Mailbox{Name: "support", Host: host, Port: p, TLS: "none", Username: "someone-else", Folder: "INBOX",
		CommandTimeout: config.Duration{Duration: 10 * time.Second}, Auth: config.AuthOAuth2,
		OAuth: config.OAuth{Provider: config.ProviderCustom, ClientID: as.ClientID, ClientSecret: as.ClientSecret, TokenURL: as.TokenURL()}}
	before := as.Requests("")
	_, err := imap.CheckLogin(box, oauth.NewSource(&box.OAuth, box.Name))
	if err == nil || !strings.Contains(err.Error(), "with a fresh token") || as.Requests("")-before != 2 {
		t.Errorf("another user's token: %v, %d token requests", err, as.Requests("")-before)
	}
}
