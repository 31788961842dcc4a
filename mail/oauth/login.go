package oauth

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Login runs the device authorization grant (RFC 8628) for the delegated
// grant of s: it asks for a device code, writes the URL and the code to
// out for the admin to sign in with elsewhere, polls the token endpoint at
// the interval the server asks for (§3.4, slower on slow_down) until the
// admin signs in, declines or the code expires, and stores the refresh
// token in token_file.
func (s *Source) Login(ctx context.Context, out io.Writer) error {
	if s.cfg.ClientCredentials() {
		return errors.New("this oauth table uses client credentials (no token_file): there is nothing to sign in to; use `ticketd oauth test`")
	}
	tokenURL, deviceURL := s.cfg.Endpoints()
	if deviceURL == "" {
		return errors.New("no device_auth_url: the provider's device authorization endpoint is needed to sign in")
	}
	ctx = s.context(ctx)
	c := s.config(tokenURL, deviceURL)
	da, err := c.DeviceAuth(ctx)
	if err != nil {
		return fmt.Errorf("device authorization: %w", classify(err, s.login, false))
	}
	uri := da.VerificationURIComplete
	if uri == "" {
		uri = da.VerificationURI
	}
	fmt.Fprintf(out, "To sign in, open %s and enter the code %s\n", Clean(uri), Clean(da.UserCode))
	fmt.Fprintln(out, "Waiting for the sign-in to finish ...")
	tok, err := c.DeviceAccessToken(ctx, da)
	if err != nil {
		return fmt.Errorf("sign-in: %w", classify(err, s.login, false))
	}
	if tok.RefreshToken == "" {
		return errors.New("the sign-in gave no refresh token: ask for offline access (Microsoft: the scope offline_access)")
	}
	if err := WriteTokenFile(s.cfg.TokenFile, tok.RefreshToken); err != nil {
		return fmt.Errorf("store the refresh token: %w", err)
	}
	s.mu.Lock()
	s.access, s.failed = tok.AccessToken, nil
	s.expiry = s.now().Add(lifetime(tok))
	s.mu.Unlock()
	fmt.Fprintf(out, "Signed in; the refresh token is in %s\n", s.cfg.TokenFile)
	return nil
}
