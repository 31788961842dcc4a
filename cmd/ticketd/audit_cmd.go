package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// ticketd audit verify and ticketd backup: accountability and recovery.

func init() {
	commands["audit"] = command{"audit [-config FILE] verify", "verify the hash chain of the audit trail; report the first broken link", cmdAudit}
	commands["backup"] = command{"backup [-config FILE] [-force] FILE",
		"write a self-sufficient backup (compacted database, keys, blob files) to FILE, also while the daemon runs; restore it with ticketd restore", cmdBackup}
	register("audit.verify", func(_ context.Context, env *opEnv, _ struct{}, _ *opRequest, out io.Writer) error {
		n, err := env.desk.VerifyAudit()
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "audit trail ok: %d events, every link and hash verified\n", n)
		return err
	})
	register("backup", func(_ context.Context, env *opEnv, args backupArgs, _ *opRequest, out io.Writer) error {
		info, err := env.desk.Backup(args.File, args.Force)
		if err != nil {
			return err
		}
		path := args.File
		var b strings.Builder
		fmt.Fprintf(&b, "backup written to %s (%d bytes: the compacted database, %d blob files, keys %s)\n",
			path, info.Size, info.Blobs, strings.Join(info.Keys, ", "))
		b.WriteString("It holds live records only: data erased before now is not in it; data erased later stays in it until you delete it.\n")
		b.WriteString("It holds the keys (consent.key signs the consent links, agent.key the agents' reply addresses): keep it as protected as the data directory.\n")
		if len(info.MissingBlobs) > 0 {
			fmt.Fprintf(&b, "warning: %d blob files the database references were missing (erased meanwhile, or lost)\n", len(info.MissingBlobs))
		}
		b.WriteString("Restore it with: ticketd restore " + path + "\n")
		_, err = io.WriteString(out, b.String())
		return err
	})
}

// backupArgs are the arguments of the op backup.
type backupArgs struct {
	File  string `json:"file"` // an absolute path
	Force bool   `json:"force,omitempty"`
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
	return callOp(ctx, cfg, "audit.verify", struct{}{}, e.stdout)
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
	return callOp(ctx, cfg, "backup", backupArgs{File: file, Force: *force}, e.stdout)
}
