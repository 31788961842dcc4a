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
		"write a backup (compacted database, blob files, the link-signing keys; no person keys: ticketd keys backup makes the key snapshot it needs) to FILE, also while the daemon runs; restore it with ticketd restore -keys", cmdBackup}
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
		fmt.Fprintf(&b, "backup written to %s (%d bytes: the compacted database, %d blob files, link-signing keys %s)\n",
			path, info.Size, info.Blobs, dash(strings.Join(info.Keys, ", ")))
		b.WriteString("It holds live records only: data erased before now is not in it.\n")
		if env.desk.DB.Encrypted() {
			b.WriteString("It holds no person keys: it is read with a key snapshot (ticketd keys backup) and the master key, so a person erased later\n")
			b.WriteString("becomes unreadable in it once the last key snapshot made before the erasure is deleted. Take a key snapshot now if you have none.\n")
		} else {
			b.WriteString("The store is not encrypted: data erased later stays in this backup until you delete it.\n")
		}
		b.WriteString("It holds the link-signing keys (consent.key signs the consent links, agent.key the agents' reply addresses): keep it protected.\n")
		if len(info.MissingBlobs) > 0 {
			fmt.Fprintf(&b, "warning: %d blob files the database references were missing (erased meanwhile, or lost)\n", len(info.MissingBlobs))
		}
		if env.desk.DB.Encrypted() {
			b.WriteString("Restore it with: ticketd restore -keys SNAPSHOT " + path + "\n")
		} else {
			b.WriteString("Restore it with: ticketd restore " + path + "\n")
		}
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
