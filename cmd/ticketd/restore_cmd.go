package main

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"ticketd/config"
	"ticketd/desk"
	"ticketd/store"
)

// ticketd restore: a backup put in place as the store of the configured data_dir.

func init() {
	commands["restore"] = command{"restore [-config FILE] [-force] [-keys SNAPSHOT] FROM",
		"put the backup FROM in place as the store of data_dir (the daemon stopped); its audit trail is verified first; " +
			"-keys installs the key snapshot (ticketd keys backup) an encrypted backup is read with", cmdRestore}
}

func cmdRestore(_ context.Context, e *env, args []string) error {
	fs, path := flags(e, "restore")
	force := fs.Bool("force", false, "move an existing store aside (into data_dir/replaced-TIME) and restore over it")
	keys := fs.String("keys", "", "the key `snapshot` to read an encrypted backup with (ticketd keys backup; the newest one)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError("restore", "want one backup FROM")
	}
	from := fs.Arg(0)
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return err
	}
	// Not an op: the daemon owns the file while it runs, and a restore replaces it.
	if _, ok := dialAdmin(cfg.Server.AdminSocket); ok {
		return fmt.Errorf("restore: a ticketd daemon is running (its admin socket %s answers): stop it first", cfg.Server.AdminSocket)
	}
	// Everything that can be told before anything is changed is checked first.
	sealed, err := archiveSealed(from)
	if err != nil {
		if errors.Is(err, iofs.ErrNotExist) {
			return &exitError{exitNoInput, fmt.Errorf("restore: %w", err)}
		}
		return fmt.Errorf("restore: %w", err)
	}
	switch {
	case sealed && *keys == "":
		return usageError("restore", "%s is a backup of an encrypted store: it holds no person keys, "+
			"give the key snapshot it is read with (-keys SNAPSHOT, the newest one ticketd keys backup made)", from)
	case !sealed && *keys != "":
		return usageError("restore", "%s is a backup of an unencrypted store: it needs no key snapshot, leave -keys out", from)
	case *keys != "":
		if fi, err := os.Stat(*keys); err != nil {
			return &exitError{exitNoInput, fmt.Errorf("restore: key snapshot: %w", err)}
		} else if !fi.Mode().IsRegular() {
			return usageError("restore", "key snapshot %s is not a regular file", *keys)
		}
	}

	info, err := desk.Restore(cfg, from, *force)
	if desk.KindOf(err) == desk.KindTemporary {
		return &exitError{exitTempFail, err}
	}
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "restored %s into %s: audit trail verified (%d events), %d blob files, link-signing keys: %s\n",
		from, cfg.Server.DataDir, info.AuditEvents, info.Blobs, dash(strings.Join(info.Keys, ", ")))
	if !info.CreatedAt.IsZero() {
		fmt.Fprintf(&b, "the backup was made %s\n", info.CreatedAt.Local().Format("2006-01-02 15:04:05"))
	}
	if info.Replaced != "" {
		fmt.Fprintf(&b, "the store that was there is in %s: it holds what changed since the backup; delete it once the restore is confirmed\n", info.Replaced)
	}
	for _, w := range info.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	if *keys != "" {
		shredded, err := restoreKeys(cfg, *keys, *force)
		if err != nil {
			fmt.Fprint(e.stdout, b.String())
			return err
		}
		fmt.Fprintf(&b, "key snapshot %s installed as the key file; the store opens with master_key_file %s\n", *keys, cfg.Server.MasterKeyFile)
		if shredded == 0 {
			b.WriteString("every record reads: no one in the backup was erased after it was made (as far as the snapshot knows)\n")
		} else {
			fmt.Fprintf(&b, "%d records read as erased: their person's key is not in the snapshot, because the person was erased after the backup was made; "+
				"they cannot be read and the walks skip them\n", shredded)
		}
	}
	_, err = fmt.Fprint(e.stdout, b.String())
	return err
}

// restoreKeys installs the key snapshot as the key file of the restored
// store in data_dir, once the configured master key is known to open it,
// opens the store and returns how many of its records read as erased.
func restoreKeys(cfg *config.Config, snapshot string, force bool) (int, error) {
	err := store.RestoreKeysWith(snapshot, cfg.Server.DataDir, cfg.Server.MasterKeyFile, force)
	if errors.Is(err, store.ErrMasterKey) {
		return 0, &exitError{exitConfig, fmt.Errorf("restore: the backup is in place, but the key snapshot %s is wrapped under another master key than "+
			"master_key_file %s: give a snapshot made with this master key, or put back the master key the snapshot was made with; "+
			"never make a new one (%w)", snapshot, cfg.Server.MasterKeyFile, err)}
	}
	if err != nil {
		return 0, fmt.Errorf("restore: the backup is in place, but the key snapshot %s was not installed: %w; "+
			"run the restore again with -force and the right snapshot", snapshot, err)
	}
	dk, err := desk.Open(cfg, slog.New(slog.DiscardHandler), desk.Options{MustExist: true})
	if err != nil {
		if mk := masterKeyError(cfg, err); mk != err {
			return 0, mk
		}
		return 0, fmt.Errorf("restore: the backup and the key snapshot are in place, but the store does not open: %w", err)
	}
	defer dk.Close()
	return dk.DB.Shredded(), nil
}

// archiveSealed reports whether the backup at path is an archive of an
// encrypted store (its manifest's format is not the plaintext one), read
// from its MANIFEST.json without unpacking anything; a file that is not
// an archive (a bare database) is left to Restore to judge.
func archiveSealed(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, nil // not an archive, or a damaged one: Restore says which
		}
		if filepath.Clean(h.Name) != "MANIFEST.json" {
			continue
		}
		var man store.BackupManifest
		if err := json.NewDecoder(io.LimitReader(tr, 16<<20)).Decode(&man); err != nil {
			return false, nil
		}
		return man.Format != store.BackupFormat, nil
	}
}
