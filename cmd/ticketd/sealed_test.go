package main

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"testing"

	"ticketd/store"
)

// openBackupCopy opens a backup archive of the store of the configuration
// in dir (data_dir "data", master.key beside the configuration) with that
// store's key file, read-only, in a directory of its own: an archive holds
// no person keys.
func openBackupCopy(t *testing.T, backup, dir string) *store.DB {
	t.Helper()
	copyDir := t.TempDir()
	f, err := os.Open(backup)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(copyDir, filepath.FromSlash(h.Name))
		os.MkdirAll(filepath.Dir(path), 0o700)
		if err := os.WriteFile(path, must(io.ReadAll(tr)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(copyDir, "keys.db"), must(os.ReadFile(filepath.Join(dir, "data", "keys.db"))), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(copyDir, store.Options{ReadOnly: true, MasterKeyFile: filepath.Join(dir, "master.key")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
