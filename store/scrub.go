package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ScrubStats says what Scrub did.
type ScrubStats struct {
	Pages int           // free pages overwritten with zeros
	Bytes int64         // bytes overwritten
	Clean int           // free pages that held only zeros already
	Pause time.Duration // how long every other transaction waited
	// Listed is true when the free pages came from the file's free list; false
	// when every page of the file was examined instead.
	Listed bool
}

// Scrub overwrites every free page of the database file with zeros.
//
// bbolt never writes a page in place: a changed or deleted record leaves its
// old page on the free list with the old bytes in it until the page is reused.
// After an erasure or a purge those bytes are personal data that must be gone
// (GDPR Art. 17), so Scrub runs after each. It waits until no transaction is
// open (a reader could still see a page freed after it began), so that
// every page on the free list is truly unreferenced, and writes zeros over it.
// Other transactions wait for that long (Pause).
//
// The free pages are read from the free list bbolt wrote with the last
// commit, and each is confirmed free by bbolt before it is touched; when the
// list cannot be read or does not match, every page of the file is examined.
// A page that holds only zeros already is not written again. Blob files of
// erased data whose removal failed after their transaction are shredded
// again; an error names those that still cannot be removed.
func (db *DB) Scrub() (st ScrubStats, err error) {
	db.gate.Lock()
	start := time.Now()
	defer func() {
		st.Pause = time.Since(start)
		db.gate.Unlock()
	}()
	f, err := os.OpenFile(db.bolt.Path(), os.O_RDWR, 0)
	if err != nil {
		return st, fmt.Errorf("scrub: %w", err)
	}
	defer f.Close()
	pageSize := int64(db.bolt.Info().PageSize)
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		ids, ok := listedFreePages(f, pageSize, tx)
		if ok {
			bs := db.bolt.Stats()
			ok = len(ids) == bs.FreePageN+bs.PendingPageN
		}
		st.Listed = ok
		if !ok {
			var err error
			if ids, err = scanFreePages(tx); err != nil {
				return err
			}
		}
		if err := zeroPages(f, pageSize, ids, &st); err != nil {
			return err
		}
		if tx.Bucket(bMeta).Get(metaScrubDue) == nil {
			return nil
		}
		return tx.Bucket(bMeta).Delete(metaScrubDue)
	})
	if err != nil {
		return st, fmt.Errorf("scrub: %w", err)
	}
	if err := db.unshredded.retry(); err != nil {
		return st, fmt.Errorf("scrub: %w", err)
	}
	return st, nil
}

// The on-disk layout read by listedFreePages (bbolt's internal/common):
// a page starts with a 16-byte header (id u64, flags u16, count u16,
// overflow u32); pages 0 and 1 hold the meta (magic, version, page size,
// flags, root bucket, free-list page, high-water mark, txid, FNV-64a
// checksum); the free-list page lists page ids as u64, with the count as
// the first element when it does not fit the header's u16. Integers are in
// the machine's byte order.
const (
	metaMagic        = 0xED0CDAED
	freelistPageFlag = 0x10
	noFreelist       = ^uint64(0)
)

// listedFreePages returns the ids on the free list of the last commit, each
// confirmed free by tx (the write transaction Scrub runs in, which must
// directly follow that commit). ok is false when anything does not match.
func listedFreePages(f *os.File, pageSize int64, tx *bolt.Tx) (ids []int, ok bool) {
	order := binary.NativeEndian
	var txid, freelist uint64
	found := false
	meta := make([]byte, 80)
	for i := range int64(2) {
		if _, err := f.ReadAt(meta, i*pageSize); err != nil {
			return nil, false
		}
		h := fnv.New64a()
		h.Write(meta[16:72])
		if order.Uint32(meta[16:]) != metaMagic || h.Sum64() != order.Uint64(meta[72:]) {
			continue
		}
		if t := order.Uint64(meta[64:]); !found || t > txid {
			txid, freelist, found = t, order.Uint64(meta[48:]), true
		}
	}
	if !found || freelist == noFreelist || uint64(tx.ID()) != txid+1 {
		return nil, false
	}
	hdr := make([]byte, 16)
	if _, err := f.ReadAt(hdr, int64(freelist)*pageSize); err != nil || order.Uint16(hdr[8:]) != freelistPageFlag {
		return nil, false
	}
	data := make([]byte, int64(order.Uint32(hdr[12:])+1)*pageSize)
	if _, err := f.ReadAt(data, int64(freelist)*pageSize); err != nil {
		return nil, false
	}
	at, n := 16, uint64(order.Uint16(data[10:]))
	if n == 0xFFFF {
		at, n = 24, order.Uint64(data[16:])
	}
	if n > uint64(len(data)-at)/8 {
		return nil, false
	}
	ids = make([]int, n)
	for i := range ids {
		ids[i] = int(order.Uint64(data[at+8*i:]))
		info, err := tx.Page(ids[i])
		if err != nil || info == nil || info.Type != "free" {
			return nil, false
		}
	}
	return ids, true
}

// scanFreePages examines every page of the file and returns the free ones.
func scanFreePages(tx *bolt.Tx) ([]int, error) {
	var ids []int
	for id := 2; ; id++ {
		info, err := tx.Page(id)
		if err != nil {
			return nil, err
		}
		if info == nil {
			return ids, nil
		}
		if info.Type == "free" {
			ids = append(ids, id)
			continue
		}
		// Skip the overflow pages of a page in use: their headers are data.
		id += info.OverflowCount
	}
}

// zeroPages writes zeros over the pages ids, run by run, skipping chunks
// that are zero already, and syncs the file when it wrote anything.
func zeroPages(f *os.File, pageSize int64, ids []int, st *ScrubStats) error {
	slices.Sort(ids)
	const chunk = 256 // pages per read and write
	zero := make([]byte, chunk*pageSize)
	buf := make([]byte, chunk*pageSize)
	wrote := false
	for i := 0; i < len(ids); {
		// A run of consecutive ids, at most one chunk long.
		j := i + 1
		for j < len(ids) && j-i < chunk && ids[j] == ids[j-1]+1 {
			j++
		}
		n := int64(j-i) * pageSize
		off := int64(ids[i]) * pageSize
		if _, err := f.ReadAt(buf[:n], off); err != nil {
			return err
		}
		if bytes.Equal(buf[:n], zero[:n]) {
			st.Clean += j - i
		} else {
			if _, err := f.WriteAt(zero[:n], off); err != nil {
				return err
			}
			st.Pages += j - i
			st.Bytes += n
			wrote = true
		}
		i = j
	}
	if wrote {
		return f.Sync()
	}
	return nil
}

// Backup writes a consistent, compacted copy of the database to path: only
// live records are copied, so nothing erased before the backup is in it. The
// copy is written next to path and renamed into place when complete. It runs
// while the daemon does; writers are not held up.
func (db *DB) Backup(path string) (int64, error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".ticketd-backup-*")
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	tmpPath := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpPath)
	dst, err := bolt.Open(tmpPath, 0o600, &bolt.Options{NoSync: true, NoFreelistSync: true})
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	db.gate.RLock()
	err = bolt.Compact(dst, db.bolt, 64<<20)
	db.gate.RUnlock()
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	fi, err := os.Stat(tmpPath)
	if err != nil {
		return 0, err
	}
	if err := os.Rename(tmpPath, path); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	return fi.Size(), syncDir(dir)
}
