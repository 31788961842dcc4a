package smtp

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ticketd/config"
	"ticketd/mail/mailtest"
	"ticketd/mail/oauth"
	"ticketd/mail/oauth/oauthtest"
)

// oauthSender is a Sender to a sink that takes only as's bearer tokens,
// over STARTTLS, with a refresh token in a token file.
func oauthSender(t *testing.T, mech string) (*Sender, *mailtest.SMTPSink, *oauthtest.Server, *smtpLogBuffer) {
	as := oauthtest.New(t, nil)
	sink := mailtest.StartSMTPSink(t)
	sink.RequireBearer("bot@example.com", as)
	cfg := smtpTestConfig(t, sink.Addr, "starttls")
	cfg.CAFile = sink.CAFile
	cfg.Username, cfg.Auth = "bot@example.com", config.AuthOAuth2
	cfg.OAuth = config.OAuth{Provider: config.ProviderCustom, ClientID: as.ClientID, TokenURL: as.TokenURL(),
		TokenFile: filepath.Join(t.TempDir(), "smtp.token"), SASLMechanism: mech}
	if err := oauth.WriteTokenFile(cfg.OAuth.TokenFile, as.IssueRefresh()); err != nil {
		t.Fatal(err)
	}
	s, logs := newSMTPTestSender(t, cfg)
	return s, sink, as, logs
}

func TestSMTPSendOAuth(t *testing.T) {
	for _, mech := range []string{"", config.MechXOAuth2, config.MechOAuthBearer} {
		t.Run("mech="+mech, func(t *testing.T) {
			s, sink, as, _ := oauthSender(t, mech)
			smtpMustSend(t, s, 1)
			if m := sink.WaitMsgs(t, 1, time.Second)[0]; m.User != "bot@example.com" || !m.TLS {
				t.Errorf("User=%q TLS=%v", m.User, m.TLS)
			}
			// A token the relay no longer takes: one refresh, one retry, sent.
			as.ExpireAccess()
			s.Close()
			smtpMustSend(t, s, 2)
			if n := as.Requests("refresh_token"); n != 2 {
				t.Errorf("%d refreshes, want 2", n)
			}
		})
	}
}

// TestSMTPSendOAuthRefused: a refused grant and a refused token are
// temporary failures (the outbox retries the mail), with the reason, and
// no token is in the error or the log.
func TestSMTPSendOAuthRefused(t *testing.T) {
	s, sink, as, logs := oauthSender(t, config.MechXOAuth2)
	smtpMustSend(t, s, 1)
	s.Close()
	as.Revoke()
	se := smtpWantErr(t, smtpSend(t, s, 2), true, 0)
	if !strings.Contains(se.Error(), "invalid_grant: the refresh token has expired or consent was revoked: run `ticketd oauth login -smtp` again") {
		t.Errorf("error %q", se)
	}

	s2, sink2, as2, logs2 := oauthSender(t, "")
	sink2.RequireBearer("someone-else@example.com", as2)
	se = smtpWantErr(t, smtpSend(t, s2, 1), true, 535)
	if !strings.Contains(se.Error(), "with a fresh token") || as2.Requests("") != 2 {
		t.Errorf("error %q after %d token requests", se, as2.Requests(""))
	}
	for _, tok := range append(as.AccessTokens(), as2.AccessTokens()...) {
		if strings.Contains(logs.String()+logs2.String()+se.Error(), tok) {
			t.Errorf("a token is in the log or the error")
		}
	}
	smtpWantCount(t, "messages", len(sink.Msgs())+len(sink2.Msgs()), 1)
}
