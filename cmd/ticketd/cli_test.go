package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"ticketd/desk"
	"ticketd/store"
)

// treeDigest is a digest of every file below dir: names, modes, sizes and
// contents, so that any change to the store, its key or its blobs shows.
func treeDigest(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		h.Write([]byte(rel + "\x00" + fi.Mode().String() + "\x00"))
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ticketdCmd is the binary with args, run in dir.
func ticketdCmd(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	return cmd
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// everyCommand is each command and subcommand with operands that would make
// it act (change the store, write a file, start a server) were it not for -h.
func everyCommand(cfg, dir string) [][]string {
	c := []string{"-config", cfg}
	return [][]string{
		append([]string{"run"}, c...),
		append([]string{"check"}, c...),
		append([]string{"ingest", "-silent"}, append(c, filepath.Join(dir, "h1.eml"))...),
		append([]string{"outbox", "list"}, c...),
		append([]string{"outbox", "retry", "1"}, c...),
		append([]string{"tickets", "list"}, c...),
		append([]string{"tickets", "show", "1"}, c...),
		append([]string{"tickets", "close", "1"}, c...),
		append([]string{"tickets", "reopen", "1"}, c...),
		append([]string{"quarantine", "list"}, c...),
		append([]string{"quarantine", "show", "1"}, c...),
		append([]string{"quarantine", "retry", "1"}, c...),
		append([]string{"quarantine", "delete", "1"}, c...),
		append([]string{"status"}, c...),
		append([]string{"restore", "-force", filepath.Join(dir, "backup.db")}, c...),
		append([]string{"consent", "show", "erika@example.org"}, c...),
		append([]string{"purge"}, c...),
		append([]string{"hold", "add", "1", "letters"}, c...),
		append([]string{"hold", "release", "1", "letters"}, c...),
		append([]string{"hold", "list"}, c...),
		append([]string{"subject", "export", "erika@example.org", "-o", filepath.Join(dir, "export.zip")}, c...),
		append([]string{"subject", "erase", "erika@example.org"}, c...),
		append([]string{"subject", "offboard", "erika@example.org"}, c...),
		append([]string{"subject", "rectify", "erika@example.org", "-name", "X"}, c...),
		append([]string{"ropa"}, c...),
		append([]string{"audit", "verify"}, c...),
		append([]string{"backup", "-force", filepath.Join(dir, "backup.db")}, c...),
		append([]string{"keys", "rotate"}, c...),
		append([]string{"keys", "backup", "-force", filepath.Join(dir, "keys.snapshot")}, c...),
		append([]string{"oauth", "login", "support"}, c...),
		append([]string{"oauth", "login", "-smtp"}, c...),
		append([]string{"oauth", "test", "support"}, c...),
		{"demo", "-for", "1s"},
		{"demo", "send", "-smtp", "127.0.0.1:1", "text"},
		{"version"},
	}
}

// TestHelpDoesNothing runs every command and subcommand with -h, -help and
// --help, the flag first, last and between the operands: each prints its
// usage on stderr, exits 0, prints nothing on stdout and changes nothing.
func TestHelpDoesNothing(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "127.0.0.1:1", holdTOML)
	ingestMail(t, dir, cfg, "Erika <erika@example.org>", "h0")
	os.WriteFile(filepath.Join(dir, "h1.eml"), []byte("From: x@example.org\r\nSubject: y\r\n\r\nz\r\n"), 0o600)
	before := treeDigest(t, dir)
	for _, args := range everyCommand(cfg, dir) {
		// The positions (first, middle, last) are chosen so that no flag is
		// parted from its value; each spelling of help goes to one of them.
		for i, at := range []int{1, max(1, len(args)/2), len(args)} {
			for _, help := range []string{[]string{"-h", "-help", "--help"}[i]} {
				a := append(append(append([]string{}, args[:at]...), help), args[at:]...)
				out, errOut, code := ticketdIn(t, dir, a...)
				if code != 0 || out != "" || !strings.Contains(errOut, "usage: ticketd "+args[0]) {
					t.Errorf("ticketd %s: exit %d, stdout %q, stderr %q; want exit 0, the usage on stderr only",
						strings.Join(a, " "), code, out, errOut)
				}
			}
		}
	}
	if after := treeDigest(t, dir); after != before {
		t.Error("a command run with -h changed files in the test directory")
	}
}

// TestFlagsAnywhere: flags work before, between and after the operands, at
// every level; "--" ends them; an unknown flag or a wrong operand exits 64
// with the command's usage.
func TestFlagsAnywhere(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "127.0.0.1:1", holdTOML)
	ingestMail(t, dir, cfg, "Erika <erika@example.org>", "f1")
	for _, args := range [][]string{
		{"tickets", "show", "1", "-config", cfg},
		{"tickets", "show", "-config", cfg, "1", "-json"},
		{"tickets", "-config", cfg, "show", "-json", "1"},
		{"tickets", "list", "-json", "-config", cfg},
		{"consent", "show", "erika@example.org", "-json", "-config", cfg},
		{"audit", "verify", "-config", cfg},
		{"hold", "list", "-config", cfg, "-json"},
		{"purge", "-dry-run", "-config", cfg, "-json"},
		{"ropa", "-config", cfg, "-format", "json"},
		{"subject", "erase", "erika@example.org", "-config", cfg, "-dry-run", "-json"},
		{"outbox", "list", "-config", cfg, "-json"},
		{"quarantine", "list", "-json", "-config", cfg},
		{"check", "-config", cfg},
	} {
		out, errOut, code := ticketdIn(t, dir, args...)
		if code != 0 {
			t.Errorf("ticketd %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
			continue
		}
		if strings.Contains(strings.Join(args, " "), "-json") && !json.Valid([]byte(out)) {
			t.Errorf("ticketd %s: not JSON: %q", strings.Join(args, " "), out)
		}
	}
	// After "--" everything is an operand: "-1" is no flag but a (bad) ticket number.
	if _, errOut, code := ticketdIn(t, dir, "tickets", "show", "-config", cfg, "--", "-1"); code != exitUsage || !strings.Contains(errOut, "usage: ticketd tickets") {
		t.Errorf("tickets show -- -1: exit %d, %q; want 64 with the usage", code, errOut)
	}
	// ingest -- -file.eml reads the file named "-file.eml".
	os.WriteFile(filepath.Join(dir, "-dash.eml"), []byte("From: dash@example.org\r\nSubject: d\r\nMessage-ID: <dash@example.org>\r\n\r\nd\r\n"), 0o600)
	if out, errOut, code := ticketdIn(t, dir, "ingest", "-config", cfg, "-silent", "--", "-dash.eml"); code != 0 || !strings.Contains(out, "new ticket") {
		t.Errorf("ingest -- -dash.eml: exit %d, %q %q", code, out, errOut)
	}
	for _, args := range [][]string{
		{"tickets", "show", "1", "-config", cfg, "-frob"},
		{"tickets", "list", "extra", "-config", cfg},
		{"consent", "show", "-config", cfg},
		{"audit", "verify", "extra", "-config", cfg},
		{"purge", "-at", "-config", cfg},
		{"hold", "add", "1", "-config", cfg},
		{"subject", "erase", "-config", cfg},
		{"ropa", "-config", cfg, "-frob"},
		{"version", "extra"},
	} {
		_, errOut, code := ticketdIn(t, dir, args...)
		if code != exitUsage || !strings.Contains(errOut, "usage: ticketd "+args[0]) {
			t.Errorf("ticketd %s: exit %d, stderr %q; want 64 with the usage", strings.Join(args, " "), code, errOut)
		}
	}
}

// TestReadCommandsCreateNothing: with a data_dir that does not exist, the
// commands that read (and those that change an existing store) say there is
// no store, exit 66 and create nothing; ingest creates the store.
func TestReadCommandsCreateNothing(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "127.0.0.1:1", holdTOML)
	data := filepath.Join(dir, "data")
	for _, args := range [][]string{
		{"tickets", "list"}, {"tickets", "show", "1"}, {"tickets", "close", "1"}, {"quarantine", "list"},
		{"quarantine", "show", "1"}, {"quarantine", "delete", "1"}, {"status"}, {"backup", filepath.Join(dir, "b.tar")},
		{"outbox", "list"}, {"consent", "show", "erika@example.org"}, {"purge", "-dry-run"}, {"purge"},
		{"hold", "list"}, {"subject", "erase", "-dry-run", "erika@example.org"}, {"ropa"}, {"audit", "verify"},
		{"subject", "export", "erika@example.org", "-o", filepath.Join(dir, "x.zip")},
	} {
		_, errOut, code := ticketdIn(t, dir, append(args, "-config", cfg)...)
		if code != exitNoInput || !strings.Contains(errOut, "no ticketd store") {
			t.Errorf("ticketd %s without a store: exit %d, %q; want 66 and \"no ticketd store\"", strings.Join(args, " "), code, errOut)
		}
		if _, err := os.Stat(data); !os.IsNotExist(err) {
			t.Fatalf("ticketd %s created %s", strings.Join(args, " "), data)
		}
	}
	ingestMail(t, dir, cfg, "Erika <erika@example.org>", "c1")
	if _, err := os.Stat(filepath.Join(data, "ticketd.db")); err != nil {
		t.Fatalf("ingest did not create the store: %v", err)
	}
	runWant(t, 0, "tickets", "list", "-config", cfg)
	if names, _ := filepath.Glob(filepath.Join(data, "spool-cli-*")); len(names) != 0 {
		t.Errorf("spool directories left behind: %v", names)
	}
}

// TestExitCodes: sysexits.h codes for the failures an operator or an MTA tells apart.
func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "127.0.0.1:1", "")
	os.WriteFile(filepath.Join(dir, "empty.eml"), nil, 0o600)
	os.Mkdir(filepath.Join(dir, "adir"), 0o700)
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("[server]\nhots = 1\n"), 0o600)
	for _, c := range []struct {
		code  int
		stdin string
		args  []string
	}{
		{exitNoInput, "", []string{"tickets", "list", "-config", cfg}}, // before ingest made a store
		{exitNoInput, "", []string{"ingest", "-config", cfg, "/nonexistent.eml"}},
		{exitNoInput, "", []string{"ingest", "-config", cfg, filepath.Join(dir, "adir")}},
		{exitDataErr, "", []string{"ingest", "-config", cfg, filepath.Join(dir, "empty.eml")}},
		{exitDataErr, "", []string{"ingest", "-config", cfg, "-"}},
		{exitConfig, "", []string{"ingest", "-config", bad, filepath.Join(dir, "empty.eml")}},
		{exitTempFail, "From: a@example.org\r\n\r\nx\r\n", []string{"ingest", "-config", bad, "-"}},
		{exitConfig, "", []string{"check", "-config", bad}},
		{exitConfig, "", []string{"tickets", "list", "-config", bad}},
		{exitConfig, "", []string{"check", "-config", filepath.Join(dir, "missing.toml")}},
		{exitUsage, "", []string{"ingest", "-config", cfg}},
		{exitUsage, "", []string{"tickets", "-frob"}},
		{exitNoInput, "", []string{"restore", "-config", cfg, "/nonexistent.tar"}},
	} {
		cmd := ticketdCmd(dir, c.args...)
		cmd.Stdin = strings.NewReader(c.stdin)
		var errOut strings.Builder
		cmd.Stderr = &errOut
		cmd.Run()
		if got := cmd.ProcessState.ExitCode(); got != c.code {
			t.Errorf("ticketd %s: exit %d, want %d\n%s", strings.Join(c.args, " "), got, c.code, errOut.String())
		}
	}
	// With several inputs the most urgent failure decides; the good one is stored.
	good := filepath.Join(dir, "good.eml")
	os.WriteFile(good, []byte("From: g@example.org\r\nSubject: g\r\nMessage-ID: <g@example.org>\r\n\r\ng\r\n"), 0o600)
	_, errOut, code := ticketdIn(t, dir, "ingest", "-config", cfg, "-silent", filepath.Join(dir, "empty.eml"), "/nonexistent.eml", good)
	if code != exitNoInput {
		t.Errorf("ingest empty, missing and good: exit %d, want 66\n%s", code, errOut)
	}
	if tks := listTickets(t, cfg); len(tks) != 1 {
		t.Errorf("%d tickets after ingest of one good mail, want 1", len(tks))
	}
}

// TestIngestReceivedTime: mail from a file counts as received at its Date
// (or the file's modification time), not at the moment of import, so
// migrated mail is not kept longer than its retention allows; the origin
// says which. Mail from a pipe takes its Date only when it is recent.
func TestIngestReceivedTime(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "127.0.0.1:1", "")
	mtime := time.Date(2024, 5, 2, 10, 0, 0, 0, time.UTC)
	write := func(name, date string) string {
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte("From: r@example.org\r\nSubject: "+name+"\r\nMessage-ID: <"+name+"@example.org>\r\nDate: "+date+"\r\n\r\nr\r\n"), 0o600)
		os.Chtimes(path, mtime, mtime)
		return path
	}
	recent := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	cases := []struct {
		name, date string
		stdin      bool
		want       time.Time
		from       string
	}{
		{"dated", "Thu, 02 May 2024 09:30:00 +0200", false, time.Date(2024, 5, 2, 7, 30, 0, 0, time.UTC), store.ReceivedDate},
		{"after-mtime", "Fri, 03 May 2024 09:30:00 +0000", false, mtime, store.ReceivedMtime},
		{"undated", "not a date", false, mtime, store.ReceivedMtime},
		{"pipe-recent", recent.Format(time.RFC1123Z), true, recent, store.ReceivedDate},
		{"pipe-old", "Thu, 02 May 2024 09:30:00 +0200", true, time.Time{}, store.ReceivedImport},
	}
	for _, c := range cases {
		path := write(c.name, c.date)
		args := []string{"ingest", "-config", cfg, "-silent", path}
		cmd := ticketdCmd(dir, args...)
		if c.stdin {
			f, _ := os.Open(path)
			defer f.Close()
			cmd = ticketdCmd(dir, "ingest", "-config", cfg, "-silent", "-")
			cmd.Stdin = f
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ingest %s: %v\n%s", c.name, err, out)
		}
	}
	tks := listTickets(t, cfg)
	for i, c := range cases {
		var tk desk.TicketDetail
		out := runWant(t, 0, "tickets", "show", "-json", "-config", cfg, itoa(tks[i].Number))
		if err := json.Unmarshal([]byte(out), &tk); err != nil {
			t.Fatal(err)
		}
		got := tk.Origin
		if got.ReceivedFrom != c.from {
			t.Errorf("%s: received_from %q, want %q", c.name, got.ReceivedFrom, c.from)
		}
		if !c.want.IsZero() && !got.ReceivedAt.Equal(c.want) {
			t.Errorf("%s: received %s, want %s", c.name, got.ReceivedAt, c.want)
		}
		if c.want.IsZero() && time.Since(got.ReceivedAt) > time.Minute {
			t.Errorf("%s: received %s, want the moment of import", c.name, got.ReceivedAt)
		}
	}
}

// TestPrintTicketIsTerminalSafe: what a mail carries (subject, body, file
// names, the requester) reaches the admin's terminal without control
// characters, so no escape sequence acts on it; line breaks of the text stay.
func TestPrintTicketIsTerminalSafe(t *testing.T) {
	esc := "\x1b]0;owned\x07\x1b[2J\u009b31m"
	tk := &desk.TicketDetail{TicketSummary: desk.TicketSummary{Number: 1, Subject: "Hilfe" + esc,
		Requester: store.Address{Name: "Eve" + esc, Email: "eve@example.org"}},
		Messages: []*store.Message{{ID: 1, Subject: "Hilfe" + esc, Text: "Zeile 1\n" + esc + "Zeile 2\n",
			Attachments: []store.Attachment{{Filename: "a" + esc + ".txt"}}}}}
	var detail, list strings.Builder
	if err := printTicket(&detail, tk); err != nil {
		t.Fatal(err)
	}
	if err := printTickets(&list, []desk.TicketSummary{tk.TicketSummary}); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"tickets show": detail.String(), "tickets list": list.String()} {
		if strings.ContainsAny(out, "\x1b\x07\u009b") {
			t.Errorf("%s passes control characters:\n%q", name, out)
		}
	}
	if !strings.Contains(detail.String(), "Zeile 1\n") {
		t.Errorf("the text lost its line breaks:\n%s", detail.String())
	}
}
