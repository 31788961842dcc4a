package config

import (
	"cmp"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
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
)

// Default ports by tls mode: submission with implicit TLS (RFC 8314 §3.3),
// submission with STARTTLS (RFC 6409 §3.1) and relay (RFC 5321 §4.5.4);
// IMAP with implicit TLS (RFC 8314 §3.2) and plain or STARTTLS (RFC 9051 §2).
var (
	smtpPorts = map[string]int{"implicit": 465, "starttls": 587, "none": 25}
	imapPorts = map[string]int{"implicit": 993, "starttls": 143, "none": 143}
)

// mailboxPath and queuePath return the path of the i-th (0-based) table.
func mailboxPath(i int) string { return index("mailbox", i+1) }
func queuePath(i int) string   { return index("queue", i+1) }

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
	setDefault(d, "server.language", &s.Language, "en")
	setDefault(d, "server.admin_socket", &s.AdminSocket, filepath.Join(s.DataDir, "admin.sock"))
	setDefault(d, "server.log_format", &s.LogFormat, "text")
	setDefault(d, "server.log_level", &s.LogLevel, "info")

	m := &c.SMTP
	setDefault(d, "smtp.tls", &m.TLS, "starttls")
	setDefault(d, "smtp.port", &m.Port, cmp.Or(smtpPorts[m.TLS], smtpPorts["starttls"]))
	setDefault(d, "smtp.timeout", &m.Timeout, Duration{defaultInterval})

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
	}
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
	d.oneOf("server.language", s.Language, languages)
	d.oneOf("server.log_format", s.LogFormat, logFormats)
	d.oneOf("server.log_level", s.LogLevel, logLevels)

	m := &c.SMTP
	d.required("smtp", "host", m.Host, "from", m.From)
	d.address("smtp.from", m.From)
	d.oneOf("smtp.tls", m.TLS, tlsModes)
	d.inRange("smtp.port", m.Port, 1, 65535)
	d.atLeast("smtp.timeout", m.Timeout, minInterval)
	if m.Username != "" && m.PasswordFile == "" {
		d.keyErrorf("smtp.username", "set without password_file")
	}
	if m.PasswordFile != "" && m.Username == "" {
		d.keyErrorf("smtp.password_file", "set without username")
	}
	d.plaintext("smtp", m.TLS, m.Host, m.PasswordFile)

	queues := map[string]string{}
	for i, q := range c.Queues {
		p := queuePath(i)
		d.required(p, "name", q.Name)
		d.unique(queues, p+".name", "queue", q.Name)
	}
	if len(c.Queues) == 0 {
		d.errorf("queue", "no [[queue]] defined, at least one is required")
	}

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
}

// mailbox checks one [[mailbox]] table on its own.
func (d *decoder) mailbox(p string, b *Mailbox) {
	d.required(p, "name", b.Name, "address", b.Address, "host", b.Host, "username", b.Username,
		"password_file", b.PasswordFile, "queue", b.Queue, "folder", b.Folder)
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
