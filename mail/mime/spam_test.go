package mime

import (
	"slices"
	"strings"
	"testing"

	"ticketd/config"
)

func spamMail(t *testing.T, headers ...string) *Message {
	t.Helper()
	raw := strings.Join(headers, "\r\n")
	if raw != "" {
		raw += "\r\n"
	}
	raw += "From: a@example.org\r\nTo: support@example.com\r\nSubject: x\r\n\r\nbody\r\n"
	m, err := Parse(strings.NewReader(raw), &loopSink{}, ParseOptions{KeepHeaders: SpamHeaders})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSpamVerdict(t *testing.T) {
	all := &SpamPolicy{Trust: SpamKinds, AuthservIDs: []string{"mx.example.com"}}
	for _, tc := range []struct {
		name    string
		policy  *SpamPolicy
		headers []string
		want    string // "" = no verdict
	}{
		{"no headers", all, nil, ""},
		{"X-Spam-Flag YES", all, []string{"X-Spam-Flag: YES"}, "spam (X-Spam-Flag: YES)"},
		{"X-Spam-Flag yes, spaces", all, []string{"X-Spam-Flag:  yes "}, "spam (X-Spam-Flag: YES)"},
		{"X-Spam-Flag NO", all, []string{"X-Spam-Flag: NO"}, ""},
		{"X-Spam-Flag below our NO is the sender's", all, []string{"X-Spam-Flag: NO", "X-Spam-Flag: YES"}, ""},
		{"X-Spam-Flag above a forged NO", all, []string{"X-Spam-Flag: YES", "X-Spam-Flag: NO"}, "spam (X-Spam-Flag: YES)"},
		{"X-Spam-Status Yes", all, []string{"X-Spam-Status: Yes, score=9.1 required=5.0 tests=BAYES_99 autolearn=no"}, "spam (X-Spam-Status: Yes)"},
		{"X-Spam-Status No", all, []string{"X-Spam-Status: No, score=-0.1 required=5.0"}, ""},
		{"rspamd reject", all, []string{"X-Rspamd-Action: reject"}, "spam (X-Rspamd-Action: reject)"},
		{"rspamd add header", all, []string{"X-Rspamd-Action: add  header"}, "spam (X-Rspamd-Action: add header)"},
		{"rspamd rewrite subject", all, []string{"X-Rspamd-Action: Rewrite Subject"}, "spam (X-Rspamd-Action: rewrite subject)"},
		{"rspamd no action", all, []string{"X-Rspamd-Action: no action"}, ""},
		{"rspamd greylist", all, []string{"X-Rspamd-Action: greylist"}, ""},
		{"rspamd result true", all, []string{"X-Spamd-Result: default: True [16.20 / 15.00]; BAYES_SPAM(5.10)[99.9%]"}, "spam (X-Spamd-Result: True)"},
		{"rspamd result false", all, []string{"X-Spamd-Result: default: False [0.90 / 15.00]; R_SPF_ALLOW(-0.20)"}, ""},
		{"DMARC fail p=reject (OpenDMARC)", all, []string{"Authentication-Results: mx.example.com; dmarc=fail (p=reject dis=none) header.from=bank.example"},
			"DMARC fail with policy reject (Authentication-Results from mx.example.com)"},
		{"DMARC fail p=QUARANTINE (Gmail)", all, []string{"Authentication-Results: mx.example.com;\r\n       dkim=fail header.i=@bank.example;\r\n       spf=fail smtp.mailfrom=bank.example;\r\n       dmarc=fail (p=QUARANTINE sp=NONE dis=QUARANTINE) header.from=bank.example"},
			"DMARC fail with policy quarantine (Authentication-Results from mx.example.com)"},
		{"DMARC fail policy=reject (rspamd)", all, []string{`Authentication-Results: MX.Example.COM; dmarc=fail reason="No valid SPF, No valid DKIM" header.from=bank.example (policy=reject)`},
			"DMARC fail with policy reject (Authentication-Results from mx.example.com)"},
		{"DMARC fail action=oreject (Microsoft)", all, []string{"Authentication-Results: mx.example.com; spf=fail smtp.mailfrom=bank.example; dmarc=fail action=oreject header.from=bank.example;compauth=fail reason=000"},
			"DMARC fail with policy reject (Authentication-Results from mx.example.com)"},
		{"DMARC fail policy.dmarc property", all, []string{"Authentication-Results: mx.example.com 1; dmarc=fail policy.dmarc=quarantine header.from=bank.example"},
			"DMARC fail with policy quarantine (Authentication-Results from mx.example.com)"},
		{"DMARC fail p=none", all, []string{"Authentication-Results: mx.example.com; dmarc=fail (p=none dis=none) header.from=shop.example"}, ""},
		{"DMARC fail without a policy", all, []string{"Authentication-Results: mx.example.com; dmarc=fail header.from=shop.example"}, ""},
		{"DMARC pass", all, []string{"Authentication-Results: mx.example.com; dmarc=pass (p=reject dis=none) header.from=bank.example"}, ""},
		{"a semicolon in a comment", all, []string{"Authentication-Results: mx.example.com; dmarc=fail (p=reject; dis=none) header.from=bank.example"},
			"DMARC fail with policy reject (Authentication-Results from mx.example.com)"},
		{"DMARC fail from an untrusted authserv-id", all, []string{"Authentication-Results: mx.evil.example; dmarc=fail (p=reject) header.from=bank.example"}, ""},
		{"our pass above a forged fail", all, []string{"Authentication-Results: mx.example.com; dmarc=pass (p=reject) header.from=bank.example",
			"Authentication-Results: mx.example.com; dmarc=fail (p=reject) header.from=bank.example"}, ""},
		{"our fail below another server's pass", all, []string{"Authentication-Results: mx.evil.example; dmarc=pass header.from=bank.example",
			"Authentication-Results: mx.example.com; spf=pass smtp.mailfrom=x.example",
			"Authentication-Results: mx.example.com; dmarc=fail (p=reject) header.from=bank.example"},
			"DMARC fail with policy reject (Authentication-Results from mx.example.com)"},

		// Headers of a kind that is not trusted count for nothing: anyone
		// can write them, and no filter here set them.
		{"nothing trusted", &SpamPolicy{}, []string{"X-Spam-Flag: YES", "X-Spam-Status: Yes", "X-Rspamd-Action: reject",
			"Authentication-Results: mx.example.com; dmarc=fail (p=reject)"}, ""},
		{"only rspamd trusted", &SpamPolicy{Trust: []string{"rspamd"}}, []string{"X-Spam-Flag: YES", "X-Spam-Status: Yes"}, ""},
		{"authentication-results without authserv-ids", &SpamPolicy{Trust: []string{"authentication-results"}},
			[]string{"Authentication-Results: mx.example.com; dmarc=fail (p=reject)"}, ""},
		{"nil policy", nil, []string{"X-Spam-Flag: YES"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.policy.Verdict(spamMail(t, tc.headers...)); got != tc.want {
				t.Errorf("Verdict = %q, want %q", got, tc.want)
			}
		})
	}
}

// The reason names the rule and never repeats text from the mail.
func TestSpamVerdictQuotesNothing(t *testing.T) {
	p := &SpamPolicy{Trust: SpamKinds, AuthservIDs: []string{"mx.example.com"}}
	m := spamMail(t, "Authentication-Results: mx.example.com; dmarc=fail (p=reject <script>evil</script>) header.from=evil.example")
	if got := p.Verdict(m); strings.Contains(got, "evil") || got == "" {
		t.Errorf("Verdict = %q", got)
	}
}

func FuzzSplitAuthResults(f *testing.F) {
	f.Add("mx.example.com; dmarc=fail (p=reject; dis=none) header.from=x")
	f.Add(`a; b="(;)"; (((`)
	f.Fuzz(func(t *testing.T, v string) {
		segs := splitAuthResults(v)
		if len(segs) == 0 {
			t.Fatal("no segment")
		}
	})
}

// The kinds the configuration accepts are the kinds Verdict knows.
func TestSpamKindsMatchConfig(t *testing.T) {
	if !slices.Equal(SpamKinds, config.SpamTrustKinds) {
		t.Errorf("mail.SpamKinds %v, config.SpamTrustKinds %v", SpamKinds, config.SpamTrustKinds)
	}
}
