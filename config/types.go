package config

import (
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Config is one loaded, validated configuration file.
type Config struct {
	Server          Server          `toml:"server"`
	Controller      Controller      `toml:"controller"`
	SMTP            SMTP            `toml:"smtp"`
	Acknowledgement Acknowledgement `toml:"acknowledgement"`
	Mailboxes       []Mailbox       `toml:"mailbox"`
	Queues          []Queue         `toml:"queue"`
	Routes          []Route         `toml:"route"`
	Purposes        []Purpose       `toml:"purpose"`
	Holds           []Hold          `toml:"hold"`
	Processors      []Processor     `toml:"processor"`
	Retention       Retention       `toml:"retention"`
	Consent         Consent         `toml:"consent"`
	Spam            Spam            `toml:"spam"`
	Agents          Agents          `toml:"agents"`
	Keys            Keys            `toml:"keys"`
	Redact          []RedactRule    `toml:"redact"`
	Minimise        Minimise        `toml:"minimise"`
	Attachments     Attachments     `toml:"attachments"`
	LMTP            LMTP            `toml:"lmtp"`

	// File is the path the configuration was loaded from ("" for Parse without a name).
	File string `toml:"-"`
	// Warnings are the problems that do not stop the configuration from
	// working as written, such as a routing rule that loses mail to an
	// earlier one; `ticketd check` prints them.
	Warnings Errors `toml:"-"`
	// Uncredentialed are the password_file keys that name a systemd
	// credential (CredentialsVar) while $CREDENTIALS_DIRECTORY is not
	// set: their password is empty, and ticketd run does not start.
	Uncredentialed []string `toml:"-"`
}

// Server holds process-wide settings.
type Server struct {
	DataDir    string `toml:"data_dir"`    // default "/var/lib/ticketd"; relative to the config file's directory
	HTTPListen string `toml:"http_listen"` // default "127.0.0.1:8080"
	// TrustedProxies are the addresses or networks of reverse proxies in front
	// of http_listen, whose X-Forwarded-For header names the client; default
	// loopback ("127.0.0.0/8", "::1/128").
	TrustedProxies []string `toml:"trusted_proxies"`
	PublicURL      string   `toml:"public_url"`   // required, http or https URL
	Language       string   `toml:"language"`     // "de" | "en", default "en"
	AdminSocket    string   `toml:"admin_socket"` // default <data_dir>/admin.sock
	LogFormat      string   `toml:"log_format"`   // "text" | "json", default "text"
	LogLevel       string   `toml:"log_level"`    // "debug" | "info" | "warn" | "error", default "info"
	// TemplatesDir, when set, holds templates that replace the built-in ones of
	// the same name (e.g. "ack.de.txt.tmpl"); relative to the config file's directory.
	TemplatesDir string `toml:"templates_dir"`
	// MasterKeyFile holds the master key (32 random bytes, mode 0600) that
	// wraps the per-person keys of the store; made on first start when
	// absent. It must live outside data_dir. Default "master.key" in the
	// configuration file's directory; relative to that directory.
	MasterKeyFile string `toml:"master_key_file"`
	// MetricsListen is the host:port of the listener of /metrics (the
	// Prometheus text format); "" (the default) serves none. It must be a
	// loopback address unless MetricsAllowRemote is set.
	MetricsListen      string `toml:"metrics_listen"`
	MetricsAllowRemote bool   `toml:"metrics_allow_remote"` // default false

	Proxies []netip.Prefix `toml:"-"` // TrustedProxies, parsed
}

// ClientAddr is the address of the client behind a request that came from
// peer with the given X-Forwarded-For header: peer itself, unless peer is a
// trusted proxy; then the right-most address in the header that is not one.
func (s *Server) ClientAddr(peer netip.Addr, forwardedFor []string) netip.Addr {
	peer = peer.Unmap()
	if !s.trusted(peer) {
		return peer
	}
	var hops []string
	for _, h := range forwardedFor {
		hops = append(hops, strings.Split(h, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		ip, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a malformed hop: trust nothing before it
		}
		client = ip.Unmap()
		if !s.trusted(client) {
			break
		}
	}
	return client
}

func (s *Server) trusted(ip netip.Addr) bool {
	for _, p := range s.Proxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Controller is who is responsible for the data (GDPR Art. 4(7)); the
// transparency notice (Art. 13) names it.
type Controller struct {
	Name      string `toml:"name"`      // required, legal name
	Address   string `toml:"address"`   // required, postal address, one line
	Email     string `toml:"email"`     // required, contact address for data protection questions
	DPO       string `toml:"dpo"`       // optional, how to reach the data protection officer where one is designated (name and address or email); "" = none designated
	Authority string `toml:"authority"` // required, the supervisory authority a customer may complain to (name and address or URL)
}

// SMTP is the relay outgoing mail is submitted to.
type SMTP struct {
	Host         string   `toml:"host"`          // required
	Port         int      `toml:"port"`          // default by tls: implicit 465, starttls 587, none 25
	TLS          string   `toml:"tls"`           // "none" | "starttls" | "implicit", default "starttls"
	Username     string   `toml:"username"`      // optional; needs password_file
	PasswordFile string   `toml:"password_file"` // relative to the config file's directory
	From         string   `toml:"from"`          // required, envelope sender address
	CAFile       string   `toml:"ca_file"`       // optional PEM bundle to trust instead of the system roots
	TLSVerify    *bool    `toml:"tls_verify"`    // default true: check the certificate; false only for a loopback host
	Timeout      Duration `toml:"timeout"`       // default 60s, bound on every SMTP command

	Password string `toml:"-"` // read from PasswordFile

	// RetryFor is how long a temporary failure (4xx, network) is retried with
	// exponential backoff before the mail is marked failed; default "2d".
	RetryFor Duration `toml:"retry_for"`

	// Auth is how the relay is logged in to: "password" (AUTH PLAIN with
	// username and password_file) or "oauth2" (AUTH OAUTHBEARER or XOAUTH2
	// as username, with [smtp.oauth]); default "password".
	Auth  string `toml:"auth"`
	OAuth OAuth  `toml:"oauth"`
}

// Verify reports whether the relay's certificate is checked (tls_verify).
func (m *SMTP) Verify() bool { return m.TLSVerify == nil || *m.TLSVerify }

// Acknowledgement configures the automatic reply to a new ticket.
type Acknowledgement struct {
	Enabled *bool `toml:"enabled"` // default true
	// At most MaxPerSender acknowledgements go to one address per Window
	// (defaults 5 and "1h"); more new tickets from it get none.
	MaxPerSender int      `toml:"max_per_sender"`
	Window       Duration `toml:"window"`
	// ConsentLinkValidity is how long the consent link in it works; default "90d".
	ConsentLinkValidity Duration `toml:"consent_link_validity"`
}

// On reports whether acknowledgements are sent.
func (a *Acknowledgement) On() bool { return a.Enabled == nil || *a.Enabled }

// Mailbox is one IMAP folder that is turned into tickets.
type Mailbox struct {
	Name             string   `toml:"name"`              // required, unique; part of the dedup key and the checkpoint
	Address          string   `toml:"address"`           // required, the support address customers write to
	Host             string   `toml:"host"`              // required
	Port             int      `toml:"port"`              // default by tls: implicit 993, starttls and none 143
	TLS              string   `toml:"tls"`               // "none" | "starttls" | "implicit", default "implicit"
	CAFile           string   `toml:"ca_file"`           // optional PEM bundle to trust instead of the system roots
	TLSVerify        *bool    `toml:"tls_verify"`        // default true: check the certificate; false only for a loopback host
	Username         string   `toml:"username"`          // required
	PasswordFile     string   `toml:"password_file"`     // required with auth = "password"
	Folder           string   `toml:"folder"`            // default "INBOX"
	AfterImport      string   `toml:"after_import"`      // "keep" | "seen" | "move", default "seen"
	MoveTo           string   `toml:"move_to"`           // required when after_import = "move"
	QuarantineFolder string   `toml:"quarantine_folder"` // optional; quarantined mail is moved there
	Queue            string   `toml:"queue"`             // required, names a [[queue]]
	PollInterval     Duration `toml:"poll_interval"`     // default 60s; used when the server has no IDLE or idle = false
	IDLE             *bool    `toml:"idle"`              // default true: use IDLE when the server offers it
	MaxMessageSize   Size     `toml:"max_message_size"`  // default 64MiB; larger mail is quarantined unread
	BatchSize        int      `toml:"batch_size"`        // default 200 (1..5000); the most mails per fetch and per transaction
	CommandTimeout   Duration `toml:"command_timeout"`   // default 60s; bound on every IMAP command

	// Auth is how the server is logged in to: "password" (LOGIN with
	// username and password_file, then required) or "oauth2" (AUTHENTICATE
	// as username with an access token, see [mailbox.oauth]); default
	// "password".
	Auth  string `toml:"auth"`
	OAuth OAuth  `toml:"oauth"`

	Password string `toml:"-"` // read from PasswordFile
}

// Verify reports whether the server's certificate is checked (tls_verify).
func (m *Mailbox) Verify() bool { return m.TLSVerify == nil || *m.TLSVerify }

// UseIDLE reports whether IDLE may be used.
func (m *Mailbox) UseIDLE() bool { return m.IDLE == nil || *m.IDLE }

// Queue is a department tickets are routed to.
type Queue struct {
	Name         string   `toml:"name"`          // required, unique
	Purpose      string   `toml:"purpose"`       // required, names a [[purpose]]: what tickets of this queue are processed for
	ResponseTime Duration `toml:"response_time"` // required, the first answer promised to the customer, e.g. "8h" or "2d"
	Agents       []string `toml:"agents"`        // addresses of the agents who work this queue (bare addresses)
	// Supervisors are the addresses of those who oversee the queue (bare
	// addresses). A supervisor need not be one of its agents: the lists
	// are independent, an address may be in both.
	Supervisors []string `toml:"supervisors"`
	// Notify is what an agent notification carries of the customer's
	// text: "full" (all of it) or "minimal" (the facts and a short
	// excerpt; the agent asks for the rest with #show); default "full".
	Notify string `toml:"notify"`
	// ReopenWithin is how long after closing a customer's reply reopens
	// the ticket; a later reply makes a new ticket that refers to the old
	// one. Default "30d".
	ReopenWithin Duration `toml:"reopen_within"`
	// BusinessHours, when set, counts response_time in working time only;
	// nil counts it around the clock.
	BusinessHours *BusinessHours `toml:"business_hours"`
}

// ReopenAfter is how long after closing a customer's reply reopens a
// ticket of the queue (reopen_within, 30 days when not set).
func (q *Queue) ReopenAfter() time.Duration {
	if q == nil || q.ReopenWithin.Duration <= 0 {
		return 30 * 24 * time.Hour
	}
	return q.ReopenWithin.Duration
}

// Notify values of a queue.
const (
	NotifyFull    = "full"
	NotifyMinimal = "minimal"
)

// BusinessHours are the working hours a queue's response time is counted in
// (package sla): the [queue.business_hours] table of one [[queue]].
type BusinessHours struct {
	// Days are the working days: "mon" .. "sun" in any case, each once, at
	// least one; default Monday to Friday.
	Days []string `toml:"days"`
	// Start and End are the working hours of each working day, "HH:MM"
	// (24-hour clock) on the wall clock of TimeZone; Start before End, End
	// may be "24:00". Required.
	Start string `toml:"start"`
	End   string `toml:"end"`
	// TimeZone is an IANA time zone name such as "Europe/Berlin"; required.
	TimeZone string `toml:"time_zone"`
	// Holidays are dates ("2026-12-24") that are not working days.
	Holidays []string `toml:"holidays"`

	// Parsed forms, set by Parse and Load.
	Location     *time.Location  `toml:"-"`
	Weekdays     [7]bool         `toml:"-"` // by time.Weekday
	StartMinute  int             `toml:"-"` // minutes after midnight, 0 .. 1439
	EndMinute    int             `toml:"-"` // minutes after midnight, up to 1440
	HolidayDates map[string]bool `toml:"-"` // "2026-12-24"
}

// Purpose is one purpose of processing with its legal basis and retention (GDPR Art. 5(1)(b), 6, 13).
type Purpose struct {
	Name string `toml:"name"` // required, unique
	// Description says what the data is processed for, in each language.
	Description Text `toml:"description"` // required, de and en
	// LegalBasis is one of LegalBases; required.
	LegalBasis LegalBasis `toml:"legal_basis"`
	// LegitimateInterest names the interest pursued; required when legal_basis is "legitimate_interest" (Art. 13(1)(d)).
	LegitimateInterest Text `toml:"legitimate_interest"`
	// Retention is how long the data is kept, in days or years ("90d", "2y"; "0d" is due at once).
	Retention Period `toml:"retention"`
	// OnExpiry is what happens then: "anonymize" | "delete"; default "anonymize".
	OnExpiry string `toml:"on_expiry"`
	// Recipients are the recipients or categories of recipients, processors included
	// (e.g. "Example Hosting GmbH (mail hosting, processor)"); required, at least one.
	Recipients []string `toml:"recipients"`
	// Transfers are transfers to third countries with their safeguard; [] means none.
	// Required (write transfers = [] when there are none), so that none is a decision.
	Transfers []string `toml:"transfers"`
	// Required says whether the customer must provide the data and what happens if not (Art. 13(2)(e)).
	Required Text `toml:"required"` // required, de and en
	// CountedFrom is when the retention period starts: "closed" (the ticket
	// was closed; open tickets are kept) or "collected" (the ticket was created, or its mail received if earlier); default "closed".
	CountedFrom string `toml:"counted_from"`
	// DataCategories and SubjectCategories describe the purpose in the record
	// of processing activities (Art. 30(1)(c)); the defaults name what ticketd stores.
	DataCategories    []string `toml:"data_categories"`
	SubjectCategories []string `toml:"subject_categories"`
	// Grace, for legal_basis = "consent" only, is how long after the ticket was
	// created consent may still be granted; default "14d".
	Grace Duration `toml:"grace"`
	// WithoutConsent, for legal_basis = "consent" only, is what happens when
	// the grace period ends without a grant or consent is withdrawn:
	// "restrict" (kept, no longer processed) or "erase"; default "restrict".
	WithoutConsent string `toml:"without_consent"`
}

// LegalBasis is the legal basis of a purpose's processing (GDPR Art. 6(1)),
// as legal_basis names it.
type LegalBasis string

// Legal bases.
const (
	BasisConsent            LegalBasis = "consent"             // Art. 6(1)(a): the customer can grant and withdraw it
	BasisContract           LegalBasis = "contract"            // Art. 6(1)(b)
	BasisLegitimateInterest LegalBasis = "legitimate_interest" // Art. 6(1)(f): the customer can object (Art. 21)
	BasisLegalObligation    LegalBasis = "legal_obligation"    // Art. 6(1)(c)
)

// LegalBases are the values legal_basis takes, in the order error messages list them.
var LegalBases = []LegalBasis{BasisConsent, BasisContract, BasisLegitimateInterest, BasisLegalObligation}

// Valid reports whether b is one of LegalBases.
func (b LegalBasis) Valid() bool { return slices.Contains(LegalBases, b) }

// Text is a text in each language the notice is written in.
type Text struct {
	DE string `toml:"de"`
	EN string `toml:"en"`
}

// In returns the text in lang ("de" or "en").
func (t Text) In(lang string) string {
	if lang == "de" {
		return t.DE
	}
	return t.EN
}

// Period is a retention time in whole days or years: "90d", "2y", "0d".
// A year counts as 365 days for Duration; AddTo adds calendar years.
type Period struct {
	Days, Years int
}

// Duration is a time.Duration written as a string: "90s", "5m", "1h30m", "2d".
type Duration struct{ time.Duration }

// Size is a byte count written as an integer or a string with a unit:
// "512KB", "25MB", "1GB" (powers of 1000) or "64KiB", "64MiB", "1GiB" (powers of 1024).
type Size int64
