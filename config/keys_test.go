package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTLSVerify: tls_verify defaults to true; false is refused for a host
// that is not loopback, in [smtp] and [[mailbox]] alike, with the line of
// the key; for a loopback host it is accepted with a warning that says the
// certificate checks are off.
func TestTLSVerify(t *testing.T) {
	c, err := Parse("config.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if !c.SMTP.Verify() || !c.Mailboxes[0].Verify() || len(c.Warnings) > 0 {
		t.Errorf("default: smtp verify %v, mailbox verify %v, warnings %v; want true, true, none", c.SMTP.Verify(), c.Mailboxes[0].Verify(), c.Warnings)
	}

	remote := edit(t, minimal,
		"host = \"smtp.example.com\"\n", "host = \"smtp.example.com\"\ntls_verify = false\n",
		"host = \"imap.example.com\"\n", "host = \"imap.example.com\"\ntls_verify = false\n")
	_, err = Parse("config.toml", []byte(remote))
	want := []string{
		"config.toml:13:1: smtp.tls_verify: tls_verify = false is allowed only for a loopback host, not smtp.example.com",
		"config.toml:25:1: mailbox[1].tls_verify: tls_verify = false is allowed only for a loopback host, not imap.example.com",
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("non-loopback hosts: Parse = %v\nwant:\n%s", err, strings.Join(want, "\n"))
	}

	for _, host := range []string{"127.0.0.1", "localhost", "::1", "127.3.4.5"} {
		local := strings.ReplaceAll(remote, "smtp.example.com", host)
		local = strings.ReplaceAll(local, "imap.example.com", host)
		c, err := Parse("config.toml", []byte(local))
		if err != nil {
			t.Errorf("loopback host %s: Parse = %v", host, err)
			continue
		}
		if c.SMTP.Verify() || c.Mailboxes[0].Verify() {
			t.Errorf("loopback host %s: verify still on", host)
		}
		got := c.Warnings.Error()
		if len(c.Warnings) != 2 || !strings.Contains(got, "certificate checks are off for the SMTP relay") ||
			!strings.Contains(got, `certificate checks are off for mailbox "support"`) {
			t.Errorf("loopback host %s: warnings:\n%s\nwant one for smtp and one for the mailbox", host, got)
		}
	}
	// true is always fine, also for a remote host.
	on := edit(t, minimal, "host = \"smtp.example.com\"\n", "host = \"smtp.example.com\"\ntls_verify = true\n")
	if c, err := Parse("config.toml", []byte(on)); err != nil || len(c.Warnings) > 0 || !c.SMTP.Verify() {
		t.Errorf("tls_verify = true: %v, %v", err, c)
	}
}

// TestKeysTable: [keys] defaults, snapshot_dir resolved beside the
// configuration file, refused inside data_dir (also through a symbolic
// link) or when it is a file; snapshot_keep at least 1h; a bad schedule
// is an error, not a panic.
func TestKeysTable(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"config.toml": minimal, "imap.pass": "pw\n"})
	c, err := Load(filepath.Join(dir, "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "key-snapshots"); c.Keys.SnapshotDir != want {
		t.Errorf("snapshot_dir = %q, want %q", c.Keys.SnapshotDir, want)
	}
	if c.Keys.SnapshotKeep.Duration != 7*24*time.Hour || c.Keys.Schedule != "" {
		t.Errorf("snapshot_keep = %v, schedule = %q; want 7d and none", c.Keys.SnapshotKeep, c.Keys.Schedule)
	}

	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(data, filepath.Join(dir, "alias")); err != nil {
		t.Fatal(err)
	}
	withKeys := func(keys string) string {
		return strings.Replace(minimal, "[server]\n", "[server]\ndata_dir = \"data\"\n", 1) + "\n[keys]\n" + keys
	}
	for _, snap := range []string{"data", "data/snapshots", "alias/snapshots", data + "/x"} {
		writeFiles(t, dir, map[string]string{"config.toml": withKeys("snapshot_dir = \"" + snap + "\"\n")})
		_, err := Load(filepath.Join(dir, "config.toml"))
		if err == nil || !strings.Contains(err.Error(), "keys.snapshot_dir") || !strings.Contains(err.Error(), "inside data_dir") {
			t.Errorf("snapshot_dir = %q: Load = %v, want it refused as inside data_dir", snap, err)
		}
	}
	writeFiles(t, dir, map[string]string{"afile": "x", "config.toml": withKeys("snapshot_dir = \"afile\"\n")})
	if _, err := Load(filepath.Join(dir, "config.toml")); err == nil || !strings.Contains(err.Error(), "keys.snapshot_dir: "+filepath.Join(dir, "afile")+" is not a directory") {
		t.Errorf("snapshot_dir a file: Load = %v", err)
	}

	for _, tc := range []struct{ keys, want string }{
		{"snapshot_keep = \"30m\"\n", "keys.snapshot_keep: must be at least 1h0m0s, got 30m0s"},
		{"snapshot_dir = \"\"\n", "keys.snapshot_dir: must not be empty"},
		{"schedule = \"CRON_TZ=UTC\"\n", `keys.schedule: invalid schedule "CRON_TZ=UTC"`},
		{"schedule = \"61 * * * *\"\n", "keys.schedule: end of range (61) above maximum (59): 61"},
		{"schedule = \"\"\n", "keys.schedule: empty schedule"},
	} {
		_, err := Parse("config.toml", []byte(withKeys(tc.keys)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Parse = %v, want %q", strings.TrimSpace(tc.keys), err, tc.want)
		}
	}
	c, err = Parse("config.toml", []byte(withKeys("snapshot_keep = \"400d\"\nschedule = \"@daily\"\n")))
	if err != nil || c.Keys.SnapshotKeep.Duration != 400*24*time.Hour || c.Keys.Schedule != "@daily" {
		t.Errorf("a long snapshot_keep and @daily: %v, %+v", err, c)
	}
}
