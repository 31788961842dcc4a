package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"ticketd/config/configtest"
	"ticketd/desk"
	"ticketd/store"
)

// TestPruneSnapshots: of the files in snapshot_dir only those named as
// ticketd names its snapshots, and older than snapshot_keep on the clock
// given, are deleted, never the one just written; each deleted one is
// reported with the time in its name, oldest first.
func TestPruneSnapshots(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2027, 3, 10, 12, 0, 0, 0, time.UTC)
	keep := 7 * 24 * time.Hour
	write := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("wrapped keys"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	justWritten := write(snapshotFile(now.Add(-30 * 24 * time.Hour))) // a clock gone wrong: kept all the same
	oldest := write(snapshotFile(now.Add(-30 * 24 * time.Hour).Add(-time.Second)))
	expired := write(snapshotFile(now.Add(-keep - time.Second)))
	kept := []string{
		justWritten,
		write(snapshotFile(now.Add(-keep))),           // exactly snapshot_keep old
		write(snapshotFile(now.Add(-time.Hour))),      // young
		write(snapshotFile(now.Add(24 * time.Hour))),  // from the future
		write("keys-20200101T000000Z.snapshot.bak"),   // not ticketd's name
		write("keys-2020-01-01.snapshot"),             // not ticketd's name
		write("ticketd-backup.tar"),                   // a data backup
		write("keys-20201399T999999Z.snapshot"),       // not a time
		write("notes-keys-20200101T000000Z.snapshot"), // not ticketd's name
	}
	if err := os.Mkdir(filepath.Join(dir, "keys-20200101T000000Z.snapshot"), 0o700); err != nil { // a directory
		t.Fatal(err)
	}
	got, err := pruneSnapshots(dir, keep, now, justWritten)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, p := range got {
		paths = append(paths, p.Path)
	}
	if want := []string{oldest, expired}; !slices.Equal(paths, want) {
		t.Errorf("pruned %q, want %q", paths, want)
	}
	if len(got) == 2 && !got[1].Made.Equal(now.Add(-keep-time.Second)) {
		t.Errorf("reported made %v, want %v", got[1].Made, now.Add(-keep-time.Second))
	}
	for _, p := range []string{oldest, expired} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s still there: %v", p, err)
		}
	}
	for _, p := range append(kept, filepath.Join(dir, "keys-20200101T000000Z.snapshot")) {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was deleted: %v", p, err)
		}
	}
	// A day later the one exactly snapshot_keep old has expired too.
	got, err = pruneSnapshots(dir, keep, now.Add(24*time.Hour), justWritten)
	if err != nil || len(got) != 1 || got[0].Path != kept[1] {
		t.Errorf("a day later: pruned %v, %v; want %s", got, err, kept[1])
	}
}

// TestKeysRefuseUnencrypted: keys rotate and keys backup refuse a store
// without person keys (one opened without a master key, as only tests
// and the plain benchmark do) with a message that says so, and write
// nothing.
func TestKeysRefuseUnencrypted(t *testing.T) {
	cfg := configtest.Parse(t)
	cfg.Server.DataDir = t.TempDir()
	cfg.Keys.SnapshotDir = filepath.Join(t.TempDir(), "snapshots")
	db, err := store.Open(cfg.Server.DataDir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dk, err := desk.New(db, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	env := &opEnv{desk: dk}
	for name, args := range map[string]string{"keys.rotate": "{}", "keys.backup": "{}"} {
		var out bytes.Buffer
		err := ops[name](context.Background(), env, &opRequest{args: json.RawMessage(args)}, &out)
		if err == nil || !strings.Contains(err.Error(), "the store is not encrypted") || desk.KindOf(err) != desk.KindBadRequest {
			t.Errorf("%s on a plain store: %v (%s)", name, err, out.String())
		}
	}
	if _, err := os.Stat(cfg.Keys.SnapshotDir); err == nil {
		t.Error("keys backup made snapshot_dir for a plain store")
	}
}

// syncLog is a log sink safe for concurrent writes.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestKeySchedule: on [keys] schedule the daemon's scheduler writes a
// snapshot named by the store's clock into snapshot_dir, deletes the
// expired one there and logs both; a reload without a schedule stops it,
// and a bad schedule is refused. It runs in a synctest bubble: cron's
// timers run on the bubble's fake time, the store's clock stands still.
func TestKeySchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		now := time.Date(2027, 3, 10, 12, 0, 0, 0, time.UTC)
		cfg := configtest.Parse(t, "[keys]\nschedule = \"@every 1h\"\nsnapshot_keep = \"2d\"\n")
		cfg.Server.DataDir = t.TempDir()
		cfg.Server.MasterKeyFile = filepath.Join(t.TempDir(), "master.key")
		cfg.Keys.SnapshotDir = filepath.Join(t.TempDir(), "snapshots")
		db, err := store.Open(cfg.Server.DataDir, store.Options{MasterKeyFile: cfg.Server.MasterKeyFile, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		os.MkdirAll(cfg.Keys.SnapshotDir, 0o700)
		expired := filepath.Join(cfg.Keys.SnapshotDir, snapshotFile(now.Add(-72*time.Hour)))
		young := filepath.Join(cfg.Keys.SnapshotDir, snapshotFile(now.Add(-24*time.Hour)))
		for _, p := range []string{expired, young} {
			os.WriteFile(p, []byte("old keys"), 0o600)
		}
		logs := &syncLog{}
		s, err := newKeySchedule(db, cfg, slog.New(slog.NewTextHandler(logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		time.Sleep(time.Hour)
		synctest.Wait()
		made := filepath.Join(cfg.Keys.SnapshotDir, snapshotFile(now))
		if fi, err := os.Stat(made); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("scheduled snapshot %s: %v", made, err)
		}
		if _, err := os.Stat(expired); err == nil {
			t.Error("the expired snapshot is still there")
		}
		if _, err := os.Stat(young); err != nil {
			t.Errorf("the young snapshot was deleted: %v", err)
		}
		out := logs.String()
		if !strings.Contains(out, "key snapshot written") || !strings.Contains(out, "expired key snapshot deleted") || !strings.Contains(out, expired) {
			t.Errorf("log:\n%s", out)
		}

		if _, err := s.Prepare(configtest.Parse(t)); err != nil {
			t.Fatal(err)
		}
		bad := configtest.Parse(t)
		bad.Keys.Schedule = "CRON_TZ=UTC"
		if _, err := s.Prepare(bad); err == nil || !strings.Contains(err.Error(), "keys.schedule") {
			t.Errorf("Prepare with a bad schedule: %v", err)
		}
		apply, _ := s.Prepare(configtest.Parse(t))
		apply()
		now = now.Add(3 * time.Hour)
		time.Sleep(3 * time.Hour)
		synctest.Wait()
		if _, err := os.Stat(filepath.Join(cfg.Keys.SnapshotDir, snapshotFile(now))); err == nil {
			t.Error("a snapshot was taken without a schedule")
		}
		s.Stop()
	})
}
