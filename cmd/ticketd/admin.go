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
	"strings"
	"time"

	"ticketd/config"
	"ticketd/desk"
)

// The admin socket speaks HTTP over a unix socket (mode 0600, see
// listenAdmin). CLI commands use it while the daemon runs, because the
// daemon owns the database file; it has one route, POST /op/{name} (see
// ops.go): the operation's JSON arguments in the query parameter "args", an
// optional request body (the mail of ingest), the operation's output as the
// response body, streamed, and its error, if any, in the trailers
// X-Ticketd-Error and X-Ticketd-Error-Kind (a desk.Kind).

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

func startAdmin(path string, env *opEnv, log *slog.Logger) (*adminServer, error) {
	ln, made, err := listenAdmin(path)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /op/{name}", serveOp(env, log))
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

// The trailers of an operation's response that carry its error.
const (
	trailerError = "X-Ticketd-Error"
	trailerKind  = "X-Ticketd-Error-Kind"
)

// serveOp is the admin socket's handler of POST /op/{name}.
func serveOp(env *opEnv, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		fn, ok := ops[name]
		if !ok {
			http.Error(w, fmt.Sprintf("unknown operation %q", name), http.StatusNotFound)
			return
		}
		w.Header().Set("Trailer", trailerError+", "+trailerKind)
		w.Header().Set("Content-Type", "application/octet-stream")
		req := &opRequest{args: json.RawMessage(r.URL.Query().Get("args")), body: r.Body}
		start := time.Now()
		err := fn(r.Context(), env, req, &flushWriter{w: w, rc: http.NewResponseController(w)})
		attrs := append([]any{"op", name}, opIdentifiers(req.args)...)
		attrs = append(attrs, "duration", time.Since(start).Round(time.Millisecond))
		if err != nil {
			e := asOpError(err)
			if e.kind == desk.KindOther {
				log.Error("admin operation failed", append(attrs, "err", err)...)
			} else {
				log.Info("admin operation refused", append(attrs, "kind", string(e.kind))...)
			}
			w.Header().Set(trailerError, strings.ReplaceAll(e.msg, "\n", " "))
			w.Header().Set(trailerKind, string(e.kind))
			return
		}
		level := slog.LevelInfo
		if readOnlyOps[name] {
			level = slog.LevelDebug // ticketd status every minute would drown the rest
		}
		log.Log(r.Context(), level, "admin operation done", attrs...)
	}
}

// readOnlyOps are the operations that change nothing and are logged at
// debug level; every other one is logged at info, one line each.
var readOnlyOps = map[string]bool{"status": true, "tickets.list": true, "tickets.show": true, "quarantine.list": true,
	"quarantine.show": true, "outbox.list": true, "hold.list": true, "consent.show": true, "ropa": true}

// opIdentifiers are the numbers among an operation's arguments (a ticket
// number, a quarantine record or outbox item), as log attributes: no
// address or other text of the arguments reaches the log.
func opIdentifiers(args json.RawMessage) []any {
	var m map[string]any
	if json.Unmarshal(args, &m) != nil {
		return nil
	}
	var out []any
	for _, k := range []string{"ticket", "id"} {
		switch v := m[k].(type) {
		case float64:
			out = append(out, k, uint64(v))
		case string:
			if n, err := strconv.ParseUint(strings.TrimPrefix(v, "#"), 10, 64); err == nil {
				out = append(out, k, n)
			}
		}
	}
	return out
}

// flushWriter sends what was written to the client at the end of each
// line, so progress lines arrive as they are written, and a table written
// cell by cell (tabwriter) is not one chunk a cell; the rest goes when the
// handler returns.
type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f *flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil && len(p) > 0 && p[len(p)-1] == '\n' {
		err = f.rc.Flush()
	}
	return n, err
}

// adminClient runs operations: in the running daemon through its socket,
// or on the database file when no daemon runs. Either way an operation's
// output goes to out as it is written, and its error is an *opError.
type adminClient interface {
	call(ctx context.Context, name string, args any, body io.Reader, out io.Writer) error
}

// callOp runs the operation name once, through connect.
func callOp(ctx context.Context, cfg *config.Config, name string, args any, out io.Writer) error {
	c, done, err := connect(cfg, false)
	if err != nil {
		return err
	}
	defer done()
	return c.call(ctx, name, args, nil, out)
}

// connect is the daemon's socket when it answers, and otherwise the
// database file opened directly (closed by done). Without create it
// creates nothing: with no store in data_dir it says so and exits 66; with
// create it makes a new store, for the command that brings mail in (ingest).
func connect(cfg *config.Config, create bool) (c adminClient, done func(), err error) {
	if sc, ok := dialAdmin(cfg.Server.AdminSocket); ok {
		return sc, func() {}, nil
	}
	dk, err := desk.Open(cfg, slog.New(slog.DiscardHandler), desk.Options{MustExist: !create})
	switch desk.KindOf(err) {
	case desk.KindTemporary:
		return nil, nil, fmt.Errorf("the database is locked by a running ticketd whose admin socket %s does not answer", cfg.Server.AdminSocket)
	case desk.KindUnavailable:
		return nil, nil, &exitError{exitNoInput, fmt.Errorf("no ticketd store in data_dir %s (ticketd run, ingest or restore creates one): %w",
			cfg.Server.DataDir, err)}
	}
	if err != nil {
		return nil, nil, masterKeyError(cfg, err)
	}
	return &localClient{env: &opEnv{desk: dk}}, func() { dk.Close() }, nil
}

// localClient runs operations in this process, on the database file.
type localClient struct{ env *opEnv }

func (l *localClient) call(ctx context.Context, name string, args any, body io.Reader, out io.Writer) error {
	fn, ok := ops[name]
	if !ok {
		return fmt.Errorf("unknown operation %q", name)
	}
	raw, err := json.Marshal(args)
	if err != nil {
		return err
	}
	if err := fn(ctx, l.env, &opRequest{args: raw, body: body}, out); err != nil {
		return asOpError(err)
	}
	return nil
}

// socketClient talks to a running daemon.
type socketClient struct{ c *http.Client }

func dialAdmin(path string) (*socketClient, bool) {
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return nil, false
	}
	conn.Close()
	return &socketClient{c: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}, true
}

func (s *socketClient) call(ctx context.Context, name string, args any, body io.Reader, out io.Writer) error {
	if _, ok := ops[name]; !ok {
		return fmt.Errorf("unknown operation %q", name)
	}
	raw, err := json.Marshal(args)
	if err != nil {
		return err
	}
	if body != nil {
		body = io.NopCloser(body) // the transport must not close stdin
	}
	u := "http://ticketd/op/" + name + "?" + url.Values{"args": {string(raw)}}.Encode()
	req, err := http.NewRequestWithContext(ctx, "POST", u, body)
	if err != nil {
		return err
	}
	resp, err := s.c.Do(req)
	if err != nil {
		return fmt.Errorf("admin socket: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("admin socket: %s", resp.Status)
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		return fmt.Errorf("admin socket: %w", err)
	}
	if msg := resp.Trailer.Get(trailerError); msg != "" {
		return &opError{kind: desk.Kind(resp.Trailer.Get(trailerKind)), msg: msg}
	}
	return nil
}

// opError is how an operation failed, the same whether it ran in the
// daemon or in this process: its message and its kind, which decides the
// exit code; errors.Is(err, desk.ErrNotFound) and the like hold for it.
type opError struct {
	kind desk.Kind
	msg  string
}

func (e *opError) Error() string { return e.msg }
func (e *opError) Is(target error) bool {
	return errors.Is(&desk.Error{Kind: e.kind, Err: errors.New(e.msg)}, target)
}

// asOpError gives err its kind; the message of a bad request says so.
func asOpError(err error) *opError {
	var e *opError
	if errors.As(err, &e) {
		return e
	}
	kind, msg := desk.KindOf(err), err.Error()
	if kind == desk.KindBadRequest {
		msg = "bad request: " + msg
	}
	return &opError{kind: kind, msg: msg}
}
