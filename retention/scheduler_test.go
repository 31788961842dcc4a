package retention

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"ticketd/config"
	"ticketd/store"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func withSchedules(cfg *config.Config, purge, sweep string) *config.Config {
	c := *cfg
	c.Retention.Schedule, c.Consent.Schedule = purge, sweep
	return &c
}

func newTestScheduler(t *testing.T, e *env, purge, sweep string) (*Scheduler, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	s, err := NewScheduler(e.db, withSchedules(e.config(), purge, sweep), slog.New(slog.NewTextHandler(logs, nil)), e.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	return s, logs
}

// The scheduler tests run inside a synctest bubble: cron's timers run on the
// bubble's fake time, so "@every 1s" fires as soon as every goroutine waits,
// and synctest.Wait returns once the runs a moment started are done. What is
// due is still decided by the injected clock (e.clock), which stands still.

// TestSchedulerRunsJobs: the real jobs run on "@every 1s" with the injected
// clock deciding what is due, log counts only, and stop cleanly.
func TestSchedulerRunsJobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		purged := e.ticket("purge.me@example.org", "support", "collected_delete", "Frage", "Text")
		restricted := e.ticket("kunde@example.org", "support", "feedback", "Idee", "Text")
		e.at(t0.AddDate(1, 0, 0))
		s, logs := newTestScheduler(t, e, "@every 1s", "@every 1s")
		s.Start()
		time.Sleep(time.Second)
		synctest.Wait()
		if e.exists(purged) || e.get(restricted).Restricted == nil {
			t.Fatalf("after the first run: purged ticket there %v, restricted %v", e.exists(purged), e.get(restricted).Restricted)
		}
		out := logs.String()
		if !strings.Contains(out, "retention purge done") || !strings.Contains(out, "consent sweep done") {
			t.Fatalf("no summaries logged:\n%s", out)
		}
		s.Stop()
		out = logs.String()
		if !strings.Contains(out, "deleted=1") || !strings.Contains(out, "restricted=1") {
			t.Errorf("summaries lack counts:\n%s", out)
		}
		for _, pii := range []string{"purge.me", "kunde@", "Frage", "Idee"} {
			if strings.Contains(out, pii) {
				t.Errorf("log holds personal data %q:\n%s", pii, out)
			}
		}
		// Stopped means no more runs.
		n := strings.Count(logs.String(), "retention purge done")
		time.Sleep(time.Hour)
		synctest.Wait()
		if m := strings.Count(logs.String(), "retention purge done"); m != n {
			t.Errorf("runs after Stop: %d, then %d", n, m)
		}
	})
}

func TestSchedulerPanicDoesNotStopLaterRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		s, logs := newTestScheduler(t, e, "@every 1s", "@every 1h")
		var runs atomic.Int32
		s.purgeJob = func() {
			runs.Add(1)
			panic("boom")
		}
		s.Start()
		defer s.Stop()
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if n := runs.Load(); n != 3 {
			t.Errorf("%d runs in 3s of \"@every 1s\" that panic each time, want 3", n)
		}
		if !strings.Contains(logs.String(), "boom") {
			t.Errorf("the panic was not logged:\n%s", logs.String())
		}
	})
}

func TestSchedulerReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		s, _ := newTestScheduler(t, e, "@every 1h", "@every 1h")
		var purges, sweeps atomic.Int32
		s.purgeJob = func() { purges.Add(1) }
		s.sweepJob = func() { sweeps.Add(1) }
		s.Start()
		defer s.Stop()
		synctest.Wait()
		before, _ := s.Next()
		if want := time.Now().Add(time.Hour); !before.Equal(want) {
			t.Fatalf("next purge %v, want in an hour (%v)", before, want)
		}
		// An invalid schedule is an error, not a panic, and the old ones stay.
		for _, bad := range []string{"CRON_TZ=UTC", "61 * * * *", ""} {
			if err := s.Reload(withSchedules(e.config(), bad, "@every 1s")); err == nil {
				t.Errorf("Reload(%q) accepted", bad)
			}
		}
		if next, _ := s.Next(); !next.Equal(before) {
			t.Errorf("a rejected reload changed the schedule: %v, was %v", next, before)
		}
		if err := s.Reload(withSchedules(e.config(), "@every 1s", "@every 2h")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if n := purges.Load(); n != 10 {
			t.Errorf("%d purges in 10s on the new schedule \"@every 1s\", want 10", n)
		}
		// The old hourly entries are gone: in the first hour the sweep, now
		// every two hours, does not run, and the purge runs once a second only.
		time.Sleep(time.Hour - 10*time.Second)
		synctest.Wait()
		if n := purges.Load(); n != 3600 {
			t.Errorf("%d purges in an hour of \"@every 1s\", want 3600", n)
		}
		if n := sweeps.Load(); n != 0 {
			t.Errorf("sweep ran %d times in the first hour of a two-hourly schedule", n)
		}
	})
}

func TestNewSchedulerInvalidSpec(t *testing.T) {
	e := newEnv(t)
	for _, c := range [][2]string{{"CRON_TZ=UTC", "@daily"}, {"@daily", "* * *"}, {"@daily", "CRON_TZ=Nowhere/X 0 3 * * *"}} {
		if _, err := NewScheduler(e.db, withSchedules(e.config(), c[0], c[1]), slog.New(slog.DiscardHandler), nil); err == nil {
			t.Errorf("NewScheduler(%q, %q) accepted", c[0], c[1])
		}
	}
}

// TestSchedulerReindexesAtStart: the plans follow a changed configuration
// when the scheduler starts.
func TestSchedulerReindexesAtStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		n := e.ticket("kunde@example.org", "support", "closed_anonymize", "Frage", "Text")
		e.close(n)
		if _, err := Reindex(t.Context(), e.db, e.config()); err != nil {
			t.Fatal(err)
		}
		e.setConfig(testConfig(t, "90d"))
		s, _ := newTestScheduler(t, e, "@every 1h", "@every 1h")
		s.Start()
		defer s.Stop()
		// The reindex runs in the background: wait until it is done.
		synctest.Wait()
		var fp string
		e.db.View(func(tx *store.Tx) error { fp = string(tx.Meta(metaKey)); return nil })
		if fp != Fingerprint(e.config()) {
			t.Errorf("after the reindex the fingerprint is %q, want the new configuration's", fp)
		}
		if got := e.get(n).PurgeAt; !got.Equal(t0.AddDate(0, 0, 90)) {
			t.Errorf("after the reindex the ticket is planned for %v, want %v", got, t0.AddDate(0, 0, 90))
		}
	})
}

// TestSchedulerSkipsARunStillGoing: a run still going when its next time
// comes is skipped, not stacked, and the skip is logged.
func TestSchedulerSkipsARunStillGoing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		s, logs := newTestScheduler(t, e, "@every 1s", "@every 1h")
		var runs atomic.Int32
		release := make(chan struct{})
		s.purgeJob = func() {
			if runs.Add(1) == 1 {
				<-release
			}
		}
		s.Start()
		defer s.Stop()
		time.Sleep(5*time.Second + time.Millisecond)
		synctest.Wait()
		if n := runs.Load(); n != 1 {
			t.Errorf("%d runs while the first was still going, want 1", n)
		}
		if !strings.Contains(logs.String(), "run skipped") {
			t.Errorf("the skipped runs were not logged:\n%s", logs.String())
		}
		close(release)
		time.Sleep(time.Second)
		synctest.Wait()
		if n := runs.Load(); n != 2 {
			t.Errorf("%d runs a second after the first ended, want 2", n)
		}
	})
}

// TestSchedulerStopCancelsARun: Stop cancels the context of a run in
// progress and returns as soon as the run has ended.
func TestSchedulerStopCancelsARun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		s, logs := newTestScheduler(t, e, "@every 1s", "@every 1h")
		var ended atomic.Bool
		s.purgeJob = func() {
			<-s.ctx.Done()
			ended.Store(true)
		}
		s.Start()
		time.Sleep(time.Second)
		synctest.Wait()
		start := time.Now()
		s.Stop()
		if d := time.Since(start); d != 0 || !ended.Load() {
			t.Errorf("Stop returned after %v, the run ended: %v; want at once, after the run", d, ended.Load())
		}
		if strings.Contains(logs.String(), "did not stop") {
			t.Errorf("a cancelled run was reported as not stopping:\n%s", logs.String())
		}
	})
}

// TestSchedulerStopGivesUpOnAStuckRun: a run that ignores the cancellation
// holds Stop up for stopGrace at most, and that is logged.
func TestSchedulerStopGivesUpOnAStuckRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		s, logs := newTestScheduler(t, e, "@every 1s", "@every 1h")
		stuck := make(chan struct{})
		s.purgeJob = func() { <-stuck }
		s.Start()
		time.Sleep(time.Second)
		synctest.Wait()
		start := time.Now()
		s.Stop()
		if d := time.Since(start); d != stopGrace {
			t.Errorf("Stop returned after %v, want %v", d, stopGrace)
		}
		if !strings.Contains(logs.String(), "did not stop") {
			t.Errorf("the stuck run was not logged:\n%s", logs.String())
		}
		close(stuck) // let the run end, so that the bubble can
	})
}
