package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"ticketd/config"
	"ticketd/mail/imap"
	"ticketd/mail/oauth"
	"ticketd/mail/smtp"
)

// ticketd oauth login and ticketd oauth test: the OAuth2 sign-in of a
// mailbox or of the relay, and a check that its token logs in. Neither
// touches the store or the daemon, so they are plain commands, not ops: a
// running daemon reads the new token file at its next refresh.

func init() {
	commands["oauth"] = command{"oauth [-config FILE] login MAILBOX | login -smtp | test [MAILBOX | -smtp]",
		"sign in once with the device flow and store the refresh token in token_file (login); fetch a token and log in " +
			"once to each OAuth2 mailbox and the relay, or the one named, printing what worked (test)", cmdOAuth}
}

func cmdOAuth(ctx context.Context, e *env, args []string) error {
	fs, path := flags(e, "oauth")
	if err := parseCommand(fs, args); err != nil {
		return err
	}
	sub := subFlags(e, "oauth", fs.Arg(0), path)
	forSMTP := sub.Bool("smtp", false, "the [smtp] relay instead of a mailbox")
	if err := parseFlags(sub, fs.Args()[min(1, fs.NArg()):]); err != nil {
		return err
	}
	switch fs.Arg(0) {
	case "login":
		if sub.NArg() != map[bool]int{true: 0, false: 1}[*forSMTP] {
			return usageError("oauth", "login takes one MAILBOX, or -smtp")
		}
	case "test":
		if sub.NArg() > 1 || *forSMTP && sub.NArg() != 0 {
			return usageError("oauth", "test takes at most one MAILBOX, or -smtp")
		}
	default:
		return usageError("oauth", "login or test?")
	}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return err
	}
	targets, err := oauthTargets(cfg, sub.Arg(0), *forSMTP, fs.Arg(0) == "test")
	if err != nil {
		return err
	}
	if fs.Arg(0) == "login" {
		t := targets[0]
		if t.oauth.ClientCredentials() {
			return &exitError{exitConfig, fmt.Errorf("oauth login: %s uses client credentials (no token_file): nothing to sign in to; try `ticketd oauth test`", t.name)}
		}
		if err := oauth.NewSource(t.oauth, t.login).Login(ctx, e.stdout); err != nil {
			return oauthExit(fmt.Errorf("oauth login %s: %w", t.name, err))
		}
		fmt.Fprintln(e.stdout, "A running ticketd uses it at its next attempt; `ticketd oauth test` checks it now.")
		return nil
	}
	var failed error
	for _, t := range targets {
		if err := oauthTest(ctx, e.stdout, cfg, t); err != nil && failed == nil {
			failed = err
		}
	}
	if failed != nil {
		return oauthExit(fmt.Errorf("oauth test: %w", failed))
	}
	return nil
}

// oauthTarget is a mailbox or the relay with auth = "oauth2".
type oauthTarget struct {
	name  string // "mailbox NAME" or "smtp"
	login string // the operand of oauth login
	oauth *config.OAuth
	box   *config.Mailbox // nil for the relay
}

// oauthTargets are the OAuth2 logins the command works on: the one named,
// or for test without one, all of them.
func oauthTargets(cfg *config.Config, name string, forSMTP, all bool) ([]oauthTarget, error) {
	smtpTarget := oauthTarget{name: "smtp", login: "-smtp", oauth: &cfg.SMTP.OAuth}
	if forSMTP {
		if cfg.SMTP.Auth != config.AuthOAuth2 {
			return nil, &exitError{exitConfig, errors.New(`oauth: [smtp] does not use auth = "oauth2"`)}
		}
		return []oauthTarget{smtpTarget}, nil
	}
	var out []oauthTarget
	for i := range cfg.Mailboxes {
		b := &cfg.Mailboxes[i]
		if name != "" && b.Name != name {
			continue
		}
		if b.Auth != config.AuthOAuth2 {
			if name != "" {
				return nil, &exitError{exitConfig, fmt.Errorf(`oauth: mailbox %q does not use auth = "oauth2"`, name)}
			}
			continue
		}
		out = append(out, oauthTarget{name: "mailbox " + b.Name, login: b.Name, oauth: &b.OAuth, box: b})
	}
	if name == "" && all && cfg.SMTP.Auth == config.AuthOAuth2 {
		out = append(out, smtpTarget)
	}
	switch {
	case name != "" && len(out) == 0:
		return nil, usageError("oauth", "no [[mailbox]] named %q", name)
	case len(out) == 0:
		return nil, &exitError{exitConfig, errors.New(`oauth: no [[mailbox]] and no [smtp] uses auth = "oauth2"`)}
	}
	return out, nil
}

// oauthTest fetches a token for t and logs in with it once, printing each
// step's outcome.
func oauthTest(ctx context.Context, out io.Writer, cfg *config.Config, t oauthTarget) error {
	src := oauth.NewSource(t.oauth, t.login)
	grant := "refresh token from " + t.oauth.TokenFile
	if t.oauth.ClientCredentials() {
		grant = "client credentials"
	}
	start := time.Now()
	if _, err := src.Token(ctx); err != nil {
		fmt.Fprintf(out, "%s: token (%s): FAILED: %v\n", t.name, grant, err)
		return err
	}
	fmt.Fprintf(out, "%s: token (%s): ok, in %s\n", t.name, grant, time.Since(start).Round(time.Millisecond))
	var mech string
	var err error
	if t.box != nil {
		mech, err = imap.CheckLogin(t.box, src)
	} else {
		s := smtp.NewSender(&cfg.SMTP, heloName(cfg), nil)
		s.Tokens = src
		mech, err = s.CheckLogin(ctx)
	}
	proto := map[bool]string{true: "imap", false: "smtp"}[t.box != nil]
	if err != nil {
		fmt.Fprintf(out, "%s: %s login: FAILED: %v\n", t.name, proto, err)
		return err
	}
	fmt.Fprintf(out, "%s: %s login (%s): ok\n", t.name, proto, mech)
	return nil
}

// oauthExit is the exit of a failed sign-in or test: 78 when an admin must
// change something (a refused grant, a refused login), 75 when trying
// again later may do.
func oauthExit(err error) error {
	var oe *oauth.Error
	var le *imap.LoginError
	var se *smtp.SendError
	if errors.As(err, &oe) && oe.Permanent || errors.As(err, &le) || errors.As(err, &se) && se.Code/100 == 5 {
		return &exitError{exitConfig, err}
	}
	return &exitError{exitTempFail, err}
}
