package store

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestDeferredShredsFinishTogether: people erased in transactions that
// defer their shreds, more than one step of FinishShreds holds, keep their
// keys in the key file until FinishShreds, which then removes every one,
// free pages included, and clears the shred bucket; a person not erased
// keeps their key.
func TestDeferredShredsFinishTogether(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir)
	defer db.Close()
	n := shredChunk + shredChunk/2
	var ids []uint64
	var kept uint64
	if err := db.Update(func(tx *Tx) error {
		for i := range n + 1 {
			p, err := tx.EnsurePerson(fmt.Sprintf("p%d@example.org", i), "P", "system")
			if err != nil {
				return err
			}
			ids = append(ids, p.ID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ids, kept = ids[:n], ids[n]
	var wrapped [][]byte
	db.keys.bolt.View(func(tx *bolt.Tx) error {
		for _, id := range ids {
			wrapped = append(wrapped, bytes.Clone(tx.Bucket(bKKeys).Get([]byte(personKeyID(id)))))
		}
		return nil
	})
	keyFile := filepath.Join(dir, "keys.db")
	held := func() int {
		raw, _ := os.ReadFile(keyFile)
		c := 0
		for _, w := range wrapped {
			if len(w) > 0 && bytes.Contains(raw, w) {
				c++
			}
		}
		return c
	}
	if held() != n {
		t.Fatal("the wrapped keys are not in the key file before the erasure: the test would prove nothing")
	}
	for part := range 3 {
		if err := db.Update(func(tx *Tx) error {
			tx.DeferShreds()
			for _, id := range ids[part*n/3 : (part+1)*n/3] {
				if err := tx.DeletePerson(id, ActorAdmin, "test"); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if got := db.PendingShreds(); got != n {
		t.Errorf("PendingShreds = %d before FinishShreds, want %d", got, n)
	}
	if _, ok, _ := db.keys.get(personKeyID(ids[0])); !ok {
		t.Error("a deferred shred deleted its key before FinishShreds")
	}
	got, err := db.FinishShreds()
	if err != nil || got != n {
		t.Fatalf("FinishShreds = %d, %v; want %d", got, err, n)
	}
	if c := held(); c != 0 {
		t.Errorf("the key file still holds %d erased wrapped keys", c)
	}
	if db.PendingShreds() != 0 {
		t.Error("the shred bucket was not cleared")
	}
	for _, id := range ids {
		if _, ok, _ := db.keys.get(personKeyID(id)); ok {
			t.Fatalf("the key of erased person %d is still there (or cached)", id)
		}
	}
	if _, ok, _ := db.keys.get(personKeyID(kept)); !ok {
		t.Error("the key of the person not erased went too")
	}
}
