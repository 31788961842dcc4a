package smtp

import (
	"strings"
	"testing"
	"time"

	"ticketd/mail/mailtest"
)

// TestTLSVerify: a relay on 127.0.0.1 with a self-signed certificate is
// refused with tls_verify left at its default, over STARTTLS and implicit
// TLS; with tls_verify = false (which config allows for a loopback host
// only) the mail goes through, over TLS still.
func TestTLSVerify(t *testing.T) {
	sink := mailtest.StartSMTPSink(t)
	for i, tc := range []struct{ addr, mode string }{{sink.Addr, "starttls"}, {sink.TLSAddr, "implicit"}} {
		t.Run(tc.mode, func(t *testing.T) {
			checked, _ := newSMTPTestSender(t, smtpTestConfig(t, tc.addr, tc.mode))
			if se := smtpWantErr(t, smtpSend(t, checked, 10*i+1), true, 0); !smtpCertError(se) || !strings.Contains(se.Error(), "certificate") {
				t.Errorf("tls_verify default: error %q, want a certificate error", se)
			}
			cfg := smtpTestConfig(t, tc.addr, tc.mode)
			cfg.TLSVerify = new(false)
			unchecked, _ := newSMTPTestSender(t, cfg)
			smtpMustSend(t, unchecked, 10*i+2)
		})
	}
	msgs := sink.WaitMsgs(t, 2, 5*time.Second)
	for _, m := range msgs {
		if !m.TLS {
			t.Error("a message was not received over TLS")
		}
	}
	if len(msgs) != 2 {
		t.Errorf("%d messages accepted, want the 2 sent with tls_verify = false", len(msgs))
	}
}
