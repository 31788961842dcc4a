// Package oauthtest is an OAuth2 authorization server for tests, in the
// style of httptest: a token endpoint (RFC 6749 §3.2) with the client
// credentials, refresh token and device code grants, a device authorization
// endpoint (RFC 8628 §3.1), a token introspection endpoint (RFC 7662) for
// Dovecot's oauth2 passdb, and the server side of OAUTHBEARER and XOAUTH2
// that test mail servers use to accept its access tokens and nothing else.
// Expiry follows an injected clock.
package oauthtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
)

// Server is the authorization server. Its fields may be set before the
// first request; the methods may be called at any time.
type Server struct {
	URL          string // base URL; the endpoints are TokenURL, DeviceURL and IntrospectURL
	ClientID     string // default "ticketd"
	ClientSecret string // default "client-secret"
	// Lifetime of an access token (default 1h), counted by Now.
	Lifetime time.Duration
	// Rotate issues a new refresh token with every refresh (and revokes the old).
	Rotate bool

	mu       sync.Mutex
	now      func() time.Time
	refresh  map[string]bool
	access   map[string]time.Time // token -> expiry
	devices  map[string]*device   // device_code -> state
	requests map[string]int       // token requests by grant_type
	fail     string               // when set, every token request is refused with this error code
	issued   []string             // every access and refresh token ever issued
}

type device struct {
	userCode string
	approved bool
	denied   bool
}

// New starts the server on 127.0.0.1; it is closed at cleanup. now is its
// clock (nil: time.Now).
func New(t testing.TB, now func() time.Time) *Server {
	if now == nil {
		now = time.Now
	}
	s := &Server{ClientID: "ticketd", ClientSecret: "client-secret", Lifetime: time.Hour, now: now,
		refresh: map[string]bool{}, access: map[string]time.Time{}, devices: map[string]*device{}, requests: map[string]int{}}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// TokenURL, DeviceURL and IntrospectURL are the endpoints.
func (s *Server) TokenURL() string      { return s.URL + "/token" }
func (s *Server) DeviceURL() string     { return s.URL + "/device" }
func (s *Server) IntrospectURL() string { return s.URL + "/introspect" }

// Handler serves the endpoints without a listener (for tests that run in
// a synctest bubble, through Transport).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", s.token)
	mux.HandleFunc("POST /device", s.device)
	mux.HandleFunc("POST /introspect", s.introspect)
	return mux
}

// IssueRefresh returns a new valid refresh token, as if someone had signed in.
func (s *Server) IssueRefresh() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt := s.newToken("rt-")
	s.refresh[rt] = true
	return rt
}

// Revoke makes every refresh token and access token invalid (consent revoked).
func (s *Server) Revoke() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.refresh)
	clear(s.access)
}

// ExpireAccess makes every access token issued so far invalid, as a
// server that expires them early does; refresh tokens stay valid.
func (s *Server) ExpireAccess() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.access)
}

// Fail makes every token request fail with code (e.g. "invalid_client");
// "" ends it.
func (s *Server) Fail(code string) {
	s.mu.Lock()
	s.fail = code
	s.mu.Unlock()
}

// Requests is the number of token requests so far with grant (""= all).
func (s *Server) Requests(grant string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if grant != "" {
		return s.requests[grant]
	}
	n := 0
	for _, v := range s.requests {
		n += v
	}
	return n
}

// Approve signs in the pending device authorization of userCode; deny
// declines it instead.
func (s *Server) Approve(userCode string, deny bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.devices {
		if d.userCode == userCode {
			d.approved, d.denied = !deny, deny
			return true
		}
	}
	return false
}

// Valid reports whether token is an access token of this server that has
// not expired.
func (s *Server) Valid(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.access[token]
	return ok && s.now().Before(exp)
}

// AccessTokens returns every access and refresh token ever issued, for
// tests that look for them where they must not be.
func (s *Server) AccessTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.issued)
}

// newToken makes a token with prefix and records it; s.mu is held.
func (s *Server) newToken(prefix string) string {
	t := prefix + random()
	s.issued = append(s.issued, t)
	return t
}

func random() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func oauthError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": "test server: " + code})
}

// client checks the client authentication: HTTP Basic or the form.
func (s *Server) client(r *http.Request) bool {
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	return id == s.ClientID && (secret == s.ClientSecret || secret == "" && r.PostFormValue("grant_type") != "client_credentials")
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	grant := r.PostFormValue("grant_type")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[grant]++
	if s.fail != "" {
		oauthError(w, http.StatusBadRequest, s.fail)
		return
	}
	if !s.client(r) {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	resp := map[string]any{"token_type": "Bearer", "expires_in": int(s.Lifetime / time.Second)}
	switch grant {
	case "client_credentials":
	case "refresh_token":
		rt := r.PostFormValue("refresh_token")
		if !s.refresh[rt] {
			oauthError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		if s.Rotate {
			delete(s.refresh, rt)
			rt = s.newToken("rt-")
			s.refresh[rt] = true
			resp["refresh_token"] = rt
		}
	case "urn:ietf:params:oauth:grant-type:device_code":
		d := s.devices[r.PostFormValue("device_code")]
		switch {
		case d == nil:
			oauthError(w, http.StatusBadRequest, "invalid_grant")
			return
		case d.denied:
			oauthError(w, http.StatusBadRequest, "access_denied")
			return
		case !d.approved:
			oauthError(w, http.StatusBadRequest, "authorization_pending")
			return
		}
		delete(s.devices, r.PostFormValue("device_code"))
		rt := s.newToken("rt-")
		s.refresh[rt] = true
		resp["refresh_token"] = rt
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	at := s.newToken("at-")
	s.access[at] = s.now().Add(s.Lifetime)
	resp["access_token"] = at
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

func (s *Server) device(w http.ResponseWriter, r *http.Request) {
	if r.PostFormValue("client_id") != s.ClientID {
		oauthError(w, http.StatusBadRequest, "invalid_client")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	code := "dc-" + random()
	user := strings.ToUpper(random()[:8])
	s.devices[code] = &device{userCode: user}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"device_code": code, "user_code": user,
		"verification_uri": s.URL + "/verify", "expires_in": 900, "interval": 1})
}

// introspect answers RFC 7662 §2.2: active, with the user name, for a valid token.
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	token := r.PostFormValue("token")
	if token == "" {
		if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
			token = strings.TrimPrefix(h, "Bearer ")
		}
	}
	out := map[string]any{"active": s.Valid(token)}
	if out["active"] == true {
		out["username"] = r.URL.Query().Get("user")
		out["email"] = r.URL.Query().Get("user")
		out["token_type"] = "Bearer"
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// SASL returns what go-imap's SessionSASL.Authenticate and go-smtp's
// Session.Auth call for a server that takes only this server's access
// tokens for user: OAUTHBEARER and XOAUTH2. A refused token gets the
// error challenge of RFC 7628 §3.2.2 and then refused.
func (s *Server) SASL(user string, refused error) func(mech string) (sasl.Server, error) {
	return func(mech string) (sasl.Server, error) {
		switch mech {
		case sasl.OAuthBearer:
			inner := sasl.NewOAuthBearerServer(func(o sasl.OAuthBearerOptions) *sasl.OAuthBearerError {
				if o.Username != user || !s.Valid(o.Token) {
					return &sasl.OAuthBearerError{Status: "invalid_token", Schemes: "bearer"}
				}
				return nil
			})
			return &failAs{inner: inner, refused: refused}, nil
		case "XOAUTH2":
			return &xoauth2Server{check: func(u, tok string) bool { return u == user && s.Valid(tok) }, refused: refused}, nil
		}
		return nil, errors.New("unsupported SASL mechanism")
	}
}

// Mechanisms are the mechanisms SASL serves.
var Mechanisms = []string{sasl.OAuthBearer, "XOAUTH2"}

// failAs replaces the error of a failed exchange with refused.
type failAs struct {
	inner   sasl.Server
	refused error
}

func (f *failAs) Next(resp []byte) ([]byte, bool, error) {
	ch, done, err := f.inner.Next(resp)
	if err != nil {
		return nil, true, f.refused
	}
	return ch, done, nil
}

// xoauth2Server is the server side of XOAUTH2: "user=U^Aauth=Bearer T^A^A";
// a refused token gets the error challenge {"status":"401",...} and, after
// the client's empty response, refused.
type xoauth2Server struct {
	check   func(user, token string) bool
	refused error
	failed  bool
}

func (x *xoauth2Server) Next(resp []byte) ([]byte, bool, error) {
	if x.failed {
		return nil, true, x.refused
	}
	if resp == nil {
		return []byte{}, false, nil
	}
	var user, token string
	for _, kv := range bytes.Split(resp, []byte{1}) {
		k, v, _ := strings.Cut(string(kv), "=")
		switch k {
		case "user":
			user = v
		case "auth":
			token = strings.TrimPrefix(v, "Bearer ")
		}
	}
	if x.check(user, token) {
		return nil, true, nil
	}
	x.failed = true
	return []byte(`{"status":"` + strconv.Itoa(http.StatusUnauthorized) + `","schemes":"Bearer","scope":"https://mail.google.com/"}`), false, nil
}

// Transport serves requests with the server's handler in the calling
// goroutine, without a network: for tests inside a synctest bubble.
func (s *Server) Transport() http.RoundTripper {
	h := s.Handler()
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Result(), nil
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Clock is a clock tests set: Now for the server and the token source,
// Add to let time pass.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts at 2026-12-07 09:00 UTC.
func NewClock() *Clock { return &Clock{t: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock on by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
