package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestAdminSocketNeverOpen starts the admin socket again and again under
// umask 0 in a directory anyone may enter, while a goroutine watches that
// directory: no socket in it, and no directory it could lead through, is
// ever open to group or others.
func TestAdminSocketNeverOpen(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "admin.sock")
	log := slog.New(slog.DiscardHandler)

	var stop atomic.Bool
	var mu sync.Mutex
	var seen []string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				fi, err := os.Lstat(filepath.Join(dir, e.Name()))
				if err != nil {
					continue // gone meanwhile
				}
				if (fi.IsDir() || fi.Mode().Type() == fs.ModeSocket) && fi.Mode().Perm()&0o077 != 0 {
					mu.Lock()
					seen = append(seen, fmt.Sprintf("%s %v", e.Name(), fi.Mode()))
					mu.Unlock()
				}
			}
		}
	}()
	for range 100 {
		a, err := startAdmin(path, &opEnv{}, log)
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Lstat(path); err != nil || fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
			t.Fatalf("admin socket: %v, %v", fi, err)
		}
		a.close()
	}
	stop.Store(true)
	wg.Wait()
	if len(seen) > 0 {
		t.Errorf("open to others at some moment (%d times): %s", len(seen), strings.Join(seen[:min(len(seen), 5)], ", "))
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind in %s: %v", dir, entries)
	}
}

// TestAdminSocketPath: a stale socket is replaced, anything else at the
// path is refused and kept; the socket answers where it was renamed to.
func TestAdminSocketPath(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	path := filepath.Join(dir, "admin.sock")
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	a, err := startAdmin(path, &opEnv{}, log)
	if err != nil {
		t.Fatalf("over a stale socket: %v", err)
	}
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}}
	resp, err := c.Post("http://ticketd/op/nonesuch", "", nil)
	if err != nil {
		t.Fatalf("the renamed socket does not answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST /op/nonesuch: %s", resp.Status)
	}
	a.close()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("socket left after close: %v", err)
	}

	if err := os.WriteFile(path, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := startAdmin(path, &opEnv{}, log); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Errorf("over a regular file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "precious" {
		t.Errorf("the file at admin_socket was changed: %q", b)
	}
}

// publicServer starts the public listener with a stand-in consent page;
// healthy is what /healthz reports.
func publicServer(t *testing.T, healthy *atomic.Bool, consent http.HandlerFunc) string {
	t.Helper()
	h, err := startHTTP("127.0.0.1:0", healthy.Load, consent)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.close)
	return h.ln.Addr().String()
}

func checkSecurityHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	for _, kv := range securityHeaders {
		if got := h.Values(kv[0]); len(got) != 1 || got[0] != kv[1] {
			t.Errorf("%s: %s = %q, want %q", what, kv[0], got, kv[1])
		}
	}
}

// TestHealthzSaysOnlyOkOrUnavailable: no names, hosts, UIDs or errors.
func TestHealthzSaysOnlyOkOrUnavailable(t *testing.T) {
	var healthy atomic.Bool
	addr := publicServer(t, &healthy, func(w http.ResponseWriter, r *http.Request) {})
	for _, tc := range []struct {
		healthy bool
		status  int
		body    string
	}{{true, 200, "ok\n"}, {false, 503, "unavailable\n"}} {
		healthy.Store(tc.healthy)
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || string(body) != tc.body || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("healthy %v: %s %q %q", tc.healthy, resp.Status, resp.Header.Get("Content-Type"), body)
		}
		checkSecurityHeaders(t, "/healthz", resp.Header)
	}
	resp, err := http.Get("http://" + addr + "/elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("/elsewhere: %s", resp.Status)
	}
	checkSecurityHeaders(t, "404", resp.Header)
}

// TestServerErrorsCarrySecurityHeaders sends, over raw TCP, what net/http
// answers by itself without calling a handler, and checks each answer's
// status and headers; a good request before a bad one on the same
// connection, and a body that looks like a response head, are unchanged.
func TestServerErrorsCarrySecurityHeaders(t *testing.T) {
	var healthy atomic.Bool
	healthy.Store(true)
	trick := strings.Repeat("x", 5000) + "HTTP/1.1 200 OK\r\nX-Trick: 1\r\n\r\n"
	addr := publicServer(t, &healthy, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", 5000))
		http.NewResponseController(w).Flush()
		io.WriteString(w, "HTTP/1.1 200 OK\r\nX-Trick: 1\r\n\r\n") // starts a write of its own
	})
	for _, tc := range []struct {
		name, request string
		status        int
	}{
		{"oversized header", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\n\r\n", 431},
		{"malformed request line", "GARBAGE\r\n\r\n", 400},
		{"no Host", "GET /healthz HTTP/1.1\r\n\r\n", 400},
		{"bad header", "GET /healthz HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n", 400},
		{"unknown transfer coding", "POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: rot13\r\n\r\n", 501},
		{"HTTP/2.5", "GET /healthz HTTP/2.5\r\nHost: x\r\n\r\n", 505},
		{"unknown expectation", "GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n", 417},
		{"good, then bad", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			go io.WriteString(c, tc.request) // the server may answer before it has read it all
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != tc.status {
				t.Errorf("status %s, want %d", resp.Status, tc.status)
			}
			checkSecurityHeaders(t, tc.name, resp.Header)
			if tc.status != 200 {
				return
			}
			resp, err = http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 400 {
				t.Errorf("second answer: %s, want 400", resp.Status)
			}
			checkSecurityHeaders(t, "the second answer", resp.Header)
		})
	}

	resp, err := http.Get("http://" + addr + "/consent/x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(body, []byte(trick)) || resp.Header.Get("X-Trick") != "" {
		t.Errorf("a body that looks like a response head was changed: %d bytes, X-Trick %q", len(body), resp.Header.Get("X-Trick"))
	}
	checkSecurityHeaders(t, "consent page", resp.Header)
}

// TestCheckRefusesBadSecretFiles: check reports each password file that
// breaks a rule, all at once, and returns promptly for /dev/zero.
func TestCheckRefusesBadSecretFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "127.0.0.1:143", `
[[mailbox]]
name = "sales"
address = "sales@example.com"
host = "127.0.0.1"
tls = "none"
username = "sales"
password_file = "/dev/zero"
queue = "support"
`)
	if err := os.Chmod(filepath.Join(dir, "imap.pass"), 0o644); err != nil {
		t.Fatal(err)
	}
	// /dev/zero once made check read without end: the command is killed
	// if it hangs, which fails the exit code below.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "check", "-config", cfg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Run()
	errOut, code := stderr.String(), cmd.ProcessState.ExitCode()
	if code != exitConfig {
		t.Errorf("check: exit %d (killed: %v), want %d", code, ctx.Err() != nil, exitConfig)
	}
	for _, want := range []string{
		"mailbox[1].password_file: " + filepath.Join(dir, "imap.pass") + ": group or others have access (mode 0644)",
		"mailbox[2].password_file: /dev/zero: not a regular file (a character device)",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("check output lacks %q:\n%s", want, errOut)
		}
	}
}
