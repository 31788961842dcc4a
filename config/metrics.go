package config

import (
	"net"
	"net/netip"
)

// metricsListen checks [server] metrics_listen: host:port, and a loopback
// host unless metrics_allow_remote. The metrics carry no personal data,
// but they show how much mail comes in, how many tickets wait and when
// the mailboxes fail: who may read them is the operator's choice, made
// explicitly, not a default.
func (d *decoder) metricsListen(s *Server) {
	if s.MetricsListen == "" {
		return
	}
	host, _, err := net.SplitHostPort(s.MetricsListen)
	if err != nil {
		d.keyErrorf("server.metrics_listen", "must be host:port, got %q", s.MetricsListen)
		return
	}
	if !s.MetricsAllowRemote && !loopbackHost(host) {
		d.keyErrorf("server.metrics_listen", "%q is not a loopback address: other hosts could read the metrics; "+
			"set metrics_allow_remote = true to serve them there (and restrict who can connect with a firewall)", s.MetricsListen)
	}
}

// loopbackHost reports whether host is a loopback IP. "" (every
// interface) is not, nor is "localhost": a name could resolve anywhere.
func loopbackHost(host string) bool {
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
