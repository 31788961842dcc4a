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
	d.agentAddresses(c)
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

// maxReplyLocal is the longest local part of a mailbox address that still
// leaves room, within RFC 5321's 64 octets, for an agent reply tag of a
// ticket number of up to ten digits and an agent number of up to six:
// "+t" 10 digits ".a" 6 digits "." and a 16-letter signature.
const maxReplyLocal = 64 - (2 + 10 + 2 + 6 + 1 + 16)

// agentAddresses checks the addresses of agents against ticketd's own: an
// agent whose address is a mailbox's or smtp.from would receive its own
// notifications as customer mail, and a mailbox address too long to carry
// a reply address leaves its agents unable to answer.
func (d *decoder) agentAddresses(c *Config) {
	own := map[string]string{strings.ToLower(c.SMTP.From): "smtp.from"}
	for i, b := range c.Mailboxes {
		own[strings.ToLower(b.Address)] = mailboxPath(i) + ".address"
		if at := strings.LastIndexByte(b.Address, '@'); at > maxReplyLocal && c.hasAgents() {
			d.warnf(mailboxPath(i)+".address", mailboxPath(i)+".address: the local part %q is longer than %d characters: agents' reply addresses "+
				"(%s+t<ticket>.a<agent>.<signature>@...) may exceed the 64 of RFC 5321 and then none is issued", b.Address[:at], maxReplyLocal, b.Address[:at])
		}
	}
	for i, q := range c.Queues {
		for _, l := range []struct {
			key  string
			list []string
		}{{"agents", q.Agents}, {"supervisors", q.Supervisors}} {
			for j, a := range l.list {
				if where, ok := own[strings.ToLower(a)]; ok && a != "" {
					d.keyErrorf(index(queuePath(i)+"."+l.key, j+1), "%q is ticketd's own address (%s): an agent needs a mailbox of its own", a, where)
				}
			}
		}
	}
}

// hasAgents reports whether any queue has agents.
func (c *Config) hasAgents() bool {
	for _, q := range c.Queues {
		if len(q.Agents) > 0 {
			return true
		}
	}
	return false
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
