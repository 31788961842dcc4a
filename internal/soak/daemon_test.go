package soak

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// daemon is the ticketd binary run as a separate process, so that SIGKILL
// is real; it follows each run's peak RSS (VmHWM) across restarts.
type daemon struct {
	bin, cfg, sock string
	logPath        string

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	peakKB int64 // the highest VmHWM seen of any run
	anonKB int64 // the highest RssAnon seen (VmHWM also counts the mapped database file's pages)
	starts int
}

func (d *daemon) start() error {
	logf, err := os.OpenFile(d.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(d.bin, "run", "-config", d.cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	d.mu.Lock()
	d.cmd, d.done = cmd, done
	d.starts++
	d.mu.Unlock()
	go d.watchRSS(cmd.Process.Pid, done)
	// Ready when the admin socket answers.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.DialTimeout("unix", d.sock, time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("ticketd exited during start-up; see %s", d.logPath)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ticketd's admin socket did not answer within 30 s; see %s", d.logPath)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// watchRSS reads VmHWM and RssAnon of pid until the process ends.
func (d *daemon) watchRSS(pid int, done chan struct{}) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if kb := procStatus(pid, "VmHWM:"); kb > 0 {
			anon := procStatus(pid, "RssAnon:")
			d.mu.Lock()
			d.peakKB = max(d.peakKB, kb)
			d.anonKB = max(d.anonKB, anon)
			d.mu.Unlock()
		}
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}

// procStatus reads one "kB" field of /proc/PID/status (0 when gone).
func procStatus(pid int, field string) int64 {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// kill sends SIGKILL, after reading the run's VmHWM a last time, and waits for the exit.
func (d *daemon) kill() {
	d.signal(syscall.SIGKILL)
}

// stop ends the daemon cleanly (SIGTERM).
func (d *daemon) stop() { d.signal(syscall.SIGTERM) }

func (d *daemon) signal(sig syscall.Signal) {
	d.mu.Lock()
	cmd, done := d.cmd, d.done
	d.mu.Unlock()
	if cmd == nil {
		return
	}
	if kb := procStatus(cmd.Process.Pid, "VmHWM:"); kb > 0 {
		d.mu.Lock()
		d.peakKB = max(d.peakKB, kb)
		d.mu.Unlock()
	}
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
	}
	d.mu.Lock()
	d.cmd = nil
	d.mu.Unlock()
}

// peak is the highest VmHWM and RssAnon of all runs, in kB.
func (d *daemon) peak() (hwm, anon int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.peakKB, d.anonKB
}

// cli runs a ticketd command to its end: stdout, stderr and an error for a non-zero exit.
func (d *daemon) cli(args ...string) (string, string, error) {
	full := append([]string{args[0], "-config", d.cfg}, args[1:]...)
	cmd := exec.Command(d.bin, full...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("ticketd %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), errOut.String(), err
}

// cliJSON runs a command with -json and decodes what it prints into v.
func (d *daemon) cliJSON(v any, args ...string) error {
	out, _, err := d.cli(append(args, "-json")...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("ticketd %s -json: %v", strings.Join(args, " "), err)
	}
	return nil
}

// op runs an operation through the running daemon's admin socket, the way
// the commands do (POST /op/NAME?args=JSON), for reading thousands of
// tickets without starting a process for each.
func (d *daemon) op(ctx context.Context, name string, args any, v any) error {
	raw, err := json.Marshal(args)
	if err != nil {
		return err
	}
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "unix", d.sock)
	}}}
	defer c.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, "POST", "http://ticketd/op/"+name+"?"+url.Values{"args": {string(raw)}}.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body) // all of it, so the trailers arrive
	if err != nil {
		return fmt.Errorf("op %s: %v", name, err)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			return fmt.Errorf("op %s: %v", name, err)
		}
	}
	if msg := resp.Trailer.Get("X-Ticketd-Error"); msg != "" {
		return errors.New(msg)
	}
	return nil
}
