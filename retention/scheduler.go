package retention

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"ticketd/config"
	"ticketd/store"
)

// stopGrace bounds how long Stop waits for a run in progress.
const stopGrace = 30 * time.Second

// Scheduler runs the purge on [retention] schedule and the consent sweep on
// [consent] schedule (robfig/cron). The cron timing is real; what is due is
// decided by the Now clock. A run that panics is logged and later runs go on;
// a run still going when its next time comes is skipped, not stacked.
type Scheduler struct {
	db  *store.DB
	log *slog.Logger
	now func() time.Time

	cron   *cron.Cron
	ctx    context.Context // cancelled by Stop, so that a long run ends early
	cancel context.CancelFunc

	mu      sync.Mutex // guards cfg and ids
	cfg     *config.Config
	ids     [2]cron.EntryID // purge, consent
	started bool

	work sync.Mutex     // one run at a time: purge, sweep or reindex
	bg   sync.WaitGroup // reindexes in the background

	// The jobs the schedules run (tests replace them).
	purgeJob, sweepJob func()

	// Done, when set before Start, is called after each scheduled purge
	// with its report and error (the metrics count it).
	Done func(rep *Report, err error)
}

// NewScheduler returns a Scheduler for db with the schedules of cfg; now is
// the clock for what is due (nil: db.Now). An invalid schedule is an error.
func NewScheduler(db *store.DB, cfg *config.Config, log *slog.Logger, now func() time.Time) (*Scheduler, error) {
	if now == nil {
		now = db.Now
	}
	l := CronLogger(log, "retention scheduler")
	s := &Scheduler{db: db, log: log, now: now,
		cron: cron.New(cron.WithLogger(l), cron.WithChain(cron.SkipIfStillRunning(l), cron.Recover(l)))}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.purgeJob, s.sweepJob = s.RunPurge, s.RunSweep
	if err := s.Reload(cfg); err != nil {
		return nil, err
	}
	return s, nil
}

// Start starts the schedules and checks in the background whether the plans
// were computed with the configuration in force, recomputing them if not.
func (s *Scheduler) Start() {
	s.mu.Lock()
	s.started = true
	cfg := s.cfg
	s.mu.Unlock()
	s.cron.Start()
	s.reindex(cfg)
}

// Reload replaces the schedules and the configuration the runs use, and plans
// every ticket anew (in the background) if the retention rules changed. On an
// invalid schedule it returns the error and keeps the running ones.
func (s *Scheduler) Reload(cfg *config.Config) error {
	apply, err := s.Prepare(cfg)
	if err != nil {
		return err
	}
	apply()
	return nil
}

// Prepare checks cfg's schedules and returns the function that puts them
// and cfg in force (Reload's work), which cannot fail. On an error nothing
// changes.
func (s *Scheduler) Prepare(cfg *config.Config) (apply func(), err error) {
	purge, err := config.ParseSchedule(cfg.Retention.Schedule)
	if err != nil {
		return nil, fmt.Errorf("retention.schedule: %w", err)
	}
	sweep, err := config.ParseSchedule(cfg.Consent.Schedule)
	if err != nil {
		return nil, fmt.Errorf("consent.schedule: %w", err)
	}
	return func() {
		s.mu.Lock()
		for _, id := range s.ids {
			s.cron.Remove(id)
		}
		s.cfg = cfg
		s.ids[0] = s.cron.Schedule(purge, cron.FuncJob(func() { s.purgeJob() }))
		s.ids[1] = s.cron.Schedule(sweep, cron.FuncJob(func() { s.sweepJob() }))
		started := s.started
		s.mu.Unlock()
		if started {
			s.reindex(cfg)
		}
	}, nil
}

// Config is the configuration the scheduled runs use.
func (s *Scheduler) Config() *config.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

// Next returns when the purge and the consent sweep run next (zero before Start).
func (s *Scheduler) Next() (purge, sweep time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cron.Entry(s.ids[0]).Next, s.cron.Entry(s.ids[1]).Next
}

// Stop stops the schedules, cancels a run in progress between two of its
// batches and waits for it (at most stopGrace). Call it before the store closes.
func (s *Scheduler) Stop() {
	s.cancel()
	select {
	case <-s.cron.Stop().Done():
	case <-time.After(stopGrace):
		s.log.Error("retention scheduler: a run did not stop", "within", stopGrace)
	}
	s.bg.Wait()
}

func (s *Scheduler) reindex(cfg *config.Config) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.work.Lock()
		defer s.work.Unlock()
		start := time.Now()
		n, err := Reindex(s.ctx, s.db, cfg)
		if err != nil {
			s.log.Error("retention plans not recomputed", "err", err)
			return
		}
		if n > 0 {
			s.log.Info("retention plans recomputed for a changed configuration", "tickets", n, "duration", time.Since(start).Round(time.Millisecond))
		}
	}()
}

// RunPurge runs the purge now, for the Now clock's time, and logs its summary.
func (s *Scheduler) RunPurge() {
	s.work.Lock()
	defer s.work.Unlock()
	start := time.Now()
	rep, err := Purge(s.ctx, s.db, s.Config(), PurgeOptions{At: s.now(), Actor: store.ActorScheduler, Progress: func(done, total int) {
		s.log.Info("retention purge in progress", "done", done, "total", total)
	}})
	attrs := []any{"anonymized", rep.Anonymized, "deleted", rep.Deleted, "held", len(rep.Held), "quarantine_deleted", len(rep.Quarantine),
		"replanned", rep.Replanned, "duration", time.Since(start).Round(time.Millisecond)}
	if rep.Scrub != nil {
		attrs = append(attrs, "scrubbed_pages", rep.Scrub.Pages, "scrub_pause", rep.Scrub.Pause.Round(time.Millisecond))
	}
	if s.Done != nil {
		s.Done(rep, err)
	}
	if err != nil {
		s.log.Error("retention purge failed", append(attrs, "err", err)...)
		return
	}
	s.log.Info("retention purge done", attrs...)
}

// RunSweep runs the consent sweep now, for the Now clock's time, and logs its summary.
func (s *Scheduler) RunSweep() {
	s.work.Lock()
	defer s.work.Unlock()
	start := time.Now()
	rep, err := SweepConsent(s.ctx, s.db, s.Config(), s.now())
	attrs := []any{"restricted", rep.Restricted, "erased", rep.Erased, "held_restricted", rep.HeldRestricted,
		"replanned", rep.Replanned, "duration", time.Since(start).Round(time.Millisecond)}
	if err != nil {
		s.log.Error("consent sweep failed", append(attrs, "err", err)...)
		return
	}
	s.log.Info("consent sweep done", attrs...)
}

// CronLogger passes robfig/cron's log lines to slog: its routine lines at
// debug level, skipped runs at info, errors (a recovered panic) at error;
// name is the scheduler the lines are of ("retention scheduler").
func CronLogger(log *slog.Logger, name string) cron.Logger { return cronLogger{log, name} }

type cronLogger struct {
	log  *slog.Logger
	name string
}

func (l cronLogger) Info(msg string, kv ...any) {
	level, msg := slog.LevelDebug, "cron: "+msg
	if msg == "cron: skip" {
		level, msg = slog.LevelInfo, l.name+": run skipped, the previous one is still going"
	}
	l.log.Log(context.Background(), level, msg, kv...)
}

func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error(l.name+": "+msg, append(kv, "err", err)...)
}
