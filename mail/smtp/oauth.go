package smtp

import (
	"context"
	"errors"
	"fmt"

	"github.com/emersion/go-smtp"

	"ticketd/mail/oauth"
)

// authOAuth logs in with an OAuth2 access token (smtp.auth = "oauth2"):
// AUTH OAUTHBEARER or XOAUTH2 (RFC 4954, RFC 7628 §3.1), by sasl_mechanism
// or by what the relay offers. A refused token gets one refresh and one
// retry. Every failure is temporary: the outbox keeps the mail and retries
// it (for smtp.retry_for) while an admin mends the grant.
func (s *Sender) authOAuth(c *smtp.Client) error {
	_, offered := c.Extension("AUTH")
	mech, err := oauth.Mechanism(s.cfg.OAuth.SASLMechanism, c.SupportsAuth, offered)
	if err != nil {
		return &SendError{Temporary: true, Err: err}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*s.timeout)
	defer cancel()
	token, err := s.Tokens.Token(ctx)
	for retried := false; ; retried = true {
		if err != nil {
			return &SendError{Temporary: true, Err: err}
		}
		cl := oauth.NewClient(mech, s.cfg.Username, token, s.cfg.Host, s.cfg.Port)
		err = c.Auth(cl)
		var serr *smtp.SMTPError
		if err == nil || !errors.As(err, &serr) {
			s.mech = mech
			return err
		}
		if retried {
			why := ""
			if w := cl.Explain(); w != "" {
				why = ": " + w
			}
			return &SendError{Temporary: true, Code: serr.Code, Err: fmt.Errorf("%w (%s, with a fresh token%s)", err, mech, why)}
		}
		token, err = s.Tokens.Refresh(ctx)
	}
}

// CheckLogin connects to the relay and logs in as configured, then ends
// the session with QUIT: `ticketd oauth test -smtp`. It returns the SASL
// mechanism that logged in ("" without OAuth2).
func (s *Sender) CheckLogin(ctx context.Context) (string, error) {
	s.mu.Lock()
	if s.refuse != nil {
		s.mu.Unlock()
		return "", s.refuse
	}
	s.drop()
	err := s.connect(ctx)
	mech := s.mech
	s.mu.Unlock()
	if err != nil {
		return mech, err
	}
	return mech, s.Close()
}
