package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
)

// ticketd audit verify and ticketd backup: accountability and recovery.

func init() {
	commands["audit"] = command{"audit [-config FILE] verify", "verify the hash chain of the audit trail; report the first broken link", cmdAudit}
	commands["backup"] = command{"backup [-config FILE] FILE", "write a consistent, compacted copy of the database to FILE (also while the daemon runs)", cmdBackup}
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
		size, err := env.desk.DB.Backup(path)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "backup written to %s (%d bytes, compacted: records erased before now are not in it)\n"+
			"blob files larger than 64 KiB are not in it: copy %s along with it\n", path, size, filepath.Join(env.desk.DB.Dir(), "blobs"))
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
	return callOp(ctx, cfg, "backup", url.Values{"file": {file}}, e.stdout)
}
