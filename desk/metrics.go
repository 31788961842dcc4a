package desk

import (
	"errors"
	"strings"
	"time"

	"ticketd/metrics"
	"ticketd/retention"
	"ticketd/store"
)

// counted counts the outcomes of mails of channel after their commit, each
// with the time from start (the start of their parsing) to now.
func (d *Desk) counted(channel string, start time.Time, outs ...Outcome) {
	m := d.Metrics
	if m == nil {
		return
	}
	took := time.Since(start)
	for _, o := range outs {
		if o.Duplicate {
			m.Duplicate(channel)
			continue
		}
		switch {
		case o.Quarantine != 0:
			m.Quarantined(reasonClass(o.Reason))
		case o.NewTicket:
			m.Created(o.queue)
		}
		switch {
		case o.AgentReply == store.DirectionOut:
			m.AgentReply(metrics.AgentRelayed)
		case strings.HasPrefix(o.AgentReply, "refused"):
			m.AgentReply(metrics.AgentRefused)
		case o.AgentReply != "":
			m.AgentReply(metrics.AgentNote)
		}
		m.Ingested(channel, took)
	}
}

// reasonClass is the class of a quarantine reason, for the metrics: the
// reason itself may quote the mail (a parser's detail, a spam verdict).
func reasonClass(reason string) string {
	switch {
	case strings.HasPrefix(reason, "larger than the limit"):
		return metrics.ReasonOversize
	case strings.HasPrefix(reason, "parse mail:"):
		return metrics.ReasonUnparseable
	case strings.HasPrefix(reason, "parser failure"):
		return metrics.ReasonParserFailure
	case strings.HasPrefix(reason, "no sender address"):
		return metrics.ReasonNoSender
	case strings.HasPrefix(reason, reasonSpam):
		return metrics.ReasonSpam
	case strings.HasPrefix(reason, "agent reply refused"), strings.HasPrefix(reason, "mail from agent"):
		return metrics.ReasonAgent
	}
	return metrics.ReasonUnreadable
}

// Gauges reads what the metrics show at a scrape from the store at now:
// the outbox's pending mail (the keys of its due index) and, for each
// configured queue, its open tickets, those awaiting a first answer due
// within [agents] remind_before, and those whose first answer is overdue.
// It reads the open tickets only (the store's open index), never the
// closed ones, however many there are.
func (d *Desk) Gauges(now time.Time) (*metrics.Snapshot, error) {
	cfg := d.Config()
	soon := now.Add(cfg.Agents.RemindBefore.Duration)
	snap := &metrics.Snapshot{Queues: make([]metrics.Queue, len(cfg.Queues))}
	byName := make(map[string]*metrics.Queue, len(cfg.Queues))
	for i, q := range cfg.Queues {
		snap.Queues[i].Name = q.Name
		byName[q.Name] = &snap.Queues[i]
	}
	err := d.DB.View(func(tx *store.Tx) error {
		snap.OutboxPending = tx.PendingOutbox()
		return tx.TicketsWhere(store.TicketFilter{Open: true}, 0, func(n uint64) (bool, error) {
			tk, err := tx.Ticket(n)
			if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrShredded) {
				return true, nil // erased: not open work
			}
			if err != nil {
				return false, err
			}
			q := byName[tk.Queue]
			if q == nil {
				return true, nil // a queue no longer configured: no label for it
			}
			q.Open++
			if tk.DueAt.IsZero() || !tk.AnsweredAt.IsZero() { // no first answer awaited
				return true, nil
			}
			switch {
			case overdue(tk, now):
				q.Overdue++
			case tk.DueAt.Before(soon):
				q.DueSoon++
			}
			return true, nil
		})
	})
	if err != nil {
		return nil, err
	}
	return snap, nil
}

// countPurge counts a purge that ran (rep not nil), with what it did.
func (d *Desk) countPurge(trigger string, rep *retention.Report, err error) {
	if rep != nil {
		d.Metrics.Purged(trigger, rep.Anonymized, rep.Deleted, len(rep.Quarantine), err)
	}
}
