package store

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// InlineBlobMax is the largest blob kept inside the database; larger blobs
// are files. Most attachments are small, and a blob in the database costs no
// file creation and no fsync of its own: the transaction's commit covers it.
const InlineBlobMax = 64 << 10

// Blobs is the directory of large blobs, files named by the SHA-256 of their content.
type Blobs struct {
	dir string
	// crypt names and encrypts the blobs of an encrypted store (nil: plaintext).
	crypt *blobCrypt

	mu      sync.Mutex
	madeDir map[string]bool // fan-out directories known to exist
}

func openBlobs(dir string, writable bool) (*Blobs, error) {
	b := &Blobs{dir: dir, madeDir: map[string]bool{}}
	if !writable {
		return b, nil
	}
	tmp := filepath.Join(dir, "tmp")
	// Leftovers of a crash were never referenced by a commit.
	if err := os.RemoveAll(tmp); err != nil {
		return nil, fmt.Errorf("clean blob tmp: %w", err)
	}
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("create blob dir: %w", err)
	}
	return b, nil
}

// path is the file of the blob stored under name (see name).
func (b *Blobs) path(name string) string { return filepath.Join(b.dir, name[:2], name) }

// name is the storage name of the blob whose content's SHA-256 is sum:
// sum itself in a plaintext store, its keyed hash in an encrypted one; ""
// when sum is not a hex SHA-256.
func (b *Blobs) name(sum string) string {
	if len(sum) != sha256.Size*2 {
		return ""
	}
	if _, err := hex.DecodeString(sum); err != nil {
		return ""
	}
	if b.crypt == nil {
		return sum
	}
	return b.crypt.name(sum)
}

// putFile writes r (after head) to a durable file and returns its hex SHA-256 and length.
func (b *Blobs) putFile(head []byte, r io.Reader) (string, int64, error) {
	f, err := os.CreateTemp(filepath.Join(b.dir, "tmp"), "put-")
	if err != nil {
		return "", 0, fmt.Errorf("store blob: %w", err)
	}
	h := sha256.New()
	var sw *segWriter
	var dataKey []byte
	var w io.Writer = io.MultiWriter(f, h)
	if b.crypt != nil {
		dataKey = make([]byte, 32)
		rand.Read(dataKey)
		g, gerr := newGCM(dataKey)
		if gerr != nil {
			f.Close()
			os.Remove(f.Name())
			return "", 0, gerr
		}
		sw = &segWriter{w: f, g: g, buf: make([]byte, 0, segSize+1)}
		w = io.MultiWriter(sw, h)
		_, err = f.Write(make([]byte, blobHdrSize)) // the header goes here last
	}
	if err == nil {
		_, err = w.Write(head)
	}
	n := int64(len(head))
	if err == nil {
		var m int64
		m, err = io.Copy(w, r)
		n += m
	}
	if err == nil && sw != nil {
		err = sw.Close()
		if err == nil {
			var hdr []byte
			hdr, err = blobHeader(b.crypt.key(hex.EncodeToString(h.Sum(nil))), dataKey)
			if err == nil {
				_, err = f.WriteAt(hdr, 0)
			}
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", 0, fmt.Errorf("store blob: %w", err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	dst := b.path(b.name(sum))
	if err := b.mkdir(filepath.Dir(dst)); err != nil {
		os.Remove(f.Name())
		return "", 0, err
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		os.Remove(f.Name())
		return "", 0, fmt.Errorf("store blob: %w", err)
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return "", 0, err
	}
	return sum, n, nil
}

func (b *Blobs) mkdir(dir string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.madeDir[dir] {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("store blob: %w", err)
	}
	if err := syncDir(b.dir); err != nil {
		return err
	}
	b.madeDir[dir] = true
	return nil
}

// syncDir makes a rename or a new entry in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// BlobWriter collects the blobs of one batch of mail: large ones are written
// to durable files at once, small ones are held until the batch's transaction
// stores them (Tx.PutBlobs). It is safe for concurrent use.
type BlobWriter struct {
	blobs *Blobs

	mu    sync.Mutex
	small map[string][]byte
}

// NewBlobWriter starts collecting blobs for one transaction.
func (db *DB) NewBlobWriter() *BlobWriter {
	return &BlobWriter{blobs: db.Blobs, small: map[string][]byte{}}
}

// Put stores r's content and returns its hex SHA-256 and length.
func (w *BlobWriter) Put(r io.Reader) (string, int64, error) {
	head, err := io.ReadAll(io.LimitReader(r, InlineBlobMax+1))
	if err != nil {
		return "", 0, err
	}
	if len(head) > InlineBlobMax {
		return w.blobs.putFile(head, r)
	}
	sum := sha256.Sum256(head)
	key := hex.EncodeToString(sum[:])
	w.mu.Lock()
	w.small[key] = head
	w.mu.Unlock()
	return key, int64(len(head)), nil
}

// PutBlobs stores the small blobs collected by w.
func (t *Tx) PutBlobs(w *BlobWriter) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := t.b(bBlobs)
	for sum, data := range w.small {
		name := w.blobs.name(sum)
		if b.Get([]byte(name)) != nil {
			continue
		}
		if w.blobs.crypt != nil {
			var err error
			if data, err = sealSmallBlob(w.blobs.crypt.key(sum), name, data); err != nil {
				return err
			}
		}
		if err := b.Put([]byte(name), data); err != nil {
			return err
		}
	}
	return nil
}

// OpenBlob opens the blob whose content's SHA-256 is sum, from the database or its file.
func (db *DB) OpenBlob(sum string) (io.ReadCloser, error) {
	name := db.Blobs.name(sum)
	if name == "" {
		return nil, fmt.Errorf("open blob %q: %w", sum, ErrNotFound)
	}
	var data []byte
	err := db.View(func(tx *Tx) error {
		if v := tx.b(bBlobs).Get([]byte(name)); v != nil {
			data = bytes.Clone(v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return db.Blobs.open(sum, name, data)
}

// open returns the content of the blob sum stored under name: data, the
// value of the blobs bucket, or its file when data is nil.
func (b *Blobs) open(sum, name string, data []byte) (io.ReadCloser, error) {
	if data != nil {
		if b.crypt != nil {
			var err error
			if data, err = openSmallBlob(b.crypt.key(sum), name, data); err != nil {
				return nil, err
			}
		}
		return io.NopCloser(bytes.NewReader(data)), nil
	}
	f, err := os.Open(b.path(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("open blob %s: %w", sum, ErrNotFound)
	}
	if err != nil || b.crypt == nil {
		return f, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	r, err := openBlobFile(f, fi.Size(), b.crypt.key(sum))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open blob %s: %w", sum, err)
	}
	r.c = f
	return r, nil
}

// OpenBlob opens the blob named sum inside the transaction: from pending
// (a writer whose small blobs are not stored yet; may be nil), the
// database or its file. A write transaction must use this, not
// DB.OpenBlob, which opens a transaction of its own.
func (t *Tx) OpenBlob(pending *BlobWriter, sum string) (io.ReadCloser, error) {
	if pending != nil {
		pending.mu.Lock()
		data, ok := pending.small[sum]
		pending.mu.Unlock()
		if ok {
			return io.NopCloser(bytes.NewReader(data)), nil
		}
	}
	name := t.db.Blobs.name(sum)
	if name == "" {
		return nil, fmt.Errorf("open blob %q: %w", sum, ErrNotFound)
	}
	var data []byte
	if v := t.b(bBlobs).Get([]byte(name)); v != nil {
		data = bytes.Clone(v)
	}
	return t.db.Blobs.open(sum, name, data)
}
