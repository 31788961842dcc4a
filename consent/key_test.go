package consent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadKeyRefusesAnExposedKey: a consent key that group or others can
// read or change is refused with what to do about it, and left as it is;
// so is one that is not a regular file or too long.
func TestLoadKeyRefusesAnExposedKey(t *testing.T) {
	for _, mode := range []os.FileMode{0o640, 0o604, 0o620} {
		dir := t.TempDir()
		if _, err := LoadKey(dir); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, keyFile)
		before, _ := os.ReadFile(path)
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadKey(dir)
		if !errors.Is(err, ErrKeyExposed) || !strings.Contains(err.Error(), path) ||
			!strings.Contains(err.Error(), "remove it to make a new key") {
			t.Errorf("mode %04o: LoadKey = %v", mode, err)
		}
		fi, _ := os.Stat(path)
		after, _ := os.ReadFile(path)
		if fi.Mode().Perm() != mode || string(after) != string(before) {
			t.Errorf("mode %04o: the key file was changed (now %04o)", mode, fi.Mode().Perm())
		}
	}

	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, keyFile), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory as key: %v", err)
	}
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, keyFile), make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(dir); err == nil || !strings.Contains(err.Error(), "4096 bytes") {
		t.Errorf("a 4096-byte key: %v", err)
	}
}
