package metrics

import (
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one daemon's set of metrics, in a registry of its own (two
// daemons in one test process do not share counters).
type Metrics struct {
	reg *prometheus.Registry

	fetched      *prometheus.CounterVec
	created      *prometheus.CounterVec
	quarantined  *prometheus.CounterVec
	duplicates   *prometheus.CounterVec
	agentReplies *prometheus.CounterVec
	outbox       *prometheus.CounterVec
	purgeRuns    *prometheus.CounterVec
	purgeItems   *prometheus.CounterVec
	erasures     prometheus.Counter
	ingest       *prometheus.HistogramVec
	ack          prometheus.Histogram
}

// Quarantine reason classes (the reason label of
// ticketd_mails_quarantined_total).
const (
	ReasonOversize      = "oversize"       // over max_message_size
	ReasonUnreadable    = "unreadable"     // the server did not give the mail (repeated fetch failures, empty body)
	ReasonUnparseable   = "unparseable"    // the MIME parser refused it
	ReasonParserFailure = "parser_failure" // the parser failed (a bug), recovered
	ReasonNoSender      = "no_sender"      // no From, Sender, Reply-To or Return-Path
	ReasonSpam          = "spam"           // a trusted spam verdict with [spam] action = "quarantine"
	ReasonAgent         = "agent"          // an agent's mail that was refused or had no reply address
)

// Results of an agent's reply (the result label of ticketd_agent_replies_total).
const (
	AgentRelayed = "relayed" // the answer was queued for the customer
	AgentNote    = "note"    // an internal note, or commands only
	AgentRefused = "refused" // a check failed: nothing reached the customer
)

// Outcomes of a mail of the outbox (the outcome label of ticketd_outbox_mails_total).
const (
	OutboxSent     = "sent"     // accepted by the relay
	OutboxFailed   = "failed"   // refused permanently, or retried until give-up
	OutboxDeferred = "deferred" // a temporary failure: tried again later
)

// Triggers of a purge (the trigger label of ticketd_purge_runs_total).
const (
	PurgeScheduled = "schedule" // [retention] schedule
	PurgeAdmin     = "admin"    // ticketd purge
)

// New returns a Metrics with the Go runtime and process collectors
// (memory, goroutines, open files, resident set size) and, when source is
// not nil, the gauges source reads at each scrape.
func New(source Source) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg,
		fetched: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ticketd_mails_fetched_total",
			Help: "Mails fetched over IMAP whose batch was committed, by mailbox."}, []string{"mailbox"}),
		created: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ticketd_tickets_created_total",
			Help: "Tickets created (committed), by queue."}, []string{"queue"}),
		quarantined: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ticketd_mails_quarantined_total",
			Help: "Mails that became a quarantine record, by reason class."}, []string{"reason"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ticketd_mails_duplicate_total",
			Help: "Mails skipped because they were stored before, by channel."}, []string{"channel"}),
		agentReplies: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ticketd_agent_replies_total",
			Help: "Agents' replies, by result: relayed to the customer, a note, or refused."}, []string{"result"}),
		outbox: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ticketd_outbox_mails_total",
			Help: "Attempts of the outbox, by kind of mail and outcome (sent, failed, deferred)."}, []string{"kind", "outcome"}),
		purgeRuns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ticketd_purge_runs_total",
			Help: "Retention purges run (not dry runs), by trigger and result."}, []string{"trigger", "result"}),
		purgeItems: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ticketd_purge_items_total",
			Help: "What retention purges did, by action (anonymized, deleted, quarantine_deleted)."}, []string{"action"}),
		erasures: prometheus.NewCounter(prometheus.CounterOpts{Name: "ticketd_erasures_total",
			Help: "Data subjects erased (GDPR Art. 17), not counting dry runs."}),
		ingest: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ticketd_ingest_duration_seconds",
			Help:    "From the start of parsing a mail (its batch's, over IMAP) to its commit, by channel.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"channel"}),
		ack: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ticketd_ack_latency_seconds",
			Help:    "From the commit of a new ticket to the relay's acceptance of its acknowledgement.",
			Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600}}),
	}
	reg.MustRegister(m.fetched, m.created, m.quarantined, m.duplicates, m.agentReplies, m.outbox,
		m.purgeRuns, m.purgeItems, m.erasures, m.ingest, m.ack,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if source != nil {
		reg.MustRegister(&scraped{source: source})
	}
	return m
}

// Handler serves the metrics in the Prometheus text format (or OpenMetrics
// when the scraper asks for it). A failing source is reported in the
// scrape and the other metrics are served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, MaxRequestsInFlight: 4})
}

// Gatherer is the registry, for tests.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// Fetched counts n mails of mailbox in a committed batch.
func (m *Metrics) Fetched(mailbox string, n int) {
	if m != nil {
		m.fetched.WithLabelValues(mailbox).Add(float64(n))
	}
}

// Created counts a committed new ticket of queue.
func (m *Metrics) Created(queue string) {
	if m != nil {
		m.created.WithLabelValues(queue).Inc()
	}
}

// Quarantined counts a committed quarantine record of the reason class.
func (m *Metrics) Quarantined(class string) {
	if m != nil {
		m.quarantined.WithLabelValues(class).Inc()
	}
}

// Duplicate counts a mail of channel skipped as stored before.
func (m *Metrics) Duplicate(channel string) {
	if m != nil {
		m.duplicates.WithLabelValues(channel).Inc()
	}
}

// AgentReply counts a committed agent's reply with its result.
func (m *Metrics) AgentReply(result string) {
	if m != nil {
		m.agentReplies.WithLabelValues(result).Inc()
	}
}

// Ingested observes the time a mail of channel took from the start of its
// parsing to its commit.
func (m *Metrics) Ingested(channel string, d time.Duration) {
	if m != nil {
		m.ingest.WithLabelValues(channel).Observe(d.Seconds())
	}
}

// Outbox counts one recorded attempt of the outbox: a mail of kind sent,
// failed or deferred.
func (m *Metrics) Outbox(kind, outcome string) {
	if m != nil {
		m.outbox.WithLabelValues(label(kind), outcome).Inc()
	}
}

// AckLatency observes the time from a new ticket's commit to the relay's
// acceptance of its acknowledgement.
func (m *Metrics) AckLatency(d time.Duration) {
	if m != nil {
		m.ack.Observe(max(d, 0).Seconds())
	}
}

// Purged counts a finished purge (err: it stopped with an error after
// doing what the counts say).
func (m *Metrics) Purged(trigger string, anonymized, deleted, quarantine int, err error) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.purgeRuns.WithLabelValues(trigger, result).Inc()
	m.purgeItems.WithLabelValues("anonymized").Add(float64(anonymized))
	m.purgeItems.WithLabelValues("deleted").Add(float64(deleted))
	m.purgeItems.WithLabelValues("quarantine_deleted").Add(float64(quarantine))
}

// Erased counts an erasure that was carried out.
func (m *Metrics) Erased() {
	if m != nil {
		m.erasures.Inc()
	}
}

// label keeps a value set by the code (a kind of mail, "agent new ticket")
// to a short name of lower-case letters and underscores
// ("agent_new_ticket"), "other" otherwise.
func label(s string) string {
	s = strings.ReplaceAll(s, " ", "_")
	if s == "" || len(s) > 32 || strings.Trim(s, "abcdefghijklmnopqrstuvwxyz_") != "" {
		return "other"
	}
	return s
}
