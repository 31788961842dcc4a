package main

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"ticketd/mail/mailtest"
	"ticketd/store"
)

// customer is a person whose mail the proofs ingest, with every value of
// it that must never be found in clear on disk.
type customer struct {
	name, email, subject, body, msgID string
	attName                           string
	att                               []byte // a PDF of over 64 KiB: a blob file
	small                             []byte // a PDF of a few KiB: in the database
}

func newCustomer(tag, name, email string) *customer {
	c := &customer{name: name, email: email,
		subject: "Reklamation " + tag + " Lieferschein 48151",
		body:    "Die Ware " + tag + " kam beschaedigt an, bitte um Erstattung auf mein Konto",
		msgID:   strings.ToLower(tag) + "-1@example.org",
		attName: strings.ToLower(tag) + "-rechnung.pdf"}
	var att bytes.Buffer
	att.WriteString("%PDF-1.4\n")
	for i := 0; att.Len() < 100<<10; i++ {
		fmt.Fprintf(&att, "Anlage %s Zeile %05d vertraulich\n", tag, i)
	}
	c.att = att.Bytes()
	c.small = []byte("%PDF-1.4\nKleine Anlage " + tag + " mit Kundennummer 99-" + tag + "\n%%EOF\n")
	return c
}

// mail is the customer's mail: text and two PDF attachments.
func (c *customer) mail() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s <%s>\r\nTo: support@example.com\r\nSubject: %s\r\nMessage-ID: <%s>\r\nDate: %s\r\n",
		c.name, c.email, c.subject, c.msgID, time.Now().Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(c.body + "\r\n")
	for i, att := range [][]byte{c.att, c.small} {
		name := c.attName
		if i == 1 {
			name = "klein-" + name
		}
		fmt.Fprintf(&b, "--b\r\nContent-Type: application/pdf; name=%q\r\nContent-Disposition: attachment; filename=%q\r\nContent-Transfer-Encoding: base64\r\n\r\n", name, name)
		enc := base64.StdEncoding.EncodeToString(att)
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n")
	}
	b.WriteString("--b--\r\n")
	return []byte(b.String())
}

// secrets are the values of c that must not be found in clear, by label.
func (c *customer) secrets() map[string][]byte {
	sum := func(p []byte) []byte { s := sha256.Sum256(p); return []byte(hex.EncodeToString(s[:])) }
	name := strings.Fields(c.name)
	return map[string][]byte{
		"name": []byte(c.name), "surname": []byte(name[len(name)-1]), "address": []byte(c.email),
		"address's local part": []byte(strings.Split(c.email, "@")[0]), "subject": []byte(c.subject), "body": []byte(c.body),
		"body's start": []byte(c.body[:24]), "Message-ID": []byte(c.msgID), "attachment name": []byte(c.attName),
		"attachment content": c.att[9:60], "small attachment content": c.small[9:40],
		"attachment's SHA-256": sum(c.att), "small attachment's SHA-256": sum(c.small), "mail's SHA-256": sum(c.mail()),
	}
}

// filesUnder lists the regular files below each root.
func filesUnder(t *testing.T, roots ...string) []string {
	t.Helper()
	var files []string
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// findInClear reports each secret of each customer found in a file below roots.
func findInClear(t *testing.T, cs []*customer, roots ...string) {
	t.Helper()
	files := filesUnder(t, roots...)
	if len(files) == 0 {
		t.Fatalf("no files under %v", roots)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			for label, v := range c.secrets() {
				if bytes.Contains(raw, v) || bytes.Contains(bytes.ToLower(raw), bytes.ToLower(v)) {
					t.Errorf("%s of %s in clear in %s", label, c.name, f)
				}
			}
		}
	}
}

// untar unpacks the archive into a new directory.
func untar(t *testing.T, archive string) string {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := t.TempDir()
	tr := tar.NewReader(f)
	n := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		os.MkdirAll(filepath.Dir(p), 0o700)
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n < 2 {
		t.Fatalf("the archive holds %d files", n)
	}
	return dir
}

// fileHashes are the SHA-256 of every regular file below roots, by path.
func fileHashes(t *testing.T, roots ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range filesUnder(t, roots...) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(raw)
		out[f] = hex.EncodeToString(s[:])
	}
	return out
}

// waitTickets waits until the store behind cfg holds n tickets.
func waitTickets(t *testing.T, cfg string, n int) {
	t.Helper()
	mailtest.WaitFor(t, 60*time.Second, fmt.Sprintf("%d tickets", n), func() bool { return len(listTickets(t, cfg)) >= n })
	if got := len(listTickets(t, cfg)); got != n {
		t.Fatalf("%d tickets, want %d", got, n)
	}
}

// stopDaemon stops d with SIGTERM and waits for it.
func stopDaemon(t *testing.T, d *daemonProc) {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(60 * time.Second):
		t.Fatal("the daemon did not stop")
	}
}

// snapshotPath is the path a keys backup output names.
var snapshotWritten = regexp.MustCompile(`key snapshot written to (\S+) `)

func snapshotPath(t *testing.T, out string) string {
	t.Helper()
	m := snapshotWritten.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("keys backup names no snapshot:\n%s", out)
	}
	return m[1]
}

// TestNothingInClear: after a daemon run that ingested two customers' mail
// (names, addresses, subjects, texts, a blob-sized and a small attachment)
// and a backup, no file of the data directory and no file of the untarred
// backup holds any of those values, nor the attachments' or the mail's
// SHA-256 in hex; and the backup holds no person keys.
func TestNothingInClear(t *testing.T) {
	srv := mailtest.MemIMAP(t, nil)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, srv.Addr, "")
	cs := []*customer{newCustomer("Zwetschge", "Wilhelmine Zwetschgenbaum", "wilhelmine.zwetschgenbaum@example.org"),
		newCustomer("Quitte", "Ottokar Quittenmus", "ottokar.quittenmus@example.net")}
	for _, c := range cs {
		srv.Append(t, "INBOX", c.mail())
	}
	d := startRun(t, cfg)
	d.waitLog(t, "ticketd started")
	waitTickets(t, cfg, 2)
	// The ticket reads back whole, through the daemon.
	if out := runWant(t, 0, "tickets", "-config", cfg, "show", "1"); !strings.Contains(out, cs[0].subject) {
		t.Errorf("tickets show 1 lacks the subject:\n%s", out)
	}
	archive := filepath.Join(t.TempDir(), "backup.tar")
	out := runWant(t, 0, "backup", "-config", cfg, archive)
	if !strings.Contains(out, "It holds no person keys") {
		t.Errorf("backup output:\n%s", out)
	}
	stopDaemon(t, d)

	data := filepath.Join(dir, "data")
	if blobs := filesUnder(t, filepath.Join(data, "blobs")); len(blobs) < 2 {
		t.Errorf("blob files %v, want one per large attachment", blobs)
	}
	unpacked := untar(t, archive)
	findInClear(t, cs, data, unpacked)
	for _, f := range filesUnder(t, unpacked) {
		if strings.HasPrefix(filepath.Base(f), "keys") {
			t.Errorf("the backup holds %s", f)
		}
	}
}

// TestErasureReachesOldBackup: two customers; a backup; one of them
// erased; a key snapshot; the old backup restored with that snapshot into
// a new data directory: the other customer's tickets list and export
// intact, the erased one's records read as erased (restore counts them),
// the export finds nothing, and no file holds the erased values in clear.
func TestErasureReachesOldBackup(t *testing.T) {
	srv := mailtest.MemIMAP(t, nil)
	dirA := t.TempDir()
	cfgA := writeConfig(t, dirA, srv.Addr, "")
	gone := newCustomer("Zwetschge", "Wilhelmine Zwetschgenbaum", "wilhelmine.zwetschgenbaum@example.org")
	kept := newCustomer("Quitte", "Ottokar Quittenmus", "ottokar.quittenmus@example.net")
	srv.Append(t, "INBOX", gone.mail())
	srv.Append(t, "INBOX", kept.mail())
	d := startRun(t, cfgA)
	d.waitLog(t, "ticketd started")
	waitTickets(t, cfgA, 2)
	archive := filepath.Join(t.TempDir(), "before-erasure.tar")
	runWant(t, 0, "backup", "-config", cfgA, archive)
	if out := runWant(t, 0, "subject", "-config", cfgA, "erase", gone.email); !strings.Contains(out, "Erased:") {
		t.Fatalf("erase:\n%s", out)
	}
	out := runWant(t, 0, "keys", "-config", cfgA, "backup")
	snap := snapshotPath(t, out)
	if filepath.Dir(snap) != filepath.Join(dirA, "key-snapshots") {
		t.Errorf("snapshot %s, want it in key-snapshots beside the configuration", snap)
	}
	if fi, err := os.Stat(snap); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("snapshot file: %v %v", err, fi)
	}
	stopDaemon(t, d)

	// The new machine: the same configuration and master key, an empty data directory.
	dirB := t.TempDir()
	cfgB := writeConfig(t, dirB, srv.Addr, "")
	key, err := os.ReadFile(filepath.Join(dirA, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dirB, "master.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	// Without -keys: a usage error that says what is missing, and nothing restored.
	_, errOut, code := ticketd(t, nil, "restore", "-config", cfgB, archive)
	if code != exitUsage || !strings.Contains(errOut, "key snapshot") || !strings.Contains(errOut, "-keys") {
		t.Errorf("restore without -keys: exit %d %q", code, errOut)
	}
	if files := filesUnder(t, dirB); slices.ContainsFunc(files, func(f string) bool { return strings.Contains(f, filepath.Join(dirB, "data")) }) {
		t.Errorf("restore without -keys left %v", files)
	}
	out = runWant(t, 0, "restore", "-config", cfgB, "-keys", snap, archive)
	m := regexp.MustCompile(`(\d+) records read as erased`).FindStringSubmatch(out)
	if m == nil || m[1] == "0" {
		t.Errorf("restore does not report the erased person's records:\n%s", out)
	}

	tks := listTickets(t, cfgB)
	if len(tks) != 1 {
		t.Fatalf("restored tickets %+v, want the kept customer's one", tks)
	}
	if show := runWant(t, 0, "tickets", "-config", cfgB, "show", fmt.Sprint(tks[0].Number)); !strings.Contains(show, kept.subject) || !strings.Contains(show, kept.body) {
		t.Errorf("the kept customer's ticket does not read back:\n%s", show)
	}
	export := filepath.Join(t.TempDir(), "kept.zip")
	runWant(t, 0, "subject", "-config", cfgB, "export", "-o", export, kept.email)
	doc := exportedDoc(t, export)
	if doc.Person.Email != kept.email || len(doc.Tickets) != 1 || len(doc.Tickets[0].Messages) != 1 || !strings.Contains(doc.Tickets[0].Messages[0].Text, kept.body) {
		t.Errorf("export of the kept customer: %+v", doc)
	}
	if _, errOut, code := ticketd(t, nil, "subject", "-config", cfgB, "export", "-o", filepath.Join(t.TempDir(), "gone.zip"), gone.email); code != 1 || !strings.Contains(errOut, "no data subject") {
		t.Errorf("export of the erased customer: exit %d %q", code, errOut)
	}
	findInClear(t, []*customer{gone}, filepath.Join(dirB, "data"))
	runWant(t, 0, "audit", "-config", cfgB, "verify")
}

// TestMasterKeyRefusals: with the master key file missing, or holding
// another key, the daemon and tickets list exit 78 with a message that
// names the file and says what to do; no file of the data directory
// changes, and no master key is made.
func TestMasterKeyRefusals(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "127.0.0.1:1", "")
	ingestMail(t, dir, cfg, "Wilhelmine Zwetschgenbaum <wilhelmine@example.org>", "mk1")
	keyPath := filepath.Join(dir, "master.key")
	key, err := os.ReadFile(keyPath)
	if err != nil || len(key) != 32 {
		t.Fatalf("master key: %v, %d bytes", err, len(key))
	}
	data := filepath.Join(dir, "data")
	before := fileHashes(t, data)

	wrong := make([]byte, 32)
	rand.Read(wrong)
	for _, tc := range []struct {
		name  string
		setup func()
		want  []string
	}{
		{"missing", func() { os.Remove(keyPath) }, []string{keyPath, "missing", "never make a new one"}},
		{"wrong", func() { os.WriteFile(keyPath, wrong, 0o600) }, []string{keyPath, "wrong master key", "never make a new one"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup()
			_, errOut, code := ticketd(t, nil, "tickets", "-config", cfg, "list")
			check := func(what string) {
				if code != exitConfig {
					t.Errorf("%s: exit %d, want 78: %s", what, code, errOut)
				}
				for _, w := range tc.want {
					if !strings.Contains(errOut, w) {
						t.Errorf("%s: message lacks %q:\n%s", what, w, errOut)
					}
				}
			}
			check("tickets list")
			_, errOut, code = ticketd(t, nil, "run", "-config", cfg)
			check("run")
			if after := fileHashes(t, data); !mapsEqual(before, after) {
				t.Errorf("the data directory changed:\nbefore %v\nafter  %v", before, after)
			}
			got, err := os.ReadFile(keyPath)
			switch tc.name {
			case "missing":
				if err == nil {
					t.Error("a new master key was made")
				}
			case "wrong":
				if !bytes.Equal(got, wrong) {
					t.Error("the master key file was changed")
				}
			}
		})
	}
	os.WriteFile(keyPath, key, 0o600)
	if tks := listTickets(t, cfg); len(tks) != 1 {
		t.Errorf("with the right key back: %d tickets, want 1", len(tks))
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestRotateWhileIngesting: keys rotate through the running daemon while
// mail comes in: no mail is lost or stored twice, everything reads back
// afterwards with the new master key, and the old one no longer opens it.
func TestRotateWhileIngesting(t *testing.T) {
	srv := mailtest.MemIMAP(t, nil)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, srv.Addr, "")
	d := startRun(t, cfg)
	d.waitLog(t, "ticketd started")
	const n = 40
	mail := func(i int) []byte {
		return fmt.Appendf(nil, "From: Kunde %d <kunde%d@example.org>\r\nTo: support@example.com\r\nSubject: Frage %d\r\nMessage-ID: <rot-%d@example.org>\r\n\r\nText %d\r\n", i, i, i, i, i)
	}
	for i := range n / 2 {
		srv.Append(t, "INBOX", mail(i))
	}
	keyPath := filepath.Join(dir, "master.key")
	old, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		out  string
		code int
	}
	done := make(chan result, 1)
	go func() {
		cmd := exec.Command(binary, "keys", "-config", cfg, "rotate")
		b, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			code = -1
		}
		done <- result{string(b), code}
	}()
	for i := n / 2; i < n; i++ {
		srv.Append(t, "INBOX", mail(i))
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("keys rotate did not finish")
	}
	if r.code != 0 || !regexp.MustCompile(`\d+ keys re-wrapped under the new master key \S+`).MatchString(r.out) {
		t.Fatalf("keys rotate: exit %d\n%s", r.code, r.out)
	}
	waitTickets(t, cfg, n)
	stopDaemon(t, d)

	if _, err := os.Stat(keyPath + ".new"); err == nil {
		t.Error("master.key.new is left")
	}
	key, err := os.ReadFile(keyPath)
	if err != nil || len(key) != 32 || bytes.Equal(key, old) {
		t.Fatalf("master key after rotate: %v, %d bytes, changed %v", err, len(key), !bytes.Equal(key, old))
	}
	tks := listTickets(t, cfg)
	subjects := map[string]int{}
	for _, tk := range tks {
		subjects[tk.Subject]++
	}
	for i := range n {
		if s := fmt.Sprintf("Frage %d", i); subjects[s] != 1 {
			t.Errorf("%q stored %d times, want once", s, subjects[s])
		}
	}
	if len(tks) != n {
		t.Errorf("%d tickets, want %d", len(tks), n)
	}
	if show := runWant(t, 0, "tickets", "-config", cfg, "show", "7"); !strings.Contains(show, "kunde") {
		t.Errorf("a ticket does not read back with the new key:\n%s", show)
	}
	runWant(t, 0, "audit", "-config", cfg, "verify")

	os.WriteFile(keyPath, old, 0o600)
	if _, errOut, code := ticketd(t, nil, "tickets", "-config", cfg, "list"); code != exitConfig || !strings.Contains(errOut, keyPath) {
		t.Errorf("the old master key: exit %d %q, want 78", code, errOut)
	}
	os.WriteFile(keyPath, key, 0o600)
}

// TestKeysCommands: usage errors, a snapshot without a daemon (FILE
// inside data_dir refused, an existing FILE only with -force), and
// check's line for tls_verify = false on a loopback host.
func TestKeysCommands(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "127.0.0.1:1", "tls_verify = false\n")
	for _, args := range [][]string{{"keys", "-config", cfg}, {"keys", "-config", cfg, "frobnicate"},
		{"keys", "-config", cfg, "rotate", "x"}, {"keys", "-config", cfg, "backup", "a", "b"}} {
		if _, errOut, code := ticketd(t, nil, args...); code != exitUsage {
			t.Errorf("%v: exit %d %q, want 64", args, code, errOut)
		}
	}
	if _, errOut, code := ticketd(t, nil, "keys", "-config", cfg, "backup"); code != exitNoInput {
		t.Errorf("keys backup without a store: exit %d %q, want 66", code, errOut)
	}
	_, errOut, code := ticketd(t, nil, "check", "-config", cfg)
	if code != 0 || !strings.Contains(errOut, `certificate checks are off for mailbox "support"`) {
		t.Errorf("check with tls_verify = false: exit %d %q", code, errOut)
	}

	ingestMail(t, dir, cfg, "Kunde <kunde@example.org>", "k1")
	file := filepath.Join(t.TempDir(), "k.snapshot")
	out := runWant(t, 0, "keys", "-config", cfg, "backup", file)
	if snapshotPath(t, out) != file || !strings.Contains(out, "ticketd restore -keys "+file) {
		t.Errorf("keys backup FILE:\n%s", out)
	}
	if _, errOut, code := ticketd(t, nil, "keys", "-config", cfg, "backup", file); code != 1 || !strings.Contains(errOut, "exists") {
		t.Errorf("keys backup over an existing file: exit %d %q", code, errOut)
	}
	runWant(t, 0, "keys", "-config", cfg, "backup", "-force", file)
	inside := filepath.Join(dir, "data", "k.snapshot")
	if _, errOut, code := ticketd(t, nil, "keys", "-config", cfg, "backup", inside); code != 1 || !strings.Contains(errOut, "inside data_dir") {
		t.Errorf("keys backup into data_dir: exit %d %q", code, errOut)
	}
	if _, err := os.Stat(inside); err == nil {
		t.Error("a snapshot was written inside data_dir")
	}
	out = runWant(t, 0, "keys", "-config", cfg, "rotate")
	if !strings.Contains(out, "take a new one (ticketd keys backup)") {
		t.Errorf("keys rotate without a daemon:\n%s", out)
	}
	// Each snapshot and the rotation are audit events, identifiers only.
	db, err := store.Open(filepath.Join(dir, "data"), store.Options{ReadOnly: true, MasterKeyFile: filepath.Join(dir, "master.key")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got := map[store.Action]int{}
	db.View(func(tx *store.Tx) error {
		return tx.AuditEvents(func(e *store.AuditEvent) bool {
			if e.Action == store.ActionKeysRotated || e.Action == store.ActionKeysBackedUp {
				got[e.Action]++
				if e.Actor != store.ActorAdmin || strings.Contains(e.Detail, "kunde") || strings.Contains(e.Detail, file) {
					t.Errorf("event %+v", e)
				}
			}
			return true
		})
	})
	if got[store.ActionKeysRotated] != 1 || got[store.ActionKeysBackedUp] != 2 {
		t.Errorf("audit events %v, want 1 rotation and 2 snapshots", got)
	}
}
