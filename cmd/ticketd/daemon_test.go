package main

import (
	"bytes"
	"log/slog"
	"testing"

	"ticketd/config"
)

// TestReloadAllOrNothing: a reload puts one validated configuration in force
// for the daemon, the desk and the scheduler, or leaves all three on the old
// one; a part that rejects the new configuration (here the scheduler, with a
// schedule it cannot parse) keeps every other part from taking it.
func TestReloadAllOrNothing(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, "127.0.0.1:1", "")
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	d, err := startDaemon(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.stop()
	inForce := func() [3]*config.Config {
		d.mu.Lock()
		defer d.mu.Unlock()
		return [3]*config.Config{d.cfg, d.desk.Config(), d.sched.Config()}
	}

	bad, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	bad.Retention.Schedule = "every full moon"
	d.apply(bad)
	if got := inForce(); got != [3]*config.Config{cfg, cfg, cfg} {
		t.Errorf("after a rejected reload: daemon %p, desk %p, scheduler %p; want all the old %p\n%s", got[0], got[1], got[2], cfg, logs.String())
	}
	if !bytes.Contains(logs.Bytes(), []byte("reload rejected")) {
		t.Errorf("no log line about the rejected reload:\n%s", logs.String())
	}

	good, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d.apply(good)
	if got := inForce(); got != [3]*config.Config{good, good, good} {
		t.Errorf("after a good reload: daemon %p, desk %p, scheduler %p; want all the new %p", got[0], got[1], got[2], good)
	}
}
