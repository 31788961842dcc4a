// Package metrics holds ticketd's Prometheus metrics: the counters and
// histograms of what happened (incremented where it happened, after its
// commit) and the gauges read at scrape time from the running daemon
// (mailboxes, outbox, open tickets per queue). Handler serves them in the
// Prometheus text format for the [server] metrics_listen listener.
//
// # Names and labels
//
// Every name has the prefix ticketd_ and its unit in it (_seconds, _total,
// _timestamp_seconds). Label values come from a closed set: mailbox and
// queue names from the configuration, channels, reason classes and
// results chosen here. A value from a mail (an address, a subject, a
// Message-ID) or a ticket number is never a label: it would be personal
// data (GDPR Art. 5(1)(c)) and would make the number of series unbounded.
//
// # Invariants
//
// A *Metrics may be nil: every method does nothing then, so packages and
// tests that do not count need not set one. A counter moves only for an
// event that was committed (a ticket in the store, a mail accepted by the
// relay, a finished purge), never for one that was attempted.
package metrics
