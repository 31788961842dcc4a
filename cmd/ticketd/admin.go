package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"ticketd/config"
	"ticketd/desk"
	"ticketd/mail"
	"ticketd/store"
)

// The admin socket speaks HTTP with JSON bodies over a unix socket (mode 0600
// inside the 0700 data directory). CLI commands use it while the daemon runs,
// because the daemon owns the database file.

type adminServer struct {
	srv  *http.Server
	ln   net.Listener
	path string
	made os.FileInfo // the socket as made, so close removes only it
}

// listenAdmin makes the admin socket at path so that at no moment can
// another user connect to it, whatever the umask and the mode of path's
// directory: the socket is bound in a new directory of mode 0700 beside
// path (connecting needs search permission on every directory of the
// path), made mode 0600 there, and only then renamed into place; a rename
// keeps the socket's mode and its listener. (The other way, setting the
// umask around the bind, would change it for the whole process while other
// goroutines create files.) Whatever is at path must be a socket, a stale
// one of a stopped daemon (the database lock proves none runs), and is
// replaced; anything else is refused and left alone.
func listenAdmin(path string) (*net.UnixListener, os.FileInfo, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode().Type() != fs.ModeSocket {
		return nil, nil, fmt.Errorf("admin socket: %s exists and is not a socket; remove it or set admin_socket", path)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("admin socket: %w", err)
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".ticketd-")
	if err != nil {
		return nil, nil, fmt.Errorf("admin socket: %w", err)
	}
	defer os.RemoveAll(dir)
	// MkdirTemp makes it 0700; a default ACL of the parent could add to that.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("admin socket: %w", err)
	}
	tmp := filepath.Join(dir, "s")
	if len(tmp) > maxSocketPath {
		return nil, nil, fmt.Errorf("admin socket: %s is too long: it is made as %s first, and a socket path has at most %d bytes", path, tmp, maxSocketPath)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, nil, fmt.Errorf("admin socket: %w", err)
	}
	ln.SetUnlinkOnClose(false) // it is renamed away; close removes it where it is
	fail := func(err error) (*net.UnixListener, os.FileInfo, error) {
		ln.Close()
		return nil, nil, fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fail(err)
	}
	return ln, fi, nil
}

// maxSocketPath is the longest path a unix socket can have on Linux (sun_path, without its NUL).
const maxSocketPath = 107

func startAdmin(path string, dk *desk.Desk, spool string, wake func(), status func() *liveStatus, log *slog.Logger) (*adminServer, error) {
	ln, made, err := listenAdmin(path)
	if err != nil {
		return nil, err
	}
	local := &localBackend{desk: dk, spool: spool}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /tickets", func(w http.ResponseWriter, r *http.Request) {
		v, err := local.Tickets()
		reply(w, log, v, err)
	})
	mux.HandleFunc("GET /tickets/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseUint(r.PathValue("n"), 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		v, err := local.Ticket(n)
		reply(w, log, v, err)
	})
	mux.HandleFunc("GET /quarantine", func(w http.ResponseWriter, r *http.Request) {
		v, err := local.Quarantine()
		reply(w, log, v, err)
	})
	mux.HandleFunc("POST /ingest", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		args := ingestArgs{Mailbox: q.Get("mailbox"), Silent: q.Get("silent") == "1"}
		if s := q.Get("modified"); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				writeError(w, http.StatusBadRequest, fmt.Errorf("modified: %w", err))
				return
			}
			args.Modified = t
		}
		v, err := local.Ingest(r.Context(), r.Body, args)
		reply(w, log, v, err)
	})
	mux.HandleFunc("GET /outbox", func(w http.ResponseWriter, r *http.Request) {
		v, err := local.Outbox()
		reply(w, log, v, err)
	})
	mux.HandleFunc("POST /outbox/{id}/retry", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		err = local.RetryOutbox(id)
		if err == nil {
			wake()
		}
		reply(w, log, struct{}{}, err)
	})
	mux.HandleFunc("POST /op/{name}", serveOp(&opEnv{desk: dk, log: log, wake: wake, live: status}))
	a := &adminServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln: ln, path: path, made: made}
	go a.srv.Serve(ln)
	return a, nil
}

func (a *adminServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a.srv.Shutdown(ctx)
	if fi, err := os.Lstat(a.path); err == nil && os.SameFile(fi, a.made) {
		os.Remove(a.path)
	}
}

// reply writes v as JSON, or err with a status that tells the client what kind of error it is.
func reply(w http.ResponseWriter, log *slog.Logger, v any, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, err)
	case errors.Is(err, errBadRequest):
		writeError(w, http.StatusBadRequest, err)
	case err != nil:
		log.Error("admin request failed", "err", err)
		writeError(w, http.StatusInternalServerError, err)
	default:
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
}

func writeError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

var errBadRequest = errors.New("bad request")

// backend is what CLI commands read and write through: the running daemon's
// socket, or the database file itself when no daemon runs.
type backend interface {
	Tickets() ([]desk.TicketSummary, error)
	Ticket(n uint64) (*desk.TicketDetail, error)
	Quarantine() ([]*store.Quarantine, error)
	Ingest(ctx context.Context, r io.Reader, args ingestArgs) (desk.Outcome, error)
	Outbox() ([]desk.OutboxView, error)
	RetryOutbox(id uint64) error
}

// withBackend calls fn with the daemon's socket when it answers, and otherwise
// with the existing database opened directly (closed when fn returns). It
// creates nothing: with no store in data_dir it says so and exits 66.
func withBackend(cfg *config.Config, fn func(backend) error) error {
	return openBackend(cfg, false, fn)
}

// openBackend is withBackend; create opens (and creates) the store even if
// it does not exist yet, for the commands that bring mail in (ingest).
func openBackend(cfg *config.Config, create bool, fn func(backend) error) error {
	if sb, ok := dialAdmin(cfg.Server.AdminSocket); ok {
		return fn(sb)
	}
	db, err := store.Open(cfg.Server.DataDir, store.Options{MustExist: !create})
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("the database is locked by a running ticketd whose admin socket %s does not answer", cfg.Server.AdminSocket)
	}
	if errors.Is(err, store.ErrNoStore) {
		return &exitError{exitNoInput, fmt.Errorf("no ticketd store in data_dir %s (ticketd run, ingest or restore creates one): %w",
			cfg.Server.DataDir, err)}
	}
	if err != nil {
		return err
	}
	defer db.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dk, err := desk.New(db, cfg, log)
	if err != nil {
		return err
	}
	lb := &localBackend{desk: dk}
	defer lb.close()
	return fn(lb)
}

type localBackend struct {
	desk  *desk.Desk
	spool string // where large mail is spooled; made when first needed
	temp  bool   // spool is this command's own and goes with close
}

// spoolDir is where mail read from a file or stdin is spooled; a command
// without a daemon makes its own beside the database and removes it after.
func (l *localBackend) spoolDir() (string, error) {
	if l.spool == "" {
		dir, err := os.MkdirTemp(l.desk.DB.Dir(), "spool-cli-")
		if err != nil {
			return "", err
		}
		l.spool, l.temp = dir, true
	}
	return l.spool, nil
}

func (l *localBackend) close() {
	if l.temp {
		os.RemoveAll(l.spool)
	}
}

func (l *localBackend) Tickets() ([]desk.TicketSummary, error) { return desk.ListTickets(l.desk.DB) }
func (l *localBackend) Ticket(n uint64) (*desk.TicketDetail, error) {
	return desk.ShowTicket(l.desk.DB, n)
}
func (l *localBackend) Quarantine() ([]*store.Quarantine, error) {
	return desk.ListQuarantine(l.desk.DB)
}

func (l *localBackend) Outbox() ([]desk.OutboxView, error) { return desk.ListOutbox(l.desk.DB) }

func (l *localBackend) RetryOutbox(id uint64) error {
	err := desk.RetryOutbox(l.desk.DB, id, l.desk.Config().SMTP.RetryFor.Duration)
	if errors.Is(err, desk.ErrNotRetryable) {
		return fmt.Errorf("%w: %w", errBadRequest, err)
	}
	return err
}

// ingestArgs is how ticketd ingest stores one mail.
type ingestArgs struct {
	Mailbox  string    // the configured mailbox it counts as received by; "" for none
	Silent   bool      // no acknowledgement
	Modified time.Time // the file's modification time; zero for stdin
}

func (l *localBackend) Ingest(ctx context.Context, r io.Reader, args ingestArgs) (desk.Outcome, error) {
	mailbox := args.Mailbox
	if mailbox != "" && l.desk.Config().Mailbox(mailbox) == nil {
		return desk.Outcome{}, fmt.Errorf("%w: mailbox %q is not configured", errBadRequest, mailbox)
	}
	max := int64(64 << 20)
	if box := l.desk.Config().Mailbox(mailbox); box != nil {
		max = int64(box.MaxMessageSize)
	}
	spool, err := l.spoolDir()
	if err != nil {
		return desk.Outcome{}, err
	}
	f, err := mail.ReadFetched(r, spool, max)
	if err != nil {
		return desk.Outcome{}, err
	}
	defer f.Release()
	if f.Size == 0 {
		return desk.Outcome{}, errNoMail
	}
	f.Modified = args.Modified
	return l.desk.Ingest(ctx, f, mailbox, args.Silent)
}

// socketBackend talks to a running daemon.
type socketBackend struct{ c *http.Client }

func dialAdmin(path string) (*socketBackend, bool) {
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return nil, false
	}
	conn.Close()
	return &socketBackend{c: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}, true
}

func (s *socketBackend) do(method, path string, body io.Reader, v any) error {
	req, err := http.NewRequest(method, "http://ticketd"+path, body)
	if err != nil {
		return err
	}
	resp, err := s.c.Do(req)
	if err != nil {
		return fmt.Errorf("admin socket: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		json.NewDecoder(resp.Body).Decode(&e)
		switch resp.StatusCode {
		case http.StatusNotFound:
			return &remoteError{e.Error, store.ErrNotFound}
		case http.StatusBadRequest:
			return &remoteError{e.Error, errBadRequest}
		}
		return &remoteError{fmt.Sprintf("daemon: %s (%s)", e.Error, resp.Status), nil}
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func (s *socketBackend) Tickets() (out []desk.TicketSummary, err error) {
	return out, s.do("GET", "/tickets", nil, &out)
}

func (s *socketBackend) Ticket(n uint64) (out *desk.TicketDetail, err error) {
	return out, s.do("GET", "/tickets/"+strconv.FormatUint(n, 10), nil, &out)
}

func (s *socketBackend) Quarantine() (out []*store.Quarantine, err error) {
	return out, s.do("GET", "/quarantine", nil, &out)
}

func (s *socketBackend) Ingest(ctx context.Context, r io.Reader, args ingestArgs) (out desk.Outcome, err error) {
	q := url.Values{"mailbox": {args.Mailbox}}
	if args.Silent {
		q.Set("silent", "1")
	}
	if !args.Modified.IsZero() {
		q.Set("modified", args.Modified.Format(time.RFC3339Nano))
	}
	return out, s.do("POST", "/ingest?"+q.Encode(), io.NopCloser(r), &out)
}

func (s *socketBackend) Outbox() (out []desk.OutboxView, err error) {
	return out, s.do("GET", "/outbox", nil, &out)
}

func (s *socketBackend) RetryOutbox(id uint64) error {
	return s.do("POST", "/outbox/"+strconv.FormatUint(id, 10)+"/retry", nil, &struct{}{})
}

// remoteError is an error the daemon reported; Unwrap gives the kind.
type remoteError struct {
	msg  string
	kind error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.kind }
