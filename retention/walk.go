package retention

import (
	"context"
	"runtime"
	"time"

	"ticketd/store"
)

// dueWalk handles every ticket due in one plan index, in batches of one
// write transaction each, so that concurrent writers wait for one batch at
// most.
type dueWalk struct {
	kind  byte      // store.PlanPurge or store.PlanConsent
	at    time.Time // what is due at this time
	batch int       // at most this many tickets per transaction
	// budget ends a batch early once its transaction has run this long (0:
	// count only), so that a writer waiting for the lock waits about that
	// long at most, whatever a ticket costs in this store.
	budget time.Duration
	// erases: each batch defers its key shreds (store.Tx.DeferShreds) and
	// its lookup index drops (store.Tx.DeferLookupDrops) and marks a scrub
	// due; the caller finishes all three after the walk.
	erases bool
	// begin is called when a batch's transaction starts.
	begin func()
	// one handles ticket n in tx. It returns how many tickets it handled and
	// whether n left the due index; one that did not is skipped from then on
	// (an entry that stays due however the ticket is planned), so the walk ends.
	one func(tx *store.Tx, n uint64) (handled int, left bool, err error)
	// done is called after a batch committed, with the tickets it handled.
	done func(handled int)
}

// batchCommitted, when set (by tests), is called after each batch that
// handled tickets has committed: a crash point.
var batchCommitted func()

func (w *dueWalk) run(ctx context.Context, db *store.DB) error {
	stuck := map[uint64]bool{}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		handled := 0
		err := db.Update(func(tx *store.Tx) error {
			start := time.Now()
			handled = 0
			w.begin()
			if w.erases {
				tx.DeferShreds()
				tx.DeferLookupDrops()
			}
			ids, err := tx.Due(w.kind, w.at, w.batch+len(stuck))
			if err != nil {
				return err
			}
			for _, n := range ids {
				if handled >= w.batch || (w.budget > 0 && handled > 0 && time.Since(start) >= w.budget) {
					break
				}
				if stuck[n] {
					continue
				}
				h, left, err := w.one(tx, n)
				if err != nil {
					return err
				}
				handled += h
				if !left {
					stuck[n] = true
				}
			}
			if w.erases && handled > 0 {
				return tx.MarkScrubDue()
			}
			return nil
		})
		if err != nil {
			return err
		}
		if handled == 0 {
			return nil
		}
		w.done(handled)
		if batchCommitted != nil {
			batchCommitted()
		}
		// A writer that waited for this batch was woken when it committed:
		// let it run before the next batch takes the lock again.
		runtime.Gosched()
	}
}
