package main

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"ticketd/metrics"
)

// The metrics listener ([server] metrics_listen): GET /metrics in the
// Prometheus text format, apart from http_listen, which customers reach.
// It is off by default and on loopback unless metrics_allow_remote (config
// checks that); nothing else is served on it.

// startMetrics serves m on addr; "" serves nothing (nil).
func startMetrics(addr string, m *metrics.Metrics) (*httpServer, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics_listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	h := &httpServer{srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}, ln: ln}
	go h.srv.Serve(ln)
	return h, nil
}

// metricsSnapshot is what a scrape reads of the running daemon: each
// mailbox's supervisor, and what desk.Gauges reads of the store.
func (d *daemon) metricsSnapshot() (*metrics.Snapshot, error) {
	s, err := d.desk.Gauges(d.desk.DB.Now())
	if err != nil {
		return nil, err
	}
	for _, st := range d.status() {
		b := metrics.Mailbox{Name: st.Mailbox, Connected: st.Connected, Reconnects: st.Reconnects}
		if !st.LastSync.IsZero() {
			b.LastSync = st.LastSync.Unix()
		}
		s.Mailboxes = append(s.Mailboxes, b)
	}
	return s, nil
}
