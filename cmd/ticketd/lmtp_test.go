package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"ticketd/config"
	"ticketd/desk"
)

// lmtpDeliver sends raw to rcpt over LMTP at path and returns the reply
// code of the recipient.
func lmtpDeliver(t *testing.T, path, rcpt string, raw []byte) int {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	c := gosmtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("mx.example.com"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		if se, ok := err.(*gosmtp.SMTPError); ok {
			return se.Code
		}
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write(raw)
	if _, err := w.CloseWithLMTPResponse(); err != nil {
		if le, ok := err.(gosmtp.LMTPDataError); ok {
			return le[rcpt].Code
		}
		t.Fatal(err)
	}
	return 250
}

func lmtpMail(id string) []byte {
	return []byte("Message-ID: <" + id + ">\r\nFrom: Erika <erika@example.org>\r\nTo: support@example.com\r\n" +
		"Subject: Drucker\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n\r\nDer Drucker druckt nicht.\r\n")
}

// startLMTPDaemon runs the daemon in-process with the [lmtp] table lmtp.
func startLMTPDaemon(t *testing.T, dir, lmtp string) (*daemon, string, *syncBuffer) {
	t.Helper()
	path := writeConfig(t, dir, "127.0.0.1:1", "\n[lmtp]\n"+lmtp+"\n")
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	d, err := startDaemon(cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return d, path, logs
}

// syncBuffer is a log that the daemon's goroutines write while a test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLMTPSocketInTheDaemon: the socket is made with socket_mode and
// socket_group, mail delivered to it becomes a ticket of channel lmtp,
// and it is removed when the daemon stops.
func TestLMTPSocketInTheDaemon(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "lmtp.sock")
	gid := os.Getgid()
	d, _, _ := startLMTPDaemon(t, dir, fmt.Sprintf("listen = %q\nsocket_mode = \"0640\"\nsocket_group = %q", "unix:"+sock, strconv.Itoa(gid)))
	fi, err := os.Lstat(sock)
	if err != nil {
		d.stop()
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o640 || int(fi.Sys().(*syscall.Stat_t).Gid) != gid {
		t.Errorf("socket mode %v gid %d, want a socket of mode 0640 and group %d", fi.Mode(), fi.Sys().(*syscall.Stat_t).Gid, gid)
	}
	if code := lmtpDeliver(t, sock, "support@example.com", lmtpMail("d1@example.org")); code != 250 {
		t.Errorf("delivery: %d, want 250", code)
	}
	if code := lmtpDeliver(t, sock, "someone@example.com", lmtpMail("d2@example.org")); code != 550 {
		t.Errorf("delivery to an unknown address: %d, want 550", code)
	}
	page, err := d.desk.ListTickets(desk.ListOptions{})
	if err != nil || len(page.Tickets) != 1 {
		t.Fatalf("tickets %+v, %v; want one", page, err)
	}
	tk, err := d.desk.ShowTicket(page.Tickets[0].Number)
	if err != nil || tk.Messages[0].Origin.Channel != "lmtp" {
		t.Errorf("ticket %+v, %v: want channel lmtp", tk, err)
	}
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left after stop: %v", err)
	}
}

// TestLMTPSocketPath: a stale socket is replaced; a socket someone listens
// on and a file that is no socket are refused and kept.
func TestLMTPSocketPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lmtp.sock")
	l := &config.LMTP{Listen: "unix:" + path, Mode: 0o660}
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	ln, _, _, err := listenLMTP(l, "")
	if err != nil {
		t.Fatalf("over a stale socket: %v", err)
	}
	if _, _, _, err := listenLMTP(l, ""); err == nil || !strings.Contains(err.Error(), "another process listens") {
		t.Errorf("over a live socket: %v", err)
	}
	if c, err := net.Dial("unix", path); err != nil {
		t.Errorf("the live socket was taken away: %v", err)
	} else {
		c.Close()
	}
	ln.Close()
	os.Remove(path)

	if err := os.WriteFile(path, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := listenLMTP(l, ""); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Errorf("over a regular file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "precious" {
		t.Errorf("the file at lmtp.listen was changed: %q", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("left behind in %s: %v", dir, entries)
	}
}

// TestLMTPReload: SIGHUP's reload moves the listener to a new socket, and
// a reload that keeps the path but changes the mode replaces the socket
// in place; [lmtp] listen = "" turns it off.
func TestLMTPReload(t *testing.T) {
	dir := t.TempDir()
	one, two := filepath.Join(dir, "one.sock"), filepath.Join(dir, "two.sock")
	d, path, logs := startLMTPDaemon(t, dir, fmt.Sprintf("listen = %q", "unix:"+one))
	defer d.stop()
	reload := func(lmtp string) {
		t.Helper()
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.Index(text, []byte("\n[lmtp]\n"))
		j := bytes.Index(text[i+1:], []byte("\n\n")) + i + 1
		text = append(append(append([]byte{}, text[:i]...), []byte("\n[lmtp]\n"+lmtp)...), text[j:]...)
		os.WriteFile(path, text, 0o600)
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		d.apply(cfg)
		if strings.Contains(logs.String(), "rejected") {
			t.Fatalf("reload rejected:\n%s", logs.String())
		}
	}
	reload(fmt.Sprintf("listen = %q\nsocket_mode = \"0600\"", "unix:"+one))
	if fi, err := os.Lstat(one); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("after a mode change: %v, %v; want mode 0600", fi, err)
	}
	if code := lmtpDeliver(t, one, "support@example.com", lmtpMail("r1@example.org")); code != 250 {
		t.Errorf("delivery after the mode change: %d", code)
	}
	reload(fmt.Sprintf("listen = %q", "unix:"+two))
	if _, err := os.Lstat(one); !os.IsNotExist(err) {
		t.Errorf("the old socket is still there: %v", err)
	}
	if code := lmtpDeliver(t, two, "support@example.com", lmtpMail("r2@example.org")); code != 250 {
		t.Errorf("delivery to the new socket: %d", code)
	}
	reload(`listen = ""`)
	if _, err := os.Lstat(two); !os.IsNotExist(err) {
		t.Errorf("the socket is still there with lmtp off: %v", err)
	}
}
