package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Encrypted reports whether the store's records are sealed under person keys.
func (db *DB) Encrypted() bool { return db.keys != nil }

// shredChunk is how many key ids one step of finishShreds handles: each
// step is one key-file transaction and, at the end, one short write
// transaction of the data file, so writers never wait long for either.
const shredChunk = 2000

// finishShreds deletes the keys of erased records from the key file (those
// the shred bucket lists: kids, put there by their transaction, and any
// left by a crash or by transactions that deferred them),
// scrubs the key file's free pages once, and then clears the shred bucket.
// A crash at any point leaves the bucket's entries for the next open, which
// does it again: deleting a key twice is harmless, and the scrub comes
// before the entries go.
func (db *DB) finishShreds(kids []string) error {
	if db.keys == nil {
		return nil
	}
	var all []string
	var after []byte
	for {
		var chunk []string
		db.gate.RLock()
		err := db.bolt.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bShred).Cursor()
			k, _ := c.Seek(after)
			if after != nil && bytes.Equal(k, after) {
				k, _ = c.Next()
			}
			for ; k != nil && len(chunk) < shredChunk; k, _ = c.Next() {
				chunk = append(chunk, string(k))
			}
			return nil
		})
		db.gate.RUnlock()
		if err != nil {
			return err
		}
		if len(chunk) == 0 {
			break
		}
		if err := db.keys.drop(chunk); err != nil {
			return fmt.Errorf("erased, but the key file still holds the keys (done on the next open): %w", err)
		}
		all = append(all, chunk...)
		after = []byte(chunk[len(chunk)-1])
	}
	if len(all) == 0 {
		return nil // kids were finished by a concurrent call
	}
	db.keys.mu.Lock()
	_, err := db.keys.scrub()
	db.keys.mu.Unlock()
	if err != nil {
		return fmt.Errorf("erased, but the key file's free pages are not scrubbed (done on the next open): %w", err)
	}
	for len(all) > 0 {
		chunk := all[:min(len(all), shredChunk)]
		all = all[len(chunk):]
		db.gate.RLock()
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bShred)
			for _, kid := range chunk {
				if err := b.Delete([]byte(kid)); err != nil {
					return err
				}
			}
			return nil
		})
		db.gate.RUnlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// FinishShreds completes the crypto-shredding of erasures made in
// transactions that called Tx.DeferShreds: the keys go from the key file,
// its free pages are scrubbed once, and the shred bucket is cleared. It
// returns how many keys were still listed to be shredded.
func (db *DB) FinishShreds() (int, error) {
	n := db.PendingShreds()
	if n == 0 {
		return 0, nil
	}
	return n, db.finishShreds(nil)
}

// PendingShreds counts the keys of erased records that the key file may
// still hold (zero for a plaintext store).
func (db *DB) PendingShreds() int {
	if db.keys == nil {
		return 0
	}
	return db.keyCount(bShred)
}

// keyCount counts the keys of a top-level bucket.
func (db *DB) keyCount(bucket []byte) int {
	n := 0
	db.gate.RLock()
	defer db.gate.RUnlock()
	db.bolt.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucket).Stats().KeyN
		return nil
	})
	return n
}

// Shredded counts the records that read as erased: sealed under a key the
// key file does not hold (a backup restored with a key snapshot made after
// those people were erased). Walks skip them; reads of one return an error
// that is both ErrNotFound and ErrShredded.
func (db *DB) Shredded() int {
	if db.keys == nil {
		return 0
	}
	n := 0
	present := map[string]bool{}
	db.View(func(tx *Tx) error {
		for _, name := range sealedBuckets {
			c := tx.b(name).Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				kid, _, ok := envelope(v)
				if !ok || !validKeyID(kid) {
					continue // damage, reported when it is read
				}
				p, seen := present[kid]
				if !seen {
					_, p, _ = db.keys.get(kid)
					present[kid] = p
				}
				if !p {
					n++
				}
			}
		}
		return nil
	})
	return n
}

// RotateMasterKey re-wraps every key of the key file under a new master
// key and replaces the master key file. The new key is written to
// <master>.new (0600, synced) first; one key-file transaction re-wraps the
// keys and sets the new check value; then <master>.new is renamed over the
// master key file. Open completes a rotation interrupted after the
// key-file transaction. Writers go on meanwhile: a key made during the
// rotation is wrapped under the master key in force when it is written.
// No person key changes, so every data backup still opens with the newest
// key snapshot.
func (db *DB) RotateMasterKey() (RotateInfo, error) {
	var info RotateInfo
	ks := db.keys
	if ks == nil {
		return info, fmt.Errorf("rotate: the store is not encrypted")
	}
	start := time.Now()
	ks.rotMu.Lock()
	defer ks.rotMu.Unlock()
	next := ks.masterPath + ".new"
	os.Remove(next) // a rotation that never committed
	nm, err := newMaster(next)
	if err != nil {
		return info, fmt.Errorf("rotate: %w", err)
	}
	nid := masterID(nm)
	ks.mu.Lock()
	ks.masters[nid] = nm
	masters := make(map[string][]byte, len(ks.masters))
	for id, m := range ks.masters {
		masters[id] = m
	}
	ks.mu.Unlock()
	var oldID string
	err = ks.bolt.Update(func(tx *bolt.Tx) error {
		meta, keys := tx.Bucket(bKMeta), tx.Bucket(bKKeys)
		oldID = string(meta.Get([]byte("master")))
		old := masters[oldID]
		if old == nil {
			return fmt.Errorf("the master key in force is not at hand")
		}
		type kv struct{ k, v []byte }
		var all []kv
		err := keys.ForEach(func(k, v []byte) error {
			key, err := unwrapKey(old, string(k), v)
			if err != nil {
				return err
			}
			w, err := wrapKey(nm, string(k), key)
			all = append(all, kv{bytes.Clone(k), w})
			return err
		})
		if err != nil {
			return err
		}
		for _, e := range all {
			if err := keys.Put(e.k, e.v); err != nil {
				return err
			}
		}
		info.Keys = len(all)
		if err := meta.Put([]byte("check"), masterCheck(nm)); err != nil {
			return err
		}
		return meta.Put([]byte("master"), []byte(nid))
	})
	if err != nil {
		os.Remove(next)
		ks.mu.Lock()
		delete(ks.masters, nid)
		ks.mu.Unlock()
		return info, fmt.Errorf("rotate: %w", err)
	}
	if err := os.Rename(next, ks.masterPath); err != nil {
		return info, fmt.Errorf("rotate: the keys are wrapped under %s, rename it to %s: %w", next, ks.masterPath, err)
	}
	if err := syncDir(filepath.Dir(ks.masterPath)); err != nil {
		return info, fmt.Errorf("rotate: %w", err)
	}
	ks.mu.Lock()
	if oldID != nid {
		delete(ks.masters, oldID)
	}
	ks.mu.Unlock()
	// The old wrapped keys are in free pages of the key file now.
	ks.mu.Lock()
	_, err = ks.scrub()
	ks.mu.Unlock()
	info.MasterID, info.Took = nid, time.Since(start)
	return info, err
}

// BackupKeys writes a snapshot of the key file to path: a new bbolt file
// holding the live keys only, copied from one read transaction, mode 0600,
// synced, put in place when complete. An existing path is ErrExists unless force.
func (db *DB) BackupKeys(path string, force bool) (KeyBackupInfo, error) {
	info := KeyBackupInfo{Path: path}
	ks := db.keys
	if ks == nil {
		return info, fmt.Errorf("key backup: the store is not encrypted")
	}
	if _, err := os.Lstat(path); err == nil && !force {
		return info, fmt.Errorf("key backup: %s: %w (give -force to replace it)", path, ErrExists)
	}
	dir := filepath.Dir(path)
	tmpf, err := os.CreateTemp(dir, ".ticketd-keys-*")
	if err != nil {
		return info, fmt.Errorf("key backup: %w", err)
	}
	tmp := tmpf.Name()
	tmpf.Close()
	defer os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		return info, fmt.Errorf("key backup: %w", err)
	}
	ks.mu.RLock()
	err = ks.bolt.View(func(src *bolt.Tx) error {
		info.MasterID = string(src.Bucket(bKMeta).Get([]byte("master")))
		return dst.Update(func(tx *bolt.Tx) error {
			for _, name := range [][]byte{bKMeta, bKKeys} {
				b, err := tx.CreateBucket(name)
				if err != nil {
					return err
				}
				b.FillPercent = 1
				err = src.Bucket(name).ForEach(func(k, v []byte) error {
					if bytes.Equal(name, bKKeys) {
						info.Keys++
					}
					return b.Put(k, v)
				})
				if err != nil {
					return err
				}
			}
			return nil
		})
	})
	ks.mu.RUnlock()
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o600)
	}
	if err != nil {
		return info, fmt.Errorf("key backup: %w", err)
	}
	if force {
		err = os.Rename(tmp, path)
	} else if err = os.Link(tmp, path); errors.Is(err, os.ErrExist) {
		return info, fmt.Errorf("key backup: %s: %w (give -force to replace it)", path, ErrExists)
	}
	if err != nil {
		return info, fmt.Errorf("key backup: %w", err)
	}
	if fi, err := os.Stat(path); err == nil {
		info.Size = fi.Size()
	}
	return info, syncDir(dir)
}

// RestoreKeys puts the key snapshot in place as the key file of the data
// directory dir (keys.db); an existing key file is ErrExists unless force.
// The snapshot must be a ticketd key file; whether the master key opens
// it is checked by RestoreKeysWith, or by Open.
func RestoreKeys(snapshot, dir string, force bool) error {
	return RestoreKeysWith(snapshot, dir, "", force)
}

// RestoreKeysWith is RestoreKeys that also checks that the master key at
// masterKeyFile ("" for no check) opens the snapshot (ErrMasterKey).
func RestoreKeysWith(snapshot, dir, masterKeyFile string, force bool) error {
	var master []byte
	if masterKeyFile != "" {
		var err error
		if master, err = loadMaster(masterKeyFile); err != nil {
			return fmt.Errorf("restore keys: %w", err)
		}
	}
	src, err := bolt.Open(snapshot, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("restore keys: %s: %w", snapshot, err)
	}
	err = src.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bKMeta)
		if meta == nil || string(meta.Get([]byte("format"))) != keyFormat || tx.Bucket(bKKeys) == nil {
			return fmt.Errorf("not a ticketd key file")
		}
		if master != nil && !bytes.Equal(meta.Get([]byte("check")), masterCheck(master)) {
			return fmt.Errorf("%w: %s does not open it", ErrMasterKey, masterKeyFile)
		}
		return nil
	})
	src.Close()
	if err != nil {
		return fmt.Errorf("restore keys: %s: %w", snapshot, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("restore keys: %w", err)
	}
	dst := filepath.Join(dir, keyFileName)
	if _, err := os.Lstat(dst); err == nil {
		if !force {
			return fmt.Errorf("restore keys: %s: %w (give -force to replace it)", dst, ErrExists)
		}
		old, err := bolt.Open(dst, 0o600, &bolt.Options{Timeout: 300 * time.Millisecond})
		if errors.Is(err, berrors.ErrTimeout) {
			return fmt.Errorf("restore keys: %s: %w: stop the daemon first", dst, ErrLocked)
		}
		if err == nil {
			defer old.Close()
		}
	}
	f, err := os.Open(snapshot)
	if err != nil {
		return fmt.Errorf("restore keys: %w", err)
	}
	defer f.Close()
	tmp := filepath.Join(dir, ".keys-restore.db")
	os.Remove(tmp)
	if err := writeFile(tmp, f, -1); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("restore keys: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("restore keys: %w", err)
	}
	return syncDir(dir)
}

// reserveKeyIDs keeps a new person or quarantine record from taking an id
// whose key the key file already holds. After a data backup is restored
// with a newer key snapshot, the snapshot holds the keys of persons the
// restored data never saw; a new person given such an id would share that
// key, and erasing one of the two would shred both.
func (db *DB) reserveKeyIDs() error {
	var people, quarantine uint64
	if err := db.keys.bolt.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bKKeys).Cursor()
		people, quarantine = lastKeyID(c, 'p'), lastKeyID(c, 'q')
		return nil
	}); err != nil {
		return err
	}
	raise := func(tx *bolt.Tx, name []byte, id uint64) error {
		if b := tx.Bucket(name); b != nil && b.Sequence() < id {
			return b.SetSequence(id)
		}
		return nil
	}
	behind := false
	db.bolt.View(func(tx *bolt.Tx) error {
		behind = tx.Bucket(bPeople).Sequence() < people || tx.Bucket(bQuarantine).Sequence() < quarantine
		return nil
	})
	if !behind {
		return nil
	}
	return db.bolt.Update(func(tx *bolt.Tx) error {
		if err := raise(tx, bPeople, people); err != nil {
			return err
		}
		return raise(tx, bQuarantine, quarantine)
	})
}

// lastKeyID is the highest id among the key ids prefix ‖ be64(id).
func lastKeyID(c *bolt.Cursor, prefix byte) uint64 {
	k, _ := c.Seek([]byte{prefix + 1})
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	if len(k) == 9 && k[0] == prefix {
		return binary.BigEndian.Uint64(k[1:])
	}
	return 0
}
