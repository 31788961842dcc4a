// Package config owns ticketd's configuration file: its TOML schema (types.go),
// decoding, defaults, validation, path resolution and the reading of secret
// files. Every other package receives a *Config that has passed all checks.
// A value other packages decide on, such as a purpose's legal basis
// (LegalBasis), is a named type with a constant for each value it takes.
//
// # Layout
//
// One TOML file with a [server] table, a [controller] table, an [smtp] table,
// an optional [acknowledgement] table, one or more [[queue]] tables, one or
// more [[mailbox]] tables and one or more [[purpose]] tables, and optional
// [[route]], [[hold]], [[processor]], [retention], [consent], [spam],
// [agents], [keys], [[redact]], [minimise] and [attachments] tables ([route]:
// the routing rules of new tickets, route.go; [spam]: which spam-filter
// header fields are believed, spam.go; [agents]: how an agent's reply is
// believed and when agents are reminded, agents.go; [keys]: where key
// snapshots go and how long they are kept, keys.go; [[redact]] and
// [minimise]: what is removed from a mail and which header fields are
// kept, minimise.go; [attachments]: the size limits and the media types,
// by content, that attachments are kept or dropped by, attachments.go). A
// [[queue]] may hold a [queue.business_hours] table, the
// working time its response_time is counted in (hours.go; package sla
// counts it): a [queue.business_hours] header belongs to the [[queue]]
// above it, and the queue's BusinessHours is nil without one.
// config.example.toml at the module root documents every key and its default;
// a test loads it.
//
// # Rules
//
//   - Strict: unknown keys and values of the wrong type are errors, never
//     ignored. A key that is absent takes its default; a key that is present must
//     be valid, so `port = 0` or `folder = ""` is an error, not a default.
//   - Every problem is reported at once, each as "FILE:LINE:COL: message" and
//     sorted by position (mox's "config test"; `ticketd check` prints them).
//     A TOML syntax error stops the checks, since nothing after it can be located.
//   - A warning is a problem that leaves the configuration working as
//     written (a [[route]] that loses part of its mail to an earlier rule of
//     another queue): Config.Warnings, formatted "FILE:LINE:COL: warning:
//     message"; with errors, the warnings are reported among them.
//   - Routing rules are checked as a whole: a rule without condition, or one
//     whose every case (one value of each of its conditions) earlier rules
//     take, is an error. Route matches a mail against them (route.go says
//     how addresses, domains and keywords compare).
//   - Keys are named in messages by their path, with tables of an array counted
//     from 1 in file order: mailbox[2].tls is the tls key of the second
//     [[mailbox]]. A missing key is reported at its table's header.
//   - Secrets never sit in the TOML file: passwords come from *_file keys. A
//     missing, unreadable or empty secret file is an error, never an empty
//     password. One trailing newline (\n or \r\n) is removed.
//   - Every file ticketd reads (ReadFile) must be a regular file owned by the
//     user ticketd runs as or by root, and small: a password file at most
//     4 KiB, with no access for group or others (0600 or 0400); a CA bundle
//     at most 1 MiB, readable by anyone but writable only by its owner. The
//     checks are made on the opened descriptor (a FIFO or device never
//     blocks the open, /dev/zero is never read), and at most the limit is
//     read. The consent key in data_dir follows the secret rule too; Load
//     reports one that breaks it. A file must belong to the user that runs
//     the command, so run `ticketd check` as the daemon's user.
//   - The acknowledgement of a new ticket carries the transparency notice of
//     GDPR Art. 13, so everything it states is required: [controller] whole
//     but dpo, which is named only where a DPO is designated (Art. 13(1)(b);
//     written, it must not be empty), and in each [[purpose]] the description, legal basis (with the
//     legitimate interest where that is the basis), retention, recipients,
//     transfers (an empty list says there are none) and whether the data is
//     required, texts in German and English. Each such error names the
//     article that asks for the item.
//   - Relative paths (data_dir, admin_socket, templates_dir, ca_file,
//     password_file, master_key_file, keys.snapshot_dir) are resolved against the directory of the configuration
//     file, so the daemon does not depend on its working directory.
//   - A password_file "${CREDENTIALS_DIRECTORY}/NAME" (CredentialsVar) is
//     the credential NAME that systemd's LoadCredential= hands the unit, in
//     $CREDENTIALS_DIRECTORY. Without that variable (a command run by hand)
//     the password stays empty, the key is in Config.Uncredentialed and a
//     warning says why; ticketd run then refuses to start.
//   - [server] metrics_listen is off by default and must be a loopback IP
//     unless metrics_allow_remote is set (metrics.go).
//   - auth = "oauth2" in [[mailbox]] or [smtp] takes an oauth table (type
//     OAuth): provider presets for the endpoints and scopes, client
//     credentials or a token_file (whose absence is a warning until `ticketd
//     oauth login` makes it), every key checked offline.
//   - A password or an access token is never sent over an unencrypted
//     connection (tls = "none") except to a loopback host, and certificate checks are turned off
//     (tls_verify = false) for a loopback host only, with a warning.
//   - The master key and the key snapshots live outside data_dir, so a copy
//     of the data directory carries nothing that opens it.
//   - Parse does not touch the filesystem; Load adds path resolution, reads
//     the secret and CA files and checks that templates_dir is a directory, so
//     a reload that would fail is rejected before the running configuration
//     is swapped (STYLE.md 5).
//
// # Positions
//
// go-toml/v2 decodes the document into a map[string]any, which keeps the full
// TOML semantics (duplicate keys, table redefinition). The same bytes are then
// walked with go-toml's unstable parser to record the line and column of every
// key, and a small reflection walker over the `toml` struct tags fills Config,
// collecting every unknown key and type error instead of stopping at the first.
package config
