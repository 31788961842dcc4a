package store

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ScrubStats says what Scrub did.
type ScrubStats struct {
	Pages int           // free pages overwritten
	Bytes int64         // bytes overwritten
	Pause time.Duration // how long every other transaction waited
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
func (db *DB) Scrub() (st ScrubStats, err error) {
	db.gate.Lock()
	start := time.Now()
	defer func() {
		st.Pause = time.Since(start)
		db.gate.Unlock()
	}()
	f, err := os.OpenFile(db.bolt.Path(), os.O_WRONLY, 0)
	if err != nil {
		return st, fmt.Errorf("scrub: %w", err)
	}
	defer f.Close()
	pageSize := int64(db.bolt.Info().PageSize)
	zero := make([]byte, 256*pageSize)
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		// The page ids of a free run are written together.
		runStart, runLen := -1, 0
		flush := func() error {
			for runLen > 0 {
				n := min(runLen, len(zero)/int(pageSize))
				if _, err := f.WriteAt(zero[:int64(n)*pageSize], int64(runStart)*pageSize); err != nil {
					return err
				}
				st.Pages += n
				st.Bytes += int64(n) * pageSize
				runStart += n
				runLen -= n
			}
			return nil
		}
		for id := 2; ; id++ {
			info, err := tx.Page(id)
			if err != nil {
				return err
			}
			if info == nil {
				break
			}
			if info.Type == "free" {
				if runLen > 0 && runStart+runLen == id {
					runLen++
					continue
				}
				if err := flush(); err != nil {
					return err
				}
				runStart, runLen = id, 1
				continue
			}
			// Skip the overflow pages of a page in use: their headers are data.
			id += info.OverflowCount
		}
		if err := flush(); err != nil {
			return err
		}
		return f.Sync()
	})
	if err != nil {
		return st, fmt.Errorf("scrub: %w", err)
	}
	return st, nil
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
