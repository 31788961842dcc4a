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
	Pages int   // free pages overwritten with zeros
	Bytes int64 // bytes overwritten
	Clean int   // free pages that held only zeros already
	// Pause is the longest time every other transaction waited for one
	// step of the scrub, Steps how many steps it took.
	Pause time.Duration
	Steps int
	// Listed is true when the free pages came from the file's free list; false
	// when every page of the file was examined instead.
	Listed bool
}

// scrubStep is about how long one step of Scrub holds every other
// transaction off: a concurrent ingest waits that long at most.
var scrubStep = 20 * time.Millisecond

// scrubStepped, when set (by tests), is called between two steps of Scrub,
// when other transactions may run.
var scrubStepped func()

// Scrub overwrites every free page of the database file with zeros.
//
// bbolt never writes a page in place: a changed or deleted record leaves its
// old page on the free list with the old bytes in it until the page is reused.
// After an erasure or a purge those bytes are personal data that must be gone
// (GDPR Art. 17), so Scrub runs after each. Each step waits until no
// transaction is open (a reader could still see a page freed after it
// began), so that every page it touches is truly unreferenced, and writes
// zeros over free pages for about scrubStep; other transactions run
// between the steps (Pause is the longest wait).
//
// The free pages are those of the moment the first step begins: read from
// the free list bbolt wrote with the last commit, each confirmed free by
// bbolt; when the list cannot be read or does not match, every page of the
// file is examined. A later step confirms each page again, in its own
// transaction: a page a writer took meanwhile holds that writer's data and
// is left alone (a page freed meanwhile held only data live when the scrub
// began, none of what was erased before). A page that holds only zeros
// already is not written again. Blob files of erased data whose removal
// failed after their transaction are shredded again; an error names those
// that still cannot be removed.
func (db *DB) Scrub() (st ScrubStats, err error) {
	f, err := os.OpenFile(db.bolt.Path(), os.O_RDWR, 0)
	if err != nil {
		return st, fmt.Errorf("scrub: %w", err)
	}
	defer f.Close()
	pageSize := int64(db.bolt.Info().PageSize)
	var ids []int
	for first := true; first || len(ids) > 0; first = false {
		db.gate.Lock()
		start := time.Now()
		err = db.bolt.Update(func(tx *bolt.Tx) error {
			if first {
				var ok bool
				ids, ok = listedFreePages(f, pageSize, tx)
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
				slices.Sort(ids)
			} else {
				ids = stillFree(tx, ids, start)
			}
			var err error
			if ids, err = zeroPages(f, pageSize, ids, start, &st); err != nil {
				return err
			}
			if len(ids) > 0 || tx.Bucket(bMeta).Get(metaScrubDue) == nil {
				return nil
			}
			return tx.Bucket(bMeta).Delete(metaScrubDue)
		})
		st.Pause = max(st.Pause, time.Since(start))
		st.Steps++
		db.gate.Unlock()
		if err != nil {
			return st, fmt.Errorf("scrub: %w", err)
		}
		if len(ids) > 0 && scrubStepped != nil {
			scrubStepped()
		}
	}
	if err := db.unshredded.retry(); err != nil {
		return st, fmt.Errorf("scrub: %w", err)
	}
	return st, nil
}

// stillFree drops from the front of ids (sorted) the pages tx does not see
// as free any more, as far as one step reaches (the rest is checked by
// the steps that zero them).
func stillFree(tx *bolt.Tx, ids []int, start time.Time) []int {
	out := ids[:0]
	for i, id := range ids {
		if i%256 == 0 && i > 0 && time.Since(start) >= scrubStep/2 {
			return append(out, ids[i:]...)
		}
		if info, err := tx.Page(id); err == nil && info != nil && info.Type == "free" {
			out = append(out, id)
		}
	}
	return out
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

// zeroPages writes zeros over the pages ids (sorted), run by run,
// skipping chunks that are zero already, until a step begun at start has
// run scrubStep; it syncs the file when it wrote anything, and returns the
// ids it did not reach.
func zeroPages(f *os.File, pageSize int64, ids []int, start time.Time, st *ScrubStats) ([]int, error) {
	const chunk = 256 // pages per read and write
	zero := make([]byte, chunk*pageSize)
	buf := make([]byte, chunk*pageSize)
	wrote := false
	i := 0
	for i < len(ids) && (i == 0 || time.Since(start) < scrubStep) {
		// A run of consecutive ids, at most one chunk long.
		j := i + 1
		for j < len(ids) && j-i < chunk && ids[j] == ids[j-1]+1 {
			j++
		}
		n := int64(j-i) * pageSize
		off := int64(ids[i]) * pageSize
		if _, err := f.ReadAt(buf[:n], off); err != nil {
			return ids[i:], err
		}
		if bytes.Equal(buf[:n], zero[:n]) {
			st.Clean += j - i
		} else {
			if _, err := f.WriteAt(zero[:n], off); err != nil {
				return ids[i:], err
			}
			st.Pages += j - i
			st.Bytes += n
			wrote = true
		}
		i = j
	}
	if wrote {
		return ids[i:], f.Sync()
	}
	return ids[i:], nil
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
