package mail

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math/rand/v2"
	"os"
	"time"
)

// TLSConfig is the TLS configuration for host, trusting the PEM bundle in
// caFile instead of the system roots when caFile is set. verify false (the
// tls_verify key, which config allows only for a loopback host) turns the
// certificate and name checks off; that is the only way they are off.
func TLSConfig(host, caFile string, verify bool) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if !verify {
		cfg.InsecureSkipVerify = true
		return cfg, nil
	}
	if caFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read ca_file: %w", err)
	}
	cfg.RootCAs = x509.NewCertPool()
	if !cfg.RootCAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file %s: no PEM certificate", caFile)
	}
	return cfg, nil
}

// Jitter spreads d by ±20% so that many mailboxes don't reconnect in step.
func Jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
