package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"ticketd/config"
	"ticketd/desk"
)

// lmtpListener is the running LMTP listener of the daemon ([lmtp]).
type lmtpListener struct {
	cfg    config.LMTP
	srv    *desk.LMTPServer
	path   string      // the unix socket, "" for TCP
	made   os.FileInfo // the socket as made, so close removes only it
	served chan struct{}
}

// listenLMTP opens the listener of l: a TCP port on loopback (config
// allows no other), or a unix socket made with l's mode and group in a new
// directory of mode 0700 beside its path and only then renamed into place,
// so that at no moment can anyone else connect (as listenAdmin does).
// Whatever is at the path must be a socket that nobody listens on (a
// stale one of a stopped daemon) and is replaced; a live socket or
// anything else is refused and left alone. own is the path of the daemon's
// own socket, replaced on a reload although it is listened on.
func listenLMTP(l *config.LMTP, own string) (net.Listener, string, os.FileInfo, error) {
	if l.Network() == "tcp" {
		ln, err := net.Listen("tcp", l.Listen)
		if err != nil {
			return nil, "", nil, fmt.Errorf("lmtp: %w", err)
		}
		return ln, "", nil, nil
	}
	path := l.Address()
	fail := func(format string, args ...any) (net.Listener, string, os.FileInfo, error) {
		return nil, "", nil, fmt.Errorf("lmtp socket %s: "+format, append([]any{path}, args...)...)
	}
	switch fi, err := os.Lstat(path); {
	case err == nil && fi.Mode().Type() != fs.ModeSocket:
		return fail("exists and is not a socket; remove it or change lmtp.listen")
	case err == nil && path != own:
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return fail("another process listens on it")
		} else if !errors.Is(err, syscall.ECONNREFUSED) {
			return fail("%v", err)
		}
	case err == nil: // the daemon's own, replaced on a reload
	case !errors.Is(err, fs.ErrNotExist):
		return fail("%v", err)
	}
	gid := -1
	if g := l.SocketGroup; g != "" {
		n, err := strconv.Atoi(g)
		if err != nil {
			grp, lerr := user.LookupGroup(g)
			if lerr != nil {
				return fail("socket_group: %v", lerr)
			}
			n, _ = strconv.Atoi(grp.Gid)
		}
		gid = n
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".ticketd-")
	if err != nil {
		return fail("%v", err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o700); err != nil {
		return fail("%v", err)
	}
	tmp := filepath.Join(dir, "s")
	if len(tmp) > maxSocketPath {
		return fail("too long: it is made as %s first, and a socket path has at most %d bytes", tmp, maxSocketPath)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return fail("%v", err)
	}
	ln.SetUnlinkOnClose(false) // it is renamed away; close removes it where it is
	undo := func(err error) (net.Listener, string, os.FileInfo, error) {
		ln.Close()
		return fail("%v", err)
	}
	if gid >= 0 {
		if err := os.Chown(tmp, -1, gid); err != nil {
			return undo(fmt.Errorf("socket_group: %w", err))
		}
	}
	if err := os.Chmod(tmp, l.Mode); err != nil {
		return undo(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return undo(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return undo(err)
	}
	return ln, path, fi, nil
}

// startLMTP serves [lmtp] of cfg on ln for dk.
func startLMTP(dk *desk.Desk, l *config.LMTP, ln net.Listener, path string, made os.FileInfo) *lmtpListener {
	x := &lmtpListener{cfg: *l, srv: dk.NewLMTP(l), path: path, made: made, served: make(chan struct{})}
	go func() {
		defer close(x.served)
		if err := x.srv.Serve(ln); err != nil {
			dk.Log.Error("lmtp listener failed", "err", err)
		}
	}()
	return x
}

// close stops the listener and its sessions and removes its socket, unless
// another has taken its path since.
func (x *lmtpListener) close() {
	if x == nil {
		return
	}
	x.srv.Close()
	<-x.served
	if x.path != "" {
		if fi, err := os.Lstat(x.path); err == nil && os.SameFile(fi, x.made) {
			os.Remove(x.path)
		}
	}
}

// openLMTP starts the daemon's LMTP listener when [lmtp] listen is set.
func (d *daemon) openLMTP(l *config.LMTP) error {
	if l.Listen == "" {
		return nil
	}
	ln, path, made, err := listenLMTP(l, "")
	if err != nil {
		return err
	}
	d.lmtp = startLMTP(d.desk, l, ln, path, made)
	d.log.Info("lmtp listening", "listen", l.Listen)
	return nil
}

// prepareLMTP opens the listener of a new [lmtp] (what can fail) and
// returns what puts it in force: the running one is kept when nothing
// changed, else replaced. A TCP address that stays cannot be bound twice;
// it is bound again after the old listener closed, and a failure then is
// logged.
func (d *daemon) prepareLMTP(l *config.LMTP) (func(), error) {
	old := d.lmtp
	switch {
	case old != nil && old.cfg == *l:
		return func() {}, nil
	case l.Listen == "":
		return func() { old.close(); d.lmtp = nil }, nil
	case old != nil && l.Network() == "tcp" && old.cfg.Listen == l.Listen:
		return func() {
			old.close()
			d.lmtp = nil
			if err := d.openLMTP(l); err != nil {
				d.log.Error("reload: lmtp listener", "err", err)
			}
		}, nil
	}
	own := ""
	if old != nil {
		own = old.path
	}
	ln, path, made, err := listenLMTP(l, own)
	if err != nil {
		return nil, err
	}
	return func() {
		old.close()
		d.lmtp = startLMTP(d.desk, l, ln, path, made)
		d.log.Info("lmtp listening", "listen", l.Listen)
	}, nil
}
