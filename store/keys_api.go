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
