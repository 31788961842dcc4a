package desk

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"ticketd/config"
	"ticketd/mail"
	"ticketd/metrics"
	"ticketd/retention"
	"ticketd/store"
)

// The store's own operations as the admin runs them: opening the store for
// a command, mail from a file or a pipe, backup, restore and the audit
// trail's verification.

// Options tunes Open.
type Options struct {
	// MustExist opens an existing store only: with none in data_dir, Open
	// creates nothing and fails with an error of KindUnavailable.
	MustExist bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Open opens the store of cfg's data_dir, failing at once (KindTemporary)
// when another process holds it, and returns the Desk on it; Close closes
// the store.
func Open(cfg *config.Config, log *slog.Logger, opts Options) (*Desk, error) {
	db, err := store.Open(cfg.Server.DataDir, store.Options{MustExist: opts.MustExist, Now: opts.Now, Log: log,
		MasterKeyFile: cfg.Server.MasterKeyFile})
	if err != nil {
		return nil, &Error{KindOf(err), err}
	}
	d, err := New(db, cfg, log)
	if err != nil {
		db.Close()
		return nil, err
	}
	return d, nil
}

// Close closes the store; d is unusable afterwards.
func (d *Desk) Close() error { return d.DB.Close() }

// Scheduler runs the retention purge and the consent check on schedule.
type Scheduler = retention.Scheduler

// NewScheduler is the retention scheduler of d's store, with the
// configuration in force.
func (d *Desk) NewScheduler() (*Scheduler, error) {
	s, err := retention.NewScheduler(d.DB, d.Config(), d.Log, d.DB.Now)
	if err != nil {
		return nil, err
	}
	s.Done = func(rep *retention.Report, err error) { d.countPurge(metrics.PurgeScheduled, rep, err) }
	return s, nil
}

// IngestRequest is how IngestFrom stores one mail.
type IngestRequest struct {
	Mailbox  string    // the configured mailbox it counts as received by; "" for none
	Silent   bool      // no acknowledgement
	Modified time.Time // the file's modification time; zero for stdin
}

// ErrNoMail is returned by IngestFrom for an input without a byte.
var ErrNoMail = &Error{KindBadRequest, fmt.Errorf("the input is empty, it holds no mail")}

// IngestFrom reads one mail from r (up to the mailbox's size limit, spooled
// in Spool) and stores it as Ingest does. An unknown mailbox and an empty
// input are errors of KindBadRequest.
func (d *Desk) IngestFrom(ctx context.Context, r io.Reader, req IngestRequest) (Outcome, error) {
	cfg := d.Config()
	max := int64(64 << 20)
	if req.Mailbox != "" {
		box := cfg.Mailbox(req.Mailbox)
		if box == nil {
			return Outcome{}, badRequest("mailbox %q is not configured", req.Mailbox)
		}
		max = int64(box.MaxMessageSize)
	}
	spool := d.Spool
	if spool == "" {
		dir, err := os.MkdirTemp(d.DB.Dir(), "spool-cli-")
		if err != nil {
			return Outcome{}, err
		}
		defer os.RemoveAll(dir)
		spool = dir
	}
	f, err := mail.ReadFetched(r, spool, max)
	if err != nil {
		return Outcome{}, err
	}
	defer f.Release()
	if f.Size == 0 {
		return Outcome{}, ErrNoMail
	}
	f.Modified = req.Modified
	return d.Ingest(ctx, f, req.Mailbox, req.Silent)
}

// Backup writes a self-sufficient archive of the store to path, an
// absolute path (store.DB.BackupArchive); an existing file is replaced only
// with force.
func (d *Desk) Backup(path string, force bool) (*store.BackupInfo, error) {
	if !filepath.IsAbs(path) {
		return nil, badRequest("backup needs an absolute path, got %q", path)
	}
	return d.DB.BackupArchive(path, force)
}

// VerifyAudit verifies the hash chain of the audit trail and returns the
// number of events; a broken link is reported with the good events before it.
func (d *Desk) VerifyAudit() (uint64, error) {
	n, err := d.DB.VerifyAudit()
	if err != nil {
		return n, fmt.Errorf("audit trail broken after %d good events: %w", n, err)
	}
	return n, nil
}

// Restore puts the backup from in place as the store of cfg's data_dir
// (store.Restore); it needs the daemon stopped (KindTemporary while a process
// holds the store) and moves an existing store aside only with force.
func Restore(cfg *config.Config, from string, force bool) (*store.RestoreInfo, error) {
	info, err := store.Restore(from, cfg.Server.DataDir, force)
	if err != nil {
		return nil, &Error{KindOf(err), err}
	}
	return info, nil
}
