package config

import (
	"cmp"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Defaults that more than one key shares.
const (
	defaultInterval = time.Minute // poll_interval and the timeouts
	minInterval     = time.Second
	minMessageSize  = 1 << 10
)

// Allowed values of the enumerated keys.
var (
	tlsModes     = []string{"none", "starttls", "implicit"}
	afterImports = []string{"keep", "seen", "move"}
	languages    = []string{"de", "en"}
	logFormats   = []string{"text", "json"}
	logLevels    = []string{"debug", "info", "warn", "error"}
	onExpiries   = []string{"anonymize", "delete"}
)

// Why the transparency notice (GDPR Art. 13) needs a key, appended to the
// message about a missing or empty one.
const (
	whyController = "the transparency notice must name the controller and how to reach it (GDPR Art. 13(1)(a))"
	whyPurpose    = "the transparency notice must state the purpose (GDPR Art. 13(1)(c))"
	whyLegalBasis = "the transparency notice must state the legal basis (GDPR Art. 13(1)(c))"
	whyInterest   = "the transparency notice must name the legitimate interest pursued (GDPR Art. 13(1)(d))"
	whyRecipients = "the transparency notice must name the recipients (GDPR Art. 13(1)(e))"
	whyTransfers  = "the transparency notice must say whether data goes to third countries, write transfers = [] for none (GDPR Art. 13(1)(f))"
	whyRetention  = "the transparency notice must say how long data is kept (GDPR Art. 13(2)(a))"
	whyAuthority  = "the transparency notice must name the supervisory authority a customer may complain to (GDPR Art. 13(2)(d))"
	whyRequired   = "the transparency notice must say whether the customer must provide the data (GDPR Art. 13(2)(e))"
)

// Default ports by tls mode: submission with implicit TLS (RFC 8314 §3.3),
// submission with STARTTLS (RFC 6409 §3.1) and relay (RFC 5321 §4.5.4);
// IMAP with implicit TLS (RFC 8314 §3.2) and plain or STARTTLS (RFC 9051 §2).
var (
	smtpPorts = map[string]int{"implicit": 465, "starttls": 587, "none": 25}
	imapPorts = map[string]int{"implicit": 993, "starttls": 143, "none": 143}
)

// mailboxPath, queuePath and purposePath return the path of the i-th
// (0-based) table.
func mailboxPath(i int) string { return index("mailbox", i+1) }
func queuePath(i int) string   { return index("queue", i+1) }
func purposePath(i int) string { return index("purpose", i+1) }

// setDefault sets *dst to v when the key at path is not written in the file.
func setDefault[T any](d *decoder, path string, dst *T, v T) {
	if !d.has(path) {
		*dst = v
	}
}

// defaults fills in every key that the file leaves out. A port defaults by
// tls mode, or by the default mode when tls is invalid (that is reported).
func (d *decoder) defaults(c *Config) {
	s := &c.Server
	setDefault(d, "server.data_dir", &s.DataDir, "/var/lib/ticketd")
	setDefault(d, "server.http_listen", &s.HTTPListen, "127.0.0.1:8080")
	setDefault(d, "server.trusted_proxies", &s.TrustedProxies, []string{"127.0.0.0/8", "::1/128"})
	setDefault(d, "server.language", &s.Language, "en")
	setDefault(d, "server.admin_socket", &s.AdminSocket, filepath.Join(s.DataDir, "admin.sock"))
	setDefault(d, "server.log_format", &s.LogFormat, "text")
	setDefault(d, "server.log_level", &s.LogLevel, "info")
	setDefault(d, "server.master_key_file", &s.MasterKeyFile, MasterKeyFile)

	m := &c.SMTP
	setDefault(d, "smtp.tls", &m.TLS, "starttls")
	setDefault(d, "smtp.port", &m.Port, cmp.Or(smtpPorts[m.TLS], smtpPorts["starttls"]))
	setDefault(d, "smtp.timeout", &m.Timeout, Duration{defaultInterval})
	setDefault(d, "smtp.retry_for", &m.RetryFor, Duration{2 * day})
	setDefault(d, "smtp.auth", &m.Auth, AuthPassword)

	a := &c.Acknowledgement
	setDefault(d, "acknowledgement.enabled", &a.Enabled, new(true))
	setDefault(d, "acknowledgement.max_per_sender", &a.MaxPerSender, 5)
	setDefault(d, "acknowledgement.window", &a.Window, Duration{time.Hour})
	setDefault(d, "acknowledgement.consent_link_validity", &a.ConsentLinkValidity, Duration{90 * day})

	for i := range c.Mailboxes {
		p, b := mailboxPath(i), &c.Mailboxes[i]
		setDefault(d, p+".tls", &b.TLS, "implicit")
		setDefault(d, p+".port", &b.Port, cmp.Or(imapPorts[b.TLS], imapPorts["implicit"]))
		setDefault(d, p+".folder", &b.Folder, "INBOX")
		setDefault(d, p+".after_import", &b.AfterImport, "seen")
		setDefault(d, p+".poll_interval", &b.PollInterval, Duration{defaultInterval})
		setDefault(d, p+".idle", &b.IDLE, new(true))
		setDefault(d, p+".max_message_size", &b.MaxMessageSize, 64<<20)
		setDefault(d, p+".batch_size", &b.BatchSize, 200)
		setDefault(d, p+".command_timeout", &b.CommandTimeout, Duration{defaultInterval})
		setDefault(d, p+".auth", &b.Auth, AuthPassword)
	}
	for i := range c.Queues {
		d.queueDefaults(queuePath(i), &c.Queues[i])
	}
	for i := range c.Purposes {
		setDefault(d, purposePath(i)+".on_expiry", &c.Purposes[i].OnExpiry, "anonymize")
	}
	d.retentionDefaults(c)
	d.spamDefaults(c)
	d.agentsDefaults(c)
	d.keysDefaults(c)
	d.minimiseDefaults(c)
	d.attachmentsDefaults(c)
	d.lmtpDefaults(c)
}

// validate checks the decoded and defaulted configuration.
func (d *decoder) validate(c *Config) {
	s := &c.Server
	d.required("server", "public_url", s.PublicURL, "data_dir", s.DataDir, "admin_socket", s.AdminSocket)
	if s.PublicURL != "" && !isWebURL(s.PublicURL) {
		d.keyErrorf("server.public_url", "must be an absolute http or https URL, got %q", s.PublicURL)
	}
	if _, _, err := net.SplitHostPort(s.HTTPListen); err != nil {
		d.keyErrorf("server.http_listen", "must be host:port, got %q", s.HTTPListen)
	}
	d.metricsListen(s)
	s.Proxies = nil
	for i, p := range s.TrustedProxies {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			addr, aerr := netip.ParseAddr(p)
			if aerr != nil {
				d.keyErrorf(index("server.trusted_proxies", i+1), "must be an IP address or network such as 10.0.0.0/8, got %q", p)
				continue
			}
			prefix = netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen())
		}
		s.Proxies = append(s.Proxies, prefix.Masked())
	}
	d.oneOf("server.language", s.Language, languages)
	d.oneOf("server.log_format", s.LogFormat, logFormats)
	d.oneOf("server.log_level", s.LogLevel, logLevels)
	if s.TemplatesDir == "" && d.has("server.templates_dir") {
		d.keyErrorf("server.templates_dir", "must not be empty")
	}

	d.controller(&c.Controller)

	m := &c.SMTP
	d.required("smtp", "host", m.Host, "from", m.From)
	d.address("smtp.from", m.From)
	d.oneOf("smtp.tls", m.TLS, tlsModes)
	d.inRange("smtp.port", m.Port, 1, 65535)
	d.atLeast("smtp.timeout", m.Timeout, minInterval)
	if m.Username != "" && m.PasswordFile == "" && m.Auth != AuthOAuth2 {
		d.keyErrorf("smtp.username", "set without password_file")
	}
	if m.Auth == AuthOAuth2 && m.Username == "" {
		d.required("smtp", "username", m.Username)
	}
	d.oauthValidate("smtp", m.Auth, m.PasswordFile, m.TLS, m.Host, &m.OAuth)
	if m.PasswordFile != "" && m.Username == "" {
		d.keyErrorf("smtp.password_file", "set without username")
	}
	d.plaintext("smtp", m.TLS, m.Host, m.PasswordFile)
	d.tlsVerify("smtp", "the SMTP relay", m.TLSVerify, m.Host)
	d.atLeast("smtp.retry_for", m.RetryFor, minInterval)

	a := &c.Acknowledgement
	if a.MaxPerSender < 1 {
		d.keyErrorf("acknowledgement.max_per_sender", "must be at least 1, got %d", a.MaxPerSender)
	}
	d.atLeast("acknowledgement.window", a.Window, time.Minute)
	d.atLeast("acknowledgement.consent_link_validity", a.ConsentLinkValidity, day)

	purposes := map[string]string{}
	for i := range c.Purposes {
		p := purposePath(i)
		d.purpose(p, &c.Purposes[i])
		d.unique(purposes, p+".name", "purpose", c.Purposes[i].Name)
	}
	if len(c.Purposes) == 0 {
		d.errorf("purpose", "no [[purpose]] defined, at least one is required: "+
			"the transparency notice must state the purpose and its legal basis (GDPR Art. 13(1)(c))")
	}

	queues := map[string]string{}
	for i := range c.Queues {
		p, q := queuePath(i), &c.Queues[i]
		d.queue(p, q)
		d.unique(queues, p+".name", "queue", q.Name)
		if q.Purpose != "" && purposes[q.Purpose] == "" && !d.bad["purpose"] {
			d.keyErrorf(p+".purpose", "no [[purpose]] named %q", q.Purpose)
		}
	}
	if len(c.Queues) == 0 {
		d.errorf("queue", "no [[queue]] defined, at least one is required")
	}
	d.retentionValidate(c, queues)
	d.spamValidate(c)
	d.agentsValidate(c)
	d.keysValidate(c)
	d.minimiseValidate(c)
	d.attachmentsValidate(c)

	mailboxes := map[string]string{}
	for i := range c.Mailboxes {
		p := mailboxPath(i)
		d.mailbox(p, &c.Mailboxes[i])
		d.unique(mailboxes, p+".name", "mailbox", c.Mailboxes[i].Name)
		if q := c.Mailboxes[i].Queue; q != "" && queues[q] == "" {
			d.keyErrorf(p+".queue", "no [[queue]] named %q", q)
		}
	}
	if len(c.Mailboxes) == 0 {
		d.errorf("mailbox", "no [[mailbox]] defined, at least one is required")
	}
	d.routeValidate(c, queues, mailboxes)
	d.lmtpValidate(c, mailboxes)
}

// controller checks the [controller] table, which the transparency notice
// needs whole: without it, one error says what to add.
func (d *decoder) controller(c *Controller) {
	if !d.has("controller") {
		d.errorf("controller", "no [controller] table: the transparency notice must name the controller "+
			"with name, address and email (GDPR Art. 13(1)(a)), the data protection officer as dpo where one is "+
			"designated (Art. 13(1)(b)) and the supervisory authority as authority (Art. 13(2)(d))")
		return
	}
	d.notice("controller", "name", c.Name, whyController)
	d.notice("controller", "address", c.Address, whyController)
	d.notice("controller", "email", c.Email, whyController)
	// The DPO is named only where one is designated (Art. 13(1)(b), Art. 37).
	if d.has("controller.dpo") && strings.TrimSpace(c.DPO) == "" {
		d.keyErrorf("controller.dpo", "must not be empty: leave dpo out when no data protection officer is designated")
	}
	d.notice("controller", "authority", c.Authority, whyAuthority)
	if strings.ContainsAny(c.Address, "\r\n") {
		d.keyErrorf("controller.address", "must be one line")
	}
	d.address("controller.email", c.Email)
}

// queue checks one [[queue]] table on its own.
func (d *decoder) queue(p string, q *Queue) {
	d.required(p, "name", q.Name)
	switch pp := p + ".purpose"; {
	case q.Purpose != "":
	case d.has(pp):
		d.keyErrorf(pp, "must not be empty")
	default:
		d.errorf(pp, "missing required key %q%s: every ticket is processed for one purpose (GDPR Art. 5(1)(b))", "purpose", in(p))
	}
	switch rp := p + ".response_time"; {
	case !d.has(rp):
		d.errorf(rp, "missing required key %q%s", "response_time", in(p))
	case q.ResponseTime.Duration <= 0:
		d.keyErrorf(rp, "must be positive, got %s", q.ResponseTime)
	}
	d.people(p, "agents", "agent", q.Agents)
	d.people(p, "supervisors", "supervisor", q.Supervisors)
	d.queueLoop(p, q)
}

// people checks a list of addresses of people, such as a queue's agents:
// each a bare address, each once (in any case).
func (d *decoder) people(table, key, kind string, list []string) {
	first := map[string]int{}
	for i, a := range list {
		ap := index(table+"."+key, i+1)
		if a == "" {
			d.keyErrorf(ap, "must not be empty")
			continue
		}
		d.address(ap, a)
		if j, ok := first[strings.ToLower(a)]; ok {
			d.keyErrorf(ap, "duplicate %s %q, first listed as %s[%d]", kind, a, key, j)
		} else {
			first[strings.ToLower(a)] = i + 1
		}
	}
}

// purpose checks one [[purpose]] table on its own: everything the
// transparency notice says about it must be there.
func (d *decoder) purpose(p string, u *Purpose) {
	d.required(p, "name", u.Name)
	d.noticeText(p, "description", u.Description, whyPurpose)
	d.notice(p, "legal_basis", string(u.LegalBasis), whyLegalBasis)
	if strings.TrimSpace(string(u.LegalBasis)) != "" {
		d.oneOf(p+".legal_basis", string(u.LegalBasis), names(LegalBases))
	}
	switch {
	case u.LegalBasis == BasisLegitimateInterest:
		d.noticeText(p, "legitimate_interest", u.LegitimateInterest, whyInterest)
	case d.has(p+".legitimate_interest") && u.LegalBasis.Valid():
		d.keyErrorf(p+".legitimate_interest", `only for legal_basis = "legitimate_interest", this purpose's is %q`, u.LegalBasis)
	}
	if !d.has(p + ".retention") {
		d.missing(p, "retention", whyRetention)
	}
	d.oneOf(p+".on_expiry", u.OnExpiry, onExpiries)
	switch rp := p + ".recipients"; {
	case !d.has(rp):
		d.missing(p, "recipients", whyRecipients)
	case len(u.Recipients) == 0:
		d.keyErrorf(rp, "must not be empty: %s", whyRecipients)
	}
	d.noBlanks(p+".recipients", u.Recipients)
	if !d.has(p + ".transfers") {
		d.missing(p, "transfers", whyTransfers)
	}
	d.noBlanks(p+".transfers", u.Transfers)
	d.noticeText(p, "required", u.Required, whyRequired)
}

// mailbox checks one [[mailbox]] table on its own.
func (d *decoder) mailbox(p string, b *Mailbox) {
	d.required(p, "name", b.Name, "address", b.Address, "host", b.Host, "username", b.Username,
		"queue", b.Queue, "folder", b.Folder)
	if b.Auth != AuthOAuth2 {
		d.required(p, "password_file", b.PasswordFile)
	}
	d.oauthValidate(p, b.Auth, b.PasswordFile, b.TLS, b.Host, &b.OAuth)
	d.address(p+".address", b.Address)
	d.oneOf(p+".tls", b.TLS, tlsModes)
	d.inRange(p+".port", b.Port, 1, 65535)
	d.oneOf(p+".after_import", b.AfterImport, afterImports)
	if b.AfterImport == "move" && b.MoveTo == "" {
		d.keyErrorf(p+".after_import", `"move" needs move_to, the folder to move imported mail to`)
	}
	if b.MoveTo != "" && sameFolder(b.MoveTo, b.Folder) {
		d.keyErrorf(p+".move_to", "must differ from folder %q", b.Folder)
	}
	if b.QuarantineFolder != "" && sameFolder(b.QuarantineFolder, b.Folder) {
		d.keyErrorf(p+".quarantine_folder", "must differ from folder %q", b.Folder)
	}
	d.atLeast(p+".poll_interval", b.PollInterval, minInterval)
	if b.MaxMessageSize < minMessageSize {
		d.keyErrorf(p+".max_message_size", "must be at least %s, got %s", Size(minMessageSize), b.MaxMessageSize)
	}
	d.inRange(p+".batch_size", b.BatchSize, 1, 5000)
	d.atLeast(p+".command_timeout", b.CommandTimeout, minInterval)
	d.plaintext(p, b.TLS, b.Host, b.PasswordFile)
	d.tlsVerify(p, "mailbox "+strconv.Quote(b.Name), b.TLSVerify, b.Host)
}

// required reports each empty value of the key/value pairs kv in the table
// at table: as missing at the table's header, or as empty at the key.
func (d *decoder) required(table string, kv ...string) {
	for i := 0; i+1 < len(kv); i += 2 {
		key, value := kv[i], kv[i+1]
		switch p := join(table, key); {
		case value != "":
		case d.has(p):
			d.keyErrorf(p, "must not be empty")
		default:
			d.errorf(p, "missing required key %q%s", key, in(table))
		}
	}
}

// missing reports the key missing from the table at table, which the
// transparency notice needs for the reason why.
func (d *decoder) missing(table, key, why string) {
	d.errorf(join(table, key), "missing required key %q%s: %s", key, in(table), why)
}

// notice reports the key in the table at table missing, or present but
// blank, giving why the transparency notice needs it.
func (d *decoder) notice(table, key, value, why string) {
	switch p := join(table, key); {
	case strings.TrimSpace(value) != "":
	case d.has(p):
		d.keyErrorf(p, "must not be empty: %s", why)
	default:
		d.missing(table, key, why)
	}
}

// noticeText is notice for a Text: the table and both of its languages.
func (d *decoder) noticeText(table, key string, t Text, why string) {
	p := join(table, key)
	if !d.has(p) {
		d.missing(table, key, why)
		return
	}
	d.notice(p, "de", t.DE, why)
	d.notice(p, "en", t.EN, why)
}

// noBlanks reports each blank element of the array at path.
func (d *decoder) noBlanks(path string, list []string) {
	for i, s := range list {
		if strings.TrimSpace(s) == "" {
			d.keyErrorf(index(path, i+1), "must not be empty")
		}
	}
}

// unique reports name at path if seen already holds it, and adds it otherwise.
func (d *decoder) unique(seen map[string]string, path, kind, name string) {
	if name == "" {
		return
	}
	if first, ok := seen[name]; ok {
		d.keyErrorf(path, "duplicate %s name %q, first used on line %d", kind, name, d.pos[first].line)
		return
	}
	seen[name] = path
}

// oneOf reports a value that is not among allowed.
func (d *decoder) oneOf(path, value string, allowed []string) {
	if !slices.Contains(allowed, value) {
		d.keyErrorf(path, `must be one of "%s", got %q`, strings.Join(allowed, `", "`), value)
	}
}

// names returns the values of a list of named strings, for oneOf.
func names[T ~string](list []T) []string {
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = string(v)
	}
	return out
}

// inRange reports an integer outside lo..hi.
func (d *decoder) inRange(path string, v, lo, hi int) {
	if v < lo || v > hi {
		d.keyErrorf(path, "must be between %d and %d, got %d", lo, hi, v)
	}
}

// atLeast reports a duration shorter than low.
func (d *decoder) atLeast(path string, v Duration, low time.Duration) {
	if v.Duration < low {
		d.keyErrorf(path, "must be at least %s, got %s", Duration{low}, v)
	}
}

// address reports a value that is not a bare mail address (RFC 5322 §3.4.1
// addr-spec): ticketd puts it in envelopes and headers itself.
func (d *decoder) address(path, value string) {
	if value == "" {
		return
	}
	a, err := mail.ParseAddress(value)
	switch {
	case err != nil:
		d.keyErrorf(path, "invalid address %q: %s", value, strings.TrimPrefix(err.Error(), "mail: "))
	case a.Name != "" || a.Address != value:
		d.keyErrorf(path, "must be a bare address such as support@example.com, got %q", value)
	}
}

// plaintext reports a password that would cross the network unencrypted.
func (d *decoder) plaintext(table, tls, host, passwordFile string) {
	if tls == "none" && passwordFile != "" && host != "" && !isLoopback(host) {
		d.keyErrorf(table+".tls", "refusing to send a password unencrypted to %s", host)
	}
}

// isWebURL reports whether s is an absolute http or https URL with a host.
func isWebURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// isLoopback reports whether host is localhost or a loopback address
// (127.0.0.0/8, ::1).
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.Unmap().IsLoopback()
}

// sameFolder reports whether two IMAP folder names are the same; INBOX is
// case-insensitive (RFC 9051 §5.1).
func sameFolder(a, b string) bool {
	return a == b || strings.EqualFold(a, "INBOX") && strings.EqualFold(b, "INBOX")
}
