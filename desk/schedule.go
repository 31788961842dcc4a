package desk

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"ticketd/config"
	"ticketd/retention"
)

// serviceStopGrace bounds how long ServiceScheduler.Stop waits for a run.
const serviceStopGrace = 30 * time.Second

// ServiceScheduler runs the service levels: RemindAndEscalate on [agents]
// schedule and SendDigests on [agents] digest_schedule (none when it is
// "off"), with robfig/cron. The cron timing is real; what is due is decided
// by the now clock. A run that panics is logged and later runs go on; a run
// still going when its next time comes is skipped, not stacked.
type ServiceScheduler struct {
	d   *Desk
	log *slog.Logger
	now func() time.Time

	cron *cron.Cron

	mu     sync.Mutex // guards ids and digest
	ids    [2]cron.EntryID
	digest bool // ids[1] is scheduled

	work sync.Mutex // one run at a time

	// The jobs the schedules run (tests replace them).
	remindJob, digestJob func()
}

// NewServiceScheduler returns the scheduler of d's service levels with the
// schedules of d's configuration; now is the clock for what is due (nil:
// the store's clock). An invalid schedule is an error.
func (d *Desk) NewServiceScheduler(now func() time.Time) (*ServiceScheduler, error) {
	if now == nil {
		now = d.DB.Now
	}
	l := retention.CronLogger(d.Log, "service scheduler")
	s := &ServiceScheduler{d: d, log: d.Log, now: now,
		cron: cron.New(cron.WithLogger(l), cron.WithChain(cron.SkipIfStillRunning(l), cron.Recover(l)))}
	s.remindJob, s.digestJob = s.RunReminders, s.RunDigests
	if err := s.Reload(d.Config()); err != nil {
		return nil, err
	}
	return s, nil
}

// Start starts the schedules.
func (s *ServiceScheduler) Start() { s.cron.Start() }

// Reload replaces the schedules with those of cfg. On an invalid schedule it
// returns the error and keeps the running ones.
func (s *ServiceScheduler) Reload(cfg *config.Config) error {
	apply, err := s.Prepare(cfg)
	if err != nil {
		return err
	}
	apply()
	return nil
}

// Prepare checks cfg's schedules and returns the function that puts them in
// force (Reload's work), which cannot fail. On an error nothing changes.
func (s *ServiceScheduler) Prepare(cfg *config.Config) (apply func(), err error) {
	remind, err := config.ParseSchedule(cfg.Agents.Schedule)
	if err != nil {
		return nil, fmt.Errorf("agents.schedule: %w", err)
	}
	var digest cron.Schedule
	if cfg.Agents.Digest() {
		if digest, err = config.ParseSchedule(cfg.Agents.DigestSchedule); err != nil {
			return nil, fmt.Errorf("agents.digest_schedule: %w", err)
		}
	}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, id := range s.ids {
			if id != 0 {
				s.cron.Remove(id)
			}
		}
		s.ids = [2]cron.EntryID{}
		s.ids[0] = s.cron.Schedule(remind, cron.FuncJob(func() { s.remindJob() }))
		s.digest = digest != nil
		if s.digest {
			s.ids[1] = s.cron.Schedule(digest, cron.FuncJob(func() { s.digestJob() }))
		}
	}, nil
}

// Next returns when the reminders and the digests run next (zero before
// Start, and for the digests when there are none).
func (s *ServiceScheduler) Next() (remind, digest time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	remind = s.cron.Entry(s.ids[0]).Next
	if s.digest {
		digest = s.cron.Entry(s.ids[1]).Next
	}
	return remind, digest
}

// Stop stops the schedules and waits for a run in progress (at most
// serviceStopGrace). Call it before the store closes.
func (s *ServiceScheduler) Stop() {
	select {
	case <-s.cron.Stop().Done():
	case <-time.After(serviceStopGrace):
		s.log.Error("service scheduler: a run did not stop", "within", serviceStopGrace)
	}
}

// RunReminders reminds of the tickets due soon and escalates the overdue
// ones now, for the now clock's time, and logs what it sent.
func (s *ServiceScheduler) RunReminders() {
	s.work.Lock()
	defer s.work.Unlock()
	start := time.Now()
	rep, err := s.d.RemindAndEscalate(s.now())
	if rep == nil {
		rep = &ServiceReport{}
	}
	attrs := []any{"reminded", len(rep.Reminded), "escalated", len(rep.Escalated),
		"reminded_tickets", rep.Reminded, "escalated_tickets", rep.Escalated,
		"duration", time.Since(start).Round(time.Millisecond)}
	if err != nil {
		s.log.Error("service levels: reminders and escalations failed", append(attrs, "err", err)...)
		return
	}
	s.log.Info("service levels: reminders and escalations done", attrs...)
}

// RunDigests mails each agent its digest now, for the now clock's time, and
// logs how many it sent.
func (s *ServiceScheduler) RunDigests() {
	s.work.Lock()
	defer s.work.Unlock()
	start := time.Now()
	rep, err := s.d.SendDigests(s.now())
	if rep == nil {
		rep = &DigestReport{}
	}
	attrs := []any{"agents", rep.Agents, "duration", time.Since(start).Round(time.Millisecond)}
	if err != nil {
		s.log.Error("service levels: digests failed", append(attrs, "err", err)...)
		return
	}
	s.log.Info("service levels: digests done", attrs...)
}
