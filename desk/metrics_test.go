package desk

import (
	"errors"
	"maps"
	"testing"
	"time"

	"ticketd/mail/mime"
	"ticketd/metrics"
	"ticketd/store"
)

// TestReasonClass: each reason a quarantine record is made with has its
// class, never the reason itself (which may quote the mail).
func TestReasonClass(t *testing.T) {
	for reason, want := range map[string]string{
		"larger than the limit of 1024 bytes":                                                metrics.ReasonOversize,
		(&mime.ParseError{Reason: "header", Err: errors.New("x")}).Error():                   metrics.ReasonUnparseable,
		"parser failure: runtime error: index out of range":                                  metrics.ReasonParserFailure,
		"no sender address (From, Sender, Reply-To and Return-Path are empty or unreadable)": metrics.ReasonNoSender,
		reasonSpam + "X-Spam-Flag: YES":                                                      metrics.ReasonSpam,
		"agent reply refused: the sender is not the agent":                                   metrics.ReasonAgent,
		"mail from agent 3 without a reply address: not a customer's, no ticket made":        metrics.ReasonAgent,
		"fetching it failed repeatedly: connection reset":                                    metrics.ReasonUnreadable,
		"the server returned no content":                                                     metrics.ReasonUnreadable,
	} {
		if got := reasonClass(reason); got != want {
			t.Errorf("reasonClass(%q) = %q, want %q", reason, got, want)
		}
	}
}

// TestGauges: the open tickets per queue, those due within remind_before
// (2h) and those overdue, at the clock given; answered and closed tickets
// are neither; the counters counted each committed mail.
func TestGauges(t *testing.T) {
	fd := newAgentDesk(t)
	m := metrics.New(nil)
	fd.d.Metrics = m
	a, _ := fd.customerTicket("g1@example.org", "Drucker", "Hilfe")    // support
	b, _ := fd.customerTicket("g2@example.org", "Monitor", "Hilfe")    // support
	fd.customerTicket("g3@example.org", "invoice 7", "Rechnung")       // billing
	_, msd := fd.customerTicket("g4@example.org", "Tastatur", "Hilfe") // support, answered
	anna := replyTo(t, msd, "anna@example.com")
	if out, _ := fd.reply(agentRaw("gn1@x", "anna@example.com", anna, "Re: x", "Erledigt.")); out.AgentReply != store.DirectionOut {
		t.Fatalf("answer: %+v", out)
	}
	check := func(name string, want map[string][3]int) {
		t.Helper()
		s, err := fd.d.Gauges(fd.now)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][3]int{}
		for _, q := range s.Queues {
			if q.Open+q.DueSoon+q.Overdue > 0 {
				got[q.Name] = [3]int{q.Open, q.DueSoon, q.Overdue}
			}
		}
		if !maps.Equal(got, want) {
			t.Errorf("%s: open, due soon, overdue = %v, want %v", name, got, want)
		}
	}
	check("at once", map[string][3]int{"support": {3, 0, 0}, "billing": {1, 0, 0}})
	due := fd.ticket(a).DueAt
	fd.now = due.Add(-time.Hour)
	check("an hour before support's due time", map[string][3]int{"support": {3, 2, 0}, "billing": {1, 0, 0}})
	fd.now = due.Add(time.Minute)
	check("past support's due time", map[string][3]int{"support": {3, 0, 2}, "billing": {1, 0, 0}})
	if _, err := fd.d.CloseTicket(b); err != nil {
		t.Fatal(err)
	}
	check("one closed", map[string][3]int{"support": {2, 0, 1}, "billing": {1, 0, 0}})

	for _, c := range []struct {
		name, label, value string
		want               float64
	}{
		{"ticketd_tickets_created_total", "queue", "support", 3},
		{"ticketd_tickets_created_total", "queue", "billing", 1},
		{"ticketd_agent_replies_total", "result", "relayed", 1},
		{"ticketd_ingest_duration_seconds", "channel", "file", 5},
	} {
		if got := sample(t, m, c.name, c.label, c.value); got != c.want {
			t.Errorf("%s{%s=%q} = %v, want %v", c.name, c.label, c.value, got, c.want)
		}
	}
}

// sample is the value of the metric name with the label (a histogram's
// count), -1 when there is none.
func sample(t *testing.T, m *metrics.Metrics, name, label, value string) float64 {
	t.Helper()
	fams, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.Metric {
			for _, l := range s.Label {
				if l.GetName() == label && l.GetValue() == value {
					if h := s.GetHistogram(); h != nil {
						return float64(h.GetSampleCount())
					}
					return s.GetCounter().GetValue() + s.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}
