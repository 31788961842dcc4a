package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// The public HTTP listener (server.http_listen). It serves /healthz and the
// consent page under /consent/; every other path is a plain 404 that names
// nothing. /healthz says only "ok" (200, every mailbox is connected) or
// "unavailable" (503): mailbox names, servers, UIDs and error texts are for
// ticketd status, through the admin socket.
//
// Every answer carries the security headers of the consent page (see
// securityHeaders), also those net/http writes by itself without calling a
// handler: 400 for a malformed request, 431 for oversized headers, 417, 501
// and 505. Those are written straight to the connection, so the listener
// hands the server connections that add the headers to a response head that
// lacks them (secureConn).

type httpServer struct {
	srv *http.Server
	ln  net.Listener
}

// securityHeaders are sent with every answer on http_listen: the consent
// page's policy (inline styles only, no scripts, images, frames or
// foreign form targets), no referrer (consent tokens are in URLs), no
// caching, no sniffing, no framing.
var securityHeaders = [][2]string{
	{"Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"},
	{"Referrer-Policy", "no-referrer"},
	{"X-Content-Type-Options", "nosniff"},
	{"X-Frame-Options", "DENY"},
	{"Cache-Control", "no-store"},
}

func startHTTP(addr string, healthy func() bool, consentPage http.Handler) (*httpServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http_listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !healthy() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "unavailable")
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("/consent/", consentPage)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintln(w, "404 not found")
	})
	h := &httpServer{srv: &http.Server{
		Handler:           withSecurityHeaders(mux),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ConnState: func(c net.Conn, s http.ConnState) {
			if sc, ok := c.(*secureConn); ok && s == http.StateIdle {
				sc.head.Store(true) // the next write starts a response
			}
		},
	}, ln: secureListener{ln}}
	go h.srv.Serve(h.ln)
	return h, nil
}

// close stops the server (nil: none runs), letting requests in progress end.
func (h *httpServer) close() {
	if h == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h.srv.Shutdown(ctx)
}

// withSecurityHeaders sets securityHeaders before next answers.
func withSecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		for _, kv := range securityHeaders {
			hdr.Set(kv[0], kv[1])
		}
		next.ServeHTTP(w, r)
	})
}

// secureListener hands out secureConns.
type secureListener struct{ net.Listener }

func (l secureListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	sc := &secureConn{Conn: c}
	sc.head.Store(true)
	return sc, nil
}

// secureConn adds securityHeaders to a response head the server wrote
// without them. head is set while the next write starts a response: when
// the connection is new and each time the server has finished one
// (http.StateIdle, reported on the connection's goroutine before it reads
// the next request). net/http writes each response head, its own error
// answers included, from the start of one Write, so only the first write of
// a response is looked at; a body is never touched.
type secureConn struct {
	net.Conn
	head atomic.Bool
}

func (c *secureConn) Write(p []byte) (int, error) {
	if !c.head.Load() || !bytes.HasPrefix(p, []byte("HTTP/1.")) {
		return c.Conn.Write(p)
	}
	line := bytes.Index(p, []byte("\r\n"))
	end := bytes.Index(p, []byte("\r\n\r\n"))
	if line < 0 || end < 0 {
		c.head.Store(false)
		return c.Conn.Write(p)
	}
	if len(p) > len("HTTP/1.1 1") && p[len("HTTP/1.1 ")] == '1' {
		return c.Conn.Write(p) // 100 Continue: the response itself follows
	}
	c.head.Store(false)
	fields := p[line:end]
	var add bytes.Buffer
	for _, kv := range securityHeaders {
		if !hasField(fields, kv[0]) {
			fmt.Fprintf(&add, "\r\n%s: %s", kv[0], kv[1])
		}
	}
	if add.Len() == 0 {
		return c.Conn.Write(p)
	}
	out := make([]byte, 0, len(p)+add.Len())
	out = append(append(append(out, p[:line]...), add.Bytes()...), p[line:]...)
	n, err := c.Conn.Write(out)
	if err != nil { // how much of p itself was written
		switch {
		case n <= line:
			return n, err
		case n <= line+add.Len():
			return line, err
		}
		return n - add.Len(), err
	}
	return len(p), nil
}

// hasField reports whether the header lines (each after a CRLF) have name.
func hasField(lines []byte, name string) bool {
	for _, l := range bytes.Split(lines, []byte("\r\n")) {
		if k, _, ok := bytes.Cut(l, []byte(":")); ok && bytes.EqualFold(bytes.TrimSpace(k), []byte(name)) {
			return true
		}
	}
	return false
}
