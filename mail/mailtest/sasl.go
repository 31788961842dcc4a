package mailtest

import "testing"

// StartPostfixSASL starts a Postfix sink that takes mail only from clients
// that authenticated with SASL through Dovecot's auth socket
// (smtpd_sasl_type = dovecot; Dovecot.AuthSocket), so with whatever
// mechanisms that Dovecot offers (OAUTHBEARER and XOAUTH2 with
// DovecotOAuth2). It logs each login's sasl_method and sasl_username.
func StartPostfixSASL(t testing.TB, authSocket string) *Postfix {
	t.Helper()
	return startPostfix(t, func(string) string {
		return "\nmynetworks =\nsmtpd_sasl_auth_enable = yes\nsmtpd_sasl_type = dovecot\nsmtpd_sasl_path = " + authSocket + "\n" +
			"smtpd_relay_restrictions = permit_sasl_authenticated, reject\n" +
			"smtpd_recipient_restrictions = permit_sasl_authenticated, reject\n"
	})
}
