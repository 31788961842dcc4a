package imap

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"

	"ticketd/config"
	"ticketd/mail/oauth"
)

// authenticate logs in with an OAuth2 access token (auth = "oauth2"):
// AUTHENTICATE OAUTHBEARER or XOAUTH2 (RFC 9051 §6.2.2, RFC 7628 §3.1),
// the mechanism by sasl_mechanism or by what the server advertises. A
// refused token gets one refresh and one retry; a second refusal is a
// *LoginError, and so is a server without either mechanism. A token the
// endpoint refuses for good is the *oauth.Error.
func (cn *conn) authenticate(box *config.Mailbox, tokens *oauth.Source) error {
	var caps imap.CapSet
	if err := cn.wait("capability", func() (err error) { caps, err = cn.c.Capability().Wait(); return err }); err != nil {
		return err
	}
	var offered []string
	for c := range caps {
		if m, ok := strings.CutPrefix(string(c), "AUTH="); ok {
			offered = append(offered, m)
		}
	}
	if len(offered) == 0 {
		offered = []string{"no SASL mechanism"}
	}
	slices.Sort(offered)
	mech, err := oauth.Mechanism(box.OAuth.SASLMechanism, func(m string) bool { return caps.Has(imap.AuthCap(m)) },
		strings.Join(offered, " "))
	if err != nil {
		return &LoginError{Text: err.Error()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*box.CommandTimeout.Duration)
	defer cancel()
	token, err := tokens.Token(ctx)
	for retried := false; ; retried = true {
		if err != nil {
			return err
		}
		cl := oauth.NewClient(mech, box.Username, token, box.Host, box.Port)
		err = cn.wait("authenticate", func() error { return cn.c.Authenticate(cl) })
		var imapErr *imap.Error
		if !errors.As(err, &imapErr) {
			cn.mech = mech
			return err
		}
		if retried {
			text := serverText(imapErr.Text) + " (" + mech + ", with a fresh token"
			if why := cl.Explain(); why != "" {
				text += ": " + why
			}
			return &LoginError{Code: string(imapErr.Code), Text: text + ")"}
		}
		token, err = tokens.Refresh(ctx)
	}
}

// refusedCode is the code a refused login is logged with: the IMAP
// response code, or the token endpoint's error; "" when err is no refusal.
func refusedCode(err error) string {
	var loginErr *LoginError
	if errors.As(err, &loginErr) {
		if loginErr.Code == "" {
			return "none"
		}
		return loginErr.Code
	}
	var oe *oauth.Error
	if errors.As(err, &oe) && oe.Permanent {
		return oe.Code
	}
	return ""
}

// CheckLogin connects to box's server, logs in as configured, selects the
// folder read-only and logs out: `ticketd oauth test`. It returns the SASL
// mechanism that logged in ("" for LOGIN). tokens may be nil for a box
// with auth = "password".
func CheckLogin(box *config.Mailbox, tokens *oauth.Source) (string, error) {
	cn, err := dial(box, tokens)
	if err != nil {
		return "", err
	}
	defer cn.kill()
	if err := cn.wait("examine", func() error {
		_, err := cn.c.Select(box.Folder, &imap.SelectOptions{ReadOnly: true}).Wait()
		return err
	}); err != nil {
		return cn.mech, err
	}
	cn.wait("logout", func() error { return cn.c.Logout().Wait() })
	return cn.mech, nil
}
