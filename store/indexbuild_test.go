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

// CountOutbox counts from idx_outbox_failed and idx_outbox_due what the
// walk over every item counts, as items are queued, sent, fail, come back
// and are deleted, and in an older store whose failed index Open builds.
func TestCountOutbox(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir)
	walk := func(tx *Tx) (n OutboxCounts) {
		tx.Outbox(func(it *OutboxItem) bool {
			switch it.Status {
			case OutboxPending:
				n.Pending++
			case OutboxFailed:
				n.Failed++
			case OutboxSent:
				n.Sent++
			}
			return true
		})
		return n
	}
	check := func(step string, want OutboxCounts) {
		t.Helper()
		db.View(func(tx *Tx) error {
			got, err := tx.CountOutbox()
			if err != nil {
				t.Fatal(err)
			}
			if got != want || walk(tx) != want {
				t.Errorf("%s: CountOutbox = %+v, the walk %+v, want %+v", step, got, walk(tx), want)
			}
			return nil
		})
	}
	var ids []uint64
	db.Update(func(tx *Tx) error {
		for range 6 {
			it := &OutboxItem{Kind: "acknowledgement", To: []string{"a@example.org"}, Raw: []byte("x")}
			if err := tx.Enqueue(it, ActorSystem); err != nil {
				return err
			}
			ids = append(ids, it.ID)
		}
		return nil
	})
	check("queued", OutboxCounts{Pending: 6})
	set := func(id uint64, status string) {
		db.Update(func(tx *Tx) error {
			it, err := tx.OutboxItem(id)
			if err != nil {
				return err
			}
			it.Status = status
			return tx.UpdateOutbox(it, ActorSystem)
		})
	}
	set(ids[0], OutboxSent)
	set(ids[1], OutboxFailed)
	set(ids[2], OutboxFailed)
	check("sent and failed", OutboxCounts{Pending: 3, Failed: 2, Sent: 1})
	set(ids[2], OutboxPending) // outbox retry
	db.Update(func(tx *Tx) error { return tx.DeleteOutboxItem(ids[1], ActorSystem, "test") })
	check("retried and deleted", OutboxCounts{Pending: 4, Sent: 1})
	set(ids[3], OutboxFailed)

	// An older store: no failed index; Open builds it.
	if err := db.bolt.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bIdxOutFail); err != nil {
			return err
		}
		return tx.Bucket(bMeta).Delete(keyFailedIdx)
	}); err != nil {
		t.Fatal(err)
	}
	check("older store, counted by the walk", OutboxCounts{Pending: 3, Failed: 1, Sent: 1})
	db.Close()
	db = openTest(t, dir)
	defer db.Close()
	check("older store, index built", OutboxCounts{Pending: 3, Failed: 1, Sent: 1})
}
