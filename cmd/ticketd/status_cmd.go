package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"ticketd/desk"
)

// ticketd status: what the public /healthz does not say. Each mailbox's
// server, state, checkpoint, last sync and last error, the outbox counts and
// the next scheduled runs, read through the admin socket, so only a user who
// can reach the socket sees them.

// exitUnavailable (EX_UNAVAILABLE) is the exit of ticketd status when no
// daemon runs: what the store holds is printed all the same.
const exitUnavailable = 69

func init() {
	commands["status"] = command{"status [-config FILE] [-json]",
		"the daemon's state: each mailbox's connection, checkpoint, last sync and last error, the outbox, the next scheduled runs (exit 69 when it does not run)",
		cmdStatus}
	register("status", opStatus)
}

func opStatus(_ context.Context, env *opEnv, _ struct{}, _ *opRequest, out io.Writer) error {
	var live *desk.Live
	if env.live != nil {
		live = env.live()
	}
	rep, err := env.desk.Status(live)
	if err != nil {
		return err
	}
	return json.NewEncoder(out).Encode(rep)
}

func cmdStatus(ctx context.Context, e *env, args []string) error {
	fs, path := flags(e, "status")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError("status", "takes no arguments")
	}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := callOp(ctx, cfg, "status", struct{}{}, &buf); err != nil {
		return err
	}
	var rep desk.StatusReport
	if err := json.Unmarshal(buf.Bytes(), &rep); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if *asJSON {
		err = printJSON(e.stdout, rep)
	} else {
		err = printStatus(e.stdout, &rep, time.Local)
	}
	if err != nil {
		return err
	}
	if !rep.Daemon.Running {
		return &exitError{exitUnavailable, errReported}
	}
	return nil
}

// printStatus writes rep for a person, times in loc.
func printStatus(w io.Writer, rep *desk.StatusReport, loc *time.Location) error {
	at := func(t time.Time, none string) string {
		if t.IsZero() {
			return none
		}
		return t.In(loc).Format(time.DateTime)
	}
	var b bytes.Buffer
	if d := rep.Daemon; d.Running {
		fmt.Fprintf(&b, "ticketd is running: pid %d, version %s, started %s\n", d.PID, d.Version, at(d.Started, "-"))
	} else {
		fmt.Fprintf(&b, "ticketd is not running; what the store in %s holds:\n", rep.DataDir)
	}
	for _, m := range rep.Mailboxes {
		fmt.Fprintf(&b, "\nmailbox %s: %s\n", m.Name, m.State)
		fmt.Fprintf(&b, "  server       %s (tls %s), folder %s\n", net.JoinHostPort(m.Host, strconv.Itoa(m.Port)), m.TLS, m.Folder)
		if m.CheckpointAt.IsZero() {
			fmt.Fprintf(&b, "  checkpoint   none yet\n")
		} else {
			fmt.Fprintf(&b, "  checkpoint   UIDVALIDITY %d, last UID %d, stored %s\n", m.UIDValidity, m.LastUID, at(m.CheckpointAt, "-"))
		}
		if m.PendingActions > 0 {
			fmt.Fprintf(&b, "  pending      %d after_import actions to apply\n", m.PendingActions)
		}
		if rep.Daemon.Running {
			fmt.Fprintf(&b, "  last sync    %s\n", at(m.LastSync, "not yet"))
			if m.LastError == "" {
				fmt.Fprintf(&b, "  last error   none\n")
			} else {
				fmt.Fprintf(&b, "  last error   %s: %s\n", at(m.LastErrorAt, "-"), m.LastError)
			}
			if m.AuthFailures > 0 {
				fmt.Fprintf(&b, "  logins       %d refused in a row\n", m.AuthFailures)
			}
			if m.FetchRetries > 0 {
				fmt.Fprintf(&b, "  fetches      %d retried, %d of them announced with a size and sent empty\n", m.FetchRetries, m.EmptyFetches)
			}
		}
	}
	o := rep.Outbox
	fmt.Fprintf(&b, "\noutbox: %d pending", o.Pending)
	if !o.NextAttempt.IsZero() {
		fmt.Fprintf(&b, " (next attempt %s)", at(o.NextAttempt, "-"))
	}
	fmt.Fprintf(&b, ", %d failed, %d sent\n", o.Failed, o.Sent)
	if s := rep.Schedule; s != nil {
		fmt.Fprintf(&b, "\nnext purge          %s\nnext consent check  %s\nnext reminders      %s\nnext digest         %s\n",
			at(s.Purge, "not scheduled"), at(s.ConsentCheck, "not scheduled"), at(s.Reminders, "not scheduled"), at(s.Digest, "none (digest_schedule is off)"))
	} else {
		fmt.Fprintf(&b, "\nno purge, consent check, reminder or digest is scheduled while ticketd does not run\n")
	}
	_, err := w.Write(b.Bytes())
	return err
}
