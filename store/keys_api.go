package store

import (
	"errors"
	"time"
)

// Errors of encryption at rest.
var (
	// ErrMasterKey is returned by Open when the master key does not open
	// the key file: it is another installation's key, or a wrong one.
	ErrMasterKey = errors.New("store: the master key does not open the key file (wrong master key)")
	// ErrShredded is wrapped, together with ErrNotFound, by the error of a
	// read of a record whose key is no longer in the key file: the record
	// was erased (crypto-shredded) after the backup it came from was made.
	ErrShredded = errors.New("store: erased (its key is gone)")
)

// RotateInfo says what RotateMasterKey did.
type RotateInfo struct {
	Keys     int           `json:"keys"`      // keys re-wrapped under the new master key
	MasterID string        `json:"master_id"` // the id of the new master key (not secret)
	Took     time.Duration `json:"took"`
}

// KeyBackupInfo says what BackupKeys wrote.
type KeyBackupInfo struct {
	Path     string `json:"path"`
	Size     int64  `json:"size"`
	Keys     int    `json:"keys"`      // live keys in the snapshot
	MasterID string `json:"master_id"` // the master key they are wrapped under
}

var errNotYet = errors.New("store: encryption at rest is not built yet")

// Encrypted reports whether the store's records are sealed under person keys.
func (db *DB) Encrypted() bool { return false }

// Shredded counts the records that read as erased: sealed under a key the
// key file does not hold (a backup restored with a key snapshot made after
// those people were erased).
func (db *DB) Shredded() int { return 0 }

// RotateMasterKey re-wraps every key of the key file under a new master key
// and replaces the master key file; see doc.go.
func (db *DB) RotateMasterKey() (RotateInfo, error) { return RotateInfo{}, errNotYet }

// BackupKeys writes a compacted snapshot of the key file to path (live
// keys only, mode 0600, synced); an existing path is ErrExists unless force.
func (db *DB) BackupKeys(path string, force bool) (KeyBackupInfo, error) {
	return KeyBackupInfo{}, errNotYet
}

// RestoreKeys puts the key snapshot in place as the key file of the data
// directory dir; an existing key file is ErrExists unless force.
func RestoreKeys(snapshot, dir string, force bool) error { return errNotYet }
