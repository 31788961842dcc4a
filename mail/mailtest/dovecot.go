package mailtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
)

// interopSkipMessage is the reason given when a real-server test is skipped.
const interopSkipMessage = "interop tests need TICKETD_INTEROP=1 (make interop)"

// Interop reports whether real-server interop tests were asked for (env TICKETD_INTEROP=1).
func Interop() bool { return os.Getenv("TICKETD_INTEROP") == "1" }

// Dovecot is a private Dovecot IMAP server on 127.0.0.1, in its own temp dir, stopped by t.Cleanup.
//
// It has one user (Username, Password) whose mail is a Maildir++ under Dir/mail/USER/Maildir,
// owned by nobody; the hierarchy separator is "/". Settings that differ from Dovecot's defaults
// only in timing: mail_fsync = never (no fsync per APPEND; only a machine crash could lose mail),
// auth_failure_delay = 0 and no auth penalty (anvil-auth-penalty listener off), so that a wrong
// password is refused within 0.5 s (Dovecot answers failures on a 0.5 s tick) instead of after
// 2 s, doubling up to 15 s for further failures from 127.0.0.1.
type Dovecot struct {
	Addr               string // plain IMAP with STARTTLS offered, "127.0.0.1:PORT"
	TLSAddr            string // implicit TLS (imaps), "127.0.0.1:PORT"
	Username, Password string
	CACert             []byte // PEM of the self-signed cert (CN=localhost, SAN DNS:localhost, IP:127.0.0.1) clients must trust
	Dir                string

	// AuthSocket is the auth service's client socket (mode 0666), which
	// Postfix uses for SASL (smtpd_sasl_type = dovecot).
	AuthSocket string

	conf    string   // Dir/dovecot.conf
	doveadm string   // path of the doveadm program
	proc    *srvProc // the dovecot master, run in the foreground (-F)
	seq     atomic.Int64
	epoch   int64 // Unix seconds at start, the time part of WriteMaildir's file names
}

// dovecotUID is the uid and gid (nobody, nogroup) that owns the mail.
const dovecotUID = 65534

// dovecotConfTemplate is the server's configuration; {{NAME}} fields are filled in by StartDovecot.
const dovecotConfTemplate = `# Written by ticketd/mail/mailtest for one test; removed when the test ends.
base_dir = {{DIR}}/run
state_dir = {{DIR}}/state
instance_name = ticketd-test-{{PORT}}
log_path = {{DIR}}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{{DIR}}/cert.pem
ssl_key = <{{DIR}}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login{{MECHS}}
auth_failure_delay = 0
mail_location = maildir:{{DIR}}/mail/%u/Maildir
mail_uid = 65534
mail_gid = 65534
first_valid_uid = 65534
mail_max_userip_connections = 200
mail_fsync = never
namespace inbox {
  inbox = yes
  separator = /
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {{DIR}}/users
}
{{PASSDB}}userdb {
  driver = static
  args = uid=65534 gid=65534 home={{DIR}}/mail/%u
}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service auth {
  unix_listener auth-sasl {
    mode = 0666
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = {{PORT}}
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = {{TLSPORT}}
    ssl = yes
  }
}
`

// DovecotOption changes the server StartDovecot starts.
type DovecotOption func(*dovecotOptions)

type dovecotOptions struct {
	introspectURL string
}

// DovecotOAuth2 adds the SASL mechanisms OAUTHBEARER and XOAUTH2, checked by
// Dovecot's oauth2 passdb against the token introspection endpoint url
// (RFC 7662; oauthtest.Server.IntrospectURL, with "?user=NAME" naming the
// user an active token belongs to). LOGIN and PLAIN with the password stay.
func DovecotOAuth2(url string) DovecotOption {
	return func(o *dovecotOptions) { o.introspectURL = url }
}

// StartDovecot starts one. Unless Interop() is true it calls t.Skip("interop tests need TICKETD_INTEROP=1 (make interop)");
// with Interop() true and dovecot missing it fails the test with a clear message saying to run .ci/install-deps.
//
// It returns once both ports greet, the TLS port over TLS with CACert (usually 50 ms after the start).
// The server is killed (SIGKILL to its process group) and its directory removed by t.Cleanup;
// if the test failed, the tail of its log is logged first.
func StartDovecot(t testing.TB, opts ...DovecotOption) *Dovecot {
	t.Helper()
	var o dovecotOptions
	for _, f := range opts {
		f(&o)
	}
	progs := srvRequire(t, "Dovecot",
		srvProgram{"dovecot", []string{"/usr/sbin/dovecot"}},
		srvProgram{"doveadm", []string{"/usr/bin/doveadm"}})
	start := time.Now()
	dir := srvMakeDir(t, "dovecot")
	d := &Dovecot{
		Username: "test",
		Dir:      dir,
		conf:     filepath.Join(dir, "dovecot.conf"),
		doveadm:  progs[1],
		epoch:    time.Now().Unix(),
	}
	t.Cleanup(func() { srvCleanup(t, d.proc, dir) })
	d.Password = srvRandomHex(t, 16)
	d.CACert = srvWriteCert(t, dir)

	users := filepath.Join(dir, "users")
	srvWriteFile(t, users, []byte(d.Username+":{PLAIN}"+d.Password+"::::::\n"), 0o640)
	if g, err := user.LookupGroup("dovecot"); err == nil {
		gid, _ := strconv.Atoi(g.Gid)
		if err := os.Chown(users, 0, gid); err != nil {
			t.Fatalf("mailtest: %v", err)
		}
	} else if err := os.Chmod(users, 0o644); err != nil { // no dovecot group: let the auth process read it anyway
		t.Fatalf("mailtest: %v", err)
	}
	if err := os.Mkdir(filepath.Join(dir, "mail"), 0o755); err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	maildir := filepath.Join(dir, "mail", d.Username, "Maildir")
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(maildir, sub), 0o700); err != nil {
			t.Fatalf("mailtest: %v", err)
		}
	}
	srvChownTree(t, filepath.Join(dir, "mail", d.Username), dovecotUID)

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(d.CACert)
	tlsConf := &tls.Config{RootCAs: roots, ServerName: "localhost"}
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		ports := srvFreePorts(t, 2)
		d.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
		d.TLSAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
		mechs, passdb := "", ""
		if o.introspectURL != "" {
			// After the password file (a token never matches a password),
			// the oauth2 passdb checks the token at the introspection
			// endpoint (RFC 7662), POSTing token=....
			mechs = " oauthbearer xoauth2"
			passdb = "passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = " + dir + "/oauth2.conf.ext\n}\n"
			srvWriteFile(t, filepath.Join(dir, "oauth2.conf.ext"), []byte("introspection_mode = post\n"+
				"introspection_url = "+o.introspectURL+"\nforce_introspection = yes\nusername_attribute = username\n"+
				"active_attribute = active\nactive_value = true\n"), 0o644)
		}
		conf := strings.NewReplacer("{{DIR}}", dir, "{{PORT}}", strconv.Itoa(ports[0]),
			"{{TLSPORT}}", strconv.Itoa(ports[1]), "{{MECHS}}", mechs, "{{PASSDB}}", passdb).Replace(dovecotConfTemplate)
		srvWriteFile(t, d.conf, []byte(conf), 0o644)

		logs := []string{filepath.Join(dir, "dovecot.log"), filepath.Join(dir, "dovecot.out")}
		p, err := srvStart("dovecot", logs, progs[0], "-F", "-c", d.conf)
		if err != nil {
			t.Fatalf("mailtest: starting dovecot: %v", err)
		}
		err = p.waitReady(10*time.Second, func() error {
			if err := srvReadGreeting(d.Addr, "* OK", nil); err != nil {
				return err
			}
			return srvReadGreeting(d.TLSAddr, "* OK", tlsConf)
		})
		if err == nil {
			d.proc = p
			break
		}
		lastErr = err
		p.stop()
		if !p.logsContain("Address already in use") {
			break
		}
	}
	if d.proc == nil {
		t.Fatalf("mailtest: %v", lastErr)
	}
	d.AuthSocket = filepath.Join(dir, "run", "auth-sasl")
	t.Logf("mailtest: dovecot ready on %s (imaps %s) in %v, dir %s", d.Addr, d.TLSAddr,
		time.Since(start).Round(time.Millisecond), dir)
	return d
}

// WriteMaildir writes msgs straight into the user's Maildir folder ("INBOX" or another, created if needed),
// as Dovecot expects (cur/ names with ,S=<size>:2, owned by nobody), then has Dovecot build its index (doveadm mailbox status) so later timing excludes indexing.
//
// The messages get UIDs in the order given, after any already in the folder, and no flags.
// A folder name uses "/" as hierarchy separator ("Archive/2024").
// Like every method that takes t, it must be called from the test's goroutine.
func (d *Dovecot) WriteMaildir(t testing.TB, folder string, msgs [][]byte) {
	t.Helper()
	dir := d.folderDir(t, folder)
	pid := os.Getpid()
	for _, msg := range msgs {
		// Dovecot gives new files their UIDs in the order of the time in their names
		// (seconds, then the M<microseconds> part), so a per-server counter keeps msgs in order.
		n := d.seq.Add(1)
		name := fmt.Sprintf("%d.M%dP%dQ%d.mailtest,S=%d:2,", d.epoch+n/1000000, n%1000000, pid, n, len(msg))
		tmp := filepath.Join(dir, "tmp", name)
		if err := srvWriteOwned(tmp, msg, dovecotUID); err != nil {
			t.Fatalf("mailtest: WriteMaildir: %v", err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "cur", name)); err != nil {
			t.Fatalf("mailtest: WriteMaildir: %v", err)
		}
	}
	d.Doveadm(t, "mailbox", "status", "-u", d.Username, "messages", folder)
}

// folderDir returns the Maildir++ directory of folder, creating the folder through doveadm if needed.
func (d *Dovecot) folderDir(t testing.TB, folder string) string {
	t.Helper()
	base := filepath.Join(d.Dir, "mail", d.Username, "Maildir")
	if strings.EqualFold(folder, "INBOX") {
		return base
	}
	if folder == "" || strings.HasPrefix(folder, "/") || strings.HasSuffix(folder, "/") || strings.Contains(folder, "//") {
		t.Fatalf("mailtest: bad folder name %q", folder)
	}
	onDisk := folder
	if !isPlainASCII(folder) {
		onDisk = strings.TrimSpace(d.Doveadm(t, "mailbox", "mutf7", folder))
	}
	dir := filepath.Join(base, "."+strings.ReplaceAll(onDisk, "/", "."))
	if _, err := os.Stat(filepath.Join(dir, "cur")); err == nil {
		return dir
	}
	d.Doveadm(t, "mailbox", "create", "-u", d.Username, folder)
	if _, err := os.Stat(filepath.Join(dir, "cur")); err != nil {
		t.Fatalf("mailtest: doveadm created folder %q but its Maildir is not where expected: %v", folder, err)
	}
	return dir
}

// isPlainASCII reports whether s is printable ASCII without '&', i.e. its own modified UTF-7 form.
func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f || s[i] == '&' {
			return false
		}
	}
	return true
}

// Deliver delivers msg into folder the way a local delivery agent would (doveadm save),
// so that Dovecot notifies IDLE clients (about 0.5 s later: Dovecot's notify delay).
func (d *Dovecot) Deliver(t testing.TB, folder string, msg []byte) {
	t.Helper()
	if _, err := d.doveadmRun(msg, "save", "-u", d.Username, "-m", folder); err != nil {
		t.Fatalf("mailtest: %v", err)
	}
}

// Doveadm runs doveadm with this instance's config.
// It returns doveadm's standard output and fails the test if doveadm fails.
func (d *Dovecot) Doveadm(t testing.TB, args ...string) string {
	t.Helper()
	out, err := d.doveadmRun(nil, args...)
	if err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	return out
}

// doveadmRun runs doveadm -c CONF args with stdin as its standard input.
func (d *Dovecot) doveadmRun(stdin []byte, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.doveadm, append([]string{"-c", d.conf}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("doveadm %s: %v\n%s%s", strings.Join(args, " "), err, stderr.Bytes(), d.proc.tails())
	}
	return stdout.String(), nil
}

// ---- Helpers shared by StartDovecot and StartPostfix. ----

// srvProgram names a program and where to look for it besides $PATH.
type srvProgram struct {
	name      string
	fallbacks []string
}

// srvRequire skips t unless Interop() is true, then fails t unless the programs exist and
// the test runs as root (the servers switch to their own users). It returns the programs' paths.
func srvRequire(t testing.TB, server string, progs ...srvProgram) []string {
	t.Helper()
	if !Interop() {
		t.Skip(interopSkipMessage)
	}
	paths := make([]string, len(progs))
	for i, p := range progs {
		paths[i] = srvFindProgram(p.name, p.fallbacks...)
		if paths[i] == "" {
			t.Fatalf("mailtest: %s is needed for interop tests but %q is not installed (looked in $PATH and %s); "+
				"run .ci/install-deps as root (it installs dovecot-imapd and postfix)",
				server, p.name, strings.Join(p.fallbacks, ", "))
		}
	}
	if os.Geteuid() != 0 {
		t.Fatalf("mailtest: the private %s must be started as root (it switches to its own users); run the interop tests as root", server)
	}
	return paths
}

// srvFindProgram returns the path of the program name, from $PATH or else the first fallback
// that exists, or "" if none does.
func srvFindProgram(name string, fallbacks ...string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range fallbacks {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// srvMakeDir creates a fresh directory (mode 0755) for one server and makes sure every
// ancestor can be traversed by the servers' unprivileged users. The path is kept short,
// because the servers put Unix sockets under it and socket paths are limited to 107 bytes.
func srvMakeDir(t testing.TB, kind string) string {
	t.Helper()
	base := os.TempDir()
	if len(base) > 40 || strings.ContainsAny(base, " \t\n\"'#\\<>;{}$%") {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "ticketd-"+kind+"-")
	if err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("mailtest: %v", err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			// Dovecot's auth process answers "Temporary authentication failure" when it cannot reach its
			// users file, and Postfix's delivery agents fail the same way.
			if err := os.Chmod(p, fi.Mode().Perm()|0o001); err != nil {
				t.Fatalf("mailtest: %s must be searchable by other users (chmod o+x): %v", p, err)
			}
			t.Logf("mailtest: made %s searchable by other users (chmod o+x), for the mail servers", p)
		}
		if p == filepath.Dir(p) {
			break
		}
	}
	return dir
}

// srvRandomHex returns n random bytes in hex.
func srvRandomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	return hex.EncodeToString(b)
}

// srvWriteFile writes a file or fails t.
func srvWriteFile(t testing.TB, path string, data []byte, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	if err := os.Chmod(path, perm); err != nil { // WriteFile leaves an existing file's mode alone
		t.Fatalf("mailtest: %v", err)
	}
}

// srvWriteOwned creates path (mode 0600) with data, owned by uid:uid.
func srvWriteOwned(path string, data []byte, uid int) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chown(uid, uid)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// srvChownTree gives root and everything below it to uid:uid.
func srvChownTree(t testing.TB, root string, uid int) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, uid)
	})
	if err != nil {
		t.Fatalf("mailtest: %v", err)
	}
}

// srvWriteCert writes a fresh self-signed ECDSA P-256 certificate (CN=localhost,
// SAN DNS:localhost and IP:127.0.0.1, valid from an hour ago for 30 days) to dir/cert.pem
// and its key to dir/key.pem (mode 0600; the servers read it as root), and returns the cert's PEM.
func srvWriteCert(t testing.TB, dir string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "localhost", Organization: []string{"ticketd mailtest"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	srvWriteFile(t, filepath.Join(dir, "cert.pem"), certPEM, 0o644)
	srvWriteFile(t, filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	return certPEM
}

// srvFreePorts returns n distinct ports on 127.0.0.1 that were free a moment ago.
// Another process may take one before the server binds it; the Start functions retry then.
func srvFreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	lns := make([]net.Listener, n)
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("mailtest: finding a free port: %v", err)
		}
		lns[i] = ln
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// srvReadGreeting connects to addr, over TLS if tlsConf is not nil, and reads the first line,
// which must start with prefix.
func srvReadGreeting(addr, prefix string, tlsConf *tls.Config) error {
	var c net.Conn
	var err error
	dialer := &net.Dialer{Timeout: time.Second}
	if tlsConf != nil {
		c, err = tls.DialWithDialer(dialer, "tcp", addr, tlsConf)
	} else {
		c, err = dialer.Dial("tcp", addr)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading the greeting from %s: %v", addr, err)
	}
	if !strings.HasPrefix(line, prefix) {
		return fmt.Errorf("unexpected greeting from %s: %q", addr, line)
	}
	return nil
}

// srvProc is a server's master process, started in a session (and process group) of its own.
type srvProc struct {
	name    string
	logs    []string // log files, quoted (tail) in errors
	cmd     *exec.Cmd
	done    chan struct{} // closed once the master has exited and been reaped
	waitErr error         // cmd.Wait's result, valid after done is closed
	stopped bool

	watchdog     *exec.Cmd // kills the process group should the test binary die; see srvStart
	watchdogPipe *os.File  // the write end of the watchdog's stdin
}

// srvWatchdogScript is run by /bin/sh with the process group id appended. It ignores the
// terminal's signals (it has a session of its own anyway) and kills the group unless told "done".
const srvWatchdogScript = `trap '' HUP INT QUIT TERM; read -r line; [ "$line" = done ] || kill -9 -`

// srvStart starts prog with args in a new session, stdin from /dev/null and stdout and stderr
// appended to the last of logs, so no pipe of the caller is inherited.
//
// Should the test binary die without running its cleanups (a timeout panic, a crash, SIGKILL),
// the server dies too: the kernel sends the master SIGKILL (Pdeathsig), and because it clears
// that when a process changes credentials, as Postfix's master does, a watchdog (/bin/sh in a
// session of its own, reading a pipe whose write end only this process holds) kills the
// whole process group when the pipe is closed without "done" being written to it first.
func srvStart(name string, logs []string, prog string, args ...string) (*srvProc, error) {
	out, err := os.OpenFile(logs[len(logs)-1], os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer out.Close() // the child has its own copy
	cmd := exec.Command(prog, args...)
	cmd.Stdout, cmd.Stderr = out, out // *os.File: passed to the child as is, no copying goroutine
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &srvProc{name: name, logs: logs, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()

	r, w, err := os.Pipe() // close-on-exec: no other child inherits w
	if err == nil {
		p.watchdog = exec.Command("/bin/sh", "-c", srvWatchdogScript+strconv.Itoa(cmd.Process.Pid))
		p.watchdog.Stdin = r
		p.watchdog.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		err = p.watchdog.Start()
		r.Close()
		p.watchdogPipe = w
	}
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("starting the watchdog of %s: %v", name, err)
	}
	return p, nil
}

// waitReady calls ready every 10 ms until it succeeds, the process exits or timeout passes.
// The error in the last two cases quotes the tail of the logs.
func (p *srvProc) waitReady(timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited during start-up (%v); last check: %v%s", p.name, p.waitErr, err, p.tails())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %v%s", p.name, timeout, err, p.tails())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop kills the process group with SIGKILL, reaps the master and waits until no process
// of the group is left but zombies (whose reaping by init can take a second). It returns how
// long that took. Killing is safe for throw-away servers: acknowledged writes are in files.
func (p *srvProc) stop() (time.Duration, error) {
	if p.stopped {
		return 0, nil
	}
	p.stopped = true
	start := time.Now()
	pgid := p.cmd.Process.Pid
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return 0, fmt.Errorf("killing %s (process group %d): %v", p.name, pgid, err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		return time.Since(start), fmt.Errorf("%s (pid %d) did not exit within 10 s of SIGKILL", p.name, pgid)
	}
	deadline := time.Now().Add(10 * time.Second)
	for srvGroupAlive(pgid) {
		if time.Now().After(deadline) {
			return time.Since(start), fmt.Errorf("processes of %s (process group %d) still alive 10 s after SIGKILL", p.name, pgid)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if p.watchdogPipe != nil {
		// The group is gone, and its id could be reused: tell the watchdog not to kill.
		p.watchdogPipe.WriteString("done\n")
		p.watchdogPipe.Close()
		if p.watchdog.Process != nil {
			p.watchdog.Wait()
		}
	}
	return time.Since(start), nil
}

// srvGroupAlive reports whether a process of process group pgid exists that is not a zombie.
func srvGroupAlive(pgid int) bool {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, e := range ents {
		name := e.Name()
		if name[0] < '0' || name[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + name + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// "pid (comm) state ppid pgrp ..."; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if g, err := strconv.Atoi(f[2]); err == nil && g == pgid {
			return true
		}
	}
	return false
}

// logsContain reports whether any of the logs contains s.
func (p *srvProc) logsContain(s string) bool {
	for _, l := range p.logs {
		if b, err := os.ReadFile(l); err == nil && bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

// tails returns the last lines of each non-empty log, for error messages.
func (p *srvProc) tails() string {
	if p == nil {
		return ""
	}
	var sb strings.Builder
	for _, l := range p.logs {
		b, err := os.ReadFile(l)
		if err != nil || len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > 25 {
			lines = lines[len(lines)-25:]
		}
		fmt.Fprintf(&sb, "\n--- last %d lines of %s ---\n%s", len(lines), l, strings.Join(lines, "\n"))
	}
	return sb.String()
}

// srvCleanup stops p, if not nil, and removes dir; if the test failed it logs the tail of p's logs first.
func srvCleanup(t testing.TB, p *srvProc, dir string) {
	t.Helper()
	if p != nil {
		if t.Failed() {
			t.Logf("mailtest: %s logs:%s", p.name, p.tails())
		}
		took, err := p.stop()
		if err != nil {
			t.Errorf("mailtest: %v", err)
			return
		}
		t.Logf("mailtest: %s stopped in %v", p.name, took.Round(100*time.Microsecond))
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Errorf("mailtest: removing %s: %v", dir, err)
	}
}

// srvMaildirFiles returns the paths of the messages in maildir/new and maildir/cur,
// oldest first: by the time in the file name (seconds, then M<microseconds>), then by name.
func srvMaildirFiles(maildir string) ([]string, error) {
	type entry struct {
		path      string
		sec, usec int64
		name      string
	}
	var ents []entry
	for _, sub := range []string{"new", "cur"} {
		des, err := os.ReadDir(filepath.Join(maildir, sub))
		if err != nil {
			return nil, err
		}
		for _, de := range des {
			name := de.Name()
			if strings.HasPrefix(name, ".") || !de.Type().IsRegular() {
				continue
			}
			e := entry{path: filepath.Join(maildir, sub, name), name: name}
			parts := strings.SplitN(name, ".", 3)
			e.sec, _ = strconv.ParseInt(parts[0], 10, 64)
			if len(parts) > 1 {
				if i := strings.IndexByte(parts[1], 'M'); i >= 0 {
					j := i + 1
					for j < len(parts[1]) && parts[1][j] >= '0' && parts[1][j] <= '9' {
						j++
					}
					e.usec, _ = strconv.ParseInt(parts[1][i+1:j], 10, 64)
				}
			}
			ents = append(ents, e)
		}
	}
	sort.Slice(ents, func(i, j int) bool {
		a, b := ents[i], ents[j]
		if a.sec != b.sec {
			return a.sec < b.sec
		}
		if a.usec != b.usec {
			return a.usec < b.usec
		}
		return a.name < b.name
	})
	paths := make([]string, len(ents))
	for i, e := range ents {
		paths[i] = e.path
	}
	return paths, nil
}

// srvSummary describes raw messages briefly (their Subject lines), for failure messages.
func srvSummary(msgs [][]byte) string {
	var sb strings.Builder
	for i, m := range msgs {
		subject := "(no Subject)"
		for _, line := range strings.Split(string(m), "\n") {
			line = strings.TrimRight(line, "\r")
			if line == "" {
				break
			}
			if len(line) > 8 && strings.EqualFold(line[:8], "subject:") {
				subject = strings.TrimSpace(line[8:])
				break
			}
		}
		if !utf8.ValidString(subject) {
			subject = strconv.Quote(subject)
		}
		fmt.Fprintf(&sb, "\n  %d: %d bytes, Subject: %s", i+1, len(m), subject)
	}
	return sb.String()
}
