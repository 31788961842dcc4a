package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ticketd/config"
	"ticketd/desk"
)

// adminPair is one desk reached both ways: through an admin socket served
// in this process, and directly, as a command does without a daemon.
func adminPair(t *testing.T) (remote, local adminClient, socket string) {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Load(writeConfig(t, dir, "127.0.0.1:1", ""))
	if err != nil {
		t.Fatal(err)
	}
	dk, err := desk.Open(cfg, slog.New(slog.DiscardHandler), desk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dk.Close() })
	env := &opEnv{desk: dk}
	socket = filepath.Join(dir, "admin.sock")
	a, err := startAdmin(socket, env, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	sc, ok := dialAdmin(socket)
	if !ok {
		t.Fatal("the admin socket does not answer")
	}
	return sc, &localClient{env: env}, socket
}

// TestAdminOneConvention: an operation gives the same output and the same
// error, with the same kind, through the daemon's socket and without it.
func TestAdminOneConvention(t *testing.T) {
	remote, local, _ := adminPair(t)
	ctx := context.Background()
	raw := "From: Erika <erika@example.org>\r\nSubject: Frage\r\nMessage-ID: <a1@example.org>\r\n\r\nText\r\n"
	var out bytes.Buffer
	if err := remote.call(ctx, "ingest", desk.IngestRequest{Silent: true}, strings.NewReader(raw), &out); err != nil {
		t.Fatal(err)
	}
	var o desk.Outcome
	if err := json.Unmarshal(out.Bytes(), &o); err != nil || !o.NewTicket || o.Ticket != 1 {
		t.Fatalf("ingest through the socket: %s, %v", out.String(), err)
	}
	for _, c := range []struct {
		op   string
		args any
		body io.Reader
		kind desk.Kind
	}{
		{"tickets.list", listArgs{JSON: true}, nil, desk.KindOther},
		{"tickets.show", listArgs{ID: 1}, nil, desk.KindOther},
		{"tickets.show", listArgs{ID: 99}, nil, desk.KindNotFound},
		{"tickets.status", ticketStatusArgs{Ticket: "#1", Close: true}, nil, desk.KindOther},
		{"tickets.status", ticketStatusArgs{Ticket: "1", Close: true}, nil, desk.KindBadRequest},
		{"tickets.status", ticketStatusArgs{Ticket: "x"}, nil, desk.KindBadRequest},
		{"tickets.status", ticketStatusArgs{Ticket: "7"}, nil, desk.KindNotFound},
		{"hold.add", holdArgs{Ticket: "1", Category: "nonesuch"}, nil, desk.KindBadRequest},
		{"purge", purgeArgs{At: time.Now().AddDate(1, 0, 0)}, nil, desk.KindBadRequest},
		{"outbox.retry", listArgs{ID: 9}, nil, desk.KindNotFound},
		{"quarantine.show", quarantineArgs{ID: 9}, nil, desk.KindNotFound},
		{"subject.erase", subjectArgs{Email: "nobody@example.org", DryRun: true}, nil, desk.KindNotFound},
		{"subject.rectify", subjectArgs{Email: "erika@example.org"}, nil, desk.KindBadRequest},
		{"ropa", ropaArgs{Format: "pdf"}, nil, desk.KindBadRequest},
		{"ingest", desk.IngestRequest{}, strings.NewReader(""), desk.KindBadRequest},
		{"ingest", desk.IngestRequest{Mailbox: "nonesuch"}, strings.NewReader(raw), desk.KindBadRequest},
		{"backup", backupArgs{File: "relative.tar"}, nil, desk.KindBadRequest},
		{"status", map[string]int{"frob": 1}, nil, desk.KindBadRequest},
	} {
		var got [2]string
		var errs [2]error
		for i, c2 := range []adminClient{local, remote} {
			var out bytes.Buffer
			body := c.body
			if sr, ok := body.(*strings.Reader); ok {
				sr.Seek(0, io.SeekStart)
			}
			errs[i] = c2.call(ctx, c.op, c.args, body, &out)
			got[i] = out.String()
			if c.op == "tickets.status" && errs[i] == nil && i == 0 {
				// Undo, so that the socket's call does the same.
				if err := local.call(ctx, c.op, ticketStatusArgs{Ticket: "1"}, nil, io.Discard); err != nil {
					t.Fatal(err)
				}
			}
		}
		for i, err := range errs {
			var oe *opError
			if err != nil && !errors.As(err, &oe) {
				t.Errorf("%s %+v: %T %v is no *opError", c.op, c.args, err, err)
			}
			kind := desk.KindOther
			if oe != nil {
				kind = oe.kind
			}
			if kind != c.kind || (c.kind == desk.KindOther) != (err == nil) {
				t.Errorf("%s %+v (%s): %v, kind %q; want kind %q", c.op, c.args, []string{"local", "socket"}[i], err, kind, c.kind)
			}
		}
		if errs[0] != nil && errs[1] != nil && errs[0].Error() != errs[1].Error() {
			t.Errorf("%s %+v: local %q, through the socket %q", c.op, c.args, errs[0], errs[1])
		}
		if got[0] != got[1] && c.op != "tickets.status" { // its output names the time of closing
			t.Errorf("%s %+v: local output %q, through the socket %q", c.op, c.args, got[0], got[1])
		}
	}
	// A bad request says so, and not found is errors.Is desk.ErrNotFound.
	err := remote.call(ctx, "hold.add", holdArgs{Ticket: "1", Category: "nonesuch"}, nil, io.Discard)
	if !strings.HasPrefix(err.Error(), "bad request: ") || !errors.Is(err, desk.ErrBadRequest) {
		t.Errorf("bad request: %v", err)
	}
	if err := remote.call(ctx, "tickets.show", listArgs{ID: 99}, nil, io.Discard); !errors.Is(err, desk.ErrNotFound) {
		t.Errorf("not found: %v", err)
	}
}

// TestAdminStreams: what an operation writes reaches the client while it
// still runs, so the progress lines of a long purge or erasure arrive as
// they are written.
func TestAdminStreams(t *testing.T) {
	seen := make(chan struct{})
	register("test.stream", func(ctx context.Context, _ *opEnv, _ struct{}, _ *opRequest, out io.Writer) error {
		io.WriteString(out, "step 1 of 2\n")
		select {
		case <-seen:
		case <-time.After(10 * time.Second):
			return errors.New("the client did not get the first line while the operation ran")
		}
		_, err := io.WriteString(out, "step 2 of 2\n")
		return err
	})
	defer delete(ops, "test.stream")
	remote, _, _ := adminPair(t)
	w := &signalWriter{seen: seen}
	if err := remote.call(context.Background(), "test.stream", struct{}{}, nil, w); err != nil {
		t.Fatal(err)
	}
	if w.b.String() != "step 1 of 2\nstep 2 of 2\n" {
		t.Errorf("output %q", w.b.String())
	}
}

// signalWriter closes seen at its first write.
type signalWriter struct {
	b    bytes.Buffer
	seen chan struct{}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	if w.b.Len() == 0 {
		close(w.seen)
	}
	return w.b.Write(p)
}

// TestAdminSocketOneRoute: the socket serves the operations, and nothing
// else; an unknown operation is 404 before anything runs.
func TestAdminSocketOneRoute(t *testing.T) {
	_, _, socket := adminPair(t)
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}}
	for _, r := range []struct{ method, path string }{
		{"GET", "/tickets"}, {"GET", "/tickets/1"}, {"GET", "/quarantine"}, {"GET", "/outbox"},
		{"POST", "/ingest"}, {"POST", "/outbox/1/retry"}, {"POST", "/op/nonesuch"}, {"GET", "/op/tickets.list"},
	} {
		req, _ := http.NewRequest(r.method, "http://ticketd"+r.path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %s", r.method, r.path, resp.Status)
		}
	}
}
