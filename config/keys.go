package config

import (
	"os"
	"time"
)

// Keys configures the key snapshots: copies of the store's person-key file,
// made by `ticketd keys backup` and on Schedule, kept apart from the data
// backups and only for SnapshotKeep. A data backup of any age is read with
// the newest snapshot (a person's key never changes); once the last
// snapshot that held an erased person's key is deleted, no backup can be
// read for that person (crypto-shredding, GDPR Art. 17).
type Keys struct {
	// SnapshotDir is where key snapshots are written and pruned; default
	// "key-snapshots" in the configuration file's directory; relative to
	// that directory. It must live outside data_dir, like master_key_file.
	SnapshotDir string `toml:"snapshot_dir"`
	// SnapshotKeep is how long a snapshot in SnapshotDir is kept: a
	// snapshot into SnapshotDir deletes the ones older than this; default
	// "7d", at least "1h". Erasure reaches the data backups only once the
	// snapshots made before it are gone, so this is also how long an
	// erased person stays readable in the backups.
	SnapshotKeep Duration `toml:"snapshot_keep"`
	// Schedule, when set, is when the daemon takes a snapshot into
	// SnapshotDir and prunes the old ones: a cron spec like
	// retention.schedule, such as "@daily"; default "": only `ticketd keys
	// backup` takes them.
	Schedule string `toml:"schedule"`
}

// Defaults and limits of [keys].
const (
	// KeySnapshotDir is the default name of [keys] snapshot_dir, in the
	// configuration file's directory.
	KeySnapshotDir      = "key-snapshots"
	defaultSnapshotKeep = 7 * day
	minSnapshotKeep     = time.Hour
)

// keysDefaults fills in the [keys] keys the file leaves out.
func (d *decoder) keysDefaults(c *Config) {
	setDefault(d, "keys.snapshot_dir", &c.Keys.SnapshotDir, KeySnapshotDir)
	setDefault(d, "keys.snapshot_keep", &c.Keys.SnapshotKeep, Duration{defaultSnapshotKeep})
}

// keysValidate checks the [keys] table on its own.
func (d *decoder) keysValidate(c *Config) {
	k := &c.Keys
	if k.SnapshotDir == "" {
		d.keyErrorf("keys.snapshot_dir", "must not be empty")
	}
	d.atLeast("keys.snapshot_keep", k.SnapshotKeep, minSnapshotKeep)
	if k.Schedule != "" || d.has("keys.schedule") {
		d.schedule("keys.schedule", k.Schedule)
	}
}

// keysFiles resolves snapshot_dir and checks it: outside data_dir (a copy
// of the data directory must not carry the keys that open it), and a
// directory if it exists (`ticketd keys backup` makes it, mode 0700).
func (d *decoder) keysFiles(c *Config, resolve func(string) string) {
	k := &c.Keys
	if k.SnapshotDir == "" {
		return
	}
	k.SnapshotDir = resolve(k.SnapshotDir)
	if Inside(k.SnapshotDir, c.Server.DataDir) {
		d.keyErrorf("keys.snapshot_dir", "%s is inside data_dir %s: keep the key snapshots apart from the data and its backups", k.SnapshotDir, c.Server.DataDir)
		return
	}
	if fi, err := os.Stat(k.SnapshotDir); err == nil && !fi.IsDir() {
		d.keyErrorf("keys.snapshot_dir", "%s is not a directory", k.SnapshotDir)
	}
}

// tlsVerify reports tls_verify = false for a host that is not loopback, and
// warns of it for a loopback one: certificate checks are off for it.
func (d *decoder) tlsVerify(table, what string, verify *bool, host string) {
	if verify == nil || *verify {
		return
	}
	if host != "" && !isLoopback(host) {
		d.keyErrorf(table+".tls_verify", "tls_verify = false is allowed only for a loopback host, not %s", host)
		return
	}
	d.warnf(table+".tls_verify", "%s: certificate checks are off for %s (tls_verify = false, loopback host %s)", table+".tls_verify", what, host)
}
