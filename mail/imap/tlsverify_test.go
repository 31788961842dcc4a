package imap_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"

	"ticketd/mail/imap"
	"ticketd/mail/mailtest"
)

// TestTLSVerify: an IMAP server on 127.0.0.1 with a self-signed certificate
// is refused with tls_verify left at its default, over implicit TLS and
// STARTTLS; with tls_verify = false (which config allows for a loopback
// host only) the session logs in and works.
func TestTLSVerify(t *testing.T) {
	srv := mailtest.MemIMAP(t, nil)
	srv.Append(t, "INBOX", supMail(1, ""))
	for _, tc := range []struct{ addr, mode string }{{srv.TLSAddr, "implicit"}, {srv.Addr, "starttls"}} {
		t.Run(tc.mode, func(t *testing.T) {
			box := boxFor(t, &srv.Account)
			host, port, _ := net.SplitHostPort(tc.addr)
			box.Host, box.TLS = host, tc.mode
			box.Port, _ = strconv.Atoi(port)
			_, err := imap.DeleteCopies(context.Background(), box, []string{"INBOX"}, []string{"<none@example.org>"})
			if !errors.As(err, new(*tls.CertificateVerificationError)) || !strings.Contains(err.Error(), "certificate") {
				t.Errorf("tls_verify default: DeleteCopies = %v, want a certificate error", err)
			}
			box.TLSVerify = new(false)
			if n, err := imap.DeleteCopies(context.Background(), box, []string{"INBOX"}, []string{"<none@example.org>"}); err != nil || n != 0 {
				t.Errorf("tls_verify = false: DeleteCopies = %d, %v; want 0, nil", n, err)
			}
			if got := len(srv.Folder(t, "INBOX")); got != 1 {
				t.Errorf("INBOX holds %d mails, want 1", got)
			}
		})
	}
}
