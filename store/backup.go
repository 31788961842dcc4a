package store

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// A backup archive is one uncompressed tar file with
//
//	ticketd.db       a compacted copy of the database (live records only)
//	<name>.key       every key file of the data directory (consent.key:
//	                 without it no consent link of the copy verifies;
//	                 agent.key: without it no agent's reply address does)
//	blobs/ab/abcd…   every blob file the copy references
//	MANIFEST.json    BackupManifest: format, time, audit head, and the size
//	                 and SHA-256 of every file above
//
// It never holds the person-key file keys.db: an archive of an encrypted
// store (BackupFormatSealed, its manifest's Note says so) is read with a key
// snapshot (BackupKeys, RestoreKeys) and the master key, so that erasing a
// person's key reaches every archive made before (see doc.go).
//
// The link-signing keys are in it on purpose: a copy whose consent links no longer work
// is no backup, and the key signs links only, it encrypts nothing, so it
// adds no access to data a copy does not already give. Keep backups as
// protected as the data directory.

// BackupFormat names the layout of a backup archive of a plaintext store;
// BackupFormatSealed that of an encrypted one, whose blob files are named
// by a keyed hash, not by their content's SHA-256. Restore reads both.
const (
	BackupFormat       = "ticketd-backup/1"
	BackupFormatSealed = "ticketd-backup/2"
)

// sealedNote is the manifest's Note of an archive of an encrypted store.
const sealedNote = "the records and blobs of this archive are encrypted; it holds no person keys: " +
	"reading it needs a key snapshot (ticketd keys backup) and the master key"

// ErrExists is returned by BackupArchive and Restore when they would replace something without force.
var ErrExists = errors.New("store: already exists")

// BackupManifest is MANIFEST.json of a backup archive.
type BackupManifest struct {
	Format    string    `json:"format"`
	CreatedAt time.Time `json:"created_at"`
	Instance  string    `json:"instance"`
	// Note says what an archive of an encrypted store needs to be read.
	Note      string       `json:"note,omitempty"`
	AuditHead string       `json:"audit_head"` // the hash of the copy's last audit event
	Files     []BackupFile `json:"files"`
	// MissingBlobs are blob files the copy references that were gone when
	// they were copied (erased meanwhile, or lost before).
	MissingBlobs []string `json:"missing_blobs,omitempty"`
}

// BackupFile is one file of a backup archive.
type BackupFile struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// BackupInfo says what a backup archive holds.
type BackupInfo struct {
	Path         string   `json:"path"`
	Size         int64    `json:"size"`     // of the archive
	Database     int64    `json:"database"` // bytes of the compacted database
	Keys         []string `json:"keys"`
	Blobs        int      `json:"blobs"`
	MissingBlobs []string `json:"missing_blobs,omitempty"`
}

var (
	keyName  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*\.key$`)
	blobName = regexp.MustCompile(`^blobs/([0-9a-f]{2})/([0-9a-f]{64})$`)
)

const (
	dbName       = "ticketd.db"
	manifestName = "MANIFEST.json"
)

// BackupArchive writes a backup archive of the store to path (see
// BackupFormat): the database compacted from one read transaction (writers
// go on meanwhile), the key files and the blob files it references. It is
// written next to path and put in place when complete; an existing path is
// an error (ErrExists) unless force.
func (db *DB) BackupArchive(path string, force bool) (*BackupInfo, error) {
	if _, err := os.Lstat(path); err == nil && !force {
		return nil, fmt.Errorf("backup: %s: %w (give -force to replace it)", path, ErrExists)
	}
	dir := filepath.Dir(path)
	work, err := os.MkdirTemp(dir, ".ticketd-backup-")
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(work)
	copyPath := filepath.Join(work, dbName)
	dbSize, err := db.Backup(copyPath)
	if err != nil {
		return nil, err
	}
	man := &BackupManifest{Format: BackupFormat, CreatedAt: db.now().UTC()}
	if db.Encrypted() {
		man.Format, man.Note = BackupFormatSealed, sealedNote
	}
	var sums []string
	copyDB, err := bolt.Open(copyPath, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	err = copyDB.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		man.Instance, man.AuditHead = string(meta.Get(keyInstance)), string(meta.Get(keyAuditHead))
		sums = fileBlobs(tx)
		return nil
	})
	copyDB.Close()
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}

	out, err := os.CreateTemp(dir, ".ticketd-backup-*.tar")
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	tmp := out.Name()
	defer os.Remove(tmp)
	info := &BackupInfo{Path: path, Database: dbSize, Keys: []string{}}
	tw := tar.NewWriter(out)
	add := func(name, src string) (bool, error) {
		f, err := os.Open(src)
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return false, err
		}
		if !fi.Mode().IsRegular() {
			return false, fmt.Errorf("%s is not a regular file", src)
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: fi.Size(), ModTime: man.CreatedAt, Typeflag: tar.TypeReg}); err != nil {
			return false, err
		}
		h := sha256.New()
		if _, err := io.CopyN(io.MultiWriter(tw, h), f, fi.Size()); err != nil {
			return false, fmt.Errorf("copy %s: %w", src, err)
		}
		man.Files = append(man.Files, BackupFile{Path: name, Size: fi.Size(), SHA256: hex.EncodeToString(h.Sum(nil))})
		return true, nil
	}
	err = func() error {
		if _, err := add(dbName, copyPath); err != nil {
			return err
		}
		keys, err := keyFiles(db.dir)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if ok, err := add(k, filepath.Join(db.dir, k)); err != nil {
				return err
			} else if ok {
				info.Keys = append(info.Keys, k)
			}
		}
		for _, sum := range sums {
			// A blob erased after the snapshot may be overwritten while it is
			// read: it goes into the archive only as a copy whose content
			// still matches its name.
			tmp := filepath.Join(work, "blob")
			ok, err := copyBlob(db.Blobs.path(sum), tmp, sum, db.Encrypted())
			if err == nil && ok {
				ok, err = add("blobs/"+sum[:2]+"/"+sum, tmp)
			}
			os.Remove(tmp)
			if err != nil {
				return err
			}
			if ok {
				info.Blobs++
			} else {
				man.MissingBlobs = append(man.MissingBlobs, sum)
			}
		}
		data, err := json.MarshalIndent(man, "", "  ")
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: manifestName, Mode: 0o600, Size: int64(len(data)), ModTime: man.CreatedAt, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
		if err := tw.Close(); err != nil {
			return err
		}
		return out.Sync()
	}()
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if force {
		err = os.Rename(tmp, path)
	} else if err = os.Link(tmp, path); errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("backup: %s: %w (give -force to replace it)", path, ErrExists)
	}
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if fi, err := os.Stat(path); err == nil {
		info.Size = fi.Size()
	}
	info.MissingBlobs = man.MissingBlobs
	return info, syncDir(dir)
}

// copyBlob copies the blob file src to dst and reports whether it was there
// and its content's SHA-256 is sum. The content of a sealed blob file
// cannot be checked without its key; the file is shredded from its start
// on, so a header that is still the same once the copy is made shows the
// copy complete.
func copyBlob(src, dst, sum string, sealed bool) (bool, error) {
	f, err := os.Open(src)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	if sealed {
		hdr := make([]byte, blobHdrSize)
		if _, err := f.ReadAt(hdr, 0); err != nil || string(hdr[:4]) != blobMagic {
			return false, nil
		}
		if err := writeFile(dst, f, -1); err != nil {
			return false, err
		}
		again := make([]byte, blobHdrSize)
		_, err := f.ReadAt(again, 0)
		return err == nil && bytes.Equal(hdr, again), nil
	}
	h := sha256.New()
	if err := writeFile(dst, io.TeeReader(f, h), -1); err != nil {
		return false, err
	}
	return hex.EncodeToString(h.Sum(nil)) == sum, nil
}

// fileBlobs are the referenced blobs that are files (not in the blobs bucket), sorted.
func fileBlobs(tx *bolt.Tx) []string {
	set := map[string]bool{}
	inline := tx.Bucket(bBlobs)
	c := tx.Bucket(bIdxBlobRef).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if len(k) < 64 {
			continue
		}
		sum := string(k[:64])
		if _, err := hex.DecodeString(sum); err != nil || set[sum] || inline.Get([]byte(sum)) != nil {
			continue
		}
		set[sum] = true
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// keyFiles are the names of the key files (*.key, regular files) of a data directory.
func keyFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.Type().IsRegular() && keyName.MatchString(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// RestoreInfo says what Restore did.
type RestoreInfo struct {
	Format      string    `json:"format"` // BackupFormat, or "database" for a bare database file
	CreatedAt   time.Time `json:"created_at,omitzero"`
	AuditEvents uint64    `json:"audit_events"` // verified in the copy before it was put in place
	Keys        []string  `json:"keys"`
	Blobs       int       `json:"blobs"`
	// MissingBlobs are blob files the copy references that it does not hold.
	MissingBlobs []string `json:"missing_blobs,omitempty"`
	// Replaced is where the store that was there before went (with force).
	Replaced string `json:"replaced,omitempty"`
	// Warnings are what the admin must do by hand (a bare database file has no keys).
	Warnings []string `json:"warnings"`
}

// Restore puts the backup from (a backup archive, or a bare database file
// as Backup writes it) in place as the store of the data directory dir.
// It refuses while a process holds the store's lock (ErrLocked), and when
// a store exists unless force (ErrExists); then the existing database, keys
// and blobs are moved aside into dir/replaced-<time>/. The copy is
// unpacked into dir first (files 0600, directories 0700), checked against
// its manifest (size and SHA-256 of each file, each blob's name its
// content's hash) and its audit trail verified; only then is it renamed
// into place, the database last. The restore is an audit event in the
// restored store ("store.restored").
//
// The key file keys.db of an encrypted store is no part of an archive and
// is left where it is: a key file already in dir (the newest keys there
// are) stays and reads the restored copy; otherwise RestoreKeys puts a key
// snapshot in place before the store is opened. Records whose keys that
// key file does not hold read as erased (Shredded).
func Restore(from, dir string, force bool) (*RestoreInfo, error) {
	src, err := os.Open(from)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	defer src.Close()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	live := filepath.Join(dir, dbName)
	if _, err := os.Stat(live); err == nil {
		// Hold the lock of the store being replaced, so no daemon starts on it meanwhile.
		old, err := bolt.Open(live, 0o600, &bolt.Options{Timeout: 300 * time.Millisecond})
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("restore: %s: %w: stop the daemon first", live, ErrLocked)
		}
		if err != nil {
			return nil, fmt.Errorf("restore: %s: %w", live, err)
		}
		defer old.Close()
	}
	exists, err := storeExists(dir)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if exists && !force {
		return nil, fmt.Errorf("restore: %s holds a store (database, keys or blobs): %w; give -force to move it aside and restore over it", dir, ErrExists)
	}
	stage, err := os.MkdirTemp(dir, ".restore-")
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	defer os.RemoveAll(stage)
	info := &RestoreInfo{Keys: []string{}, Warnings: []string{}}
	if err := unpack(src, stage, info); err != nil {
		return nil, fmt.Errorf("restore %s: %w", from, err)
	}
	if err := checkCopy(stage, info); err != nil {
		return nil, fmt.Errorf("restore %s: %w", from, err)
	}
	if exists {
		aside := filepath.Join(dir, "replaced-"+time.Now().UTC().Format("20060102T150405.000000000Z"))
		if err := moveStore(dir, aside, true); err != nil {
			return nil, fmt.Errorf("restore: move the old store aside: %w", err)
		}
		info.Replaced = aside
	}
	if err := moveStore(stage, dir, false); err != nil {
		return info, fmt.Errorf("restore: %w%s", err, replacedNote(info))
	}
	if err := syncDir(dir); err != nil {
		return info, fmt.Errorf("restore: %w%s", err, replacedNote(info))
	}
	db, err := Open(dir, Options{raw: true})
	if err != nil {
		return info, fmt.Errorf("restore: open the restored store: %w", err)
	}
	defer db.Close()
	err = db.Update(func(tx *Tx) error {
		return tx.audit(storeRestored(info, ActorAdmin))
	})
	return info, err
}

// unpack reads a backup archive (or a bare database file) into stage.
func unpack(src *os.File, stage string, info *RestoreInfo) error {
	head := make([]byte, 512)
	n, _ := io.ReadFull(src, head)
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if _, err := tar.NewReader(bytes.NewReader(head[:n])).Next(); err != nil {
		// Not an archive: a bare database file (an older backup) opens as one.
		if err := writeFile(filepath.Join(stage, dbName), src, -1); err != nil {
			return err
		}
		if err := checkBolt(filepath.Join(stage, dbName)); err != nil {
			return fmt.Errorf("neither a ticketd backup archive nor a database file: %w", err)
		}
		info.Format = "database"
		info.Warnings = append(info.Warnings, "the backup is a bare database file: it holds no keys and no blob files; "+
			"copy consent.key (and the blobs directory) of the old data directory, or the consent links of the copy do not verify")
		return nil
	}
	tr := tar.NewReader(src)
	seen := map[string]BackupFile{}
	var man *BackupManifest
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		name := h.Name
		if h.Typeflag != tar.TypeReg {
			return fmt.Errorf("archive entry %q: not a regular file", name)
		}
		if _, dup := seen[name]; dup || name == manifestName && man != nil {
			return fmt.Errorf("archive entry %q: twice", name)
		}
		if name == manifestName {
			data, err := io.ReadAll(io.LimitReader(tr, 64<<20))
			if err != nil {
				return err
			}
			man = &BackupManifest{}
			if err := json.Unmarshal(data, man); err != nil {
				return fmt.Errorf("%s: %w", manifestName, err)
			}
			continue
		}
		if name != dbName && !keyName.MatchString(name) && !blobName.MatchString(name) {
			return fmt.Errorf("archive entry %q: not part of a ticketd backup", name)
		}
		path := filepath.Join(stage, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		h256 := sha256.New()
		if err := writeFile(path, io.TeeReader(tr, h256), h.Size); err != nil {
			return err
		}
		f := BackupFile{Path: name, Size: h.Size, SHA256: hex.EncodeToString(h256.Sum(nil))}
		if m := blobName.FindStringSubmatch(name); m != nil && m[1] != m[2][:2] {
			return fmt.Errorf("blob %s: not in its directory", name)
		}
		seen[name] = f
	}
	if man == nil {
		return fmt.Errorf("the archive has no %s", manifestName)
	}
	if man.Format != BackupFormat && man.Format != BackupFormatSealed {
		return fmt.Errorf("backup format %q, this ticketd knows %q and %q", man.Format, BackupFormat, BackupFormatSealed)
	}
	if man.Format == BackupFormat {
		// A plaintext store's blob files are named by their content's SHA-256.
		for name, f := range seen {
			if m := blobName.FindStringSubmatch(name); m != nil && m[2] != f.SHA256 {
				return fmt.Errorf("blob %s: its content does not match its name", name)
			}
		}
	}
	for _, f := range man.Files {
		got, ok := seen[f.Path]
		switch {
		case !ok:
			return fmt.Errorf("%s is missing from the archive", f.Path)
		case got != f:
			return fmt.Errorf("%s: size or SHA-256 differs from the manifest: the archive is damaged", f.Path)
		}
		delete(seen, f.Path)
		switch {
		case keyName.MatchString(f.Path):
			info.Keys = append(info.Keys, f.Path)
		case f.Path != dbName:
			info.Blobs++
		}
	}
	for name := range seen {
		return fmt.Errorf("%s is not in the manifest", name)
	}
	if _, err := os.Stat(filepath.Join(stage, dbName)); err != nil {
		return fmt.Errorf("the archive holds no %s", dbName)
	}
	info.Format, info.CreatedAt, info.MissingBlobs = man.Format, man.CreatedAt, man.MissingBlobs
	return nil
}

// writeFile writes r to a new file (mode 0600) and syncs it; size >= 0 must match.
func writeFile(path string, r io.Reader, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, r)
	if err == nil && size >= 0 && n != size {
		err = fmt.Errorf("%s: %d bytes, want %d", path, n, size)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func checkBolt(path string) error {
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return err
	}
	return b.Close()
}

// checkCopy verifies the unpacked database: it opens, its audit trail is
// intact, and the blob files it references are there.
func checkCopy(stage string, info *RestoreInfo) error {
	if err := checkBolt(filepath.Join(stage, dbName)); err != nil {
		return fmt.Errorf("the database does not open: %w", err)
	}
	db, err := Open(stage, Options{ReadOnly: true, raw: true})
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := db.VerifyAudit()
	if err != nil {
		return fmt.Errorf("audit verify of the copy failed after %d good events, nothing was restored: %w", n, err)
	}
	info.AuditEvents = n
	if info.Format == "database" {
		return nil
	}
	var missing []string
	err = db.bolt.View(func(tx *bolt.Tx) error {
		for _, sum := range fileBlobs(tx) {
			if _, err := os.Stat(db.Blobs.path(sum)); err != nil && !slices.Contains(info.MissingBlobs, sum) {
				missing = append(missing, sum)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("%d blob files the database references are not in the archive (first %s)", len(missing), missing[0])
	}
	if len(info.MissingBlobs) > 0 {
		info.Warnings = append(info.Warnings, fmt.Sprintf("%d blob files were already missing when the backup was made", len(info.MissingBlobs)))
	}
	return nil
}

// replacedNote names where the store that was there went, for an error
// after it was moved aside.
func replacedNote(info *RestoreInfo) string {
	if info.Replaced == "" {
		return ""
	}
	return "; the store that was there is in " + info.Replaced
}

// moveStore renames the database, the key files and the blobs directory
// from one directory to another (made with mode 0700 when aside), the
// database last when putting a store in place, first when moving one aside.
func moveStore(from, to string, aside bool) error {
	if aside {
		if err := os.Mkdir(to, 0o700); err != nil {
			return err
		}
	}
	keys, err := keyFiles(from)
	if err != nil {
		return err
	}
	names := append([]string{"blobs"}, keys...)

	if aside {
		names = append([]string{dbName}, names...)
	} else {
		names = append(names, dbName)
	}
	for _, name := range names {
		src := filepath.Join(from, name)
		if _, err := os.Lstat(src); errors.Is(err, os.ErrNotExist) {
			continue
		}
		dst := filepath.Join(to, name)
		if name == "blobs" && !aside {
			// What is left holds no store (storeExists): at most an empty blobs/tmp.
			if err := os.RemoveAll(dst); err != nil {
				return err
			}
		}
		if err := os.Rename(src, dst); err != nil {
			return err
		}
	}
	return nil
}

// storeExists reports whether dir holds any part of a store: the database,
// a key file, or a blobs directory with more than its tmp directory.
func storeExists(dir string) (bool, error) {
	if _, err := os.Lstat(filepath.Join(dir, dbName)); err == nil {
		return true, nil
	}

	keys, err := keyFiles(dir)
	if err != nil || len(keys) > 0 {
		return len(keys) > 0, err
	}
	ents, err := os.ReadDir(filepath.Join(dir, "blobs"))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, e := range ents {
		if e.Name() != "tmp" {
			return true, nil
		}
		if sub, err := os.ReadDir(filepath.Join(dir, "blobs", "tmp")); err != nil || len(sub) > 0 {
			return true, err
		}
	}
	return false, nil
}
