package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Snapshot is what the running daemon knows at a scrape: its mailboxes,
// the outbox's pending mail and the open tickets per queue.
type Snapshot struct {
	Mailboxes     []Mailbox
	OutboxPending int
	Queues        []Queue
}

// Mailbox is one [[mailbox]]'s supervisor.
type Mailbox struct {
	Name       string
	Connected  bool
	Reconnects int64 // sessions that ended and were started again
	LastSync   int64 // Unix seconds of the last completed catch-up, 0 for none yet
}

// Queue is the open tickets of one queue: all of them, those awaiting a
// first answer that is due within [agents] remind_before, and those whose
// first answer is overdue.
type Queue struct {
	Name                   string
	Open, DueSoon, Overdue int
}

// Source reads a Snapshot; it is called once per scrape.
type Source func() (*Snapshot, error)

var (
	descConnected  = prometheus.NewDesc("ticketd_imap_connected", "1 while the mailbox's IMAP session is up, else 0.", []string{"mailbox"}, nil)
	descReconnects = prometheus.NewDesc("ticketd_imap_reconnects_total", "IMAP sessions that ended and were started again, by mailbox.", []string{"mailbox"}, nil)
	descLastSync   = prometheus.NewDesc("ticketd_imap_last_sync_timestamp_seconds", "When the mailbox's last catch-up completed (Unix time; absent before the first).", []string{"mailbox"}, nil)
	descPending    = prometheus.NewDesc("ticketd_outbox_pending", "Mails in the outbox waiting to be sent.", nil, nil)
	descOpen       = prometheus.NewDesc("ticketd_tickets_open", "Open tickets, by queue.", []string{"queue"}, nil)
	descDueSoon    = prometheus.NewDesc("ticketd_tickets_due_soon", "Open tickets awaiting their first answer, due within [agents] remind_before, by queue.", []string{"queue"}, nil)
	descOverdue    = prometheus.NewDesc("ticketd_tickets_overdue", "Open tickets whose first answer is overdue, by queue.", []string{"queue"}, nil)
	descUp         = prometheus.NewDesc("ticketd_scrape_source_up", "1 when the daemon's state could be read for this scrape, else 0.", nil, nil)
)

// scraped is the collector of the gauges a Source reads.
type scraped struct{ source Source }

func (c *scraped) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnected, descReconnects, descLastSync, descPending, descOpen, descDueSoon, descOverdue, descUp} {
		ch <- d
	}
}

func (c *scraped) Collect(ch chan<- prometheus.Metric) {
	s, err := c.source()
	if err != nil {
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 0)
		ch <- prometheus.NewInvalidMetric(descPending, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 1)
	for _, b := range s.Mailboxes {
		up := 0.0
		if b.Connected {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descConnected, prometheus.GaugeValue, up, b.Name)
		ch <- prometheus.MustNewConstMetric(descReconnects, prometheus.CounterValue, float64(b.Reconnects), b.Name)
		if b.LastSync != 0 {
			ch <- prometheus.MustNewConstMetric(descLastSync, prometheus.GaugeValue, float64(b.LastSync), b.Name)
		}
	}
	ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(s.OutboxPending))
	for _, q := range s.Queues {
		ch <- prometheus.MustNewConstMetric(descOpen, prometheus.GaugeValue, float64(q.Open), q.Name)
		ch <- prometheus.MustNewConstMetric(descDueSoon, prometheus.GaugeValue, float64(q.DueSoon), q.Name)
		ch <- prometheus.MustNewConstMetric(descOverdue, prometheus.GaugeValue, float64(q.Overdue), q.Name)
	}
}
