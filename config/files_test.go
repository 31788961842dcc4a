package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDevZeroPassword: a password_file of /dev/zero is refused at once, not
// read until memory runs out.
func TestDevZeroPassword(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"config.toml": edit(t, minimal, `"imap.pass"`, `"/dev/zero"`)})
	done := make(chan error, 1)
	go func() {
		_, err := Load(filepath.Join(dir, "config.toml"))
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "mailbox[1].password_file: /dev/zero: not a regular file") {
			t.Errorf("Load = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Load with password_file = /dev/zero did not return")
	}
}

// TestFileRules covers what the bad-config cases cannot: what is accepted,
// a symbolic link, a file of another user, and the typed errors.
func TestFileRules(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	private := write("private", "pw\n", 0o600)
	readOnly := write("readonly", "pw\n", 0o400)
	public := write("public.pem", "cert\n", 0o644)
	loose := write("loose", "pw\n", 0o604)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(private, link); err != nil {
		t.Fatal(err)
	}
	zeroLink := filepath.Join(dir, "zero")
	if err := os.Symlink("/dev/zero", zeroLink); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path  string
		kind  Kind
		limit int64
		want  error
	}{
		{private, Secret, MaxSecretFile, nil},
		{readOnly, Secret, MaxSecretFile, nil},
		{link, Secret, MaxSecretFile, nil}, // the rules apply to what the link names
		{public, Public, MaxPublicFile, nil},
		{public, Secret, MaxSecretFile, ErrFileMode},
		{loose, Secret, MaxSecretFile, ErrFileMode},
		{zeroLink, Secret, MaxSecretFile, ErrNotRegular},
		{dir, Public, MaxPublicFile, ErrNotRegular},
		{private, Secret, 2, ErrFileSize},
		{filepath.Join(dir, "missing"), Secret, MaxSecretFile, os.ErrNotExist},
	} {
		b, err := ReadFile(tc.path, tc.kind, tc.limit)
		switch {
		case tc.want == nil && (err != nil || len(b) == 0):
			t.Errorf("ReadFile(%s, %d) = %q, %v; want its content", tc.path, tc.kind, b, err)
		case tc.want != nil && !errors.Is(err, tc.want):
			t.Errorf("ReadFile(%s, %d) = %v; want %v", tc.path, tc.kind, err, tc.want)
		}
	}

	// A file of another user is refused, whatever its mode. Only root can
	// make one.
	if os.Geteuid() != 0 {
		t.Log("not root: the owner rule is not tested")
		return
	}
	other := write("other", "pw\n", 0o600)
	if err := os.Chown(other, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(other, Secret, MaxSecretFile)
	if !errors.Is(err, ErrFileOwner) || !strings.Contains(err.Error(), "owned by uid 4242") {
		t.Errorf("file of uid 4242: %v", err)
	}
}

// TestPublicCAFile: a CA bundle readable by everyone is fine.
func TestPublicCAFile(t *testing.T) {
	dir := t.TempDir()
	config := edit(t, minimal, "[smtp]\n", "[smtp]\nca_file = \"ca.pem\"\n")
	writeFiles(t, dir, map[string]string{"config.toml": config, "imap.pass": "pw\n", "ca.pem": testCA(t)})
	if err := os.Chmod(filepath.Join(dir, "ca.pem"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(filepath.Join(dir, "config.toml")); err != nil {
		t.Fatalf("Load:\n%v", err)
	}
}

// TestMasterKeyFile: the master key defaults to master.key beside the
// configuration file, and one inside data_dir is refused, also through a
// symbolic link to the data directory.
func TestMasterKeyFile(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"config.toml": minimal, "imap.pass": "pw\n"})
	c, err := Load(filepath.Join(dir, "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "master.key"); c.Server.MasterKeyFile != want {
		t.Errorf("master_key_file = %q, want %q", c.Server.MasterKeyFile, want)
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(data, filepath.Join(dir, "alias")); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"data/master.key", "data/sub/master.key", "alias/master.key", data + "/master.key"} {
		text := "[server]\nmaster_key_file = \"" + key + "\"\n"
		cfg := strings.Replace(minimal, "[server]\n", text, 1)
		if !strings.Contains(cfg, "master_key_file") {
			t.Fatal("minimal has no [server] table")
		}
		cfg = strings.Replace(cfg, text, text+"data_dir = \"data\"\n", 1)
		writeFiles(t, dir, map[string]string{"config.toml": cfg})
		_, err := Load(filepath.Join(dir, "config.toml"))
		if err == nil || !strings.Contains(err.Error(), "server.master_key_file") || !strings.Contains(err.Error(), "inside data_dir") {
			t.Errorf("master_key_file = %q: Load = %v, want it refused as inside data_dir", key, err)
		}
	}
}

// TestInside: a path inside data_dir is found, also through a symbolic
// link; a sibling whose name starts like it is not inside.
func TestInside(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	os.Mkdir(data, 0o700)
	os.Symlink(data, filepath.Join(root, "alias"))
	for _, tc := range []struct {
		path string
		in   bool
	}{
		{data, true}, {filepath.Join(data, "k.snapshot"), true}, {filepath.Join(root, "alias", "k"), true},
		{filepath.Join(data, "sub", "..", "k"), true}, {filepath.Join(root, "data2", "k"), false},
		{filepath.Join(root, "k"), false}, {filepath.Join(data, "..", "k"), false},
	} {
		if got := Inside(tc.path, data); got != tc.in {
			t.Errorf("Inside(%s) = %v, want %v", tc.path, got, tc.in)
		}
	}
}
