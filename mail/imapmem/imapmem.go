// Package imapmem is go-imap's in-memory IMAP server (imapmemserver) set up
// for ticketd's tests and demo: one user, some folders, plain with STARTTLS
// or implicit TLS on loopback.
//
// It also mends one imapmemserver behaviour: updates (EXISTS) queued between
// a session's last command and its IDLE were only sent at the next update, so
// a client could idle on mail that had already arrived. Real servers (Dovecot)
// send them when IDLE starts; so does this one.
package imapmem

import (
	"crypto/tls"
	"net"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// Server is an in-memory IMAP server with one user.
type Server struct {
	User *imapmemserver.User
	srv  *imapserver.Server
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
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &session{mem.NewSession().(imapserver.SessionIMAP4rev2)}, nil, nil
		},
		Caps:         caps,
		InsecureAuth: true,
		TLSConfig:    tlsConfig,
	})
	return &Server{User: u, srv: srv}, nil
}

// Serve accepts connections on ln until Close.
func (s *Server) Serve(ln net.Listener) { go s.srv.Serve(ln) }

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// session flushes pending updates when IDLE starts.
type session struct{ imapserver.SessionIMAP4rev2 }

func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	if err := s.Poll(w, true); err != nil {
		return err
	}
	return s.SessionIMAP4rev2.Idle(w, stop)
}
