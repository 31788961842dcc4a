package mime

import (
	"strings"
	"testing"
)

// Real-world Authentication-Results fields, trimmed of signatures only.
// Gmail: as Gmail adds them to mail it receives (mx.google.com);
// Microsoft 365: as Exchange Online adds them (no authserv-id);
// Postfix with OpenDKIM and OpenDMARC milters (one field each);
// rspamd: its milter headers module.
const (
	gmailPass = "mx.google.com;\r\n       dkim=pass header.i=@example.com header.s=google header.b=Ab1CdEfG;\r\n" +
		"       spf=pass (google.com: domain of agent@example.com designates 209.85.220.41 as permitted sender) smtp.mailfrom=agent@example.com;\r\n" +
		"       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.com"
	gmailFail = "mx.google.com;\r\n       dkim=fail header.i=@example.com header.s=google header.b=Ab1CdEfG;\r\n" +
		"       spf=softfail (google.com: domain of transitioning agent@example.com does not designate 198.51.100.7 as permitted sender) smtp.mailfrom=agent@example.com;\r\n" +
		"       dmarc=fail (p=REJECT sp=REJECT dis=REJECT) header.from=example.com"
	m365Pass = "spf=pass (sender IP is 40.107.22.41)\r\n smtp.mailfrom=example.com; dkim=pass (signature was verified)\r\n" +
		" header.d=example.com;dmarc=pass action=none\r\n header.from=example.com;compauth=pass reason=100"
	openDKIMPass  = "mail.example.org;\r\n\tdkim=pass (2048-bit key; unprotected) header.d=example.com header.i=@example.com header.a=rsa-sha256 header.s=mail header.b=\"AbCd/EfG\";\r\n\tdkim-atps=neutral"
	openDKIMFail  = "mail.example.org;\r\n\tdkim=fail reason=\"signature verification failed\" (2048-bit key; unprotected) header.d=example.com header.i=@example.com header.b=\"AbCd/EfG\""
	openDMARCPass = "mail.example.org; dmarc=pass (p=none dis=none) header.from=example.com"
	openDMARCFail = "mail.example.org; dmarc=fail (p=reject dis=none) header.from=example.com"
	rspamdSPF     = "mx.example.org;\r\n\tdkim=pass header.d=esp.example.net header.s=s1 header.b=abcdEFGH;\r\n" +
		"\tspf=pass (mx.example.org: domain of \"agent@example.com\" designates 192.0.2.25 as permitted sender) smtp.mailfrom=\"agent@example.com\";\r\n" +
		"\tdmarc=pass (policy=reject) header.from=example.com"
	rspamdESP = "mx.example.org;\r\n\tdkim=pass header.d=esp.example.net header.s=s1 header.b=abcdEFGH;\r\n" +
		"\tspf=pass (mx.example.org: domain of bounces@esp.example.net designates 192.0.2.25 as permitted sender) smtp.mailfrom=bounces@esp.example.net;\r\n" +
		"\tdmarc=fail reason=\"No valid SPF, No valid DKIM\" header.from=example.com (policy=none)"
)

func TestSenderAuthentication(t *testing.T) {
	own := []string{"mx.google.com", "mail.example.org", "MX.example.org"}
	for _, tc := range []struct {
		name   string
		fields []string
		from   string
		want   AuthVerdict
		reason string // a part of the reason
	}{
		{"gmail pass by header.i", []string{gmailPass}, "example.com", AuthPass, "dkim=pass aligned"},
		{"gmail fail", []string{gmailFail}, "example.com", AuthFail, "dkim=fail, spf=softfail, dmarc=fail (Authentication-Results from mx.google.com)"},
		{"gmail pass, another From domain", []string{gmailPass}, "other.example", AuthFail, "dkim=pass not aligned with the From domain"},
		{"microsoft 365 has no authserv-id", []string{m365Pass}, "example.com", AuthNoneTrusted, "no Authentication-Results from a trusted"},
		{"opendkim: semicolon in a comment", []string{openDKIMPass}, "example.com", AuthPass, "dkim=pass aligned"},
		{"opendkim fail", []string{openDKIMFail}, "example.com", AuthFail, "dkim=fail"},
		{"opendmarc above opendkim", []string{openDMARCPass, openDKIMPass}, "example.com", AuthPass, "dmarc=pass aligned"},
		{"only the topmost trusted field counts", []string{openDMARCFail, openDKIMPass}, "example.com", AuthFail, "dmarc=fail"},
		{"rspamd: quoted smtp.mailfrom", []string{rspamdSPF}, "example.com", AuthPass, "spf=pass aligned"},
		{"rspamd: an ESP's signature is not the From domain's", []string{rspamdESP}, "example.com", AuthFail,
			"dkim=pass not aligned with the From domain, spf=pass not aligned with the From domain, dmarc=fail"},
		{"a subdomain is aligned (relaxed)", []string{"mail.example.org; dkim=pass header.d=mail.example.com"}, "example.com", AuthPass, "dkim=pass"},
		{"the From subdomain is aligned (relaxed)", []string{"mail.example.org; spf=pass smtp.mailfrom=example.com"}, "eu.example.com", AuthPass, "spf=pass"},
		{"two sites under a public suffix are not", []string{"mail.example.org; dkim=pass header.d=evil.github.io"}, "agent.github.io", AuthFail, "not aligned"},
		{"a public suffix is not the From domain", []string{"mail.example.org; dkim=pass header.d=co.uk"}, "example.co.uk", AuthFail, "not aligned"},
		{"forged pass below our none", []string{"mail.example.org; dkim=none; spf=fail smtp.mailfrom=example.com",
			"mail.example.org; dkim=pass header.d=example.com"}, "example.com", AuthFail, "dkim=none, spf=fail"},
		{"untrusted field above ours is skipped", []string{"relay.internal.example; dkim=pass header.d=example.com", openDKIMFail}, "example.com", AuthFail, "dkim=fail"},
		{"only untrusted fields", []string{"mx.evil.example; dkim=pass header.d=example.com"}, "example.com", AuthNoneTrusted, ""},
		{"no field", nil, "example.com", AuthNoneTrusted, ""},
		{"a comment is no property", []string{"mail.example.org; dkim=fail (header.d=example.com dkim=pass) header.d=evil.example;" +
			" spf=pass (smtp.mailfrom=example.com) smtp.mailfrom=evil.example"}, "example.com", AuthFail, "dkim=fail, spf=pass not aligned"},
		{"a comment is no result", []string{"mail.example.org; (dkim=pass header.d=example.com) spf=fail smtp.mailfrom=example.com"}, "example.com", AuthFail, "spf=fail"},
		{"a quoted local part holds no domain", []string{`mail.example.org; spf=pass smtp.mailfrom="x@example.com"@evil.example`}, "example.com", AuthFail, "not aligned"},
		{"a quoted local part holds no property", []string{`mail.example.org; spf=pass smtp.mailfrom="x header.d=example.com"@evil.example; dkim=fail`}, "example.com", AuthFail, "spf=pass not aligned"},
		{"a semicolon in a quoted string", []string{`mail.example.org; dkim=pass header.b="ab;cd" header.d=example.com`}, "example.com", AuthPass, "dkim=pass"},
		{"no method applied", []string{"mail.example.org; none"}, "example.com", AuthFail, "no dkim, spf or dmarc result"},
		{"case and a trailing dot", []string{"MAIL.Example.ORG; DKIM=Pass header.d=EXAMPLE.COM."}, "Example.com", AuthPass, "dkim=pass"},
		{"version and method version", []string{"mail.example.org 1; dkim/1=pass header.d=example.com"}, "example.com", AuthPass, "dkim=pass"},
		{"white space around =", []string{"mail.example.org; dkim = pass header.d = example.com"}, "example.com", AuthPass, "dkim=pass"},
		{"an IDN domain in either form", []string{"mail.example.org; dkim=pass header.d=xn--bcher-kva.example"}, "bücher.example", AuthPass, "dkim=pass"},
		{"dkim pass without a domain", []string{"mail.example.org; dkim=pass header.s=x"}, "example.com", AuthFail, "not aligned"},
		{"an unknown result is no pass", []string{"mail.example.org; dkim=passed header.d=example.com"}, "example.com", AuthFail, "dkim=unknown"},
		{"no From domain", []string{openDKIMPass}, "", AuthFail, "no From domain"},
		{"an unclosed comment hides nothing", []string{"mail.example.org; dkim=fail (oops header.d=example.com; spf=fail smtp.mailfrom=example.com"}, "example.com", AuthFail, "spf=fail"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := SenderAuthentication(tc.fields, tc.from, own)
			if got.Verdict != tc.want || !strings.Contains(got.Reason, tc.reason) {
				t.Errorf("= %v %q (%s), want %v with %q", got.Verdict, got.Reason, got.AuthservID, tc.want, tc.reason)
			}
			if (got.Verdict == AuthNoneTrusted) != (got.AuthservID == "") {
				t.Errorf("verdict %v with authserv-id %q", got.Verdict, got.AuthservID)
			}
		})
	}
}

func TestSenderAuthenticationTrustsNoneByDefault(t *testing.T) {
	for _, trusted := range [][]string{nil, {}, {"", " "}} {
		if got := SenderAuthentication([]string{openDKIMPass}, "example.com", trusted); got.Verdict != AuthNoneTrusted {
			t.Errorf("trusted %q: %v %q", trusted, got.Verdict, got.Reason)
		}
	}
}

// TestSenderAuthenticationReasonQuotesNothing: the reason holds no text of
// the mail beyond the fixed names, whatever the field says.
func TestSenderAuthenticationReasonQuotesNothing(t *testing.T) {
	got := SenderAuthentication([]string{"mail.example.org; dkim=<script>x</script> header.d=evil.example; spf=pass smtp.mailfrom=<b>evil.example</b>; x-evil=pass"},
		"example.com", []string{"mail.example.org"})
	if got.Verdict != AuthFail || strings.ContainsAny(got.Reason, "<>") || strings.Contains(got.Reason, "evil") {
		t.Errorf("= %v %q", got.Verdict, got.Reason)
	}
}

// TestParseKeepsAuthenticationResultsInOrder: what SenderAuthentication
// reads, topmost first, from a parsed mail.
func TestParseKeepsAuthenticationResultsInOrder(t *testing.T) {
	raw := "Authentication-Results: " + openDMARCFail + "\r\nAuthentication-Results: " + openDKIMPass +
		"\r\nFrom: agent@example.com\r\nTo: support@example.org\r\nSubject: x\r\n\r\nbody\r\n"
	m, err := Parse(strings.NewReader(raw), &loopSink{}, ParseOptions{KeepHeaders: AuthHeaders})
	if err != nil {
		t.Fatal(err)
	}
	got := SenderAuthentication(m.Headers["Authentication-Results"], "example.com", []string{"mail.example.org"})
	if got.Verdict != AuthFail || !strings.Contains(got.Reason, "dmarc=fail") {
		t.Errorf("= %v %q", got.Verdict, got.Reason)
	}
}

// FuzzSenderAuthentication: any field gives a verdict without panicking,
// a pass only with a trusted authserv-id, and a reason free of the field's
// text beyond the fixed names.
func FuzzSenderAuthentication(f *testing.F) {
	for _, s := range []string{gmailPass, gmailFail, m365Pass, openDKIMPass, openDKIMFail, openDMARCPass, rspamdSPF, rspamdESP,
		`mail.example.org; spf=pass smtp.mailfrom="x@example.com"@evil.example`, "mail.example.org; dkim=fail (oops", "mail.example.org; none", ""} {
		f.Add(s, "example.com")
	}
	f.Fuzz(func(t *testing.T, field, from string) {
		got := SenderAuthentication([]string{field}, from, []string{"mail.example.org", "mx.google.com"})
		if got.Verdict != AuthNoneTrusted && got.AuthservID != "mail.example.org" && got.AuthservID != "mx.google.com" {
			t.Fatalf("verdict %v from %q", got.Verdict, got.AuthservID)
		}
		if strings.ContainsAny(got.Reason, "<>\"\r\n") {
			t.Fatalf("reason %q", got.Reason)
		}
	})
}
