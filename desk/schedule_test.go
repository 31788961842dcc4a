package desk

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"ticketd/config"
)

// lockedBuffer is a log sink safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *lockedBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *lockedBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func withAgentSchedules(cfg *config.Config, remind, digest string) *config.Config {
	c := *cfg
	c.Agents.Schedule, c.Agents.DigestSchedule = remind, digest
	return &c
}

// newServiceScheduler is the scheduler of fd's desk with the given
// schedules, logging into the returned buffer, on fd's clock.
func newServiceScheduler(t *testing.T, fd *fileDesk, remind, digest string) (*ServiceScheduler, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	fd.d.Log = slog.New(slog.NewTextHandler(logs, nil))
	s, err := fd.d.NewServiceScheduler(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(withAgentSchedules(fd.d.Config(), remind, digest)); err != nil {
		t.Fatal(err)
	}
	return s, logs
}

// The scheduler tests run inside a synctest bubble: cron's timers run on the
// bubble's fake time, so "@every 1s" fires as soon as every goroutine waits,
// and synctest.Wait returns once the runs it started are done. What is due
// is decided by the desk's injected clock (fd.now), which stands still.

// TestServiceSchedulerRemindsEscalatesAndDigests: the real jobs run on their
// schedules, at the injected clock's time, and each logs what it sent.
func TestServiceSchedulerRemindsEscalatesAndDigests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fd := newAgentDesk(t)
		n, _ := fd.customerTicket("c1@example.org", "Drucker", "Hilfe")
		due := fd.ticket(n).DueAt
		logs := &lockedBuffer{}
		// phase runs the schedules for d at the clock's time at; the clock
		// changes only while no scheduler runs.
		phase := func(at time.Time, d time.Duration) []string {
			fd.now = at
			s, l := newServiceScheduler(t, fd, "@every 1s", "@every 1h")
			before := len(fd.outbox())
			s.Start()
			time.Sleep(d)
			synctest.Wait()
			s.Stop()
			logs.Write([]byte(l.String()))
			return kinds(fd.sent(before))
		}
		if got := phase(due.Add(-time.Hour), time.Second); strings.Join(got, ",") != "agent reminder anna@example.com,agent reminder ben@example.com" {
			t.Errorf("reminders sent: %v", got)
		}
		if out := logs.String(); !strings.Contains(out, "service levels: reminders and escalations done") || !strings.Contains(out, "reminded=1 escalated=0") {
			t.Errorf("no reminder summary logged:\n%s", out)
		}
		if got := phase(due.Add(time.Minute), time.Second); strings.Join(got, ",") != "agent escalation sue@example.com" {
			t.Errorf("escalation sent: %v", got)
		}
		if out := logs.String(); !strings.Contains(out, "reminded=0 escalated=1") {
			t.Errorf("no escalation summary logged:\n%s", out)
		}
		got := phase(due.Add(2*time.Minute), time.Hour)
		digests := 0
		for _, k := range got {
			if strings.HasPrefix(k, "agent digest ") {
				digests++
			} else {
				t.Errorf("sent again: %s", k)
			}
		}
		if digests != 3 {
			t.Errorf("digests sent after an hour: %v", got)
		}
		if out := logs.String(); !strings.Contains(out, "service levels: digests done") || !strings.Contains(out, "agents=3") {
			t.Errorf("no digest summary logged:\n%s", out)
		}
		for _, pii := range []string{"c1@example.org", "Drucker", "Hilfe"} {
			if strings.Contains(logs.String(), pii) {
				t.Errorf("the log holds %q:\n%s", pii, logs.String())
			}
		}
	})
}

// TestServiceSchedulerDigestOff: with digest_schedule "off" no digest is
// scheduled or sent, and Next says so.
func TestServiceSchedulerDigestOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fd := newAgentDesk(t)
		s, _ := newServiceScheduler(t, fd, "@every 1s", config.ScheduleOff)
		var digests int
		s.digestJob = func() { digests++ }
		s.Start()
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		remind, digest := s.Next()
		s.Stop()
		if digests != 0 || !digest.IsZero() {
			t.Errorf("digest off: %d runs, next %v", digests, digest)
		}
		if remind.IsZero() {
			t.Error("no next reminder run")
		}
	})
}

// TestServiceSchedulerReload: a bad schedule is refused and the running ones
// stay; a good one replaces them.
func TestServiceSchedulerReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fd := newAgentDesk(t)
		s, _ := newServiceScheduler(t, fd, "@every 1s", "@every 1s")
		var mu sync.Mutex
		var reminds, digests int
		s.remindJob = func() { mu.Lock(); reminds++; mu.Unlock() }
		s.digestJob = func() { mu.Lock(); digests++; mu.Unlock() }
		s.Start()
		defer s.Stop()
		for _, bad := range []*config.Config{
			withAgentSchedules(fd.d.Config(), "every five minutes", "@every 1s"),
			withAgentSchedules(fd.d.Config(), "@every 1s", "61 7 * * *"),
		} {
			if err := s.Reload(bad); err == nil || !strings.Contains(err.Error(), "agents.") {
				t.Errorf("bad schedule accepted or unnamed: %v", err)
			}
		}
		time.Sleep(time.Second)
		synctest.Wait()
		mu.Lock()
		if reminds != 1 || digests != 1 {
			t.Errorf("after a refused reload: %d reminder runs, %d digest runs, want 1 each", reminds, digests)
		}
		mu.Unlock()
		if err := s.Reload(withAgentSchedules(fd.d.Config(), "@every 1h", config.ScheduleOff)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if reminds != 1 || digests != 1 {
			t.Errorf("after reload to hourly/off: %d reminder runs, %d digest runs", reminds, digests)
		}
	})
}

// TestServiceSchedulerRecovers: a run that panics is logged and the next
// run goes on.
func TestServiceSchedulerRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fd := newAgentDesk(t)
		s, logs := newServiceScheduler(t, fd, "@every 1s", config.ScheduleOff)
		var mu sync.Mutex
		runs := 0
		s.remindJob = func() {
			mu.Lock()
			runs++
			first := runs == 1
			mu.Unlock()
			if first {
				panic("boom")
			}
		}
		s.Start()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		s.Stop()
		mu.Lock()
		defer mu.Unlock()
		if runs < 2 || !strings.Contains(logs.String(), "service scheduler: panic") {
			t.Errorf("runs %d, log:\n%s", runs, logs.String())
		}
	})
}
