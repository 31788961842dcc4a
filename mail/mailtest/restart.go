package mailtest

import (
	"path/filepath"
	"testing"
	"time"
)

// Restart kills the Dovecot master (SIGKILL to its process group, as a
// crash would) and starts it again on the same ports and mail, returning once
// both ports greet again. It returns how long the server was gone.
func (d *Dovecot) Restart(t testing.TB) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := d.proc.stop(); err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	prog := srvFindProgram("dovecot", "/usr/sbin/dovecot")
	logs := []string{filepath.Join(d.Dir, "dovecot.log"), filepath.Join(d.Dir, "dovecot.out")}
	// The ports were just released; another program could take them meanwhile, which fails here.
	p, err := srvStart("dovecot", logs, prog, "-F", "-c", d.conf)
	if err != nil {
		t.Fatalf("mailtest: restarting dovecot: %v", err)
	}
	if err := p.waitReady(10*time.Second, func() error { return srvReadGreeting(d.Addr, "* OK", nil) }); err != nil {
		p.stop()
		t.Fatalf("mailtest: restarting dovecot: %v", err)
	}
	d.proc = p
	return time.Since(start)
}
