package config

import "time"

// Config is one loaded, validated configuration file.
type Config struct {
	Server    Server    `toml:"server"`
	SMTP      SMTP      `toml:"smtp"`
	Mailboxes []Mailbox `toml:"mailbox"`
	Queues    []Queue   `toml:"queue"`

	// File is the path the configuration was loaded from ("" for Parse without a name).
	File string `toml:"-"`
}

// Server holds process-wide settings.
type Server struct {
	DataDir     string `toml:"data_dir"`     // default "/var/lib/ticketd"; relative to the config file's directory
	HTTPListen  string `toml:"http_listen"`  // default "127.0.0.1:8080"
	PublicURL   string `toml:"public_url"`   // required, http or https URL
	Language    string `toml:"language"`     // "de" | "en", default "en"
	AdminSocket string `toml:"admin_socket"` // default <data_dir>/admin.sock
	LogFormat   string `toml:"log_format"`   // "text" | "json", default "text"
	LogLevel    string `toml:"log_level"`    // "debug" | "info" | "warn" | "error", default "info"
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
	Timeout      Duration `toml:"timeout"`       // default 60s, bound on every SMTP command

	Password string `toml:"-"` // read from PasswordFile
}

// Mailbox is one IMAP folder that is turned into tickets.
type Mailbox struct {
	Name             string   `toml:"name"`              // required, unique; part of the dedup key and the checkpoint
	Address          string   `toml:"address"`           // required, the support address customers write to
	Host             string   `toml:"host"`              // required
	Port             int      `toml:"port"`              // default by tls: implicit 993, starttls and none 143
	TLS              string   `toml:"tls"`               // "none" | "starttls" | "implicit", default "implicit"
	CAFile           string   `toml:"ca_file"`           // optional PEM bundle to trust instead of the system roots
	Username         string   `toml:"username"`          // required
	PasswordFile     string   `toml:"password_file"`     // required
	Folder           string   `toml:"folder"`            // default "INBOX"
	AfterImport      string   `toml:"after_import"`      // "keep" | "seen" | "move", default "seen"
	MoveTo           string   `toml:"move_to"`           // required when after_import = "move"
	QuarantineFolder string   `toml:"quarantine_folder"` // optional; quarantined mail is moved there
	Queue            string   `toml:"queue"`             // required, names a [[queue]]
	PollInterval     Duration `toml:"poll_interval"`     // default 60s; used when the server has no IDLE or idle = false
	IDLE             *bool    `toml:"idle"`              // default true: use IDLE when the server offers it
	MaxMessageSize   Size     `toml:"max_message_size"`  // default 64MiB; larger mail is quarantined unread
	BatchSize        int      `toml:"batch_size"`        // default 200 (1..5000); mails per fetch and per transaction
	CommandTimeout   Duration `toml:"command_timeout"`   // default 60s; bound on every IMAP command

	Password string `toml:"-"` // read from PasswordFile
}

// UseIDLE reports whether IDLE may be used.
func (m *Mailbox) UseIDLE() bool { return m.IDLE == nil || *m.IDLE }

// Queue is a department tickets are routed to.
type Queue struct {
	Name string `toml:"name"` // required, unique
}

// Duration is a time.Duration written as a string: "90s", "5m", "1h30m", "2d".
type Duration struct{ time.Duration }

// Size is a byte count written as an integer or a string with a unit:
// "512KB", "25MB", "1GB" (powers of 1000) or "64KiB", "64MiB", "1GiB" (powers of 1024).
type Size int64
