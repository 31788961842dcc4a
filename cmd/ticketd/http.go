package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	"ticketd/mail"
)

// The public HTTP listener (server.http_listen). It serves /healthz: 200 when
// every mailbox is connected, 503 otherwise, with each mailbox's state.

type httpServer struct {
	srv *http.Server
	ln  net.Listener
}

func startHTTP(addr string, status func() []mail.Status) (*httpServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http_listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		boxes := status()
		healthy := true
		for _, b := range boxes {
			healthy = healthy && b.Connected
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		body := map[string]any{"status": "ok", "mailboxes": boxes}
		if !healthy {
			body["status"] = "degraded"
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(body)
	})
	h := &httpServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln: ln}
	go h.srv.Serve(ln)
	return h, nil
}

func (h *httpServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h.srv.Shutdown(ctx)
}
