package config

import (
	"strings"
	"time"
)

// Agents holds what ticketd needs to believe that a reply came from an
// agent (package agent): besides the signed reply address and the agent's
// own From address, the sender authentication the own mail server recorded.
type Agents struct {
	// AuthservIDs are the authserv-ids of the own mail servers whose
	// Authentication-Results fields are believed for agent replies
	// (RFC 8601 §5): where the topmost field with one of them is present,
	// DKIM, SPF or DMARC must have passed for the domain of the From
	// address. Default: the [spam] authserv_ids (the same servers); [] means
	// none is believed and the reply address and From decide alone.
	AuthservIDs []string `toml:"authserv_ids"`
	// Schedule is when ticketd looks for tickets due soon (a reminder to
	// the queue's agents) and overdue (an escalation to its supervisors),
	// each sent once per ticket and due time; a cron spec, default
	// "*/5 * * * *".
	Schedule string `toml:"schedule"`
	// RemindBefore is how long before its due time a ticket counts as
	// due soon; default "2h".
	RemindBefore Duration `toml:"remind_before"`
	// DigestSchedule is when each agent gets the digest of its queues'
	// open, due-soon and overdue tickets; a cron spec, default
	// "0 7 * * 1-5"; "off" sends none.
	DigestSchedule string `toml:"digest_schedule"`
}

// agentsDefaults fills in the [agents] keys the file leaves out.
func (d *decoder) agentsDefaults(c *Config) {
	a := &c.Agents
	setDefault(d, "agents.authserv_ids", &a.AuthservIDs, append([]string{}, c.Spam.AuthservIDs...))
	setDefault(d, "agents.schedule", &a.Schedule, "*/5 * * * *")
	setDefault(d, "agents.remind_before", &a.RemindBefore, Duration{2 * time.Hour})
	setDefault(d, "agents.digest_schedule", &a.DigestSchedule, "0 7 * * 1-5")
}

// agentsValidate checks the [agents] table.
// The default, copied from [spam], is checked there.
func (d *decoder) agentsValidate(c *Config) {
	if d.has("agents.authserv_ids") {
		d.authservIDs("agents.authserv_ids", c.Agents.AuthservIDs)
	}
	a := &c.Agents
	d.schedule("agents.schedule", a.Schedule)
	if a.RemindBefore.Duration <= 0 {
		d.keyErrorf("agents.remind_before", "must be positive, got %s", a.RemindBefore)
	}
	if a.DigestSchedule != ScheduleOff {
		if _, err := ParseSchedule(a.DigestSchedule); err != nil {
			d.keyErrorf("agents.digest_schedule", "%s (or %q for no digest)", err, ScheduleOff)
		}
	}
}

// Digest reports whether agents get a daily digest (digest_schedule is not "off").
func (a *Agents) Digest() bool { return a.DigestSchedule != ScheduleOff }

// authservIDs checks a list of authserv-ids: none blank, each one token
// (RFC 8601 §2.2) such as a host name.
func (d *decoder) authservIDs(path string, ids []string) {
	d.noBlanks(path, ids)
	for i, id := range ids {
		if strings.ContainsAny(id, " \t;()\"") {
			d.keyErrorf(index(path, i+1), "must be one authserv-id such as mx.example.com, got %q", id)
		}
	}
}
