package desk

import (
	"time"

	"ticketd/mail/imap"
	"ticketd/store"
)

// Live is what only the running daemon knows for ticketd status.
type Live struct {
	PID       int
	Version   string
	Started   time.Time
	Mailboxes []imap.Status
	// The next runs of the retention purge and of the consent check.
	NextPurge, NextConsentCheck time.Time
	// The next runs of the service levels' reminders and of the agents'
	// digest (zero when there is none).
	NextReminders, NextDigest time.Time
}

// StatusReport is what ticketd status prints; -json prints it as it is.
type StatusReport struct {
	Daemon    DaemonState    `json:"daemon"`
	DataDir   string         `json:"data_dir"`
	Mailboxes []MailboxState `json:"mailboxes"`
	Outbox    OutboxCounts   `json:"outbox"`
	Schedule  *ScheduleState `json:"schedule,omitempty"` // only while the daemon runs
}

// DaemonState says whether the daemon runs, and which one.
type DaemonState struct {
	Running bool      `json:"running"`
	PID     int       `json:"pid,omitempty"`
	Version string    `json:"version,omitempty"`
	Started time.Time `json:"started,omitzero"`
}

// MailboxState is one [[mailbox]]: from the configuration, the stored
// checkpoint, and, while the daemon runs, its supervisor.
type MailboxState struct {
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

// OutboxCounts counts the outbox's items by state.
type OutboxCounts struct {
	Pending     int       `json:"pending"`
	Failed      int       `json:"failed"`
	Sent        int       `json:"sent"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
}

// ScheduleState is when the scheduled jobs run next.
type ScheduleState struct {
	Purge        time.Time `json:"purge,omitzero"`
	ConsentCheck time.Time `json:"consent_check,omitzero"`
	Reminders    time.Time `json:"reminders,omitzero"` // reminders and escalations
	Digest       time.Time `json:"digest,omitzero"`    // absent when digest_schedule is "off"
}

// Status is the state of each mailbox and of the outbox as the store holds
// it, joined with live, the running daemon's state (nil when none runs).
func (d *Desk) Status(live *Live) (*StatusReport, error) {
	cfg := d.Config()
	rep := &StatusReport{DataDir: cfg.Server.DataDir, Mailboxes: []MailboxState{}}
	if live != nil {
		rep.Daemon = DaemonState{Running: true, PID: live.PID, Version: live.Version, Started: live.Started}
		rep.Schedule = &ScheduleState{Purge: live.NextPurge, ConsentCheck: live.NextConsentCheck,
			Reminders: live.NextReminders, Digest: live.NextDigest}
	}
	err := d.DB.View(func(tx *store.Tx) error {
		for i := range cfg.Mailboxes {
			b := &cfg.Mailboxes[i]
			cp, _, err := tx.Checkpoint(b.Name)
			if err != nil {
				return err
			}
			m := MailboxState{Name: b.Name, Host: b.Host, Port: b.Port, TLS: b.TLS, Folder: b.Folder, State: "stopped",
				UIDValidity: cp.UIDValidity, LastUID: cp.LastUID, CheckpointAt: cp.UpdatedAt, PendingActions: len(cp.Pending)}
			if live != nil {
				m.joinLive(live.Mailboxes)
			}
			rep.Mailboxes = append(rep.Mailboxes, m)
		}
		n, err := tx.CountOutbox()
		if err != nil {
			return err
		}
		rep.Outbox.Pending, rep.Outbox.Failed, rep.Outbox.Sent = n.Pending, n.Failed, n.Sent
		if next, ok := tx.NextDue(); ok {
			rep.Outbox.NextAttempt = next
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// joinLive adds what the mailbox's supervisor knows.
func (m *MailboxState) joinLive(live []imap.Status) {
	m.State = "disconnected"
	for _, s := range live {
		if s.Mailbox != m.Name {
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
