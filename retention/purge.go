package retention

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"ticketd/config"
	"ticketd/store"
)

// DefaultBatch is the most tickets one write transaction of a purge
// handles, and DefaultBatchTime how long it runs before it commits what it
// has: a batch is sized by time, so that a concurrent ingest waits for one
// short transaction at most whatever a ticket costs in this store, and as
// large as that allows, so that the commits (two fsyncs each) do not
// dominate (see BenchmarkPurge).
const (
	DefaultBatch     = 2000
	DefaultBatchTime = 25 * time.Millisecond
)

// Progress is reported at most this often, or every progressEvery tickets.
const (
	progressInterval = 2 * time.Second
	progressEvery    = 10000
)

// PurgeOptions tunes Purge.
type PurgeOptions struct {
	// At is the moment the purge runs for; zero means the store's clock now.
	At time.Time
	// DryRun lists what would be done at At without writing anything; with
	// At in the future it shows what will go then.
	DryRun bool
	// Actor is who the audit trail names: store.ActorScheduler (default) or store.ActorAdmin.
	Actor store.Actor
	// Progress, when set, is called on long runs with the tickets handled so far.
	Progress func(done, total int)
	// Batch is the most tickets per write transaction (default DefaultBatch).
	Batch int
	// BatchTime ends a write transaction once it has run this long
	// (default DefaultBatchTime; negative: by Batch only).
	BatchTime time.Duration
}

// Report says what a purge did, or would do.
type Report struct {
	At     time.Time `json:"at"`
	DryRun bool      `json:"dry_run"`
	// Tickets are the tickets acted on (or that would be), in the order of their due time.
	Tickets []Purged `json:"tickets"`
	// Held are tickets the plan index had as due that were under a hold at
	// At (their plan had not seen the hold): kept, and planned for the hold's
	// end. A ticket planned with its hold is not due before the hold ends.
	Held []Held `json:"held"`
	// Anonymized and Deleted count Tickets by action.
	Anonymized int `json:"anonymized"`
	Deleted    int `json:"deleted"`
	// Replanned counts tickets the plan index had as due that the rules, checked
	// again, did not: they were planned anew.
	Replanned int `json:"replanned"`
	// FullScan is set for a dry run while the plan index was computed with
	// another configuration: every ticket was checked instead.
	FullScan bool `json:"full_scan,omitempty"`
	// Quarantine are the quarantined mails older than [retention] quarantine
	// that were deleted (or would be).
	Quarantine []PurgedQuarantine `json:"quarantine"`
	// Scrub is what the free-page scrub after the purge did (nil: none ran).
	Scrub *store.ScrubStats `json:"scrub,omitempty"`
}

// Purged is one ticket a purge anonymized or deleted.
type Purged struct {
	Ticket  uint64    `json:"ticket"`
	Purpose string    `json:"purpose"`
	Action  string    `json:"action"` // anonymize | delete
	Reason  string    `json:"reason"`
	Due     time.Time `json:"due"`
}

// PurgedQuarantine is one quarantined mail a purge deleted.
type PurgedQuarantine struct {
	ID       uint64    `json:"id"`
	StoredAt time.Time `json:"stored_at"`
	Reason   string    `json:"reason"` // why it was quarantined
}

// Held is a due ticket kept under a hold.
type Held struct {
	Ticket   uint64    `json:"ticket"`
	Purpose  string    `json:"purpose"`
	Category string    `json:"category"`
	Until    time.Time `json:"until"`
	Reason   string    `json:"reason"` // what applies when the hold ends
}

// Purge applies the retention rules to every ticket due at opts.At: it walks
// the plan index in batches of one write transaction each, checks each
// ticket against the rules of cfg again, and anonymizes or deletes it as its
// purpose's on_expiry says (anonymizes when its requester was offboarded). A
// ticket under a hold is kept and planned for the hold's end. After a purge
// that erased anything the free pages of the file are scrubbed, so the
// erased data is gone from it (GDPR Art. 17).
func Purge(ctx context.Context, db *store.DB, cfg *config.Config, opts PurgeOptions) (*Report, error) {
	if opts.At.IsZero() {
		opts.At = db.Now()
	}
	if opts.Actor == "" {
		opts.Actor = store.ActorScheduler
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	if opts.BatchTime == 0 {
		opts.BatchTime = DefaultBatchTime
	}
	rep := &Report{At: opts.At, DryRun: opts.DryRun, Tickets: []Purged{}, Held: []Held{}, Quarantine: []PurgedQuarantine{}}
	if opts.DryRun {
		if err := dryRun(ctx, db, cfg, opts, rep); err != nil {
			return rep, err
		}
		return rep, purgeQuarantine(ctx, db, cfg, opts, rep)
	}
	// A purge that was killed before it finished left its erasures' keys in
	// the shred bucket (Open finishes those) and a scrub due: this run
	// completes both, even when nothing is left to erase.
	left := db.ScrubDue()
	if _, err := Reindex(ctx, db, cfg); err != nil {
		return rep, err
	}
	err := purge(ctx, db, cfg, opts, rep)
	if err == nil {
		err = purgeQuarantine(ctx, db, cfg, opts, rep)
	}
	// Each batch deferred its lookup index drops and key shreds and marked
	// a scrub due: the lookup entries go, sorted by key so that each
	// transaction writes few pages; the keys go from the key file, scrubbed
	// once; then the free pages of the data file are scrubbed once, before
	// the purge reports done. On an error this still runs for what the
	// committed batches erased.
	if _, serr := db.FinishLookupDrops(); serr != nil {
		err = errors.Join(err, serr)
	}
	if _, serr := db.FinishShreds(); serr != nil {
		err = errors.Join(err, serr)
	}
	if left || rep.Anonymized+rep.Deleted+len(rep.Quarantine) > 0 || db.ScrubDue() {
		st, serr := db.Scrub()
		rep.Scrub = &st
		err = errors.Join(err, serr)
	}
	return rep, err
}

func purge(ctx context.Context, db *store.DB, cfg *config.Config, opts PurgeOptions, rep *Report) error {
	total, err := countDue(db, store.PlanPurge, opts.At)
	if err != nil {
		return err
	}
	prog := newProgress(opts.Progress, total)
	var part Report
	w := dueWalk{kind: store.PlanPurge, at: opts.At, batch: opts.Batch, budget: max(0, opts.BatchTime), erases: true,
		begin: func() { part = Report{} },
		one: func(tx *store.Tx, n uint64) (int, bool, error) {
			left, err := purgeOne(tx, cfg, n, opts, &part)
			if err != nil {
				return 0, false, fmt.Errorf("purge ticket %d: %w", n, err)
			}
			return 1, left, nil
		},
		done: func(handled int) {
			rep.add(&part)
			prog.add(handled)
		},
	}
	if err := w.run(ctx, db); err != nil {
		return err
	}
	prog.finish()
	return nil
}

// purgeOne acts on ticket n if the rules say it is due at opts.At, and
// otherwise plans it anew. It reports false when the ticket stays due in the
// index anyway.
func purgeOne(tx *store.Tx, cfg *config.Config, n uint64, opts PurgeOptions, rep *Report) (bool, error) {
	tk, err := tx.Ticket(n)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	v := evaluate(tx, cfg, tk)
	switch decide(tk, v, opts.At, rep) {
	case actNow:
		why := "retention: purpose " + tk.Purpose
		if v.Offboarded {
			why = "retention: requester offboarded"
		}
		if v.Action == Delete {
			return true, tx.DeleteReadTicket(tk, opts.Actor, why)
		}
		return true, tx.AnonymizeReadTicket(tk, opts.Actor, why)
	case notDue:
		rep.Replanned++
	}
	if err := tx.Replan(n); err != nil {
		return false, err
	}
	tk, err = tx.Ticket(n)
	if err != nil {
		return false, err
	}
	return !due(tk.PurgeAt, opts.At), nil
}

type decision int

const (
	actNow decision = iota
	keptHeld
	notDue
)

// decide says what the purge does with tk at at, adding it to rep.
func decide(tk *store.Ticket, v verdict, at time.Time, rep *Report) decision {
	if due(v.Base, at) {
		if until := tk.HeldUntil(at); !until.IsZero() {
			h := Held{Ticket: tk.Number, Purpose: tk.Purpose, Until: until, Reason: v.Reason}
			for _, x := range tk.Holds {
				if x.Active(at) && x.Until.Equal(until) {
					h.Category = x.Category
				}
			}
			rep.Held = append(rep.Held, h)
			return keptHeld
		}
	}
	if !due(v.PurgeAt, at) {
		return notDue
	}
	reason := v.Reason
	if v.PurgeAt.After(v.Base) && v.Hold != nil {
		reason += "; hold " + v.Hold.Category + " ended " + day(v.Hold.Until)
	}
	rep.Tickets = append(rep.Tickets, Purged{Ticket: tk.Number, Purpose: tk.Purpose, Action: v.Action, Reason: reason, Due: v.PurgeAt})
	if v.Action == Delete {
		rep.Deleted++
	} else {
		rep.Anonymized++
	}
	return actNow
}

// dryRun lists what Purge would do at opts.At, in read transactions only.
// While the plan index is stale every ticket is checked, as the real run
// would plan them all anew first.
func dryRun(ctx context.Context, db *store.DB, cfg *config.Config, opts PurgeOptions, rep *Report) error {
	stale, err := Stale(db, cfg)
	if err != nil {
		return err
	}
	rep.FullScan = stale
	var ids []uint64
	err = db.View(func(tx *store.Tx) error {
		if stale {
			ids = tx.TicketNumbers(0, 0)
			return nil
		}
		ids, err = tx.Due(store.PlanPurge, opts.At, 0)
		return err
	})
	if err != nil {
		return err
	}
	prog := newProgress(opts.Progress, len(ids))
	for len(ids) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch := ids[:min(len(ids), 10*opts.Batch)]
		ids = ids[len(batch):]
		err := db.View(func(tx *store.Tx) error {
			for _, n := range batch {
				tk, err := tx.Ticket(n)
				if errors.Is(err, store.ErrNotFound) {
					continue // deleted since the list was read
				}
				if err != nil {
					return err
				}
				v := evaluate(tx, cfg, tk)
				if stale && !due(v.PurgeAt, opts.At) {
					continue // not among what the index, planned anew, would yield
				}
				if decide(tk, v, opts.At, rep) == notDue {
					rep.Replanned++
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		prog.add(len(batch))
	}
	prog.finish()
	// In the order a real run takes them: by due time, then number.
	slices.SortStableFunc(rep.Tickets, func(a, b Purged) int {
		return cmp.Or(a.Due.Compare(b.Due), cmp.Compare(a.Ticket, b.Ticket))
	})
	return nil
}

// purgeQuarantine deletes the quarantined mail stored more than [retention]
// quarantine before opts.At, a batch per transaction (or lists it, in a dry run).
func purgeQuarantine(ctx context.Context, db *store.DB, cfg *config.Config, opts PurgeOptions, rep *Report) error {
	keep := cfg.Retention.Quarantine
	before := opts.At.AddDate(-keep.Years, 0, -keep.Days)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var batch []*store.Quarantine
		var err error
		if opts.DryRun {
			err = db.View(func(tx *store.Tx) error {
				batch, err = tx.QuarantinedBefore(before, 0) // a dry run lists all in one read
				return err
			})
		} else {
			err = db.Update(func(tx *store.Tx) error {
				tx.DeferShreds()
				if batch, err = tx.QuarantinedBefore(before, min(opts.Batch, quarantineBatch)); err != nil {
					return err
				}
				for _, q := range batch {
					if err := tx.DeleteQuarantine(q, opts.Actor, "retention: quarantine kept "+keep.String()); err != nil {
						return err
					}
				}
				if len(batch) > 0 {
					return tx.MarkScrubDue()
				}
				return nil
			})
		}
		if err != nil {
			return err
		}
		for _, q := range batch {
			rep.Quarantine = append(rep.Quarantine, PurgedQuarantine{ID: q.ID, StoredAt: q.StoredAt, Reason: q.Reason})
		}
		if opts.DryRun || len(batch) < min(opts.Batch, quarantineBatch) {
			return nil
		}
	}
}

// quarantineBatch is the most quarantined mails one transaction deletes
// (each shreds a blob file after its commit).
const quarantineBatch = 100

func (r *Report) add(o *Report) {
	r.Tickets = append(r.Tickets, o.Tickets...)
	r.Held = append(r.Held, o.Held...)
	r.Anonymized += o.Anonymized
	r.Deleted += o.Deleted
	r.Replanned += o.Replanned
}

func countDue(db *store.DB, kind byte, at time.Time) (int, error) {
	var n int
	err := db.View(func(tx *store.Tx) error {
		ids, err := tx.Due(kind, at, 0)
		n = len(ids)
		return err
	})
	return n, err
}

// progress calls fn at most every progressInterval or every progressEvery tickets.
type progress struct {
	fn          func(done, total int)
	total, done int
	lastDone    int
	last        time.Time
	reported    bool
}

func newProgress(fn func(done, total int), total int) *progress {
	return &progress{fn: fn, total: total, last: time.Now()}
}

func (p *progress) add(n int) {
	p.done += n
	if p.fn == nil {
		return
	}
	if p.done-p.lastDone >= progressEvery || time.Since(p.last) >= progressInterval {
		p.report()
	}
}

// finish reports the end of a run that reported progress before.
func (p *progress) finish() {
	if p.fn != nil && p.reported && p.lastDone != p.done {
		p.report()
	}
}

func (p *progress) report() {
	p.fn(p.done, max(p.total, p.done))
	p.lastDone, p.last, p.reported = p.done, time.Now(), true
}
