package store

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

var keySweep = []byte("sweep_blobs") // meta: blob files of the plaintext store may be left to remove

// migrateHook, when set (by tests), runs at the end of the migration's
// transaction; an error rolls it back, as a crash there would.
var migrateHook func() error

// migrate encrypts a plaintext store in place (schema 1 to 2): the blob
// files are written encrypted under their new names first; then one
// transaction seals every record, re-keys the lookup indexes by HMAC,
// encrypts the small blobs and sets schema 2; after it commits the
// plaintext blob files are shredded and the free pages of the file, which
// hold the plaintext copies, are scrubbed. A crash before the commit
// leaves the plaintext store as it was (with some new files that are
// written again); one after it is finished on the next open (sweepMigrated).
func (db *DB) migrate() error {
	var files []string
	err := db.bolt.View(func(tx *bolt.Tx) error {
		files = fileBlobs(tx)
		return nil
	})
	if err != nil {
		return err
	}
	// The plaintext files, encrypted under their new names.
	for _, sum := range files {
		f, err := os.Open(filepath.Join(db.Blobs.dir, sum[:2], sum))
		if errors.Is(err, os.ErrNotExist) {
			continue // missing before; the reference stays as it was
		}
		if err != nil {
			return err
		}
		got, _, err := db.Blobs.putFile(nil, f)
		f.Close()
		if err != nil {
			return err
		}
		if got != sum {
			return fmt.Errorf("blob file %s: its content does not match its name", sum)
		}
	}
	err = db.Update(func(t *Tx) error {
		if err := t.sealAll(); err != nil {
			return err
		}
		// The queue and assignee entries are keyed by the lookup key now.
		if err := t.buildTicketIndexes(); err != nil {
			return err
		}
		if migrateHook != nil {
			if err := migrateHook(); err != nil {
				return err
			}
		}
		if err := t.b(bMeta).Put(keySweep, []byte{1}); err != nil {
			return err
		}
		return t.b(bMeta).Put([]byte("schema"), be64(schemaSealed))
	})
	if err != nil {
		return err
	}
	for _, sum := range files {
		if err := ShredFile(filepath.Join(db.Blobs.dir, sum[:2], sum)); err != nil {
			db.unshredded.add(filepath.Join(db.Blobs.dir, sum[:2], sum))
		}
	}
	if err := db.sweepMigrated(); err != nil {
		return err
	}
	_, err = db.Scrub()
	return err
}

type rawKV struct{ k, v []byte }

func rawAll(b *bolt.Bucket) []rawKV {
	var out []rawKV
	b.ForEach(func(k, v []byte) error {
		out = append(out, rawKV{bytes.Clone(k), bytes.Clone(v)})
		return nil
	})
	return out
}

// sealAll seals every record of a plaintext store, in one transaction.
func (t *Tx) sealAll() error {
	// Tickets first: messages and outbox items of agents take their ticket's key.
	type sealer struct {
		name []byte
		kid  func(v []byte) (string, error)
	}
	personOf := func(field string) func(v []byte) (string, error) {
		return func(v []byte) (string, error) {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(v, &m); err != nil {
				return "", err
			}
			var id uint64
			if err := json.Unmarshal(m[field], &id); err != nil {
				return "", err
			}
			return personKeyID(id), nil
		}
	}
	sealers := []sealer{
		{bPeople, personOf("id")},
		{bTickets, func(v []byte) (string, error) {
			var tk Ticket
			err := json.Unmarshal(v, &tk)
			return ticketKeyID(&tk), err
		}},
		{bMessages, func(v []byte) (string, error) {
			var m Message
			err := json.Unmarshal(v, &m)
			return t.messageKeyID(&m), err
		}},
		{bOutbox, func(v []byte) (string, error) {
			var it OutboxItem
			err := json.Unmarshal(v, &it)
			return t.ticketKeyOf(it.Ticket), err
		}},
		{bQuarantine, func(v []byte) (string, error) {
			var q Quarantine
			err := json.Unmarshal(v, &q)
			return quarantineKeyID(q.ID), err
		}},
		{bConsentTok, personOf("person")},
		{bConsents, personOf("person")},
	}
	for _, s := range sealers {
		b := t.b(s.name)
		for _, e := range rawAll(b) {
			if len(e.v) > 0 && e.v[0] == sealVersion {
				continue
			}
			kid, err := s.kid(e.v)
			if err != nil {
				return fmt.Errorf("record %s/%x: %w", s.name, e.k, err)
			}
			if err := t.ensureKey(kid); err != nil {
				return err
			}
			key, _, err := t.key(kid)
			if err != nil {
				return err
			}
			sealed, err := sealValue(kid, key, s.name, e.k, e.v)
			if err != nil {
				return err
			}
			if err := b.Put(e.k, sealed); err != nil {
				return err
			}
			if bytes.Equal(s.name, bOutbox) {
				var it OutboxItem
				if json.Unmarshal(e.v, &it) == nil && it.Ticket != 0 {
					if err := t.b(bIdxOutTk).Put(append(be64(it.Ticket), be64(it.ID)...), nil); err != nil {
						return err
					}
				}
			}
			if bytes.Equal(s.name, bConsentTok) {
				var ct ConsentToken
				if json.Unmarshal(e.v, &ct) == nil {
					if err := t.b(bIdxCTok).Put(append(be64(ct.Person), ct.ID...), nil); err != nil {
						return err
					}
				}
			}
		}
	}
	// The lookup indexes, keyed by HMAC.
	for _, name := range lookupBuckets {
		all := rawAll(t.b(name))
		if err := t.tx.DeleteBucket(name); err != nil {
			return err
		}
		b, err := t.tx.CreateBucket(name)
		if err != nil {
			return err
		}
		for _, e := range all {
			if err := b.Put(t.lk(name, e.k), e.v); err != nil {
				return err
			}
		}
	}
	// Blob references and small blobs, under their new names.
	refs := rawAll(t.b(bIdxBlobRef))
	if err := t.tx.DeleteBucket(bIdxBlobRef); err != nil {
		return err
	}
	rb, err := t.tx.CreateBucket(bIdxBlobRef)
	if err != nil {
		return err
	}
	for _, e := range refs {
		k := e.k
		if len(k) >= 64 {
			if n := t.db.Blobs.name(string(k[:64])); n != "" {
				k = append([]byte(n), k[64:]...)
			}
		}
		if err := rb.Put(k, nil); err != nil {
			return err
		}
	}
	small := rawAll(t.b(bBlobs))
	if err := t.tx.DeleteBucket(bBlobs); err != nil {
		return err
	}
	bb, err := t.tx.CreateBucket(bBlobs)
	if err != nil {
		return err
	}
	for _, e := range small {
		sum := string(e.k)
		name := t.db.Blobs.name(sum)
		if name == "" {
			continue
		}
		v, err := sealSmallBlob(t.db.Blobs.crypt.key(sum), name, e.v)
		if err != nil {
			return err
		}
		if err := bb.Put([]byte(name), v); err != nil {
			return err
		}
	}
	return nil
}

// sweepMigrated shreds the blob files no record references, once, after a
// plaintext store was encrypted: those are its plaintext files.
func (db *DB) sweepMigrated() error {
	pending := false
	var refs map[string]bool
	err := db.bolt.View(func(tx *bolt.Tx) error {
		pending = tx.Bucket(bMeta).Get(keySweep) != nil
		if pending {
			refs = map[string]bool{}
			for _, n := range fileBlobs(tx) {
				refs[n] = true
			}
		}
		return nil
	})
	if err != nil || !pending {
		return err
	}
	fans, err := os.ReadDir(db.Blobs.dir)
	if err != nil {
		return err
	}
	for _, fan := range fans {
		if !fan.IsDir() || len(fan.Name()) != 2 {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(db.Blobs.dir, fan.Name()))
		if err != nil {
			return err
		}
		for _, e := range ents {
			if _, err := hex.DecodeString(e.Name()); err != nil || len(e.Name()) != 64 || refs[e.Name()] {
				continue
			}
			if err := ShredFile(filepath.Join(db.Blobs.dir, fan.Name(), e.Name())); err != nil {
				return err
			}
		}
	}
	return db.bolt.Update(func(tx *bolt.Tx) error { return tx.Bucket(bMeta).Delete(keySweep) })
}
