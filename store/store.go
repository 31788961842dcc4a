package store

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Errors callers can test for with errors.Is.
var (
	ErrLocked   = errors.New("store: database is in use by another ticketd process")
	ErrNotFound = errors.New("store: not found")
	// ErrNoStore is returned by Open with Options.MustExist when dir holds no store.
	ErrNoStore = errors.New("store: no database here")
)

// Schema versions: 1 a plaintext store, 2 an encrypted one (sealed
// records, lookups by HMAC, encrypted blobs; see doc.go).
const (
	schemaPlain  = 1
	schemaSealed = 2
)

var (
	bMeta       = []byte("meta")
	bTickets    = []byte("tickets")
	bMessages   = []byte("messages")
	bPeople     = []byte("people")
	bQuarantine = []byte("quarantine")
	bAudit      = []byte("audit")
	bSync       = []byte("sync")
	bIdxEmail   = []byte("idx_email")
	bIdxMsgID   = []byte("idx_msgid")
	bIdxDedup   = []byte("idx_dedup")
	bIdxQDedup  = []byte("idx_qdedup")
	bIdxTicket  = []byte("idx_ticket")
	bBlobs      = []byte("blobs")
	bOutbox     = []byte("outbox")
	bIdxDue     = []byte("idx_outbox_due")
	bAckRate    = []byte("ack_rate")
	bConsentTok = []byte("consent_tokens")
	bConsents   = []byte("consents")          // person | purpose | 0 | seq -> ConsentRecord
	bIdxPlan    = []byte("idx_plan")          // kind | unix seconds | ticket -> nil: retention and consent due times
	bIdxPerson  = []byte("idx_person")        // person | ticket -> nil: the tickets a person wrote to
	bIdxBlobRef = []byte("idx_blob_ref")      // sha256 hex | kind | id -> nil: who references a blob
	bAgents     = []byte("agents")            // agent numbers (agents.go)
	bShred      = []byte("shred")             // key id -> nil: keys to delete from the key file
	bIdxCTok    = []byte("idx_consent_tok")   // person | token id -> nil: a person's consent links
	bIdxOutTk   = []byte("idx_outbox_ticket") // ticket | outbox id -> nil: the mail about a ticket
	bIdxOutFail = []byte("idx_outbox_failed") // outbox id -> nil: the mail that failed for good

	allBuckets = [][]byte{bMeta, bTickets, bMessages, bPeople, bQuarantine, bAudit, bSync,
		bIdxEmail, bIdxMsgID, bIdxDedup, bIdxQDedup, bIdxTicket, bBlobs, bOutbox, bIdxDue, bAckRate, bConsentTok,
		bConsents, bIdxPlan, bIdxPerson, bIdxBlobRef, bAgents, bShred, bIdxCTok, bIdxOutTk,
		bIdxQueue, bIdxAssignee, bIdxOpen, bIdxNotified, bIdxMention, bIdxAudit, bLookupDrops, bIdxOutFail}
)

// Options tunes Open.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// LockTimeout bounds the wait for the file lock; default 1s.
	LockTimeout time.Duration
	// ReadOnly opens the file for reading only (a shared lock).
	ReadOnly bool
	// MustExist opens an existing store only: when dir holds none, Open
	// creates nothing (no directory, no file) and returns ErrNoStore.
	MustExist bool
	// Log gets a warning for each permission Open tightens; nil means slog.Default().
	Log *slog.Logger
	// MasterKeyFile is the path of the master key (32 random bytes, mode
	// 0600), kept outside the data directory. It is made when absent and
	// the store is new or unencrypted; a store whose key file exists
	// refuses to open without it. "" means no encryption (tests and the
	// "encryption off" benchmark only): an encrypted store refuses to open then.
	MasterKeyFile string
	// KeyFile is the person-key file; "" means <dir>/keys.db.
	KeyFile string

	// raw opens an encrypted store without its keys (Restore's checks and
	// its audit event, which read and write no sealed record).
	raw bool
}

// DB is the open store of one data directory.
type DB struct {
	bolt  *bolt.DB
	now   func() time.Time
	Blobs *Blobs
	dir   string
	// created: this Open made the file, so the store is new.
	created bool

	// gate is held shared by every transaction and exclusively by Scrub,
	// which overwrites free pages only while no transaction can read them.
	gate    sync.RWMutex
	planner atomic.Pointer[Planner]
	// unshredded are blob files of erased data whose removal failed; Scrub retries them.
	unshredded pathSet
	// keys is the key file of an encrypted store, nil for a plaintext one.
	keys *keyStore
	log  *slog.Logger
	// decoded counts the records read, by bucket (Decoded); made in Open, only read after.
	decoded map[string]*atomic.Uint64
	// encoded counts the records written, by bucket (Encoded), like decoded.
	encoded map[string]*atomic.Uint64
}

// Decoded is how many records of bucket ("tickets", "messages", "people",
// "outbox", "consents", ...) this DB has read since Open: what a listing, a
// scheduled run or an export costs, for the tests and benchmarks that
// check it reads only what it reports.
func (db *DB) Decoded(bucket string) uint64 {
	if c := db.decoded[bucket]; c != nil {
		return c.Load()
	}
	return 0
}

// Encoded is how many records of bucket this DB has encoded (and sealed, in
// an encrypted store) and written since Open: what one mail costs the
// transaction it is stored in, for the tests and benchmarks that check it.
func (db *DB) Encoded(bucket string) uint64 {
	if c := db.encoded[bucket]; c != nil {
		return c.Load()
	}
	return 0
}

// Planner computes a ticket's PurgeAt and ConsentDue from the configuration
// in force; the store calls it on every ticket write and indexes the result.
type Planner func(tx *Tx, tk *Ticket)

// Created reports whether the file was created by this Open: a new store,
// which holds nothing issued with an earlier key.
func (db *DB) Created() bool { return db.created }

// SetPlanner sets the function that schedules tickets (nil: none).
func (db *DB) SetPlanner(p Planner) {
	if p == nil {
		db.planner.Store(nil)
		return
	}
	db.planner.Store(&p)
}

// Open opens (creating if needed) the store in dir. A second process that
// opens the same directory gets ErrLocked after Options.LockTimeout.
//
// The data directory and its blobs directory are made mode 0700 and the
// database file 0600; one that exists with access for group or others is
// tightened to that, with a warning that names it and both modes (what it
// held may have been read meanwhile). One that cannot be tightened is an error.
func Open(dir string, opts Options) (*DB, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.LockTimeout == 0 {
		opts.LockTimeout = time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	path := filepath.Join(dir, "ticketd.db")
	created := false
	if opts.MustExist {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s does not exist", ErrNoStore, path)
		}
	} else {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
		_, err := os.Stat(path)
		created = errors.Is(err, fs.ErrNotExist)
	}
	blobs := filepath.Join(dir, "blobs")
	for _, p := range []struct {
		path string
		mode os.FileMode
	}{{dir, 0o700}, {blobs, 0o700}, {path, 0o600}} {
		if err := tighten(p.path, p.mode, opts.Log); err != nil {
			return nil, err
		}
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      opts.LockTimeout,
		FreelistType: bolt.FreelistMapType,
		ReadOnly:     opts.ReadOnly,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("open %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db := &DB{bolt: bdb, now: opts.Now, dir: dir, created: created, log: opts.Log, decoded: map[string]*atomic.Uint64{},
		encoded: map[string]*atomic.Uint64{}}
	for _, name := range append([][]byte{bAudit}, sealedBuckets...) {
		db.decoded[string(name)] = new(atomic.Uint64)
		db.encoded[string(name)] = new(atomic.Uint64)
	}
	fail := func(err error) (*DB, error) {
		if db.keys != nil {
			db.keys.close()
		}
		bdb.Close()
		return nil, err
	}
	schema, err := db.schema()
	if err != nil {
		return fail(err)
	}
	keyFile := opts.KeyFile
	if keyFile == "" {
		keyFile = filepath.Join(dir, keyFileName)
	}
	migrate := false
	switch {
	case opts.raw:
	case opts.MasterKeyFile == "":
		if schema == schemaSealed {
			return fail(fmt.Errorf("store %s is encrypted: it opens only with its master key ([server] master_key_file)", dir))
		}
	default:
		if inside(opts.MasterKeyFile, dir) {
			return fail(fmt.Errorf("master key %s is inside the data directory %s: it would go into every backup; keep it outside", opts.MasterKeyFile, dir))
		}
		if opts.ReadOnly && !fileExists(keyFile) && schema != schemaSealed {
			break // a plaintext store read as it is
		}
		if schema == schemaSealed && !fileExists(keyFile) {
			return fail(fmt.Errorf("key file %s: %w: the store is encrypted and its keys are kept there; restore the newest key snapshot "+
				"(ticketd restore -keys) before starting", keyFile, fs.ErrNotExist))
		}
		ks, _, err := openKeyStore(keyFile, opts.MasterKeyFile, schema != schemaSealed, opts.ReadOnly, opts.LockTimeout, opts.Log)
		if err != nil {
			return fail(err)
		}
		db.keys = ks
		migrate = schema == schemaPlain && !created
	}
	if !opts.ReadOnly {
		if err := db.init(); err != nil {
			return fail(err)
		}
		if err := db.buildIndexes(); err != nil {
			return fail(err)
		}
	}
	db.Blobs, err = openBlobs(blobs, !opts.ReadOnly)
	if err != nil {
		return fail(err)
	}
	if db.keys != nil {
		db.Blobs.crypt = db.keys.blob
	}
	if opts.ReadOnly || db.keys == nil {
		return db, nil
	}
	if migrate {
		if err := db.migrate(); err != nil {
			return fail(fmt.Errorf("encrypt the store: %w", err))
		}
	}
	if err := db.finishShreds(nil); err != nil {
		return fail(err)
	}
	// A purge killed midway left lookup index entries of what it erased.
	if !opts.ReadOnly {
		if _, err := db.FinishLookupDrops(); err != nil {
			return fail(err)
		}
	}
	if err := db.reserveKeyIDs(); err != nil {
		return fail(err)
	}
	if err := db.sweepMigrated(); err != nil {
		return fail(err)
	}
	return db, nil
}

// inside reports whether path is in the directory dir (or below it).
func inside(path, dir string) bool {
	p, err1 := filepath.Abs(path)
	d, err2 := filepath.Abs(dir)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// schema reads the schema version of the file (0 for a new one).
func (db *DB) schema() (uint64, error) {
	var v uint64
	err := db.bolt.View(func(tx *bolt.Tx) error {
		if meta := tx.Bucket(bMeta); meta != nil {
			if s := meta.Get([]byte("schema")); len(s) == 8 {
				v = binary.BigEndian.Uint64(s)
			}
		}
		return nil
	})
	return v, err
}

func (db *DB) init() error {
	return db.bolt.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bMeta)
		if meta.Get(keyInstance) == nil {
			if err := meta.Put(keyInstance, []byte(rand.Text()[:16])); err != nil {
				return err
			}
		}
		if v := meta.Get([]byte("schema")); v != nil {
			got := binary.BigEndian.Uint64(v)
			if got != schemaPlain && got != schemaSealed {
				return fmt.Errorf("store: schema version %d, this ticketd knows %d and %d", got, schemaPlain, schemaSealed)
			}
			t := &Tx{tx: tx, now: db.now(), db: db}
			if err := t.migrateIndexes(); err != nil {
				return err
			}
			// idx_audit and the ticket indexes of an older store: in
			// batches, after this (buildIndexes).
			return nil
		}
		if err := meta.Put([]byte("idx_v2"), []byte{1}); err != nil {
			return err
		}
		if err := meta.Put(keyTicketIdx, []byte{1}); err != nil {
			return err
		}
		if err := meta.Put(keyAuditIdx, []byte{1}); err != nil {
			return err
		}
		if err := meta.Put(keyFailedIdx, []byte{1}); err != nil {
			return err
		}
		schema := uint64(schemaPlain)
		if db.keys != nil {
			schema = schemaSealed
		}
		return meta.Put([]byte("schema"), be64(schema))
	})
}

// tighten removes the permissions of group and others from path, when it
// exists and has any, and logs that it did.
func tighten(path string, mode os.FileMode, log *slog.Logger) error {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	old := fi.Mode().Perm()
	if old&0o077 == 0 {
		return nil
	}
	if err := os.Chmod(path, mode); err != nil {
		return fmt.Errorf("%s has mode %04o, open to group or others, and cannot be tightened: %w", path, old, err)
	}
	log.Warn("tightened permissions", "path", path, "old", fmt.Sprintf("%04o", old), "new", fmt.Sprintf("%04o", mode))
	return nil
}

var keyInstance = []byte("instance")

// InstanceID identifies this installation (random, made on first start); it
// marks the mail ticketd sends, so that its own mail is recognised when it comes back.
func (db *DB) InstanceID() string {
	var id string
	db.View(func(tx *Tx) error {
		id = string(tx.b(bMeta).Get(keyInstance))
		return nil
	})
	return id
}

// Close closes the database file and the key file.
func (db *DB) Close() error {
	err := db.bolt.Close()
	if db.keys != nil {
		db.keys.mu.Lock()
		if cerr := db.keys.close(); err == nil && !errors.Is(cerr, berrors.ErrDatabaseNotOpen) {
			err = cerr
		}
		db.keys.mu.Unlock()
	}
	return err
}

// Dir is the data directory.
func (db *DB) Dir() string { return db.dir }

// Now is the store's clock.
func (db *DB) Now() time.Time { return db.now() }

// Update runs fn in one read-write transaction; fn's writes commit together or not at all.
// fn must not start another transaction (Update, View, OpenBlob, InstanceID):
// while Scrub waits for the open ones to end, a nested one would wait forever.
//
// In an encrypted store, the keys fn made are written to the key file
// before the transaction commits, and the keys it shredded are deleted from
// the key file after (with the key file's free pages scrubbed).
func (db *DB) Update(fn func(tx *Tx) error) error {
	var shreds []string
	db.gate.RLock()
	err := db.bolt.Update(func(btx *bolt.Tx) error {
		t := db.tx(btx)
		if err := fn(t); err != nil {
			return err
		}
		if err := t.finishDeferred(); err != nil {
			return err
		}
		if len(t.newKeys) > 0 {
			if err := db.keys.put(t.newKeys); err != nil {
				return err
			}
		}
		if !t.deferShreds {
			shreds = t.shreds
		}
		return nil
	})
	db.gate.RUnlock()
	if err == nil && len(shreds) > 0 {
		err = db.finishShreds(shreds)
	}
	return err
}

// View runs fn in a read-only transaction.
func (db *DB) View(fn func(tx *Tx) error) error {
	db.gate.RLock()
	defer db.gate.RUnlock()
	return db.bolt.View(func(btx *bolt.Tx) error { return fn(db.tx(btx)) })
}

func (db *DB) tx(btx *bolt.Tx) *Tx {
	t := &Tx{tx: btx, now: db.now(), db: db}
	if p := db.planner.Load(); p != nil {
		t.planner = *p
	}
	return t
}

func be64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func getJSON(b *bolt.Bucket, key []byte, v any) error {
	data := b.Get(key)
	if data == nil {
		return ErrNotFound
	}
	return json.Unmarshal(data, v)
}

// putJSON stores v as JSON, without HTML escaping: bodies hold a lot of <, >
// and &, and escaping them costs time and space for nothing.
func putJSON(b *bolt.Bucket, key []byte, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	return b.Put(key, bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}
