// Package imapmem is go-imap's in-memory IMAP server (imapmemserver) set up
// for ticketd's tests and demo: one user, some folders, plain with STARTTLS
// or implicit TLS on loopback.
//
// It also mends one imapmemserver behaviour: updates (EXISTS) queued between
// a session's last command and its IDLE were only sent at the next update, so
// a client could idle on mail that had already arrived. Real servers (Dovecot)
// send them when IDLE starts; so does this one.
//
// With SetAuthenticate the server takes only the SASL mechanisms given
// (such as OAUTHBEARER and XOAUTH2 with bearer tokens) and refuses LOGIN;
// Kick ends every open session with BYE, as a server does when a session's
// token expires.
package imapmem

import (
	"crypto/tls"
	"net"
	"sync"

	"github.com/emersion/go-sasl"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// Server is an in-memory IMAP server with one user.
type Server struct {
	User *imapmemserver.User
	srv  *imapserver.Server

	username, password string

	mu    sync.Mutex
	mechs []string
	auth  func(mech string) (sasl.Server, error)
	conns map[*imapserver.Conn]bool
}

// New creates the user and its folders. caps nil means IMAP4rev1 and
// IMAP4rev2 (IDLE, MOVE, UIDPLUS). With tlsConfig set, STARTTLS is offered.
// Plain-text LOGIN is allowed: listen on loopback only.
func New(username, password string, folders []string, caps imap.CapSet, tlsConfig *tls.Config) (*Server, error) {
	if caps == nil {
		caps = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}}
	}
	mem := imapmemserver.New()
	u := imapmemserver.NewUser(username, password)
	for _, name := range folders {
		if err := u.Create(name, nil); err != nil {
			return nil, err
		}
	}
	mem.AddUser(u)
	s := &Server{User: u, username: username, password: password, conns: map[*imapserver.Conn]bool{}}
	s.srv = imapserver.New(&imapserver.Options{
		NewSession: func(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			s.mu.Lock()
			s.conns[c] = true
			s.mu.Unlock()
			return &session{mem.NewSession().(imapserver.SessionIMAP4rev2), s, c}, nil, nil
		},
		Caps:         caps,
		InsecureAuth: true,
		TLSConfig:    tlsConfig,
	})
	return s, nil
}

// SetAuthenticate makes the server offer only mechs, served by auth (which
// checks the credentials; the session then belongs to the server's user),
// and refuse LOGIN.
func (s *Server) SetAuthenticate(mechs []string, auth func(mech string) (sasl.Server, error)) {
	s.mu.Lock()
	s.mechs, s.auth = mechs, auth
	s.mu.Unlock()
}

// Kick ends every open session with BYE text.
func (s *Server) Kick(text string) {
	s.mu.Lock()
	conns := make([]*imapserver.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Bye(text)
	}
}

func (s *Server) authenticator() ([]string, func(string) (sasl.Server, error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mechs, s.auth
}

// Serve accepts connections on ln until Close.
func (s *Server) Serve(ln net.Listener) { go s.srv.Serve(ln) }

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// session flushes pending updates when IDLE starts, and authenticates as
// SetAuthenticate says.
type session struct {
	imapserver.SessionIMAP4rev2
	srv  *Server
	conn *imapserver.Conn
}

func (s *session) Close() error {
	s.srv.mu.Lock()
	delete(s.srv.conns, s.conn)
	s.srv.mu.Unlock()
	return s.SessionIMAP4rev2.Close()
}

func (s *session) Login(username, password string) error {
	if _, auth := s.srv.authenticator(); auth != nil {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed, Text: "LOGIN is disabled, use AUTHENTICATE"}
	}
	return s.SessionIMAP4rev2.Login(username, password)
}

func (s *session) AuthenticateMechanisms() []string {
	if mechs, auth := s.srv.authenticator(); auth != nil {
		return mechs
	}
	return []string{sasl.Plain}
}

func (s *session) Authenticate(mech string) (sasl.Server, error) {
	_, auth := s.srv.authenticator()
	if auth == nil {
		if mech != sasl.Plain {
			return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "SASL mechanism not supported"}
		}
		return sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthorizationFailed, Text: "SASL identity not supported"}
			}
			return s.SessionIMAP4rev2.Login(username, password)
		}), nil
	}
	inner, err := auth(mech)
	if err != nil {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "SASL mechanism not supported"}
	}
	return &loginAfter{inner: inner, login: func() error { return s.SessionIMAP4rev2.Login(s.srv.username, s.srv.password) }}, nil
}

// loginAfter logs the session in once its SASL exchange succeeded.
type loginAfter struct {
	inner sasl.Server
	login func() error
}

func (l *loginAfter) Next(resp []byte) ([]byte, bool, error) {
	ch, done, err := l.inner.Next(resp)
	if err == nil && done {
		err = l.login()
	}
	return ch, done, err
}

func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	if err := s.Poll(w, true); err != nil {
		return err
	}
	return s.SessionIMAP4rev2.Idle(w, stop)
}
