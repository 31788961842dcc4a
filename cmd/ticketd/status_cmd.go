package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"time"

	"ticketd/mail/imap"
	"ticketd/store"
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
	ops["status"] = opStatus
}

// liveStatus is what only the running daemon knows.
type liveStatus struct {
	PID       int
	Version   string
	Started   time.Time
	Mailboxes []imap.Status
	// The next runs of the retention purge and of the consent check.
	NextPurge, NextConsentCheck time.Time
}

// statusReport is what ticketd status prints; -json prints it as it is.
type statusReport struct {
	Daemon    daemonState    `json:"daemon"`
	DataDir   string         `json:"data_dir"`
	Mailboxes []mailboxState `json:"mailboxes"`
	Outbox    outboxCounts   `json:"outbox"`
	Schedule  *scheduleState `json:"schedule,omitempty"` // only while the daemon runs
}

type daemonState struct {
	Running bool      `json:"running"`
	PID     int       `json:"pid,omitempty"`
	Version string    `json:"version,omitempty"`
	Started time.Time `json:"started,omitzero"`
}

// mailboxState is one [[mailbox]]: from the configuration, the stored
// checkpoint, and, while the daemon runs, its supervisor.
type mailboxState struct {
	Name   string `json:"name"`
	Host   string `json:"host"`
	Port   int    `json:"port"`
	TLS    string `json:"tls"`
	Folder string `json:"folder"`
	// State is "idling", "polling" or "disconnected" while the daemon
	// runs, "stopped" otherwise.
	State          string    `json:"state"`
	UIDValidity    uint32    `json:"uid_validity"`
	LastUID        uint32    `json:"last_uid"`
	CheckpointAt   time.Time `json:"checkpoint_at,omitzero"`    // when the checkpoint was stored
	PendingActions int       `json:"pending_actions,omitempty"` // after_import steps still to apply
	LastSync       time.Time `json:"last_sync,omitzero"`        // the daemon's last completed catch-up
	LastError      string    `json:"last_error,omitempty"`
	LastErrorAt    time.Time `json:"last_error_at,omitzero"`
	AuthFailures   int       `json:"auth_failures,omitempty"` // logins refused in a row
	FetchRetries   int64     `json:"fetch_retries,omitempty"` // fetches retried (a dropped connection, an empty body)
	EmptyFetches   int64     `json:"empty_fetches,omitempty"` // of those, announced with a size and sent empty
}

type outboxCounts struct {
	Pending     int       `json:"pending"`
	Failed      int       `json:"failed"`
	Sent        int       `json:"sent"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
}

type scheduleState struct {
	Purge        time.Time `json:"purge,omitzero"`
	ConsentCheck time.Time `json:"consent_check,omitzero"`
}

// opStatus writes the statusReport as JSON; the command renders it.
func opStatus(_ context.Context, env *opEnv, _ url.Values, out io.Writer) error {
	cfg, db := env.desk.Config(), env.desk.DB
	rep := statusReport{DataDir: cfg.Server.DataDir, Mailboxes: []mailboxState{}}
	var live *liveStatus
	if env.live != nil {
		live = env.live()
		rep.Daemon = daemonState{Running: true, PID: live.PID, Version: live.Version, Started: live.Started}
		rep.Schedule = &scheduleState{Purge: live.NextPurge, ConsentCheck: live.NextConsentCheck}
	}
	err := db.View(func(tx *store.Tx) error {
		for i := range cfg.Mailboxes {
			b := &cfg.Mailboxes[i]
			cp, _, err := tx.Checkpoint(b.Name)
			if err != nil {
				return err
			}
			m := mailboxState{Name: b.Name, Host: b.Host, Port: b.Port, TLS: b.TLS, Folder: b.Folder, State: "stopped",
				UIDValidity: cp.UIDValidity, LastUID: cp.LastUID, CheckpointAt: cp.UpdatedAt, PendingActions: len(cp.Pending)}
			if live != nil {
				m.State = "disconnected"
				for _, s := range live.Mailboxes {
					if s.Mailbox != b.Name {
						continue
					}
					switch {
					case s.Connected && s.Idle:
						m.State = "idling"
					case s.Connected:
						m.State = "polling"
					}
					m.LastUID = max(m.LastUID, s.LastUID)
					m.LastSync, m.LastError, m.LastErrorAt = s.LastSync, s.LastError, s.LastErrorAt
					m.AuthFailures, m.FetchRetries, m.EmptyFetches = s.AuthFailures, s.FetchRetries, s.EmptyFetches
				}
			}
			rep.Mailboxes = append(rep.Mailboxes, m)
		}
		if err := tx.Outbox(func(it *store.OutboxItem) bool {
			switch it.Status {
			case store.OutboxPending:
				rep.Outbox.Pending++
			case store.OutboxFailed:
				rep.Outbox.Failed++
			case store.OutboxSent:
				rep.Outbox.Sent++
			}
			return true
		}); err != nil {
			return err
		}
		if next, ok := tx.NextDue(); ok {
			rep.Outbox.NextAttempt = next
		}
		return nil
	})
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
	if err := callOp(ctx, cfg, "status", nil, &buf); err != nil {
		return err
	}
	var rep statusReport
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
func printStatus(w io.Writer, rep *statusReport, loc *time.Location) error {
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
		fmt.Fprintf(&b, "\nnext purge          %s\nnext consent check  %s\n", at(s.Purge, "not scheduled"), at(s.ConsentCheck, "not scheduled"))
	} else {
		fmt.Fprintf(&b, "\nno purge or consent check is scheduled while ticketd does not run\n")
	}
	_, err := w.Write(b.Bytes())
	return err
}
