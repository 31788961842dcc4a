package mime

import "testing"

func TestAuthSummary(t *testing.T) {
	trusted := []string{"mx.example.com"}
	for _, c := range []struct {
		fields []string
		want   string
	}{
		{nil, ""},
		{[]string{"evil.example; dkim=pass header.d=example.com"}, ""},
		{[]string{"mx.example.com; dkim=pass header.d=example.com (comment dkim=fail); spf=softfail smtp.mailfrom=x@example.com; dmarc=pass header.from=example.com"},
			"dkim=pass spf=softfail dmarc=pass"},
		{[]string{"MX.example.com; none"}, "none"},
		{[]string{"mx.example.com; dkim=<script> header.d=x; x-custom=pass"}, "dkim=unknown"},
		{[]string{"mx.example.com; spf=fail", "mx.example.com; spf=pass"}, "spf=fail"},
	} {
		if got := AuthSummary(c.fields, trusted); got != c.want {
			t.Errorf("%q: got %q, want %q", c.fields, got, c.want)
		}
	}
}
