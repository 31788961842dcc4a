package main

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"strings"

	"ticketd/desk"
)

// ticketd restore: a backup put in place as the store of the configured data_dir.

func init() {
	commands["restore"] = command{"restore [-config FILE] [-force] FROM",
		"put the backup FROM in place as the store of data_dir (the daemon stopped); its audit trail is verified first", cmdRestore}
}

func cmdRestore(_ context.Context, e *env, args []string) error {
	fs, path := flags(e, "restore")
	force := fs.Bool("force", false, "move an existing store aside (into data_dir/replaced-TIME) and restore over it")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError("restore", "want one backup FROM")
	}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return err
	}
	// Not an op: the daemon owns the file while it runs, and a restore replaces it.
	if _, ok := dialAdmin(cfg.Server.AdminSocket); ok {
		return fmt.Errorf("restore: a ticketd daemon is running (its admin socket %s answers): stop it first", cfg.Server.AdminSocket)
	}
	info, err := desk.Restore(cfg, fs.Arg(0), *force)
	if desk.KindOf(err) == desk.KindTemporary {
		return &exitError{exitTempFail, err}
	}
	if _, statErr := os.Stat(fs.Arg(0)); err != nil && errors.Is(statErr, iofs.ErrNotExist) {
		return &exitError{exitNoInput, err}
	}
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "restored %s into %s: audit trail verified (%d events), %d blob files, keys: %s\n",
		fs.Arg(0), cfg.Server.DataDir, info.AuditEvents, info.Blobs, dash(strings.Join(info.Keys, ", ")))
	if !info.CreatedAt.IsZero() {
		fmt.Fprintf(&b, "the backup was made %s\n", info.CreatedAt.Local().Format("2006-01-02 15:04:05"))
	}
	if info.Replaced != "" {
		fmt.Fprintf(&b, "the store that was there is in %s: it holds what changed since the backup; delete it once the restore is confirmed\n", info.Replaced)
	}
	for _, w := range info.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	_, err = fmt.Fprint(e.stdout, b.String())
	return err
}
