package config

import (
	"io/fs"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// LMTP is the listener a local mail server (Postfix's lmtp transport)
// delivers mail into, RFC 2033: each mail goes through the same path as
// `ticketd ingest`, and each recipient is answered 250 only after the
// commit.
type LMTP struct {
	// Listen is where the listener is: "unix:/path/to/lmtp.sock" or a
	// loopback "127.0.0.1:2424" ("[::1]:2424"); "" (the default) is off.
	// Anyone who can connect can deliver mail, so a TCP address must be a
	// loopback one.
	Listen string `toml:"listen"`
	// SocketMode is the unix socket's permission bits, an octal string;
	// default "0660" (owner and group). Others never get access.
	SocketMode string `toml:"socket_mode"`
	// SocketGroup is the group the unix socket belongs to, so that the
	// mail server's user (postfix) can connect: a group name or number;
	// default "" (the group ticketd runs as).
	SocketGroup string `toml:"socket_group"`
	// Mailbox is the [[mailbox]] the mail counts as received by (its
	// dedup scope, the origin and the queue of a new ticket): a mailbox
	// name, or "*" for the mailbox whose address the recipient is; default
	// the first [[mailbox]].
	Mailbox string `toml:"mailbox"`
	// MaxMessageSize is the largest mail accepted (advertised as SIZE, so
	// that the mail server bounces a larger one before sending it);
	// default the mailbox's max_message_size (with "*" the largest).
	MaxMessageSize Size `toml:"max_message_size"`
	// MaxConnections is how many sessions may be open at once; one more
	// is answered 421 and closed. Default 32 (1..1024).
	MaxConnections int `toml:"max_connections"`
	// MaxRecipients is the most recipients of one mail; default 50.
	MaxRecipients int `toml:"max_recipients"`
	// Timeout bounds each read and each write of a session, and the wait
	// for a mail's commit (answered 451 when it passes, so that the mail
	// server tries again); default "5m".
	Timeout Duration `toml:"timeout"`

	Mode fs.FileMode `toml:"-"` // SocketMode, parsed
}

// MailboxAny is the value of lmtp.mailbox that takes the mailbox from the
// recipient address.
const MailboxAny = "*"

// Network and Address split Listen into what net.Listen takes.
func (l *LMTP) Network() string {
	if strings.HasPrefix(l.Listen, "unix:") {
		return "unix"
	}
	return "tcp"
}

// Address is Listen without its "unix:" prefix.
func (l *LMTP) Address() string { return strings.TrimPrefix(l.Listen, "unix:") }

// lmtpDefaults fills in the [lmtp] keys the file leaves out.
func (d *decoder) lmtpDefaults(c *Config) {
	l := &c.LMTP
	setDefault(d, "lmtp.socket_mode", &l.SocketMode, "0660")
	if len(c.Mailboxes) > 0 {
		setDefault(d, "lmtp.mailbox", &l.Mailbox, c.Mailboxes[0].Name)
	}
	var size Size
	for i := range c.Mailboxes {
		b := &c.Mailboxes[i]
		if b.Name == l.Mailbox || l.Mailbox == MailboxAny {
			size = max(size, b.MaxMessageSize)
		}
	}
	setDefault(d, "lmtp.max_message_size", &l.MaxMessageSize, size)
	setDefault(d, "lmtp.max_connections", &l.MaxConnections, 32)
	setDefault(d, "lmtp.max_recipients", &l.MaxRecipients, 50)
	setDefault(d, "lmtp.timeout", &l.Timeout, Duration{5 * time.Minute})
}

// lmtpValidate checks the [lmtp] table; the data directory is resolved.
func (d *decoder) lmtpValidate(c *Config, mailboxes map[string]string) {
	l := &c.LMTP
	switch {
	case l.Listen == "":
	case l.Network() == "unix":
		if !filepath.IsAbs(l.Address()) {
			d.keyErrorf("lmtp.listen", `a unix socket needs an absolute path ("unix:/run/ticketd/lmtp.sock"), got %q`, l.Listen)
		}
	default:
		host, port, err := net.SplitHostPort(l.Listen)
		ip, perr := netip.ParseAddr(host)
		switch {
		case err != nil:
			d.keyErrorf("lmtp.listen", `must be "unix:/path/to/socket" or a loopback host:port such as "127.0.0.1:2424", got %q`, l.Listen)
		case perr != nil || !ip.Unmap().IsLoopback():
			d.keyErrorf("lmtp.listen", "must be a loopback address (127.0.0.1, ::1) or a unix socket: anyone who reaches it can deliver mail, got %q", l.Listen)
		case port == "" || port == "0":
			d.keyErrorf("lmtp.listen", "needs a port, got %q", l.Listen)
		}
	}
	mode, err := strconv.ParseUint(l.SocketMode, 8, 32)
	switch {
	case err != nil || mode > 0o777:
		d.keyErrorf("lmtp.socket_mode", `must be octal permission bits such as "0660", got %q`, l.SocketMode)
	case mode&0o007 != 0:
		d.keyErrorf("lmtp.socket_mode", "must not give others access (anyone could deliver mail), got %q; use socket_group", l.SocketMode)
	case mode&0o600 != 0o600:
		d.keyErrorf("lmtp.socket_mode", "must let its owner read and write, got %q", l.SocketMode)
	default:
		l.Mode = fs.FileMode(mode)
	}
	if l.SocketGroup != "" && l.Network() != "unix" {
		d.keyErrorf("lmtp.socket_group", "only for a unix socket")
	}
	if d.has("lmtp.mailbox") && l.Mailbox != MailboxAny && mailboxes[l.Mailbox] == "" {
		d.keyErrorf("lmtp.mailbox", `no [[mailbox]] named %q (or "*" for the recipient's)`, l.Mailbox)
	}
	// Left out, it is a mailbox's, which is checked there.
	if d.has("lmtp.max_message_size") && l.MaxMessageSize < minMessageSize {
		d.keyErrorf("lmtp.max_message_size", "must be at least %s, got %s", Size(minMessageSize), l.MaxMessageSize)
	}
	d.inRange("lmtp.max_connections", l.MaxConnections, 1, 1024)
	d.inRange("lmtp.max_recipients", l.MaxRecipients, 1, 1000)
	d.atLeast("lmtp.timeout", l.Timeout, minInterval)
}

// LMTPMailbox is the mailbox mail to the recipient address rcpt counts as,
// nil when rcpt is none of ticketd's addresses: the address of a
// [[mailbox]] or a subaddress of it (local+detail@domain, the agents' reply
// addresses), compared without regard to case.
func (c *Config) LMTPMailbox(rcpt string) *Mailbox {
	local, domain, ok := strings.Cut(strings.Trim(strings.TrimSpace(rcpt), "<>"), "@")
	if !ok {
		return nil
	}
	local, _, _ = strings.Cut(local, "+")
	var own *Mailbox
	for i := range c.Mailboxes {
		bl, bd, _ := strings.Cut(c.Mailboxes[i].Address, "@")
		if strings.EqualFold(bl, local) && strings.EqualFold(bd, domain) {
			own = &c.Mailboxes[i]
			break
		}
	}
	if own == nil || c.LMTP.Mailbox == MailboxAny {
		return own
	}
	return c.Mailbox(c.LMTP.Mailbox)
}
