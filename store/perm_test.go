package store

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenTightensPermissions: a data dir, blob dir and database file that
// exist with access for group or others are made private, each with a
// warning; private ones are left alone, silently.
func TestOpenTightensPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	openTest(t, dir).Close()
	for p, mode := range map[string]os.FileMode{
		dir:                              0o755,
		filepath.Join(dir, "blobs"):      0o777,
		filepath.Join(dir, "ticketd.db"): 0o644,
		filepath.Join(dir, "keys.db"):    0o640,
	} {
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	db, err := Open(dir, Options{Log: slog.New(slog.NewTextHandler(&logs, nil)), MasterKeyFile: testMaster(dir)})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	for p, want := range map[string]os.FileMode{
		dir:                              0o700,
		filepath.Join(dir, "blobs"):      0o700,
		filepath.Join(dir, "ticketd.db"): 0o600,
	} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %04o, want %04o", p, fi.Mode().Perm(), want)
		}
	}
	for _, want := range []string{
		"level=WARN msg=\"tightened permissions\" path=" + dir + " old=0755 new=0700",
		"path=" + filepath.Join(dir, "blobs") + " old=0777 new=0700",
		"path=" + filepath.Join(dir, "ticketd.db") + " old=0644 new=0600",
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}

	logs.Reset()
	db, err = Open(dir, Options{Log: slog.New(slog.NewTextHandler(&logs, nil)), MasterKeyFile: testMaster(dir)})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if logs.Len() != 0 {
		t.Errorf("second open logged:\n%s", logs.String())
	}
}
