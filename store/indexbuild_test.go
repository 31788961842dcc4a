package store

import (
	"errors"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// unbuildIndexes makes the file look like one written before the ticket,
// mention and audit indexes.
func unbuildIndexes(tx *bolt.Tx) error {
	for _, name := range append(ticketIndexBuckets, bIdxMention, bIdxAudit) {
		if err := tx.DeleteBucket(name); err != nil {
			return err
		}
	}
	if err := tx.Bucket(bMeta).Delete(keyAuditIdx); err != nil {
		return err
	}
	return tx.Bucket(bMeta).Delete(keyTicketIdx)
}

// An older store gets its ticket, mention and audit indexes on Open in
// many short transactions, not one: a build cut short after a few of them
// (a crash) goes on at the next Open from where it stood, and the indexes
// then answer as those written with the records.
func TestIndexBuildOnOpenIsBatchedAndResumes(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir)
	for i := range 12 {
		fillQueue(t, db, i, []string{"support", "billing"}[i%2], []string{"", "agent@example.com"}[i%2])
	}
	if err := db.bolt.Update(unbuildIndexes); err != nil {
		t.Fatal(err)
	}
	db.Close()

	defer func(n int) { indexBuildBatch, indexBuildCommitted = n, nil }(indexBuildBatch)
	indexBuildBatch = 5
	crash := errors.New("crash")
	batches := 0
	indexBuildCommitted = func() error {
		batches++
		if batches == 4 {
			return crash
		}
		return nil
	}
	if _, err := Open(dir, Options{MasterKeyFile: testMaster(dir)}); !errors.Is(err, crash) {
		t.Fatalf("Open with a crash in the index build: %v", err)
	}
	indexBuildCommitted = func() error { batches++; return nil }
	db = openTest(t, dir)
	defer db.Close()
	if batches < 8 {
		t.Errorf("the index builds took %d transactions of %d records; want one per batch", batches, indexBuildBatch)
	}
	checkTicketIndexes(t, db, "built in batches")
	db.View(func(tx *Tx) error {
		for _, k := range []string{"idx_v3", "idx_v4"} {
			if tx.b(bMeta).Get([]byte(k)) == nil {
				t.Errorf("%s not set after the build", k)
			}
			if tx.b(bMeta).Get([]byte(k+".build")) != nil {
				t.Errorf("%s: the build's progress is left in meta", k)
			}
		}
		return nil
	})
	// A current store builds nothing.
	db.Close()
	batches = 0
	openTest(t, dir).Close()
	if batches != 0 {
		t.Errorf("Open of a current store ran %d build transactions", batches)
	}
}
