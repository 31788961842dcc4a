package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"ticketd/config"
	"ticketd/mail"
)

// Margin is how long before its expiry a token is replaced: a login must
// not start with a token that runs out during it.
const Margin = 5 * time.Minute

// HoldFailure is how long a permanent refusal of the token endpoint is
// given back without asking the endpoint again (unless token_file changes).
const HoldFailure = 10 * time.Minute

// defaultLifetime is assumed for a token whose response gives no expires_in.
const defaultLifetime = time.Hour

// requestTimeout bounds one request to the token endpoint.
const requestTimeout = 30 * time.Second

// Source hands out the access token of one oauth table. Its methods may be
// called from several goroutines.
type Source struct {
	// Now is the clock of expiry and HoldFailure (default time.Now).
	Now func() time.Time
	// HTTP makes the requests (default a client with a 30 s timeout).
	HTTP *http.Client

	cfg   config.OAuth
	login string // the operand of `ticketd oauth login` for this table

	mu      sync.Mutex
	access  string
	expiry  time.Time // by Now
	failed  error     // the last permanent refusal
	failAt  time.Time // by Now
	failRTk string    // the refresh token that was refused
}

// NewSource returns the Source of o; login is what `ticketd oauth login`
// takes to sign in again for it (a mailbox's name, or "-smtp"), for errors.
func NewSource(o *config.OAuth, login string) *Source {
	return &Source{cfg: *o, login: login}
}

func (s *Source) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// Token returns an access token valid for at least Margin, fetching one
// when needed.
func (s *Source) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.access != "" && s.now().Add(Margin).Before(s.expiry) {
		return s.access, nil
	}
	return s.fetch(ctx)
}

// Refresh forgets the current token and fetches a new one: a server
// refused the old one (revoked, or expired early).
func (s *Source) Refresh(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.access = ""
	return s.fetch(ctx)
}

// fetch asks the token endpoint; s.mu is held.
func (s *Source) fetch(ctx context.Context) (string, error) {
	refresh := ""
	if !s.cfg.ClientCredentials() {
		rt, err := ReadTokenFile(s.cfg.TokenFile)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return "", &Error{Code: "no_token", Permanent: true, Reason: fmt.Sprintf("%s does not exist: run `ticketd oauth login %s` to sign in", s.cfg.TokenFile, s.login)}
			}
			return "", &Error{Code: "token_file", Permanent: true, Reason: err.Error()}
		}
		refresh = rt
	}
	if s.failed != nil && s.now().Sub(s.failAt) < HoldFailure && refresh == s.failRTk {
		return "", s.failed
	}
	ctx, cancel := context.WithTimeout(s.context(ctx), requestTimeout)
	defer cancel()
	tokenURL, deviceURL := s.cfg.Endpoints()
	var tok *oauth2.Token
	var err error
	if refresh == "" {
		cc := clientcredentials.Config{ClientID: s.cfg.ClientID, ClientSecret: s.cfg.ClientSecret, TokenURL: tokenURL,
			Scopes: s.cfg.AllScopes(), AuthStyle: authStyle(&s.cfg)}
		tok, err = cc.Token(ctx)
	} else {
		c := s.config(tokenURL, deviceURL)
		tok, err = c.TokenSource(ctx, &oauth2.Token{RefreshToken: refresh}).Token()
	}
	if err != nil {
		e := classify(err, s.login, s.cfg.ClientCredentials())
		var oe *Error
		if errors.As(e, &oe) && oe.Permanent {
			s.failed, s.failAt, s.failRTk = e, s.now(), refresh
		}
		return "", e
	}
	s.failed = nil
	if tok.AccessToken == "" {
		return "", &Error{Code: "no_access_token", Reason: "the token endpoint answered without an access token"}
	}
	if refresh != "" && tok.RefreshToken != "" && tok.RefreshToken != refresh {
		if err := WriteTokenFile(s.cfg.TokenFile, tok.RefreshToken); err != nil {
			// The new token works now; the old one may still work later.
			return "", fmt.Errorf("oauth2: store the rotated refresh token: %w", err)
		}
	}
	s.access, s.expiry = tok.AccessToken, s.now().Add(lifetime(tok))
	return s.access, nil
}

// lifetime is how long tok is valid from now: expires_in, else Expiry,
// else defaultLifetime.
func lifetime(tok *oauth2.Token) time.Duration {
	switch {
	case tok.ExpiresIn > 0:
		return time.Duration(tok.ExpiresIn) * time.Second
	case !tok.Expiry.IsZero():
		return time.Until(tok.Expiry)
	}
	return defaultLifetime
}

// config is the oauth2.Config of the delegated grant.
func (s *Source) config(tokenURL, deviceURL string) *oauth2.Config {
	return &oauth2.Config{ClientID: s.cfg.ClientID, ClientSecret: s.cfg.ClientSecret, Scopes: s.cfg.AllScopes(),
		Endpoint: oauth2.Endpoint{TokenURL: tokenURL, DeviceAuthURL: deviceURL, AuthStyle: authStyle(&s.cfg)}}
}

// context carries s.HTTP for x/oauth2.
func (s *Source) context(ctx context.Context) context.Context {
	c := s.HTTP
	if c == nil {
		c = &http.Client{Timeout: requestTimeout}
	}
	return context.WithValue(ctx, oauth2.HTTPClient, c)
}

// authStyle is how the client authenticates to the token endpoint: in the
// form for Microsoft and Google (both take it), HTTP Basic otherwise (what
// RFC 6749 §2.3.1 requires servers to support). Never auto-detection,
// which doubles every refused request.
func authStyle(o *config.OAuth) oauth2.AuthStyle {
	if o.Provider == config.ProviderCustom {
		return oauth2.AuthStyleInHeader
	}
	return oauth2.AuthStyleInParams
}

// Error is a refusal of the token endpoint (RFC 6749 §5.2), or a token that
// cannot be had without an admin. Its text holds no secret.
type Error struct {
	Code        string // the endpoint's error code, or one of ours
	Reason      string // what it means, and what to do
	Description string // the endpoint's error_description, cut and cleaned
	// Permanent: asking again will not help until an admin acts.
	Permanent bool
}

func (e *Error) Error() string {
	s := "oauth2 token: " + e.Code
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	if e.Description != "" {
		s += " (" + e.Description + ")"
	}
	return s
}

// classify turns an error of x/oauth2 into an *Error with the reason an
// admin acts on, or a temporary error without the response body.
func classify(err error, login string, app bool) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		// A network error or an unreadable answer: temporary. Neither
		// kind quotes a body.
		return fmt.Errorf("oauth2 token endpoint: %w", err)
	}
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	e := &Error{Code: re.ErrorCode, Description: Clean(re.ErrorDescription), Permanent: true}
	again := fmt.Sprintf("run `ticketd oauth login %s` again", login)
	switch re.ErrorCode {
	case "invalid_grant":
		if app {
			e.Reason = "the grant was refused: check the tenant, and that an admin consented to the app's permissions"
		} else {
			e.Reason = "the refresh token has expired or consent was revoked: " + again
		}
	case "invalid_client", "unauthorized_client":
		e.Reason = "the client was refused: check client_id, the client secret (it may have expired) and the tenant"
	case "invalid_scope":
		e.Reason = "a scope was refused: check scopes and the app's API permissions (an admin must grant them)"
	case "access_denied":
		e.Reason = "access was denied: an admin must consent to the app, then " + again
	case "unsupported_grant_type":
		e.Reason = "the endpoint does not offer this grant: check the provider and token_url"
	case "":
		e.Code = fmt.Sprintf("http_%d", status)
		e.Reason = "the token endpoint answered without an error code"
		e.Permanent = status == http.StatusBadRequest || status == http.StatusUnauthorized || status == http.StatusForbidden
	default:
		e.Reason = "the token endpoint refused"
		e.Permanent = status/100 == 4
	}
	return e
}

// Clean makes a server's text safe to log and show (mail.ServerText).
func Clean(s string) string { return mail.ServerText(s) }

// tokenFile is what a token file holds.
type tokenFile struct {
	RefreshToken string `json:"refresh_token"`
}

// ReadTokenFile returns the refresh token in path, which follows the rules
// of every secret file (config.ReadFile).
func ReadTokenFile(path string) (string, error) {
	b, err := config.ReadFile(path, config.Secret, config.MaxTokenFile)
	if err != nil {
		return "", err
	}
	var tf tokenFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&tf); err != nil {
		return "", fmt.Errorf("%s: not a token file (JSON with refresh_token): %v", path, jsonProblem(err))
	}
	if tf.RefreshToken == "" {
		return "", fmt.Errorf("%s: holds no refresh_token", path)
	}
	return tf.RefreshToken, nil
}

// jsonProblem describes a JSON error without quoting the file's content.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	}
	return "unexpected content"
}

// WriteTokenFile replaces path with a token file holding refresh, mode 0600:
// written to a new file in the same directory, synced, and renamed over
// path, so that a crash leaves the old file or the new one, never a part.
func WriteTokenFile(path, refresh string) error {
	b, err := json.Marshal(tokenFile{RefreshToken: refresh})
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly after the rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
