package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"

	"ticketd/store"
)

// ticketd audit verify and ticketd backup: accountability and recovery.

func init() {
	commands["audit"] = command{"audit [-config FILE] verify", "verify the hash chain of the audit trail; report the first broken link", cmdAudit}
	commands["backup"] = command{"backup [-config FILE] [-force] FILE",
		"write a self-sufficient backup (compacted database, keys, blob files) to FILE, also while the daemon runs; restore it with ticketd restore", cmdBackup}
	ops["audit.verify"] = func(_ context.Context, env *opEnv, _ url.Values, out io.Writer) error {
		n, err := env.desk.DB.VerifyAudit()
		if err != nil {
			return fmt.Errorf("audit trail broken after %d good events: %w", n, err)
		}
		_, err = fmt.Fprintf(out, "audit trail ok: %d events, every link and hash verified\n", n)
		return err
	}
	ops["backup"] = func(_ context.Context, env *opEnv, args url.Values, out io.Writer) error {
		path := args.Get("file")
		if !filepath.IsAbs(path) {
			return fmt.Errorf("%w: backup needs an absolute path, got %q", errBadRequest, path)
		}
		info, err := env.desk.DB.BackupArchive(path, args.Get("force") == "1")
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("%w: %w", errBadRequest, err)
		}
		if err != nil {
			return err
		}
		var b strings.Builder
		fmt.Fprintf(&b, "backup written to %s (%d bytes: the compacted database, %d blob files, keys %s)\n",
			path, info.Size, info.Blobs, strings.Join(info.Keys, ", "))
		b.WriteString("It holds live records only: data erased before now is not in it; data erased later stays in it until you delete it.\n")
		b.WriteString("It holds the keys (consent.key signs the consent links): keep it as protected as the data directory.\n")
		if len(info.MissingBlobs) > 0 {
			fmt.Fprintf(&b, "warning: %d blob files the database references were missing (erased meanwhile, or lost)\n", len(info.MissingBlobs))
		}
		b.WriteString("Restore it with: ticketd restore " + path + "\n")
		_, err = io.WriteString(out, b.String())
		return err
	}
}

func cmdAudit(ctx context.Context, e *env, args []string) error {
	fs, path := flags(e, "audit")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || fs.Arg(0) != "verify" {
		return usageError("audit", "want the subcommand verify")
	}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return err
	}
	return callOp(ctx, cfg, "audit.verify", nil, e.stdout)
}

func cmdBackup(ctx context.Context, e *env, args []string) error {
	fs, path := flags(e, "backup")
	force := fs.Bool("force", false, "replace an existing FILE")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError("backup", "want one FILE")
	}
	file, err := filepath.Abs(fs.Arg(0))
	if err != nil {
		return err
	}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return err
	}
	q := url.Values{"file": {file}}
	if *force {
		q.Set("force", "1")
	}
	return callOp(ctx, cfg, "backup", q, e.stdout)
}
