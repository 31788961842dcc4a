package store

import (
	"bytes"
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

func (b *Blobs) path(sum string) string { return filepath.Join(b.dir, sum[:2], sum) }

// putFile writes r (after head) to a durable file and returns its hex SHA-256 and length.
func (b *Blobs) putFile(head []byte, r io.Reader) (string, int64, error) {
	f, err := os.CreateTemp(filepath.Join(b.dir, "tmp"), "put-")
	if err != nil {
		return "", 0, fmt.Errorf("store blob: %w", err)
	}
	h := sha256.New()
	w := io.MultiWriter(f, h)
	_, err = w.Write(head)
	n := int64(len(head))
	if err == nil {
		var m int64
		m, err = io.Copy(w, r)
		n += m
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
	dst := b.path(sum)
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
	for key, data := range w.small {
		if b.Get([]byte(key)) != nil {
			continue
		}
		if err := b.Put([]byte(key), data); err != nil {
			return err
		}
	}
	return nil
}

// OpenBlob opens the blob named sum, from the database or its file.
func (db *DB) OpenBlob(sum string) (io.ReadCloser, error) {
	if len(sum) != sha256.Size*2 {
		return nil, fmt.Errorf("open blob %q: %w", sum, ErrNotFound)
	}
	if _, err := hex.DecodeString(sum); err != nil {
		return nil, fmt.Errorf("open blob %q: %w", sum, ErrNotFound)
	}
	var data []byte
	err := db.View(func(tx *Tx) error {
		if v := tx.b(bBlobs).Get([]byte(sum)); v != nil {
			data = bytes.Clone(v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if data != nil {
		return io.NopCloser(bytes.NewReader(data)), nil
	}
	f, err := os.Open(db.Blobs.path(sum))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("open blob %s: %w", sum, ErrNotFound)
	}
	return f, err
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
	if len(sum) != sha256.Size*2 {
		return nil, fmt.Errorf("open blob %q: %w", sum, ErrNotFound)
	}
	if _, err := hex.DecodeString(sum); err != nil {
		return nil, fmt.Errorf("open blob %q: %w", sum, ErrNotFound)
	}
	if v := t.b(bBlobs).Get([]byte(sum)); v != nil {
		return io.NopCloser(bytes.NewReader(bytes.Clone(v))), nil
	}
	f, err := os.Open(t.db.Blobs.path(sum))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("open blob %s: %w", sum, ErrNotFound)
	}
	return f, err
}
