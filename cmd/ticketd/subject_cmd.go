package main

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"ticketd/config"
)

// ticketd subject: the data-subject rights (GDPR Art. 15-17, 20), one command each.

const subjectUsage = "subject [-config FILE] export EMAIL [-o FILE] [-force] | erase EMAIL [-dry-run] [-json] | " +
	"offboard EMAIL [-json] | rectify EMAIL [-name NAME] [-email NEW] [-json]"

func init() {
	commands["subject"] = command{subjectUsage,
		"the data-subject rights: export everything about a person, erase them, offboard a customer, rectify name or address", cmdSubject}
	register("subject.export", func(_ context.Context, env *opEnv, args subjectArgs, _ *opRequest, out io.Writer) error {
		return env.desk.Export(args.Email, out)
	})
	register("subject.erase", func(ctx context.Context, env *opEnv, args subjectArgs, _ *opRequest, out io.Writer) error {
		rep, err := env.desk.Erase(ctx, args.Email, args.DryRun)
		if rep != nil {
			if werr := writeReport(out, args.JSON, rep); err == nil {
				err = werr
			}
		}
		return err
	})
	register("subject.offboard", func(_ context.Context, env *opEnv, args subjectArgs, _ *opRequest, out io.Writer) error {
		rep, err := env.desk.Offboard(args.Email)
		if rep != nil {
			if werr := writeReport(out, args.JSON, rep); err == nil {
				err = werr
			}
		}
		return err
	})
	register("subject.rectify", func(_ context.Context, env *opEnv, args subjectArgs, _ *opRequest, out io.Writer) error {
		rep, err := env.desk.Rectify(args.Email, args.Name, args.NewEmail)
		if err != nil {
			return err
		}
		return writeReport(out, args.JSON, rep)
	})
}

// subjectArgs are the arguments of the subject ops.
type subjectArgs struct {
	Email    string `json:"email"`
	DryRun   bool   `json:"dry_run,omitempty"`
	JSON     bool   `json:"json,omitempty"`
	Name     string `json:"name,omitempty"`      // rectify
	NewEmail string `json:"new_email,omitempty"` // rectify
}

func cmdSubject(ctx context.Context, e *env, args []string) error {
	fs, path := flags(e, "subject")
	if err := parseCommand(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError("subject", "export, erase, offboard or rectify?")
	}
	name := fs.Arg(0)
	sub := subFlags(e, "subject", name, path)
	var (
		out, newName, newEmail string
		force, dryRun, asJSON  bool
	)
	switch name {
	case "export":
		sub.StringVar(&out, "o", "", "write the archive to `FILE` (default subject-<id>.zip in the current directory)")
		sub.BoolVar(&force, "force", false, "overwrite FILE if it exists")
	case "erase":
		sub.BoolVar(&dryRun, "dry-run", false, "report what would be erased and change nothing")
	case "offboard":
	case "rectify":
		sub.StringVar(&newName, "name", "", "the corrected `NAME`")
		sub.StringVar(&newEmail, "email", "", "the corrected `ADDRESS`")
	default:
		return usageError("subject", "unknown subcommand %q", name)
	}
	if name != "export" {
		sub.BoolVar(&asJSON, "json", false, "print the report as JSON")
	}
	if err := parseFlags(sub, fs.Args()[1:]); err != nil {
		return err
	}
	rest := sub.Args()
	if len(rest) != 1 {
		return usageError("subject", "%s needs one EMAIL", name)
	}
	if name == "rectify" && newName == "" && newEmail == "" {
		return usageError("subject", "rectify needs -name, -email or both")
	}
	q := subjectArgs{Email: rest[0], DryRun: dryRun, JSON: asJSON, Name: newName, NewEmail: newEmail}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return err
	}
	if name == "export" {
		return exportSubject(ctx, e, cfg, q, out, force)
	}
	return callOp(ctx, cfg, "subject."+name, q, e.stdout)
}

// exportSubject writes the export archive to a temporary file beside its
// destination and moves it into place when it is complete; an existing file
// is only replaced with -force.
func exportSubject(ctx context.Context, e *env, cfg *config.Config, args subjectArgs, out string, force bool) error {
	dir := "."
	if out != "" {
		abs, err := filepath.Abs(out)
		if err != nil {
			return err
		}
		out, dir = abs, filepath.Dir(abs)
		if _, err := os.Lstat(out); err == nil && !force {
			return fmt.Errorf("%s exists; give -force to overwrite it", out)
		}
	}
	tmp, err := os.CreateTemp(dir, ".ticketd-export-*.zip") // mode 0600: it holds personal data
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	err = callOp(ctx, cfg, "subject.export", args, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	sum, err := readExportSummary(tmp.Name())
	if err != nil {
		return err
	}
	if out == "" {
		out = filepath.Join(dir, fmt.Sprintf("subject-%d.zip", sum.Person.ID))
	}
	if err := placeFile(tmp.Name(), out, force); err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "exported person %d to %s: %d tickets, %d attachment files, %d outgoing mails\n",
		sum.Person.ID, out, len(sum.Tickets), len(sum.Files), len(sum.Outbox))
	return err
}

// exportSummary is what the CLI reads back from a written archive.
type exportSummary struct {
	Person struct {
		ID uint64 `json:"id"`
	} `json:"person"`
	Tickets []json.RawMessage `json:"tickets"`
	Files   []json.RawMessage `json:"files"`
	Outbox  []json.RawMessage `json:"outbox"`
}

// readExportSummary reads subject.json of the archive at path.
func readExportSummary(path string) (*exportSummary, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("read the written archive: %w", err)
	}
	defer zr.Close()
	f, err := zr.Open("subject.json")
	if err != nil {
		return nil, fmt.Errorf("read the written archive: %w", err)
	}
	defer f.Close()
	var s exportSummary
	if err := json.NewDecoder(f).Decode(&s); err != nil {
		return nil, fmt.Errorf("read the written archive: subject.json: %w", err)
	}
	return &s, nil
}

// placeFile moves tmp to dst; without force an existing dst is an error and stays as it is.
func placeFile(tmp, dst string, force bool) error {
	if force {
		return os.Rename(tmp, dst)
	}
	if err := os.Link(tmp, dst); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists; give -force to overwrite it", dst)
		}
		if _, serr := os.Lstat(dst); serr == nil {
			return fmt.Errorf("%s exists; give -force to overwrite it", dst)
		}
		return os.Rename(tmp, dst) // a file system without hard links
	}
	return os.Remove(tmp)
}
