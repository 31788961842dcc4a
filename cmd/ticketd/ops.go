package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"ticketd/config"
	"ticketd/desk"
	"ticketd/store"
)

// An op is an administrative operation that runs the same way inside the
// daemon, reached through the admin socket, and on the database file when no
// daemon runs. It writes its result (text, JSON or a file's bytes) to out;
// long operations write progress lines as they go, and the socket passes
// them on at once.
type op func(ctx context.Context, env *opEnv, args url.Values, out io.Writer) error

// opEnv is what an op works with.
type opEnv struct {
	desk *desk.Desk
	log  *slog.Logger
	wake func() // wakes the outbox after an op queued mail
	// live is the running daemon's state (see status_cmd.go); nil when the
	// op runs on the database file without a daemon.
	live func() *liveStatus
}

// ops are the registered operations by name; files register theirs in init.
var ops = map[string]op{}

// Error kinds an op reports through the socket, so that the CLI exits the same way either way.
const (
	trailerError = "X-Ticketd-Error"
	trailerKind  = "X-Ticketd-Error-Kind"
)

// callOp runs the op name with args, through the daemon's socket when it
// answers and on the database file otherwise, and copies its output to out.
func callOp(ctx context.Context, cfg *config.Config, name string, args url.Values, out io.Writer) error {
	if _, ok := ops[name]; !ok {
		return fmt.Errorf("unknown operation %q", name)
	}
	return withBackend(cfg, func(b backend) error {
		switch b := b.(type) {
		case *socketBackend:
			return b.op(ctx, name, args, out)
		case *localBackend:
			return ops[name](ctx, &opEnv{desk: b.desk, log: slog.New(slog.DiscardHandler), wake: func() {}}, args, out)
		}
		return fmt.Errorf("no backend for %q", name)
	})
}

// serveOp is the admin socket's handler of POST /op/{name}.
func serveOp(env *opEnv) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		fn, ok := ops[r.PathValue("name")]
		if !ok {
			writeError(w, http.StatusNotFound, fmt.Errorf("unknown operation %q", r.PathValue("name")))
			return
		}
		w.Header().Set("Trailer", trailerError+", "+trailerKind)
		w.Header().Set("Content-Type", "application/octet-stream")
		err := fn(r.Context(), env, r.URL.Query(), &flushWriter{w: w, rc: http.NewResponseController(w)})
		if err != nil {
			kind := ""
			switch {
			case errors.Is(err, store.ErrNotFound):
				kind = "notfound"
			case errors.Is(err, errBadRequest):
				kind = "badrequest"
			default:
				env.log.Error("admin operation failed", "op", r.PathValue("name"), "err", err)
			}
			w.Header().Set(trailerError, strings.ReplaceAll(err.Error(), "\n", " "))
			w.Header().Set(trailerKind, kind)
		}
	}
}

// flushWriter sends each write to the client at once, so progress lines arrive as they are written.
type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f *flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.rc.Flush()
	}
	return n, err
}

// op runs an operation in the daemon and copies its output to out.
func (s *socketBackend) op(ctx context.Context, name string, args url.Values, out io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, "POST", "http://ticketd/op/"+name+"?"+args.Encode(), nil)
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
	msg := resp.Trailer.Get(trailerError)
	if msg == "" {
		return nil
	}
	switch resp.Trailer.Get(trailerKind) {
	case "notfound":
		return &remoteError{msg, store.ErrNotFound}
	case "badrequest":
		return &remoteError{msg, errBadRequest}
	}
	return &remoteError{msg, nil}
}
