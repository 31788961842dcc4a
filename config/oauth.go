package config

import (
	"errors"
	"io/fs"
	"net/url"
	"regexp"
	"strings"
)

// OAuth is the OAuth2 client (RFC 6749) of a [[mailbox]] or of [smtp] with
// auth = "oauth2": the [mailbox.oauth] or [smtp.oauth] table. Its access
// tokens log in with OAUTHBEARER (RFC 7628) or XOAUTH2.
//
// Which grant is used follows from the keys: with token_file, the refresh
// token in it (delegated access, obtained once with `ticketd oauth login`,
// the device authorization grant of RFC 8628); without, client credentials
// (RFC 6749 §4.4: app-only access, which needs client_secret_file).
type OAuth struct {
	// Provider fills in the endpoints and scopes: "microsoft" (Microsoft
	// 365, Exchange Online), "google" (Google Workspace, Gmail) or
	// "custom" (token_url and scopes written out). Required.
	Provider string `toml:"provider"`
	// Tenant is the Microsoft Entra directory (tenant) ID or a domain of
	// it, such as "contoso.onmicrosoft.com"; required for "microsoft", not
	// allowed otherwise.
	Tenant string `toml:"tenant"`
	// ClientID is the application (client) ID of the registered app; required.
	ClientID string `toml:"client_id"`
	// ClientSecretFile holds the client secret (secret file rules); required
	// for client credentials, optional with token_file (Google requires it
	// for its desktop clients). Relative to the configuration file's directory.
	ClientSecretFile string `toml:"client_secret_file"`
	// TokenFile holds the refresh token `ticketd oauth login` obtained,
	// as JSON, mode 0600 (secret file rules); a rotated refresh token is
	// written back to it atomically. Relative to the configuration file's
	// directory. Setting it selects the delegated grant.
	TokenFile string `toml:"token_file"`
	// Scopes replace the provider's default scopes (see DefaultScopes);
	// required for "custom" unless its server needs none.
	Scopes []string `toml:"scopes"`
	// TokenURL and DeviceAuthURL are the token endpoint (RFC 6749 §3.2) and
	// the device authorization endpoint (RFC 8628 §3.1); the provider's by
	// default, TokenURL required for "custom". https, or http to a loopback
	// address.
	TokenURL      string `toml:"token_url"`
	DeviceAuthURL string `toml:"device_auth_url"`
	// SASLMechanism is "OAUTHBEARER" (RFC 7628) or "XOAUTH2" (the form of
	// Microsoft and Google); default "" picks by what the server
	// advertises, OAUTHBEARER first.
	SASLMechanism string `toml:"sasl_mechanism"`

	ClientSecret string `toml:"-"` // read from ClientSecretFile
}

// Auth values of [[mailbox]] and [smtp].
const (
	AuthPassword = "password"
	AuthOAuth2   = "oauth2"
)

// OAuth2 providers.
const (
	ProviderMicrosoft = "microsoft"
	ProviderGoogle    = "google"
	ProviderCustom    = "custom"
)

// SASL mechanisms for OAuth2.
const (
	MechOAuthBearer = "OAUTHBEARER"
	MechXOAuth2     = "XOAUTH2"
)

// MaxTokenFile bounds a token file: a refresh and an access token of a few
// KiB each, as JSON.
const MaxTokenFile = 64 << 10

var (
	authModes     = []string{AuthPassword, AuthOAuth2}
	providers     = []string{ProviderMicrosoft, ProviderGoogle, ProviderCustom}
	saslMechs     = []string{"", MechOAuthBearer, MechXOAuth2}
	tenantPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$`)
)

// ClientCredentials reports whether the client credentials grant is used
// (no token_file): app-only access.
func (o *OAuth) ClientCredentials() bool { return o.TokenFile == "" }

// Endpoints returns the token and device authorization endpoints: the
// keys when written, the provider's otherwise.
func (o *OAuth) Endpoints() (tokenURL, deviceURL string) {
	tokenURL, deviceURL = o.TokenURL, o.DeviceAuthURL
	switch o.Provider {
	case ProviderMicrosoft:
		base := "https://login.microsoftonline.com/" + url.PathEscape(o.Tenant) + "/oauth2/v2.0/"
		if tokenURL == "" {
			tokenURL = base + "token"
		}
		if deviceURL == "" {
			deviceURL = base + "devicecode"
		}
	case ProviderGoogle:
		if tokenURL == "" {
			tokenURL = "https://oauth2.googleapis.com/token"
		}
		if deviceURL == "" {
			deviceURL = "https://oauth2.googleapis.com/device/code"
		}
	}
	return tokenURL, deviceURL
}

// DefaultScopes are the scopes asked for when scopes is not written:
// Microsoft app-only access ".default" of Exchange Online (the roles
// IMAP.AccessAsApp and SMTP.SendAsApp granted to the app), delegated
// IMAP.AccessAsUser.All and SMTP.Send with offline_access (for the refresh
// token); Google https://mail.google.com/ (IMAP and SMTP).
func (o *OAuth) DefaultScopes() []string {
	switch o.Provider {
	case ProviderMicrosoft:
		if o.ClientCredentials() {
			return []string{"https://outlook.office365.com/.default"}
		}
		return []string{"https://outlook.office365.com/IMAP.AccessAsUser.All",
			"https://outlook.office365.com/SMTP.Send", "offline_access"}
	case ProviderGoogle:
		return []string{"https://mail.google.com/"}
	}
	return nil
}

// AllScopes returns scopes, or DefaultScopes when none are written.
func (o *OAuth) AllScopes() []string {
	if o.Scopes != nil {
		return o.Scopes
	}
	return o.DefaultScopes()
}

// oauthValidate checks the auth key and the oauth table of the [smtp] or
// [[mailbox]] table at table.
func (d *decoder) oauthValidate(table, auth, passwordFile, tls, host string, o *OAuth) {
	d.oneOf(table+".auth", auth, authModes)
	p := table + ".oauth"
	if auth != AuthOAuth2 {
		if d.has(p) {
			d.keyErrorf(p, `only with auth = "oauth2"`)
		}
		return
	}
	if passwordFile != "" {
		d.warnf(table+".password_file", `%s.password_file: not used with auth = "oauth2": the access token takes the password's place`, table)
	}
	if !d.has(p) {
		d.errorf(p, `missing [%s] table: auth = "oauth2" needs provider and client_id`, p)
		return
	}
	d.required(p, "provider", o.Provider, "client_id", o.ClientID)
	if o.Provider != "" {
		d.oneOf(p+".provider", o.Provider, providers)
	}
	switch {
	case o.Provider == ProviderMicrosoft && o.Tenant == "":
		d.required(p, "tenant", o.Tenant)
	case o.Provider == ProviderMicrosoft && !tenantPattern.MatchString(o.Tenant):
		d.keyErrorf(p+".tenant", "must be a directory (tenant) ID or a domain such as contoso.onmicrosoft.com, got %q", o.Tenant)
	case o.Provider != ProviderMicrosoft && o.Tenant != "":
		d.keyErrorf(p+".tenant", `only for provider = "microsoft"`)
	}
	if o.ClientCredentials() {
		switch o.Provider {
		case ProviderGoogle:
			d.errorf(p, "%s: Google offers no client credentials grant for IMAP and SMTP: set token_file and run `ticketd oauth login` once", p)
		default:
			if o.ClientSecretFile == "" {
				d.errorf(p, "%s: client credentials (no token_file) need client_secret_file; for delegated access set token_file", p)
			}
		}
	}
	if o.Provider == ProviderCustom {
		d.required(p, "token_url", o.TokenURL)
	}
	d.endpointURL(p+".token_url", o.TokenURL)
	d.endpointURL(p+".device_auth_url", o.DeviceAuthURL)
	if d.has(p+".scopes") && len(o.Scopes) == 0 {
		d.keyErrorf(p+".scopes", "must not be empty: leave scopes out for the provider's defaults")
	}
	for i, s := range o.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n\"\\") {
			d.keyErrorf(index(p+".scopes", i+1), "must be one scope without spaces or quotes, got %q", s)
		}
	}
	d.oneOf(p+".sasl_mechanism", o.SASLMechanism, saslMechs)
	if tls == "none" && host != "" && !isLoopback(host) {
		d.keyErrorf(table+".tls", "refusing to send an access token unencrypted to %s", host)
	}
}

// endpointURL reports an OAuth endpoint that is not https (http only to a
// loopback address: the client secret and tokens cross it).
func (d *decoder) endpointURL(path, s string) {
	if s == "" {
		return
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "" || u.Scheme != "https" && u.Scheme != "http":
		d.keyErrorf(path, "must be an absolute https URL, got %q", s)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		d.keyErrorf(path, "must be https (http only to a loopback address), got %q", s)
	case u.User != nil:
		d.keyErrorf(path, "must not hold credentials")
	}
}

// oauthFiles resolves and reads the oauth table's files: the client
// secret, and the token file's rules when it exists (a missing one is a
// warning: `ticketd oauth login` makes it).
func (d *decoder) oauthFiles(table, auth, name string, o *OAuth, resolve func(string) string) {
	if auth != AuthOAuth2 {
		return
	}
	p := table + ".oauth"
	o.ClientSecretFile, o.TokenFile = resolve(o.ClientSecretFile), resolve(o.TokenFile)
	if o.ClientSecretFile != "" {
		o.ClientSecret = d.secret(p+".client_secret_file", o.ClientSecretFile)
	}
	if o.TokenFile == "" {
		return
	}
	switch err := CheckFile(o.TokenFile, Secret, MaxTokenFile); {
	case errors.Is(err, fs.ErrNotExist):
		d.warnf(p+".token_file", "%s.token_file: %s does not exist yet: run `ticketd oauth login %s` to sign in once", p, o.TokenFile, name)
	case err != nil:
		d.keyErrorf(p+".token_file", "%v", err)
	}
}
