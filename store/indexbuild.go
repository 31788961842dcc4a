package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// The indexes Open builds for a store written before them (idx_audit, and
// the ticket indexes with idx_mention) are built in batches of one write
// transaction each, so that opening an old store of a million tickets is
// not one transaction of minutes holding every page it writes in memory.
// Where a build stands is kept in meta under its progress key (the step
// and the last key done), written with each batch: a build cut short (a
// crash, a kill) goes on from there at the next Open. The flag that the
// index is built (idx_v3, idx_v4) is set with the last batch, and the
// progress key goes then.

// indexBuildBatch is how many records one transaction of a build reads.
var indexBuildBatch = 5000

// indexBuildCommitted, when set (by tests), is called after each batch of
// a build has committed; an error stops the build there: a crash point.
var indexBuildCommitted func() error

// indexStep is one walk of an index build: every record of bucket, in key order.
type indexStep struct {
	bucket []byte
	fn     func(t *Tx, bucket, k, v []byte) error
}

// indexBuild is one index built on Open.
type indexBuild struct {
	done, progress []byte          // meta keys: built; where the build stands
	reset          func(*Tx) error // empties the index before the first batch
	steps          []indexStep
}

func auditBuild() indexBuild {
	return indexBuild{done: keyAuditIdx, progress: []byte("idx_v4.build"),
		reset: func(t *Tx) error { return t.emptyBuckets(bIdxAudit) },
		steps: []indexStep{{bAudit, func(t *Tx, _, k, v []byte) error {
			var e AuditEvent
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("audit event %x: %w", k, err)
			}
			return t.indexAudit(&e)
		}}}}
}

func failedBuild() indexBuild {
	return indexBuild{done: keyFailedIdx, progress: []byte("idx_v5.build"),
		reset: func(t *Tx) error { return t.emptyBuckets(bIdxOutFail) },
		steps: []indexStep{{bOutbox, recStep(func(t *Tx, it *OutboxItem) error {
			return t.indexFailed(nil, it)
		})}}}
}

func ticketIndexBuild() indexBuild {
	return indexBuild{done: keyTicketIdx, progress: []byte("idx_v3.build"),
		reset: func(t *Tx) error { return t.emptyBuckets(append(ticketIndexBuckets, bIdxMention)...) },
		steps: []indexStep{
			{bTickets, recStep(func(t *Tx, tk *Ticket) error {
				return t.reindexTicket(tk.Number, ticketKeys{}, keysOfTicket(t, tk))
			})},
			{bMessages, recStep(func(t *Tx, m *Message) error {
				return t.reindexMentions(MentionMessage, m.ID, nil, messageAddresses(m))
			})},
			{bOutbox, recStep(func(t *Tx, it *OutboxItem) error {
				return t.reindexMentions(MentionOutbox, it.ID, nil, outboxAddresses(it))
			})},
		}}
}

// recStep is a step over sealed records of type T; a shredded one is skipped.
func recStep[T any](fn func(*Tx, *T) error) func(t *Tx, bucket, k, v []byte) error {
	return func(t *Tx, bucket, k, v []byte) error {
		rec := new(T)
		if err := t.decode(bucket, k, v, rec); err != nil {
			if errors.Is(err, ErrShredded) {
				return nil
			}
			return fmt.Errorf("decode record %x: %w", k, err)
		}
		return fn(t, rec)
	}
}

func (t *Tx) emptyBuckets(names ...[]byte) error {
	for _, name := range names {
		if err := t.tx.DeleteBucket(name); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
			return err
		}
		if _, err := t.tx.CreateBucket(name); err != nil {
			return err
		}
	}
	return nil
}

// buildAll runs the whole of b in t, one transaction: for the encryption
// of a plaintext store, which rewrites every record in one anyway.
func (t *Tx) buildAll(b indexBuild) error {
	if err := b.reset(t); err != nil {
		return err
	}
	for _, s := range b.steps {
		c := t.b(s.bucket).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if err := s.fn(t, s.bucket, k, v); err != nil {
				return err
			}
		}
	}
	meta := t.b(bMeta)
	if err := meta.Delete(b.progress); err != nil {
		return err
	}
	return meta.Put(b.done, []byte{1})
}

// buildIndexes builds, in batches, the indexes a store written before them lacks.
func (db *DB) buildIndexes() error {
	var schema uint64
	err := db.bolt.View(func(tx *bolt.Tx) error {
		if s := tx.Bucket(bMeta).Get([]byte("schema")); len(s) == 8 {
			schema = binary.BigEndian.Uint64(s)
		}
		return nil
	})
	if err != nil {
		return err
	}
	builds := []indexBuild{auditBuild(), failedBuild()}
	// A plaintext store about to be encrypted gets them in migrate, keyed
	// by its lookup key.
	if schema == schemaSealed || db.keys == nil {
		builds = append(builds, ticketIndexBuild())
	}
	for _, b := range builds {
		if err := db.buildBatched(b); err != nil {
			return fmt.Errorf("build the index %s: %w", b.done, err)
		}
	}
	return nil
}

// buildBatched runs b a batch per transaction, from where it stands.
func (db *DB) buildBatched(b indexBuild) error {
	for {
		finished := false
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			t := &Tx{tx: tx, now: db.now(), db: db}
			meta := t.b(bMeta)
			if meta.Get(b.done) != nil {
				finished = true
				return nil
			}
			at := meta.Get(b.progress)
			if at == nil {
				if err := b.reset(t); err != nil {
					return err
				}
				at = []byte{0}
			}
			step, after := int(at[0]), bytes.Clone(at[1:])
			if step >= len(b.steps) {
				finished = true
				if err := meta.Delete(b.progress); err != nil {
					return err
				}
				return meta.Put(b.done, []byte{1})
			}
			s := b.steps[step]
			c := t.b(s.bucket).Cursor()
			k, v := c.Seek(after)
			if len(after) > 0 && bytes.Equal(k, after) {
				k, v = c.Next()
			}
			var last []byte
			for n := 0; k != nil && n < indexBuildBatch; n++ {
				if err := s.fn(t, s.bucket, k, v); err != nil {
					return err
				}
				last = k
				k, v = c.Next()
			}
			next := []byte{byte(step + 1)}
			if k != nil {
				next = append([]byte{byte(step)}, last...)
			}
			return meta.Put(b.progress, next)
		})
		if err != nil || finished {
			return err
		}
		if indexBuildCommitted != nil {
			if err := indexBuildCommitted(); err != nil {
				return err
			}
		}
	}
}
