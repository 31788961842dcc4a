package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The lookup indexes (idx_email, ack_rate, idx_msgid, idx_dedup,
// idx_mention) are keyed by an HMAC, so the entries of the tickets one
// purge batch erases lie on random pages of each, and a commit would
// rewrite thousands of pages for a few hundred tickets. A transaction that
// calls DeferLookupDrops erases the records but leaves those entries, and
// notes each drop in the lookup_drops bucket instead (sequence -> drop,
// appended, so on the last pages); FinishLookupDrops then applies all of
// them sorted by bucket and key, each transaction a contiguous run of
// every bucket's keys. Until then an entry left points at a record that
// is gone (a person, a message) or at an anonymised ticket, and the
// readers treat it as absent: PersonByEmail and EnsurePerson, SeenMail,
// TicketByMessageID; idx_mention's readers skip a record that is gone.
//
//	lookup_drops  seq -> op (1 byte) ‖ bucket (1) ‖ key length (1) ‖ key ‖ expected value
//
// op 'd' deletes the entry when its value is the expected one (any value
// when none is given); 't' makes a dedup entry a tombstone (value 0), as an
// erased mail keeps its dedup key. Applying a drop twice does nothing more,
// so a purge killed midway is completed by the next FinishLookupDrops (the
// next purge, or Open).
var bLookupDrops = []byte("lookup_drops")

// dropBuckets are the buckets a drop names, by their index in it.
var dropBuckets = [][]byte{bIdxEmail, bAckRate, bIdxMsgID, bIdxDedup, bIdxMention}

const (
	dropDelete    = 'd'
	dropTombstone = 't'
)

// LookupDropBatch is the most drops one transaction of FinishLookupDrops
// applies, and LookupDropTime how long it runs before it commits.
const (
	LookupDropBatch = 20000
	LookupDropTime  = 25 * time.Millisecond
)

// lookupDropCommitted, when set (by tests), is called after each
// transaction of FinishLookupDrops that applied drops: a crash point.
var lookupDropCommitted func() error

// DeferLookupDrops leaves the lookup index entries of what this transaction
// erases for FinishLookupDrops, which the caller runs after its last such
// transaction (a purge, before its shreds and scrub).
func (t *Tx) DeferLookupDrops() { t.deferDrops = true }

// dropLookup deletes the entry key of bucket (when its value is expect,
// unless expect is nil), or notes it for FinishLookupDrops in a
// transaction that defers them.
func (t *Tx) dropLookup(bucket, key, expect []byte) error {
	return t.drop(dropDelete, bucket, key, expect)
}

// tombstoneDedup makes the dedup entry key a tombstone, or notes it.
func (t *Tx) tombstoneDedup(key []byte) error { return t.drop(dropTombstone, bIdxDedup, key, nil) }

func (t *Tx) drop(op byte, bucket, key, expect []byte) error {
	if !t.deferDrops {
		return applyDrop(t.tx, op, bucket, key, expect)
	}
	i := slices.IndexFunc(dropBuckets, func(b []byte) bool { return bytes.Equal(b, bucket) })
	if i < 0 || len(key) > 255 {
		return applyDrop(t.tx, op, bucket, key, expect)
	}
	b := t.b(bLookupDrops)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	v := make([]byte, 0, 3+len(key)+len(expect))
	v = append(append(append(v, op, byte(i), byte(len(key))), key...), expect...)
	return b.Put(be64(seq), v)
}

func applyDrop(tx *bolt.Tx, op byte, bucket, key, expect []byte) error {
	b := tx.Bucket(bucket)
	cur := b.Get(key)
	if cur == nil || expect != nil && !bytes.Equal(cur, expect) {
		return nil
	}
	if op == dropTombstone {
		if bytes.Equal(cur, be64(0)) {
			return nil
		}
		return b.Put(key, be64(0))
	}
	return b.Delete(key)
}

type lookupDrop struct {
	op, bucket byte
	key        []byte
	expect     []byte
}

// FinishLookupDrops applies the lookup index drops that transactions which
// called DeferLookupDrops left, sorted by bucket and key, in write
// transactions of about LookupDropTime each, and then removes them. It
// returns how many it applied.
func (db *DB) FinishLookupDrops() (int, error) {
	var drops []lookupDrop
	var last uint64
	db.gate.RLock()
	err := db.bolt.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bLookupDrops).ForEach(func(k, v []byte) error {
			if len(v) < 3 || int(v[1]) >= len(dropBuckets) || len(v) < 3+int(v[2]) {
				return fmt.Errorf("lookup drop %x: malformed", k)
			}
			n := int(v[2])
			d := lookupDrop{op: v[0], bucket: v[1], key: bytes.Clone(v[3 : 3+n])}
			if len(v) > 3+n {
				d.expect = bytes.Clone(v[3+n:])
			}
			drops = append(drops, d)
			last = binary.BigEndian.Uint64(k)
			return nil
		})
	})
	db.gate.RUnlock()
	if err != nil || len(drops) == 0 {
		return 0, err
	}
	slices.SortFunc(drops, func(a, b lookupDrop) int {
		if a.bucket != b.bucket {
			return int(a.bucket) - int(b.bucket)
		}
		return bytes.Compare(a.key, b.key)
	})
	for rest := drops; len(rest) > 0; {
		err := db.Update(func(t *Tx) error {
			start := time.Now()
			n := 0
			for ; n < len(rest) && n < LookupDropBatch && (n%64 != 0 || time.Since(start) < LookupDropTime); n++ {
				d := rest[n]
				if err := applyDrop(t.tx, d.op, dropBuckets[d.bucket], d.key, d.expect); err != nil {
					return err
				}
			}
			rest = rest[n:]
			return nil
		})
		if err != nil {
			return 0, err
		}
		if lookupDropCommitted != nil {
			if err := lookupDropCommitted(); err != nil {
				return 0, err
			}
		}
	}
	// The drops applied go, in key order (contiguous pages); any noted
	// since by another transaction stay for the next run.
	for done := false; !done; {
		err := db.Update(func(t *Tx) error {
			b := t.b(bLookupDrops)
			var keys [][]byte
			c := b.Cursor()
			k, _ := c.First()
			for ; k != nil && binary.BigEndian.Uint64(k) <= last && len(keys) < LookupDropBatch; k, _ = c.Next() {
				keys = append(keys, bytes.Clone(k))
			}
			done = k == nil || binary.BigEndian.Uint64(k) > last
			for _, k := range keys {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	return len(drops), nil
}

// PendingLookupDrops counts the lookup index drops not applied yet.
func (db *DB) PendingLookupDrops() int { return db.keyCount(bLookupDrops) }
