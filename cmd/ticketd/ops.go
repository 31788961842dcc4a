package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"ticketd/desk"
)

// An op is an administrative operation: it calls one method of the desk
// and writes its result (text, JSON or a file's bytes) to out. It runs the
// same way inside the daemon, reached through the admin socket, and on the
// database file when no daemon runs (see adminClient); long operations write
// progress lines as they go, and the socket passes them on at once.
type op func(ctx context.Context, env *opEnv, req *opRequest, out io.Writer) error

// opEnv is what an op works with.
type opEnv struct {
	desk *desk.Desk
	// live is the running daemon's state (daemon.go); nil when the
	// op runs on the database file without a daemon.
	live func() *desk.Live
}

// opRequest is an op's input: its arguments as JSON and, for ingest, a body.
type opRequest struct {
	args json.RawMessage
	body io.Reader // nil when there is none
}

// decode reads the arguments into v; unknown fields are a bad request.
func (r *opRequest) decode(v any) error {
	if len(r.args) == 0 || string(r.args) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(r.args))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("arguments: %v", err)
	}
	return nil
}

// ops are the registered operations by name; files register theirs in init.
var ops = map[string]op{}

// register adds the op name, whose arguments are an A.
func register[A any](name string, fn func(ctx context.Context, env *opEnv, args A, req *opRequest, out io.Writer) error) {
	ops[name] = func(ctx context.Context, env *opEnv, req *opRequest, out io.Writer) error {
		var args A
		if err := req.decode(&args); err != nil {
			return err
		}
		return fn(ctx, env, args, req, out)
	}
}

// badRequest is an error of kind desk.KindBadRequest.
func badRequest(format string, args ...any) error {
	return &desk.Error{Kind: desk.KindBadRequest, Err: fmt.Errorf(format, args...)}
}

// ticketArg parses a ticket number, "12" or "#12".
func ticketArg(s string) (uint64, error) {
	n, err := strconv.ParseUint(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || n == 0 {
		return 0, badRequest("%q is not a ticket number", s)
	}
	return n, nil
}

// render writes v as JSON when asJSON, else with text; it returns err instead when there is one.
func render[T any](out io.Writer, asJSON bool, v T, err error, text func(io.Writer, T) error) error {
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(out, v)
	}
	return text(out, v)
}

// textReport is a report that can write itself for a person to read.
type textReport interface{ WriteText(io.Writer) error }

// writeReport writes rep as JSON when asJSON, else as text.
func writeReport(out io.Writer, asJSON bool, rep textReport) error {
	if asJSON {
		return printJSON(out, rep)
	}
	return rep.WriteText(out)
}
