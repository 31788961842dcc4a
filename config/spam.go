package config

// Spam says which verdicts of an upstream spam filter ticketd believes, and
// what becomes of mail they mark as spam. Such mail never gets an
// acknowledgement: answering it would make the support address a source of
// backscatter. Any sender can write the filter's header fields into a mail,
// so none is believed unless listed in Trust.
type Spam struct {
	// Trust are the kinds of filter header believed (SpamTrustKinds):
	// "x-spam-flag", "x-spam-status", "rspamd" and "authentication-results";
	// default none. Of each only the topmost field counts, the one the own
	// mail server's filter added last.
	Trust []string `toml:"trust"`
	// AuthservIDs are the authserv-ids of the own mail servers whose
	// Authentication-Results fields are believed; required with
	// "authentication-results" in Trust, and only then allowed.
	AuthservIDs []string `toml:"authserv_ids"`
	// Action is what spam becomes: "ticket" (a ticket without
	// acknowledgement) or "quarantine" (a quarantine entry); default "ticket".
	Action string `toml:"action"`
}

// SpamTrustKinds are the values of spam.trust (mime.SpamKinds).
var SpamTrustKinds = []string{"x-spam-flag", "x-spam-status", "rspamd", "authentication-results"}

var spamActions = []string{"ticket", "quarantine"}

// spamDefaults fills in the [spam] keys the file leaves out.
func (d *decoder) spamDefaults(c *Config) {
	setDefault(d, "spam.trust", &c.Spam.Trust, []string{})
	setDefault(d, "spam.authserv_ids", &c.Spam.AuthservIDs, []string{})
	setDefault(d, "spam.action", &c.Spam.Action, "ticket")
}

// spamValidate checks the [spam] table.
func (d *decoder) spamValidate(c *Config) {
	s := &c.Spam
	seen := map[string]bool{}
	ar := false
	for i, k := range s.Trust {
		p := index("spam.trust", i+1)
		d.oneOf(p, k, SpamTrustKinds)
		if seen[k] {
			d.keyErrorf(p, "%q is listed twice", k)
		}
		seen[k] = true
		ar = ar || k == "authentication-results"
	}
	d.authservIDs("spam.authserv_ids", s.AuthservIDs)
	switch {
	case ar && len(s.AuthservIDs) == 0:
		d.keyErrorf("spam.trust", `"authentication-results" needs authserv_ids, the authserv-ids of your own mail servers (RFC 8601 §5)`)
	case !ar && len(s.AuthservIDs) > 0:
		d.keyErrorf("spam.authserv_ids", `only with "authentication-results" in trust`)
	}
	d.oneOf("spam.action", s.Action, spamActions)
}
