package mailtest

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// echoServer answers each connection with a greeting line.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("220 upstream\r\n"))
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// firstLine dials addr and returns its first line ("" when the connection closes without one).
func firstLine(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return strings.TrimSpace(line)
}

func TestProxyRefuseAndCut(t *testing.T) {
	p := NewProxy(t, echoServer(t))
	if got := firstLine(t, p.Addr); got != "220 upstream" {
		t.Fatalf("forwarding: %q", got)
	}
	p.Refuse("421 4.3.2 try later")
	if got := firstLine(t, p.Addr); got != "421 4.3.2 try later" {
		t.Errorf("refusing: %q, want the 421 line", got)
	}
	p.Refuse("")
	p.Cut(true)
	if got := firstLine(t, p.Addr); got != "" {
		t.Errorf("cut: %q, want the connection closed without a word", got)
	}
	p.Cut(false)
	if got := firstLine(t, p.Addr); got != "220 upstream" {
		t.Errorf("forwarding again: %q", got)
	}
	if n := p.Accepted(); n != 4 {
		t.Errorf("Accepted = %d, want 4", n)
	}
}

func TestRealServerDovecotRestart(t *testing.T) {
	d := StartDovecot(t)
	d.Deliver(t, "INBOX", realServerMessage("before restart", "\r\n"))
	d.Restart(t)
	if got := firstLine(t, d.Addr); !strings.HasPrefix(got, "* OK") {
		t.Fatalf("after the restart: %q", got)
	}
	d.Deliver(t, "INBOX", realServerMessage("after restart", "\r\n"))
	if out := d.Doveadm(t, "mailbox", "status", "-u", d.Username, "messages", "INBOX"); !strings.Contains(out, "messages=2") {
		t.Errorf("mail across the restart: %q", out)
	}
}
