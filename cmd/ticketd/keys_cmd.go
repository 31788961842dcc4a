package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"ticketd/config"
	"ticketd/desk"
	"ticketd/retention"
	"ticketd/store"
)

// ticketd keys rotate and ticketd keys backup: the person keys of an
// encrypted store (see package store): a new master key for them, and
// snapshots of the key file, which the data backups leave out.

func init() {
	commands["keys"] = command{"keys [-config FILE] rotate | backup [-force] [FILE]",
		"re-wrap every person key under a new master key (rotate), or write a key snapshot to FILE, by default into [keys] snapshot_dir, " +
			"deleting the expired snapshots there (backup); also while the daemon runs", cmdKeys}
	register("keys.rotate", opKeysRotate)
	register("keys.backup", opKeysBackup)
}

// errNotEncrypted refuses the key commands on a store without person keys.
var errNotEncrypted = &desk.Error{Kind: desk.KindBadRequest,
	Err: errors.New("the store is not encrypted: it has no key file and no person keys to rotate or back up")}

func opKeysRotate(_ context.Context, env *opEnv, _ struct{}, _ *opRequest, out io.Writer) error {
	db := env.desk.DB
	if !db.Encrypted() {
		return errNotEncrypted
	}
	info, err := db.RotateMasterKey()
	if err != nil {
		return fmt.Errorf("rotate the master key: %w", err)
	}
	if err := db.Update(func(tx *store.Tx) error { return tx.Audit(store.KeysRotated(info, store.ActorAdmin)) }); err != nil {
		return fmt.Errorf("the keys were re-wrapped under master key %s, but the audit event was not recorded: %w", info.MasterID, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d keys re-wrapped under the new master key %s (in %s)\n", info.Keys, info.MasterID, info.Took.Round(time.Millisecond))
	fmt.Fprintf(&b, "%s now holds the new master key; the old one no longer opens the store: back the new one up now, apart from the data and the key snapshots.\n",
		env.desk.Config().Server.MasterKeyFile)
	b.WriteString("Key snapshots made before now are wrapped under the old master key: take a new one (ticketd keys backup).\n")
	_, err = io.WriteString(out, b.String())
	return err
}

// keysBackupArgs are the arguments of the op keys.backup.
type keysBackupArgs struct {
	File  string `json:"file,omitempty"` // an absolute path; "" for a new snapshot in snapshot_dir
	Force bool   `json:"force,omitempty"`
}

func opKeysBackup(_ context.Context, env *opEnv, args keysBackupArgs, _ *opRequest, out io.Writer) error {
	rep, err := snapshotKeys(env.desk.DB, env.desk.Config(), args.File, args.Force, store.ActorAdmin)
	if err != nil {
		return err
	}
	_, err = io.WriteString(out, rep.text())
	return err
}

func cmdKeys(ctx context.Context, e *env, args []string) error {
	fs, path := flags(e, "keys")
	if err := parseCommand(fs, args); err != nil {
		return err
	}
	sub := subFlags(e, "keys", fs.Arg(0), path)
	force := sub.Bool("force", false, "backup: replace an existing FILE")
	if err := parseFlags(sub, fs.Args()[min(1, fs.NArg()):]); err != nil {
		return err
	}
	var name string
	var q any
	switch fs.Arg(0) {
	case "rotate":
		if sub.NArg() != 0 || *force {
			return usageError("keys", "rotate takes no arguments")
		}
		name, q = "keys.rotate", struct{}{}
	case "backup":
		if sub.NArg() > 1 {
			return usageError("keys", "backup takes at most one FILE")
		}
		a := keysBackupArgs{Force: *force}
		if sub.NArg() == 1 {
			file, err := filepath.Abs(sub.Arg(0))
			if err != nil {
				return err
			}
			a.File = file
		}
		name, q = "keys.backup", a
	default:
		return usageError("keys", "rotate or backup?")
	}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return err
	}
	return callOp(ctx, cfg, name, q, e.stdout)
}

// Key snapshots that ticketd names itself, in snapshot_dir: only these are
// ever deleted by the pruning.
const snapshotTime = "20060102T150405Z"

var snapshotName = regexp.MustCompile(`^keys-([0-9]{8}T[0-9]{6}Z)\.snapshot$`)

// snapshotFile is the name of the snapshot made at t.
func snapshotFile(t time.Time) string { return "keys-" + t.UTC().Format(snapshotTime) + ".snapshot" }

// snapshotReport is what snapshotKeys did.
type snapshotReport struct {
	Info   store.KeyBackupInfo
	Pruned []prunedSnapshot // expired snapshots deleted from snapshot_dir
	Keep   time.Duration
}

// prunedSnapshot is one expired snapshot deleted.
type prunedSnapshot struct {
	Path string
	Made time.Time
}

func (r *snapshotReport) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "key snapshot written to %s (%d bytes, %d person and system keys, wrapped under master key %s)\n",
		r.Info.Path, r.Info.Size, r.Info.Keys, r.Info.MasterID)
	for _, p := range r.Pruned {
		fmt.Fprintf(&b, "deleted expired key snapshot %s (made %s, older than snapshot_keep %s)\n",
			p.Path, p.Made.Local().Format(time.DateTime), config.Duration{Duration: r.Keep})
	}
	b.WriteString("It reads every data backup with the master key; keep it apart from the data backups, and only for a short time:\n")
	b.WriteString("a person erased later stays readable in older backups until the last snapshot made before the erasure is deleted.\n")
	b.WriteString("Restore a backup with it: ticketd restore -keys " + r.Info.Path + " ARCHIVE\n")
	return b.String()
}

// snapshotKeys writes a key snapshot to file, or, when file is "", to a
// new file in [keys] snapshot_dir (made 0700 when absent). After a snapshot
// into snapshot_dir, the snapshots there older than snapshot_keep (by the
// time in their names, on the store's clock) are deleted. A file inside
// data_dir is refused: a copy of the data directory must not carry the
// keys. The snapshot is an audit event.
func snapshotKeys(db *store.DB, cfg *config.Config, file string, force bool, actor store.Actor) (*snapshotReport, error) {
	if !db.Encrypted() {
		return nil, errNotEncrypted
	}
	now := db.Now()
	dir := cfg.Keys.SnapshotDir
	if file == "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("keys.snapshot_dir: %w", err)
		}
		file = filepath.Join(dir, snapshotFile(now))
	}
	if !filepath.IsAbs(file) {
		return nil, badRequest("a key snapshot needs an absolute path, got %q", file)
	}
	if config.Inside(file, cfg.Server.DataDir) {
		return nil, badRequest("%s is inside data_dir %s: keep key snapshots apart from the data and its backups", file, cfg.Server.DataDir)
	}
	info, err := db.BackupKeys(file, force)
	if err != nil {
		return nil, fmt.Errorf("key snapshot %s: %w", file, err)
	}
	rep := &snapshotReport{Info: info, Keep: cfg.Keys.SnapshotKeep.Duration}
	var pruneErr error
	if sameDir(filepath.Dir(file), dir) {
		rep.Pruned, pruneErr = pruneSnapshots(dir, rep.Keep, now, file)
	}
	if err := db.Update(func(tx *store.Tx) error { return tx.Audit(store.KeysBackedUp(info, len(rep.Pruned), actor)) }); err != nil {
		return rep, errors.Join(pruneErr, fmt.Errorf("key snapshot %s written, but the audit event was not recorded: %w", file, err))
	}
	if pruneErr != nil {
		return rep, fmt.Errorf("key snapshot %s written, but expired snapshots were not all deleted: %w", file, pruneErr)
	}
	return rep, nil
}

// pruneSnapshots deletes the snapshots in dir named as ticketd names them
// whose time is more than keep before now, never except; each is
// overwritten with zeros before it is removed. Other files are left alone.
func pruneSnapshots(dir string, keep time.Duration, now time.Time, except string) ([]prunedSnapshot, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []prunedSnapshot
	var errs []error
	for _, e := range entries {
		m := snapshotName.FindStringSubmatch(e.Name())
		if m == nil || !e.Type().IsRegular() {
			continue
		}
		made, err := time.Parse(snapshotTime, m[1])
		path := filepath.Join(dir, e.Name())
		if err != nil || path == except || now.Sub(made) <= keep {
			continue
		}
		if err := store.ShredFile(path); err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, prunedSnapshot{Path: path, Made: made})
	}
	if len(out) > 0 {
		if err := syncDir(dir); err != nil {
			errs = append(errs, err)
		}
	}
	slices.SortFunc(out, func(a, b prunedSnapshot) int { return a.Made.Compare(b.Made) })
	return out, errors.Join(errs...)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// sameDir reports whether a and b name the same directory.
func sameDir(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// keySchedule takes a key snapshot into snapshot_dir on [keys] schedule,
// in the daemon, and prunes the expired ones; no schedule, no snapshots.
type keySchedule struct {
	db   *store.DB
	log  *slog.Logger
	cron *cron.Cron

	mu  sync.Mutex // guards cfg and id
	cfg *config.Config
	id  cron.EntryID // 0: none scheduled
}

func newKeySchedule(db *store.DB, cfg *config.Config, log *slog.Logger) (*keySchedule, error) {
	l := retention.CronLogger(log, "key snapshot scheduler")
	s := &keySchedule{db: db, log: log,
		cron: cron.New(cron.WithLogger(l), cron.WithChain(cron.SkipIfStillRunning(l), cron.Recover(l)))}
	apply, err := s.Prepare(cfg)
	if err != nil {
		return nil, err
	}
	apply()
	return s, nil
}

// Prepare checks cfg's [keys] schedule and returns what puts it in force.
func (s *keySchedule) Prepare(cfg *config.Config) (apply func(), err error) {
	var sched cron.Schedule
	if spec := cfg.Keys.Schedule; spec != "" {
		if sched, err = config.ParseSchedule(spec); err != nil {
			return nil, fmt.Errorf("keys.schedule: %w", err)
		}
	}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.id != 0 {
			s.cron.Remove(s.id)
			s.id = 0
		}
		s.cfg = cfg
		if sched != nil {
			s.id = s.cron.Schedule(sched, cron.FuncJob(s.run))
		}
	}, nil
}

func (s *keySchedule) Start() { s.cron.Start() }

// Stop stops the schedule and waits for a snapshot in progress.
func (s *keySchedule) Stop() {
	select {
	case <-s.cron.Stop().Done():
	case <-time.After(shutdownGrace):
		s.log.Error("key snapshot scheduler: a snapshot did not finish", "within", shutdownGrace)
	}
}

// run takes one snapshot and logs what it did.
func (s *keySchedule) run() {
	s.mu.Lock()
	cfg := s.cfg
	s.mu.Unlock()
	rep, err := snapshotKeys(s.db, cfg, "", false, store.ActorScheduler)
	if rep != nil {
		for _, p := range rep.Pruned {
			s.log.Info("expired key snapshot deleted", "path", p.Path, "made", p.Made)
		}
	}
	if err != nil {
		s.log.Error("key snapshot failed", "err", err)
		return
	}
	s.log.Info("key snapshot written", "path", rep.Info.Path, "keys", rep.Info.Keys, "pruned", len(rep.Pruned))
}

// masterKeyError is err as the exit 78 it is when the store refused to open
// because its master key is missing or wrong, with what to do; any other
// error is returned as it is.
func masterKeyError(cfg *config.Config, err error) error {
	key := cfg.Server.MasterKeyFile
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrMasterKey):
		return &exitError{exitConfig, fmt.Errorf("master_key_file %s does not open the store in %s (a wrong master key): "+
			"put back the master key this store was made with, from its separate backup; never make a new one, it opens nothing (%w)",
			key, cfg.Server.DataDir, err)}
	case errors.Is(err, iofs.ErrNotExist) && key != "" && strings.Contains(err.Error(), key):
		return &exitError{exitConfig, fmt.Errorf("master_key_file %s is missing, and the store in %s is encrypted under it: "+
			"put it back from its separate backup (or correct master_key_file); never make a new one, it opens nothing (%w)",
			key, cfg.Server.DataDir, err)}
	}
	return err
}
