package mailtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Postfix is a private Postfix on 127.0.0.1 that accepts any mail into one Maildir.
//
// Any sender and any recipient (any domain) is accepted from loopback, without AUTH;
// STARTTLS is offered with the certificate in CACert but not required. Every message is
// delivered once per envelope recipient into Dir/Maildir, with Return-Path and Delivered-To
// prepended (and a Received header, which says "using TLS..." when STARTTLS was used).
// Nothing is ever relayed elsewhere. smtpd_error_sleep_time is 0 (Postfix normally pauses a
// second after a client error), which changes only timing.
type Postfix struct {
	Addr   string // SMTP, "127.0.0.1:PORT"
	Dir    string
	CACert []byte // PEM of the self-signed cert (CN=localhost, SAN DNS:localhost, IP:127.0.0.1) used for STARTTLS

	proc *srvProc // the Postfix master daemon, in the foreground (-s)
}

// postfixMainCf is DIR/etc/main.cf; {{DIR}} is filled in by StartPostfix.
const postfixMainCf = `# Written by ticketd/mail/mailtest for one test; removed when the test ends.
compatibility_level = 3.6
config_directory = {{DIR}}/etc
queue_directory = {{DIR}}/spool
data_directory = {{DIR}}/data
maillog_file = {{DIR}}/postfix.log
maillog_file_prefixes = {{DIR}}
myhostname = sink.localhost
mydomain = localhost
myorigin = localhost
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
smtpd_banner = $myhostname ESMTP test-sink
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions =
smtpd_error_sleep_time = 0s
message_size_limit = 52428800
virtual_mailbox_limit = 0
virtual_mailbox_domains = static:all
virtual_mailbox_maps = static:Maildir/
virtual_mailbox_base = {{DIR}}
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
virtual_minimum_uid = 1
local_recipient_maps =
alias_maps =
alias_database =
relayhost =
default_transport = error:outbound mail disabled in test sink
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 5s
in_flow_delay = 0
biff = no
smtputf8_enable = yes
smtpd_tls_security_level = may
smtpd_tls_cert_file = {{DIR}}/cert.pem
smtpd_tls_key_file = {{DIR}}/key.pem
smtpd_tls_received_header = yes
`

// postfixMasterCf is DIR/etc/master.cf (no chroot anywhere); {{PORT}} is filled in by StartPostfix.
const postfixMasterCf = `# Written by ticketd/mail/mailtest for one test; removed when the test ends.
127.0.0.1:{{PORT}} inet n      -      n      -      -       smtpd
pickup        unix  n       -      n      60     1       pickup
cleanup       unix  n       -      n      -      0       cleanup
qmgr          unix  n       -      n      300    1       qmgr
rewrite       unix  -       -      n      -      -       trivial-rewrite
bounce        unix  -       -      n      -      0       bounce
defer         unix  -       -      n      -      0       bounce
trace         unix  -       -      n      -      0       bounce
verify        unix  -       -      n      -      1       verify
flush         unix  n       -      n      1000?  0       flush
proxymap      unix  -       -      n      -      -       proxymap
smtp          unix  -       -      n      -      -       smtp
lmtp          unix  -       -      n      -      -       lmtp
showq         unix  n       -      n      -      -       showq
error         unix  -       -      n      -      -       error
retry         unix  -       -      n      -      -       error
discard       unix  -       -      n      -      -       discard
virtual       unix  -       n      n      -      -       virtual
anvil         unix  -       -      n      -      1       anvil
scache        unix  -       -      n      -      1       scache
postlog       unix-dgram n  -      n      -      1       postlogd
tlsmgr        unix  -       -      n      1000?  1       tlsmgr
`

// StartPostfix starts one, with the same skip/fail rule as StartDovecot: it skips unless
// Interop() is true, and fails with a pointer to .ci/install-deps when Postfix is missing.
//
// It returns once the SMTP port greets. The server is killed (SIGKILL to its process group)
// and its directory removed by t.Cleanup; if the test failed, the tail of its log is logged first.
func StartPostfix(t testing.TB) *Postfix {
	t.Helper()
	return startPostfix(t, nil)
}

// startPostfix is StartPostfix; configure, when not nil, is called once DIR/etc exists and
// returns lines for main.cf that replace the template's lines of the same parameters.
func startPostfix(t testing.TB, configure func(dir string) string) *Postfix {
	t.Helper()
	progs := srvRequire(t, "Postfix",
		srvProgram{"postfix", []string{"/usr/sbin/postfix"}},
		srvProgram{"postconf", []string{"/usr/sbin/postconf"}})
	master := postfixMaster(progs[1])
	if master == "" {
		t.Fatalf("mailtest: Postfix's master daemon not found (postconf -h daemon_directory); run .ci/install-deps as root")
	}
	start := time.Now()
	dir := srvMakeDir(t, "postfix")
	p := &Postfix{Dir: dir}
	t.Cleanup(func() { srvCleanup(t, p.proc, dir) })
	p.CACert = srvWriteCert(t, dir)

	etc := filepath.Join(dir, "etc")
	if err := os.Mkdir(etc, 0o755); err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	if err := postfixQueueDirs(dir); err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, "Maildir", sub), 0o700); err != nil {
			t.Fatalf("mailtest: %v", err)
		}
	}
	srvChownTree(t, filepath.Join(dir, "Maildir"), dovecotUID)

	mainCf := strings.ReplaceAll(postfixMainCf, "{{DIR}}", dir)
	if configure != nil {
		extra := configure(dir)
		var keep []string
		for _, line := range strings.SplitAfter(mainCf, "\n") {
			key, _, _ := strings.Cut(line, " =")
			if key == "" || !strings.Contains(extra, "\n"+key+" =") {
				keep = append(keep, line)
			}
		}
		mainCf = strings.Join(keep, "") + extra
	}
	postfixWriteConfig(t, filepath.Join(etc, "main.cf"), mainCf)

	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		port := srvFreePorts(t, 1)[0]
		p.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		postfixWriteConfig(t, filepath.Join(etc, "master.cf"),
			strings.ReplaceAll(postfixMasterCf, "{{PORT}}", strconv.Itoa(port)))

		logs := []string{filepath.Join(dir, "postfix.log"), filepath.Join(dir, "postfix.out")}
		// -s: stay in the foreground and keep stdout and stderr (our log file).
		proc, err := srvStart("postfix", logs, master, "-c", etc, "-s")
		if err != nil {
			t.Fatalf("mailtest: starting postfix: %v", err)
		}
		err = proc.waitReady(15*time.Second, func() error { return srvReadGreeting(p.Addr, "220 ", nil) })
		if err == nil {
			// Postfix listens with SO_REUSEPORT, so a second Postfix that picked the same port at
			// the same moment would share it silently, each getting some of the connections.
			if n := srvListeners(port); n != 1 {
				err = fmt.Errorf("%d sockets listen on port %d: another server took it at the same time", n, port)
			} else {
				p.proc = proc
				break
			}
		}
		// Retried whatever went wrong: when another program holds the port, Postfix just exits 1.
		lastErr = err
		proc.stop()
	}
	if p.proc == nil {
		t.Fatalf("mailtest: %v\n(Postfix logs early errors only to syslog; see them with: "+
			"script -qc 'postfix -c %s check' /dev/null)", lastErr, etc)
	}
	t.Logf("mailtest: postfix ready on %s in %v, dir %s", p.Addr, time.Since(start).Round(time.Millisecond), dir)
	return p
}

// postfixMaster returns the path of Postfix's master daemon, or "".
func postfixMaster(postconf string) string {
	if m := srvFindProgram("/usr/lib/postfix/sbin/master"); m != "" {
		return m
	}
	out, err := exec.Command(postconf, "-h", "daemon_directory").Output()
	if err != nil {
		return ""
	}
	return srvFindProgram(filepath.Join(strings.TrimSpace(string(out)), "master"))
}

// postfixQueueDirs creates dir/spool and dir/data with the directories, owners and modes
// that "postfix check" would create (from /etc/postfix/postfix-files), which saves its 0.4 s.
func postfixQueueDirs(dir string) error {
	owner, err := user.Lookup("postfix")
	if err != nil {
		return fmt.Errorf("the postfix user is missing (%v); run .ci/install-deps as root", err)
	}
	postdrop, err := user.LookupGroup("postdrop")
	if err != nil {
		return fmt.Errorf("the postdrop group is missing (%v); run .ci/install-deps as root", err)
	}
	uid, err1 := strconv.Atoi(owner.Uid)
	gid, err2 := strconv.Atoi(postdrop.Gid)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("postfix uid %q, postdrop gid %q", owner.Uid, postdrop.Gid)
	}
	type queueDir struct {
		path     string
		uid, gid int
		mode     os.FileMode
	}
	spool := filepath.Join(dir, "spool")
	dirs := []queueDir{
		{filepath.Join(dir, "data"), uid, 0, 0o700},
		{spool, 0, 0, 0o755},
		{filepath.Join(spool, "pid"), 0, 0, 0o755},
		{filepath.Join(spool, "maildrop"), uid, gid, 0o730},
		{filepath.Join(spool, "public"), uid, gid, 0o710},
	}
	for _, sub := range []string{"active", "bounce", "corrupt", "defer", "deferred", "flush", "hold",
		"incoming", "private", "saved", "trace"} {
		dirs = append(dirs, queueDir{filepath.Join(spool, sub), uid, 0, 0o700})
	}
	for _, d := range dirs {
		if err := os.Mkdir(d.path, d.mode); err != nil {
			return err
		}
		if err := os.Chmod(d.path, d.mode); err != nil { // not masked by the umask
			return err
		}
		if err := os.Chown(d.path, d.uid, d.gid); err != nil {
			return err
		}
	}
	return nil
}

// postfixWriteConfig writes a Postfix config file only when its content changes, and dates it
// a minute back: Postfix's master stalls about 2 s at start-up when a config file is younger
// than a second or two (it waits for an editor to finish). The file is complete before Postfix
// reads it, so backdating is safe.
func postfixWriteConfig(t testing.TB, path, content string) {
	t.Helper()
	if old, err := os.ReadFile(path); err == nil && string(old) == content {
		return
	}
	srvWriteFile(t, path, []byte(content), 0o644)
	past := time.Now().Add(-time.Minute)
	if err := os.Chtimes(path, past, past); err != nil {
		t.Fatalf("mailtest: %v", err)
	}
}

// Messages returns the raw messages delivered so far (Maildir/new and cur), oldest first.
func (p *Postfix) Messages(t testing.TB) [][]byte {
	t.Helper()
	msgs, err := p.messages()
	if err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	return msgs
}

// messages reads the delivered messages, oldest first.
func (p *Postfix) messages() ([][]byte, error) {
	maildir := filepath.Join(p.Dir, "Maildir")
	for try := 0; ; try++ {
		paths, err := srvMaildirFiles(maildir)
		if err != nil {
			return nil, err
		}
		msgs := make([][]byte, 0, len(paths))
		for _, path := range paths {
			b, err := os.ReadFile(path)
			if os.IsNotExist(err) && try < 10 {
				break // moved from new/ to cur/ (by a mail client) since the listing: list again
			}
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, b)
		}
		if len(msgs) == len(paths) {
			return msgs, nil
		}
	}
}

// WaitMessages polls until at least n messages arrived or timeout passes (then t.Fatal with what arrived).
// It returns all messages delivered so far, oldest first. Delivery usually takes 20–60 ms after
// the SMTP server's 250 reply.
func (p *Postfix) WaitMessages(t testing.TB, n int, timeout time.Duration) [][]byte {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msgs := p.Messages(t)
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			var queue bytes.Buffer
			for _, sub := range []string{"maildrop", "incoming", "active", "deferred", "hold"} {
				fmt.Fprintf(&queue, " %s=%d", sub, srvCountFiles(filepath.Join(p.Dir, "spool", sub)))
			}
			t.Fatalf("mailtest: waited %v for %d messages in %s, got %d:%s\nqueue directories:%s%s",
				timeout, n, filepath.Join(p.Dir, "Maildir"), len(msgs), srvSummary(msgs), queue.String(), p.proc.tails())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// srvCountFiles counts the regular files below dir.
func srvCountFiles(dir string) int {
	n := 0
	filepath.WalkDir(dir, func(_ string, de os.DirEntry, err error) error {
		if err == nil && de.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n
}

// srvListeners counts the TCP sockets (IPv4 and IPv6) that listen on port.
func srvListeners(port int) int {
	suffix := fmt.Sprintf(":%04X", port)
	n := 0
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			// "sl local_address rem_address st ...": st 0A is LISTEN.
			fields := strings.Fields(line)
			if len(fields) > 3 && strings.HasSuffix(fields[1], suffix) && fields[3] == "0A" {
				n++
			}
		}
	}
	return n
}
