package store

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rewriteArchive copies the archive at path, letting edit change each
// entry's header and content (return false to drop it), and adds extra.
func rewriteArchive(t *testing.T, path, dst string, edit func(h *tar.Header, data []byte) ([]byte, bool), extra ...*tar.Header) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	tr, tw := tar.NewReader(f), tar.NewWriter(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		data, keep := edit(h, data)
		if !keep {
			continue
		}
		h.Size = int64(len(data))
		tw.WriteHeader(h)
		tw.Write(data)
	}
	for _, h := range extra {
		tw.WriteHeader(h)
		tw.Write(make([]byte, h.Size))
	}
	tw.Close()
	os.WriteFile(dst, buf.Bytes(), 0o600)
}

func TestBackupArchiveAndRestore(t *testing.T) {
	dirA := t.TempDir()
	db := openTest(t, dirA)
	tk := fill(t, db, "erika@example.org", "a1@example.org")
	big := bytes.Repeat([]byte("anhang "), 20000) // a blob file
	sum := withAttachment(t, db, tk, big)
	small := withAttachment(t, db, tk, []byte("klein"))
	key := bytes.Repeat([]byte{7}, 32)
	os.WriteFile(filepath.Join(dirA, "consent.key"), key, 0o600)
	os.WriteFile(filepath.Join(dirA, "notes.txt"), []byte("not a key"), 0o600)

	out := filepath.Join(t.TempDir(), "backup.tar")
	info, err := db.BackupArchive(out, false)
	if err != nil {
		t.Fatal(err)
	}
	if info.Blobs != 1 || len(info.Keys) != 1 || info.Keys[0] != "consent.key" || info.Size == 0 {
		t.Errorf("backup info = %+v", info)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file: %v %v", fi.Mode(), err)
	}
	// An existing file is never replaced without force.
	before, _ := os.ReadFile(out)
	if _, err := db.BackupArchive(out, false); !errors.Is(err, ErrExists) {
		t.Errorf("second backup to the same file: %v", err)
	}
	if after, _ := os.ReadFile(out); !bytes.Equal(after, before) {
		t.Error("the refused backup changed the file")
	}
	if _, err := db.BackupArchive(out, true); err != nil {
		t.Errorf("backup with force: %v", err)
	}
	// The live store is locked: a restore over it is refused, even with force.
	if _, err := Restore(out, dirA, true); !errors.Is(err, ErrLocked) {
		t.Errorf("restore over the open store: %v", err)
	}
	// The archive holds no person keys: they come from a key snapshot.
	snap := filepath.Join(t.TempDir(), "keys.snap")
	if _, err := db.BackupKeys(snap, false); err != nil {
		t.Fatal(err)
	}
	file := db.Blobs.name(sum)
	db.Close()

	// A new machine: the copy is the same store, keys and blobs included.
	dirB := filepath.Join(t.TempDir(), "data")
	rinfo, err := Restore(out, dirB, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := RestoreKeys(snap, dirB, false); err != nil {
		t.Fatal(err)
	}
	copyFile(t, testMaster(dirA), testMaster(dirB))
	if rinfo.Format != BackupFormatSealed || rinfo.Blobs != 1 || len(rinfo.Keys) != 1 || rinfo.AuditEvents == 0 || rinfo.Replaced != "" {
		t.Errorf("restore info = %+v", rinfo)
	}
	for path, mode := range map[string]os.FileMode{dirB: 0o700, filepath.Join(dirB, "ticketd.db"): 0o600,
		filepath.Join(dirB, "consent.key"): 0o600, filepath.Join(dirB, "blobs", file[:2], file): 0o600, filepath.Join(dirB, "blobs", file[:2]): 0o700} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v, mode %v, want %v", path, err, fi.Mode().Perm(), mode)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(dirB, "consent.key")); !bytes.Equal(got, key) {
		t.Error("consent.key differs")
	}
	if _, err := os.Stat(filepath.Join(dirB, "notes.txt")); err == nil {
		t.Error("a file that is no key was copied")
	}
	ents, _ := os.ReadDir(dirB)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".restore") {
			t.Errorf("left over: %s", e.Name())
		}
	}
	dbB := openTest(t, dirB)
	if !blobExists(dbB, sum) || !blobExists(dbB, small) {
		t.Error("a blob is missing in the restored store")
	}
	dbB.View(func(tx *Tx) error {
		if m, err := tx.TicketMessages(tk.Number); err != nil || len(m) != 3 {
			t.Errorf("messages: %d %v", len(m), err)
		}
		var last *AuditEvent
		tx.AuditEvents(func(e *AuditEvent) bool { last = e; return true })
		if last.Action != "store.restored" || last.Actor != "admin" {
			t.Errorf("last event = %+v", last)
		}
		return nil
	})
	if _, err := dbB.VerifyAudit(); err != nil {
		t.Error(err)
	}
	dbB.Close()

	// A store is there now: refused without force; with force moved aside.
	if _, err := Restore(out, dirB, false); !errors.Is(err, ErrExists) {
		t.Errorf("restore over a store: %v", err)
	}
	rinfo, err = Restore(out, dirB, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(rinfo.Replaced, "ticketd.db")); err != nil || filepath.Dir(rinfo.Replaced) != dirB {
		t.Errorf("the replaced store is not in %q: %v", rinfo.Replaced, err)
	}

	// A damaged or foreign archive restores nothing.
	dirC := filepath.Join(t.TempDir(), "data")
	bad := filepath.Join(t.TempDir(), "bad.tar")
	for name, tc := range map[string]struct {
		edit  func(h *tar.Header, data []byte) ([]byte, bool)
		extra []*tar.Header
		want  string
	}{
		"changed byte": {edit: func(h *tar.Header, d []byte) ([]byte, bool) {
			if h.Name == "ticketd.db" {
				d[len(d)/2] ^= 1
			}
			return d, true
		}, want: "differs from the manifest"},
		"missing key": {edit: func(h *tar.Header, d []byte) ([]byte, bool) { return d, h.Name != "consent.key" }, want: "consent.key is missing"},
		"escape":      {edit: func(h *tar.Header, d []byte) ([]byte, bool) { return d, true }, extra: []*tar.Header{{Name: "../evil.key", Mode: 0o600, Size: 3, Typeflag: tar.TypeReg}}, want: "not part of a ticketd backup"},
		"symlink":     {edit: func(h *tar.Header, d []byte) ([]byte, bool) { return d, true }, extra: []*tar.Header{{Name: "x.key", Linkname: "/etc/passwd", Typeflag: tar.TypeSymlink}}, want: "not a regular file"},
		"blob name": {edit: func(h *tar.Header, d []byte) ([]byte, bool) {
			if strings.HasPrefix(h.Name, "blobs/") {
				d = append(d, '!')
			}
			return d, true
		}, want: "differs from the manifest"}, // the names of sealed blobs tell nothing of their content
		"no manifest": {edit: func(h *tar.Header, d []byte) ([]byte, bool) { return d, h.Name != "MANIFEST.json" }, want: "no MANIFEST.json"},
	} {
		rewriteArchive(t, out, bad, tc.edit, tc.extra...)
		if _, err := Restore(bad, dirC, false); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
		if ok, _ := storeExists(dirC); ok {
			t.Fatalf("%s: a refused restore left a store", name)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dirC), "evil.key")); err == nil {
		t.Error("an entry escaped the data directory")
	}
}

// TestRestoreVerifiesTheAuditTrail: a copy whose audit trail is broken is not restored.
func TestRestoreVerifiesTheAuditTrail(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir)
	fill(t, db, "erika@example.org", "a1@example.org")
	db.Close()
	path := filepath.Join(dir, "ticketd.db")
	raw, _ := os.ReadFile(path)
	i := bytes.Index(raw, []byte(`"action":"ticket.created"`))
	raw[i+len(`"action":"ticket.c`)] = 'R'
	os.WriteFile(path, raw, 0o600)
	db = openTest(t, dir)
	out := filepath.Join(t.TempDir(), "b.tar")
	if _, err := db.BackupArchive(out, false); err != nil {
		t.Fatal(err)
	}
	db.Close()
	target := filepath.Join(t.TempDir(), "data")
	if _, err := Restore(out, target, false); err == nil || !strings.Contains(err.Error(), "audit verify of the copy failed") {
		t.Fatalf("restore of a copy with a broken trail: %v", err)
	}
	if ok, _ := storeExists(target); ok {
		t.Error("the refused restore left a store")
	}
}

// TestRestoreBareDatabase: an older backup (the database file alone) is restored with a warning about the keys.
func TestRestoreBareDatabase(t *testing.T) {
	db := openTest(t, t.TempDir())
	fill(t, db, "erika@example.org", "a1@example.org")
	out := filepath.Join(t.TempDir(), "old.db")
	if _, err := db.Backup(out); err != nil {
		t.Fatal(err)
	}
	db.Close()
	info, err := Restore(out, filepath.Join(t.TempDir(), "data"), false)
	if err != nil || info.Format != "database" || len(info.Warnings) != 1 || !strings.Contains(info.Warnings[0], "consent.key") {
		t.Errorf("restore of a bare database: %+v %v", info, err)
	}
	if _, err := Restore(os.Args[0], filepath.Join(t.TempDir(), "data"), false); err == nil || !strings.Contains(err.Error(), "neither") {
		t.Errorf("restore of something else: %v", err)
	}
}

// TestBackupSkipsABlobBeingShredded: a blob file whose content no longer
// matches its name (being overwritten by an erasure after the snapshot) is
// left out and reported, and the copy still restores.
func TestBackupSkipsABlobBeingShredded(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir)
	tk := fill(t, db, "erika@example.org", "a1@example.org")
	sum := withAttachment(t, db, tk, bytes.Repeat([]byte("x"), 100<<10))
	os.WriteFile(db.Blobs.path(db.Blobs.name(sum)), make([]byte, 100<<10), 0o600)
	out := filepath.Join(t.TempDir(), "b.tar")
	info, err := db.BackupArchive(out, false)
	if err != nil || info.Blobs != 0 || len(info.MissingBlobs) != 1 || info.MissingBlobs[0] != db.Blobs.name(sum) {
		t.Fatalf("backup: %+v %v", info, err)
	}
	db.Close()
	rinfo, err := Restore(out, filepath.Join(t.TempDir(), "data"), false)
	if err != nil || len(rinfo.Warnings) != 1 || !strings.Contains(rinfo.Warnings[0], "1 blob files were already missing") {
		t.Errorf("restore: %+v %v", rinfo, err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
