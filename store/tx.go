package store

import (
	"bytes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Tx is one transaction. Its write methods append the audit event for what they change.
type Tx struct {
	tx      *bolt.Tx
	now     time.Time
	db      *DB
	planner Planner
	// removeFiles are blob files to delete once the transaction has committed.
	removeFiles []string
	// newKeys are keys made in this transaction, written to the key file
	// before it commits; shreds are key ids to delete from the key file after.
	newKeys  map[string][]byte
	newAEADs map[string]cipher.AEAD // ciphers of newKeys
	shreds   []string
	// indexedTickets are the indexed fields of the tickets written in this
	// transaction, as written (putTicket).
	indexedTickets map[uint64]indexed
	// people are the person records read in this transaction and not
	// written or deleted since (Person).
	people map[uint64]Person
	// deferShreds leaves this transaction's shreds in the shred bucket for
	// the caller's FinishShreds (DeferShreds).
	deferShreds bool
	// deferTickets, deferred and deferredOrder are the ticket writes
	// stored at the end of the transaction (DeferTicketWrites); deferErr
	// is the first error of storing them from a reader that returns none.
	deferTickets  bool
	deferred      map[uint64]*deferredTicket
	deferredOrder []uint64
	deferErr      error
	// jsonBuf is where putRec encodes a record before sealing it.
	jsonBuf bytes.Buffer
	// deferDrops notes this transaction's lookup index drops for
	// FinishLookupDrops (DeferLookupDrops).
	deferDrops bool
}

// Now is the transaction's time: one value for every record the transaction writes.
func (t *Tx) Now() time.Time { return t.now }

func (t *Tx) b(name []byte) *bolt.Bucket { return t.tx.Bucket(name) }

// DedupKey identifies one mail in one mailbox: a SHA-256 over the mailbox,
// the Message-ID and the content hash, so that the key of an erased mail
// (kept, so that the mail is never imported again) holds no personal data.
func DedupKey(mailbox, messageID, contentHash string) []byte {
	h := sha256.New()
	for _, s := range []string{mailbox, messageID, contentHash} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return h.Sum(nil)
}

// SeenMail returns the message id stored under the dedup key, if any; id 0
// means the mail was imported and has been erased since.
func (t *Tx) SeenMail(key []byte) (uint64, bool) {
	v := t.b(bIdxDedup).Get(t.lk(bIdxDedup, key))
	if v == nil {
		return 0, false
	}
	id := binary.BigEndian.Uint64(v)
	if id != 0 && t.b(bMessages).Get(v) == nil {
		return 0, true // erased by a purge whose tombstone is not written yet (lookupdrops.go)
	}
	return id, true
}

// forEach decodes each value of b into a new T and calls fn until it returns false.
func forEach[T any](b *bolt.Bucket, fn func(*T) bool) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		rec := new(T)
		if err := json.Unmarshal(v, rec); err != nil {
			return fmt.Errorf("decode record %x: %w", k, err)
		}
		if !fn(rec) {
			return nil
		}
	}
	return nil
}
