package config

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/bad/*/expected from the current output")

// TestBad loads each testdata/bad/<case>/config.toml and compares every
// reported problem with <case>/expected. Paths are shown relative to the case
// directory.
//
// The cases run on a copy of testdata in which every file but config.toml and
// expected is mode 0600 (git keeps no modes, and secret files must be
// private); a case's setup file then makes what git cannot hold, one step a
// line: "chmod MODE FILE", "mkfifo FILE" or "fill SIZE FILE" (SIZE bytes,
// its directories made).
func TestBad(t *testing.T) {
	dirs, err := filepath.Glob("testdata/bad/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no test cases: %v", err)
	}
	root := t.TempDir()
	copyTestdata(t, "testdata", root)
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			work := filepath.Join(root, strings.TrimPrefix(dir, "testdata"))
			setup(t, work)
			c, err := Load(filepath.Join(work, "config.toml"))
			var errs Errors
			if !errors.As(err, &errs) || c != nil {
				t.Fatalf("Load = %v, %v; want nil, Errors", c, err)
			}
			got := strings.NewReplacer(work+string(filepath.Separator), "").Replace(errs.Error()) + "\n"
			golden := filepath.Join(dir, "expected")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// copyTestdata copies the tree src to dst, files other than config.toml,
// expected and setup with mode 0600.
func copyTestdata(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		to := filepath.Join(dst, strings.TrimPrefix(p, src))
		if e.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		mode := os.FileMode(0o600)
		if n := e.Name(); n == "config.toml" || n == "expected" || n == "setup" {
			mode = 0o644
		}
		return os.WriteFile(to, b, mode)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// setup runs the steps of dir/setup, if there is one.
func setup(t *testing.T, dir string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "setup"))
	if errors.Is(err, os.ErrNotExist) {
		return
	} else if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		var err error
		switch {
		case f[0] == "chmod" && len(f) == 3:
			var mode uint32
			if _, err = fmt.Sscanf(f[1], "%o", &mode); err == nil {
				err = os.Chmod(filepath.Join(dir, f[2]), os.FileMode(mode))
			}
		case f[0] == "mkfifo" && len(f) == 2:
			err = syscall.Mkfifo(filepath.Join(dir, f[1]), 0o600)
		case f[0] == "fill" && len(f) == 3:
			var n int
			p := filepath.Join(dir, f[2])
			if n, err = strconv.Atoi(f[1]); err == nil {
				err = os.MkdirAll(filepath.Dir(p), 0o700)
			}
			if err == nil {
				err = os.WriteFile(p, bytes.Repeat([]byte("x"), n), 0o600)
			}
		default:
			err = fmt.Errorf("unknown step %q", line)
		}
		if err != nil {
			t.Fatalf("setup: %s: %v", line, err)
		}
	}
}

// minimal is the smallest valid configuration; every other key defaults. It
// is the base that configtest gives the other packages' tests, read from its
// file so that the fixture exists once.
var minimal = func() string {
	b, err := os.ReadFile("configtest/minimal.toml")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

// edit returns text with each pair old, new of edits replaced once, and fails
// the test if an old is not there, so that a change of minimal cannot make an
// edit silently do nothing.
func edit(t *testing.T, text string, edits ...string) string {
	t.Helper()
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(text, edits[i]) {
			t.Fatalf("the configuration has no %q to replace:\n%s", edits[i], text)
		}
		text = strings.Replace(text, edits[i], edits[i+1], 1)
	}
	return text
}

// writeFiles creates the named files under dir, with their parent directories.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// load writes config.toml and files into a new directory and loads it.
func load(t *testing.T, config string, files map[string]string) (*Config, string) {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"config.toml": config})
	writeFiles(t, dir, files)
	c, err := Load(filepath.Join(dir, "config.toml"))
	if err != nil {
		t.Fatalf("Load:\n%v", err)
	}
	return c, dir
}

func TestDefaults(t *testing.T) {
	c, _ := load(t, minimal+`
[[mailbox]]
name = "starttls"
address = "sales@example.com"
host = "imap.example.com"
tls = "starttls"
username = "sales"
password_file = "imap.pass"
queue = "support"
`, map[string]string{"imap.pass": "pw\n"})

	s := c.Server
	for _, tc := range []struct{ name, got, want string }{
		{"data_dir", s.DataDir, "/var/lib/ticketd"},
		{"http_listen", s.HTTPListen, "127.0.0.1:8080"},
		{"language", s.Language, "en"},
		{"admin_socket", s.AdminSocket, "/var/lib/ticketd/admin.sock"},
		{"log_format", s.LogFormat, "text"},
		{"log_level", s.LogLevel, "info"},
		{"smtp.tls", c.SMTP.TLS, "starttls"},
		{"mailbox.tls", c.Mailboxes[0].TLS, "implicit"},
		{"folder", c.Mailboxes[0].Folder, "INBOX"},
		{"after_import", c.Mailboxes[0].AfterImport, "seen"},
		{"on_expiry", c.Purposes[0].OnExpiry, "anonymize"},
		{"templates_dir", s.TemplatesDir, ""},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	for _, tc := range []struct {
		name      string
		got, want int64
	}{
		{"smtp.port", int64(c.SMTP.Port), 587},
		{"smtp.timeout", int64(c.SMTP.Timeout.Duration), int64(60 * time.Second)},
		{"mailbox[1].port", int64(c.Mailboxes[0].Port), 993},
		{"mailbox[2].port", int64(c.Mailboxes[1].Port), 143},
		{"poll_interval", int64(c.Mailboxes[0].PollInterval.Duration), int64(60 * time.Second)},
		{"max_message_size", int64(c.Mailboxes[0].MaxMessageSize), 64 << 20},
		{"batch_size", int64(c.Mailboxes[0].BatchSize), 200},
		{"command_timeout", int64(c.Mailboxes[0].CommandTimeout.Duration), int64(60 * time.Second)},
		{"smtp.retry_for", int64(c.SMTP.RetryFor.Duration), int64(48 * time.Hour)},
		{"max_per_sender", int64(c.Acknowledgement.MaxPerSender), 5},
		{"window", int64(c.Acknowledgement.Window.Duration), int64(time.Hour)},
		{"consent_link_validity", int64(c.Acknowledgement.ConsentLinkValidity.Duration), int64(90 * 24 * time.Hour)},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %d, want %d", tc.name, tc.got, tc.want)
		}
	}
	if !c.Mailboxes[0].UseIDLE() {
		t.Error("idle defaults to false, want true")
	}
	if a := c.Acknowledgement; a.Enabled == nil || !*a.Enabled || !a.On() {
		t.Errorf("acknowledgement.enabled = %v, want a pointer to true", a.Enabled)
	}
	if q := c.Queues[0]; q.Purpose != "support" || q.ResponseTime.Duration != 24*time.Hour || q.Agents != nil {
		t.Errorf("queue = %+v", q)
	}
	p := c.Purposes[0]
	if p.Retention != (Period{Years: 2}) || p.LegalBasis != "contract" || p.Description.In("de") != "Bearbeitung Ihrer Anfrage" ||
		p.Required.In("en") != "Without your details we cannot answer." || p.Transfers == nil || len(p.Transfers) != 0 {
		t.Errorf("purpose = %+v", p)
	}
	if c.SMTP.Password != "" || c.SMTP.CAFile != "" {
		t.Errorf("smtp password %q, ca_file %q; want both empty", c.SMTP.Password, c.SMTP.CAFile)
	}
}

func TestPortByTLS(t *testing.T) {
	for _, tc := range []struct {
		header, tls string
		port        int
	}{
		{"[smtp]", "implicit", 465},
		{"[smtp]", "starttls", 587},
		{"[smtp]", "none", 25},
		{"[[mailbox]]", "implicit", 993},
		{"[[mailbox]]", "starttls", 143},
		{"[[mailbox]]", "none", 143},
	} {
		t.Run(tc.header+tc.tls, func(t *testing.T) {
			config := edit(t, minimal, tc.header+"\n", tc.header+"\ntls = \""+tc.tls+"\"\n")
			// Plain-text IMAP carries a password, so only to a loopback host.
			config = strings.Replace(config, `host = "imap.example.com"`, `host = "localhost"`, 1)
			c, err := Parse("config.toml", []byte(config))
			if err != nil {
				t.Fatal(err)
			}
			got := c.SMTP.Port
			if tc.header == "[[mailbox]]" {
				got = c.Mailboxes[0].Port
			}
			if got != tc.port {
				t.Errorf("port = %d, want %d", got, tc.port)
			}
		})
	}
}

// TestParseNoFilesystem checks that Parse keeps paths as written and reads
// nothing: the files named here do not exist.
func TestParseNoFilesystem(t *testing.T) {
	config := edit(t, minimal, "[smtp]\n", "[smtp]\nca_file = \"ca.pem\"\n")
	config = strings.Replace(config, "[server]\n", "[server]\ntemplates_dir = \"templates\"\n", 1)
	c, err := Parse("config.toml", []byte(config))
	if err != nil {
		t.Fatal(err)
	}
	if c.SMTP.CAFile != "ca.pem" || c.Mailboxes[0].PasswordFile != "imap.pass" || c.Mailboxes[0].Password != "" ||
		c.Server.TemplatesDir != "templates" {
		t.Errorf("Parse changed paths or read secrets: %+v %+v %+v", c.Server, c.SMTP, c.Mailboxes[0])
	}
	if c.File != "config.toml" {
		t.Errorf("File = %q", c.File)
	}
}

func TestRelativePaths(t *testing.T) {
	smtpPass := filepath.Join(t.TempDir(), "smtp.pass") // absolute: kept as is
	writeFiles(t, filepath.Dir(smtpPass), map[string]string{"smtp.pass": "smtp-pw\n"})
	config := edit(t, minimal,
		"[server]\n", "[server]\ndata_dir = \"state\"\ntemplates_dir = \"./templates\"\n",
		"[smtp]\n", fmt.Sprintf("[smtp]\nusername = \"ticketd\"\npassword_file = %q\nca_file = \"certs/ca.pem\"\n", smtpPass),
		`password_file = "imap.pass"`, "ca_file = \"./certs/../certs/ca.pem\"\npassword_file = \"secrets/imap.pass\"")
	c, dir := load(t, config, map[string]string{
		"secrets/imap.pass": "imap-pw\n", "certs/ca.pem": testCA(t), "templates/ack.de.txt.tmpl": "Hallo\n",
	})

	for _, tc := range []struct{ name, got, want string }{
		{"data_dir", c.Server.DataDir, filepath.Join(dir, "state")},
		{"admin_socket", c.Server.AdminSocket, filepath.Join(dir, "state", "admin.sock")},
		{"templates_dir", c.Server.TemplatesDir, filepath.Join(dir, "templates")},
		{"smtp.ca_file", c.SMTP.CAFile, filepath.Join(dir, "certs", "ca.pem")},
		{"smtp.password_file", c.SMTP.PasswordFile, smtpPass},
		{"smtp.password", c.SMTP.Password, "smtp-pw"},
		{"mailbox.ca_file", c.Mailboxes[0].CAFile, filepath.Join(dir, "certs", "ca.pem")},
		{"mailbox.password_file", c.Mailboxes[0].PasswordFile, filepath.Join(dir, "secrets", "imap.pass")},
		{"mailbox.password", c.Mailboxes[0].Password, "imap-pw"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

func TestAdminSocketRelative(t *testing.T) {
	config := edit(t, minimal, "[server]\n", "[server]\nadmin_socket = \"run/admin.sock\"\n")
	c, dir := load(t, config, map[string]string{"imap.pass": "pw"})
	if want := filepath.Join(dir, "run", "admin.sock"); c.Server.AdminSocket != want {
		t.Errorf("admin_socket = %q, want %q", c.Server.AdminSocket, want)
	}
	if c.Server.DataDir != "/var/lib/ticketd" {
		t.Errorf("data_dir = %q, want the absolute default unchanged", c.Server.DataDir)
	}
}

func TestSecretTrimming(t *testing.T) {
	for _, tc := range []struct{ name, content, want string }{
		{"no newline", "s3cret", "s3cret"},
		{"LF", "s3cret\n", "s3cret"},
		{"CRLF", "s3cret\r\n", "s3cret"},
		{"only one newline", "s3cret\n\n", "s3cret\n"},
		{"inner spaces kept", " s3 cret \n", " s3 cret "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := load(t, minimal, map[string]string{"imap.pass": tc.content})
			if got := c.Mailboxes[0].Password; got != tc.want {
				t.Errorf("password = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	config := minimal + `
[[queue]]
name = "billing"
purpose = "billing"
response_time = "8h"
agents = ["alice@example.com", "bob@example.com"]

[[mailbox]]
name = "billing"
address = "billing@example.com"
host = "imap.example.com"
username = "billing"
password_file = "imap.pass"
queue = "billing"
idle = false

[[purpose]]
name = "billing"
legal_basis = "legal_obligation"
retention = "10y"
on_expiry = "delete"
recipients = ["Tax advisor"]
transfers = []

[purpose.description]
de = "Rechnungsfragen"
en = "Billing questions"

[purpose.required]
de = "Gesetzlich vorgeschrieben."
en = "Required by law."
`
	c, err := Parse("config.toml", []byte(config))
	if err != nil {
		t.Fatal(err)
	}
	if m := c.Mailbox("billing"); m == nil || m.Address != "billing@example.com" || m.UseIDLE() {
		t.Errorf("Mailbox(billing) = %+v", m)
	}
	if m := c.Mailbox("nope"); m != nil {
		t.Errorf("Mailbox(nope) = %+v, want nil", m)
	}
	if q := c.Queue("billing"); q == nil || q != &c.Queues[1] {
		t.Errorf("Queue(billing) = %v, want &c.Queues[1]", q)
	}
	if q := c.Queue("nope"); q != nil {
		t.Errorf("Queue(nope) = %+v, want nil", q)
	}
	p := c.Purpose(c.Queue("billing").Purpose)
	if p == nil || p != &c.Purposes[1] || p.Description.DE != "Rechnungsfragen" || p.Required.EN != "Required by law." ||
		p.Retention != (Period{Years: 10}) || p.OnExpiry != "delete" {
		t.Errorf("Purpose(billing) = %+v, want &c.Purposes[1] from sub-tables", p)
	}
	if p := c.Purpose("nope"); p != nil {
		t.Errorf("Purpose(nope) = %+v, want nil", p)
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ticketd.toml")
	_, err := Load(path)
	if want := path + ": cannot read configuration: no such file or directory"; err == nil || err.Error() != want {
		t.Errorf("Load = %v, want %q", err, want)
	}
}

func TestErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		err  *Error
		want string
	}{
		{&Error{File: "c.toml", Line: 4, Col: 1, Msg: "m"}, "c.toml:4:1: m"},
		{&Error{File: "c.toml", Msg: "m"}, "c.toml: m"},
		{&Error{Line: 4, Col: 7, Msg: "m"}, "4:7: m"},
		{&Error{Msg: "m"}, "m"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
	errs := Errors{{File: "c", Line: 1, Col: 1, Msg: "a"}, {File: "c", Line: 2, Col: 3, Msg: "b"}}
	if got, want := errs.Error(), "c:1:1: a\nc:2:3: b"; got != want {
		t.Errorf("Errors.Error() = %q, want %q", got, want)
	}
	var e *Error
	if !errors.As(error(errs), &e) || e != errs[0] {
		t.Error("errors.As does not find the first *Error")
	}
}

// testCA returns a self-signed certificate in PEM.
func testCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{minimal, "", "[server]\nport = 1\n", "mailbox = [{name = 1}, 2, [3]]\n"} {
		f.Add(seed)
	}
	seeds, _ := filepath.Glob("testdata/bad/*/config.toml")
	seeds = append(seeds, "../config.example.toml")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, data string) {
		c, err := Parse("fuzz.toml", []byte(data))
		if err == nil {
			if c == nil {
				t.Fatal("nil Config without an error")
			}
			return
		}
		var errs Errors
		if c != nil || !errors.As(err, &errs) || len(errs) == 0 {
			t.Fatalf("Parse = %v, %v; want nil, non-empty Errors", c, err)
		}
		lines := strings.Count(data, "\n") + 1
		for _, e := range errs {
			if e.Msg == "" || e.Line < 0 || e.Line > lines || (e.Line > 0) != (e.Col > 0) {
				t.Errorf("bad error %#v in a document of %d lines", e, lines)
			}
		}
	})
}
