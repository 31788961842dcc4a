package store

import (
	"bytes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// The key file (keys.db, a small bbolt file of its own, mode 0600):
//
//	meta   "format" -> keyFormat; "check" -> HMAC-SHA256(master, "ticketd key check");
//	       "master" -> the id of the master key the keys are wrapped under
//	keys   key id -> nonce (12) ‖ AES-256-GCM(master, key), key id as additional data
const keyFormat = "ticketd-keys/1"

const (
	masterKeySize = 32
	keyFileName   = "keys.db"
)

var (
	bKMeta = []byte("meta")
	bKKeys = []byte("keys")
)

func masterCheck(m []byte) []byte { return hmacSum(m, []byte("ticketd key check")) }
func masterID(m []byte) string {
	return hex.EncodeToString(hmacSum(m, []byte("ticketd master id"))[:8])
}

// keyStore is the open key file with its cache of unwrapped keys.
type keyStore struct {
	path       string
	masterPath string
	bolt       *bolt.DB

	// mu is held shared while a key is read or written and exclusively
	// while keys are deleted and the file's free pages overwritten, and
	// while a master key is dropped after a rotation.
	mu      sync.RWMutex
	masters map[string][]byte // master id -> master key
	cache   sync.Map          // key id -> []byte
	aeadMu  sync.Mutex
	aeads   map[string]cipher.AEAD // key id -> the cipher of that key; at most maxAEADs
	rotMu   sync.Mutex             // one rotation at a time

	lookupKey []byte
	// lookups are HMAC-SHA256 states keyed with lookupKey, kept for reuse:
	// making one costs more than the lookup (every mail needs several).
	lookups  sync.Pool
	blob     *blobCrypt
	readOnly bool
}

// loadMaster reads the master key file: a regular file of exactly 32
// bytes that neither group nor others can read.
func loadMaster(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("master key %s: not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("master key %s: mode %04o, group or others can read it; make it 0600 (chmod 600) and keep it secret",
			path, fi.Mode().Perm())
	}
	if fi.Size() != masterKeySize {
		return nil, fmt.Errorf("master key %s: %d bytes, want %d: the file is damaged or not a ticketd master key; restore it from where you keep it",
			path, fi.Size(), masterKeySize)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) != masterKeySize {
		return nil, fmt.Errorf("master key %s: %d bytes, want %d", path, len(data), masterKeySize)
	}
	return data, nil
}

// writeSecret writes data to a new file at path (mode 0600, O_EXCL) and
// syncs it and its directory.
func writeSecret(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return err
	}
	return syncDir(filepath.Dir(path))
}

func newMaster(path string) ([]byte, error) {
	m := make([]byte, masterKeySize)
	rand.Read(m)
	if err := writeSecret(path, m); err != nil {
		return nil, fmt.Errorf("create master key %s: %w", path, err)
	}
	return m, nil
}

func wrapKey(master []byte, kid string, key []byte) ([]byte, error) {
	g, err := newGCM(master)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, 12)
	rand.Read(nonce)
	return g.Seal(nonce, nonce, key, []byte(kid)), nil
}

func unwrapKey(master []byte, kid string, w []byte) ([]byte, error) {
	if len(w) != 12+32+16 {
		return nil, fmt.Errorf("key file: key %x: %w", kid, errCorrupt)
	}
	g, err := newGCM(master)
	if err != nil {
		return nil, err
	}
	k, err := g.Open(nil, w[:12], w[12:], []byte(kid))
	if err != nil {
		return nil, fmt.Errorf("key file: key %x: %w", kid, errCorrupt)
	}
	return k, nil
}

// openKeyStore opens the key file at path with the master key at
// masterPath. When the key file does not exist and create is set, it is
// made (and the master key too, when it does not exist either); without
// create, a missing key file is an error. Nothing is written when the
// master key is missing or wrong.
func openKeyStore(path, masterPath string, create, readOnly bool, timeout time.Duration, log *slog.Logger) (*keyStore, bool, error) {
	if readOnly {
		create = false
	}
	_, err := os.Stat(path)
	made := false
	var master []byte
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if !create {
			return nil, false, fmt.Errorf("key file %s: %w: the store is encrypted; restore the newest key snapshot (ticketd restore -keys) before starting", path, fs.ErrNotExist)
		}
		master, err = loadMaster(masterPath)
		if errors.Is(err, fs.ErrNotExist) {
			master, err = newMaster(masterPath)
			if errors.Is(err, fs.ErrExist) {
				master, err = loadMaster(masterPath) // another process made it first
			}
		}
		if err != nil {
			return nil, false, err
		}
		made = true
	case err != nil:
		return nil, false, fmt.Errorf("key file %s: %w", path, err)
	default:
		master, err = loadMaster(masterPath)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, false, fmt.Errorf("master key %s: %w: the key file %s needs it; restore that master key file from where you keep it "+
				"(a new one would open nothing: every record would be lost)", masterPath, err, path)
		}
		if err != nil {
			return nil, false, err
		}
	}
	if !readOnly {
		if err := tighten(path, 0o600, log); err != nil {
			return nil, false, err
		}
	}
	kb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, FreelistType: bolt.FreelistMapType, ReadOnly: readOnly})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, false, fmt.Errorf("open %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, false, fmt.Errorf("open key file %s: %w", path, err)
	}
	ks := &keyStore{path: path, masterPath: masterPath, bolt: kb, masters: map[string][]byte{}, readOnly: readOnly}
	if made {
		err = ks.init(master)
	} else {
		master, err = ks.check(master)
	}
	if err != nil {
		kb.Close()
		return nil, false, err
	}
	ks.masters[masterID(master)] = master
	if !made && !readOnly {
		// A .new left by a rotation that never committed opens nothing.
		if _, err := os.Stat(masterPath + ".new"); err == nil {
			os.Remove(masterPath + ".new")
		}
	}
	for _, kid := range []string{keySystem, keyLookup, keyBlob} {
		if _, ok, err := ks.get(kid); err != nil || !ok {
			kb.Close()
			if err == nil {
				err = fmt.Errorf("key file %s: the system key %s is missing: %w", path, kid, errCorrupt)
			}
			return nil, false, err
		}
	}
	lk, _, _ := ks.get(keyLookup)
	bk, _, _ := ks.get(keyBlob)
	ks.lookupKey = lk
	ks.blob = newBlobCrypt(bk)
	return ks, made, nil
}

// init makes the buckets, the check value and the system keys of a new key file.
func (ks *keyStore) init(master []byte) error {
	return ks.bolt.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bKMeta)
		if err != nil {
			return err
		}
		keys, err := tx.CreateBucketIfNotExists(bKKeys)
		if err != nil {
			return err
		}
		for k, v := range map[string][]byte{"format": []byte(keyFormat), "check": masterCheck(master), "master": []byte(masterID(master))} {
			if err := meta.Put([]byte(k), v); err != nil {
				return err
			}
		}
		for _, kid := range []string{keySystem, keyLookup, keyBlob} {
			if keys.Get([]byte(kid)) != nil {
				continue
			}
			k := make([]byte, 32)
			rand.Read(k)
			w, err := wrapKey(master, kid, k)
			if err != nil {
				return err
			}
			if err := keys.Put([]byte(kid), w); err != nil {
				return err
			}
		}
		return nil
	})
}

// check confirms that master opens the key file. A master that does not,
// with a <master>.new that does, is an interrupted rotation: the rename is
// completed. It returns the master key in force.
func (ks *keyStore) check(master []byte) ([]byte, error) {
	var want []byte
	err := ks.bolt.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bKMeta)
		if meta == nil || string(meta.Get([]byte("format"))) != keyFormat || tx.Bucket(bKKeys) == nil {
			return fmt.Errorf("key file %s: not a ticketd key file (%w)", ks.path, errCorrupt)
		}
		want = bytes.Clone(meta.Get([]byte("check")))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if bytes.Equal(masterCheck(master), want) {
		return master, nil
	}
	next, nerr := loadMaster(ks.masterPath + ".new")
	if nerr == nil && bytes.Equal(masterCheck(next), want) {
		if ks.readOnly {
			return next, nil
		}
		if err := os.Rename(ks.masterPath+".new", ks.masterPath); err != nil {
			return nil, fmt.Errorf("complete the master key rotation: %w", err)
		}
		if err := syncDir(filepath.Dir(ks.masterPath)); err != nil {
			return nil, err
		}
		return next, nil
	}
	return nil, fmt.Errorf("%w: %s does not open %s; give the master key this key file was made with", ErrMasterKey, ks.masterPath, ks.path)
}

// get returns the key kid; ok is false when the key file does not hold it.
func (ks *keyStore) get(kid string) ([]byte, bool, error) {
	if k, ok := ks.cache.Load(kid); ok {
		return k.([]byte), true, nil
	}
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	var key []byte
	err := ks.bolt.View(func(tx *bolt.Tx) error {
		w := tx.Bucket(bKKeys).Get([]byte(kid))
		if w == nil {
			return nil
		}
		m := ks.masters[string(tx.Bucket(bKMeta).Get([]byte("master")))]
		if m == nil {
			return fmt.Errorf("key file %s: wrapped under a master key not at hand", ks.path)
		}
		var err error
		key, err = unwrapKey(m, kid, w)
		return err
	})
	if err != nil || key == nil {
		return nil, false, err
	}
	ks.cache.Store(kid, key)
	return key, true, nil
}

// maxAEADs bounds the ciphers kept: a store of a million persons has a
// million keys, and a cipher is about a kilobyte.
const maxAEADs = 4096

// aead returns the AES-256-GCM cipher of key kid (whose bytes are key),
// kept for the next record of that key (up to maxAEADs of them, an
// arbitrary one making room), so that records sealed or opened in a row
// under one key set up one cipher, not one each.
func (ks *keyStore) aead(kid string, key []byte) (cipher.AEAD, error) {
	ks.aeadMu.Lock()
	g, ok := ks.aeads[kid]
	ks.aeadMu.Unlock()
	if ok {
		return g, nil
	}
	g, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	// A key removed meanwhile is not kept again.
	if _, ok := ks.cache.Load(kid); !ok {
		return g, nil
	}
	ks.aeadMu.Lock()
	defer ks.aeadMu.Unlock()
	if ks.aeads == nil {
		ks.aeads = map[string]cipher.AEAD{}
	}
	if len(ks.aeads) >= maxAEADs {
		for k := range ks.aeads {
			delete(ks.aeads, k)
			break
		}
	}
	ks.aeads[kid] = g
	return g, nil
}

// put writes keys to the key file in one transaction, wrapped under the
// master key in force at its commit.
func (ks *keyStore) put(keys map[string][]byte) error {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	err := ks.bolt.Update(func(tx *bolt.Tx) error {
		m := ks.masters[string(tx.Bucket(bKMeta).Get([]byte("master")))]
		if m == nil {
			return fmt.Errorf("key file %s: the master key in force is not at hand", ks.path)
		}
		b := tx.Bucket(bKKeys)
		b.FillPercent = 0.9 // ids grow: pages filled, not split in half
		for kid, k := range keys {
			w, err := wrapKey(m, kid, k)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(kid), w); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("key file: %w", err)
	}
	for kid, k := range keys {
		ks.cache.Store(kid, k)
	}
	return nil
}

// drop deletes keys from the key file and the cache without scrubbing the
// key file's free pages; the caller (finishShreds) scrubs once when it has
// dropped all it had to, so that no wrapped copy of them stays.
func (ks *keyStore) drop(kids []string) error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	for _, kid := range kids {
		ks.cache.Delete(kid)
	}
	ks.aeadMu.Lock()
	for _, kid := range kids {
		delete(ks.aeads, kid)
	}
	ks.aeadMu.Unlock()
	err := ks.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bKKeys)
		for _, kid := range kids {
			if err := b.Delete([]byte(kid)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("key file: %w", err)
	}
	return nil
}

// scrub overwrites the key file's free pages with zeros; ks.mu is held
// exclusively, so no transaction can read them.
func (ks *keyStore) scrub() (ScrubStats, error) {
	var st ScrubStats
	f, err := os.OpenFile(ks.path, os.O_RDWR, 0)
	if err != nil {
		return st, fmt.Errorf("scrub key file: %w", err)
	}
	defer f.Close()
	pageSize := int64(ks.bolt.Info().PageSize)
	err = ks.bolt.Update(func(tx *bolt.Tx) error {
		ids, err := scanFreePages(tx)
		if err != nil {
			return err
		}
		slices.Sort(ids)
		for len(ids) > 0 && err == nil {
			ids, err = zeroPages(f, pageSize, ids, time.Now(), &st)
		}
		return err
	})
	if err != nil {
		return st, fmt.Errorf("scrub key file: %w", err)
	}
	return st, nil
}

// lookup is the key of k in the lookup index name.
func (ks *keyStore) lookup(name, k []byte) []byte {
	h, _ := ks.lookups.Get().(hash.Hash)
	if h == nil {
		h = hmac.New(sha256.New, ks.lookupKey)
	} else {
		h.Reset()
	}
	h.Write(name)
	h.Write(zeroByte)
	h.Write(k)
	out := h.Sum(make([]byte, 0, sha256.Size))[:16]
	ks.lookups.Put(h)
	return out
}

var zeroByte = []byte{0}

func (ks *keyStore) close() error { return ks.bolt.Close() }
