package metrics

import (
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// exported is every metric family a daemon exports, with its type: a
// Metrics whose every method was called once, with a source that has a
// mailbox and a queue.
func exported(t *testing.T) map[string]dto.MetricType {
	t.Helper()
	m := New(func() (*Snapshot, error) {
		return &Snapshot{Mailboxes: []Mailbox{{Name: "support", Connected: true, LastSync: 1}}, Queues: []Queue{{Name: "support"}}}, nil
	})
	m.Fetched("support", 1)
	m.Created("support")
	m.Quarantined(ReasonNoSender)
	m.Duplicate("email")
	m.AgentReply(AgentRelayed)
	m.Ingested("email", time.Millisecond)
	m.Outbox("acknowledgement", OutboxSent)
	m.AckLatency(time.Second)
	m.Purged(PurgeAdmin, 1, 1, 1, nil)
	m.Erased()
	fams, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]dto.MetricType{}
	for _, f := range fams {
		out[f.GetName()] = f.GetType()
	}
	return out
}

// TestNilMetrics: a nil *Metrics counts nothing and does not fail.
func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.Fetched("x", 1)
	m.Created("x")
	m.Quarantined("x")
	m.Duplicate("x")
	m.AgentReply("x")
	m.Ingested("x", time.Second)
	m.Outbox("x", OutboxSent)
	m.AckLatency(time.Second)
	m.Purged(PurgeAdmin, 1, 2, 3, errors.New("x"))
	m.Erased()
}

// TestNames: every ticketd_ metric has a unit or _total in its name, and
// the kind of a mail is a label only when it is a short code word.
func TestNames(t *testing.T) {
	for name, typ := range exported(t) {
		if !strings.HasPrefix(name, "ticketd_") {
			continue
		}
		switch {
		case typ == dto.MetricType_COUNTER && !strings.HasSuffix(name, "_total"):
			t.Errorf("counter %s does not end in _total", name)
		case typ == dto.MetricType_HISTOGRAM && !strings.HasSuffix(name, "_seconds"):
			t.Errorf("histogram %s has no unit", name)
		}
	}
	for in, want := range map[string]string{"acknowledgement": "acknowledgement", "agent new ticket": "agent_new_ticket",
		"jane@example.com": "other", "": "other", "Re: Hilfe": "other", strings.Repeat("a", 33): "other"} {
		if got := label(in); got != want {
			t.Errorf("label(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestScrapeSourceFails: a source that fails gives ticketd_scrape_source_up
// 0 and an error, and the counters are still gathered.
func TestScrapeSourceFails(t *testing.T) {
	m := New(func() (*Snapshot, error) { return nil, errors.New("store closed") })
	m.Created("support")
	fams, err := m.Gatherer().Gather()
	if err == nil || !strings.Contains(err.Error(), "store closed") {
		t.Errorf("Gather error = %v, want the source's", err)
	}
	names := map[string]bool{}
	for _, f := range fams {
		names[f.GetName()] = true
	}
	if !names["ticketd_tickets_created_total"] || !names["ticketd_scrape_source_up"] {
		t.Errorf("gathered %v", names)
	}
}

// dashboard is contrib/grafana/ticketd.json, as far as the test reads it.
type dashboard struct {
	Title  string  `json:"title"`
	UID    string  `json:"uid"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
}

var (
	promStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promMatchers = regexp.MustCompile(`\{[^{}]*\}`)
	promRanges   = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promDuration = regexp.MustCompile(`\b\d+(?:ms|[smhdwy])\b`)
	promIdent    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*\s*\(?`)
	promKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "by": true, "without": true}
)

// metricNames are the metric names in a PromQL expression: the
// identifiers that are no function, keyword, label or grouping.
func metricNames(expr string) []string {
	e := promStrings.ReplaceAllString(expr, `""`)
	e = promMatchers.ReplaceAllString(e, "")
	e = promRanges.ReplaceAllString(e, "")
	e = promGrouping.ReplaceAllString(e, "")
	e = promDuration.ReplaceAllString(e, "")
	var names []string
	for _, id := range promIdent.FindAllString(e, -1) {
		if id = strings.TrimSpace(id); strings.HasSuffix(id, "(") || promKeywords[id] {
			continue // a function call, or an aggregation
		}
		names = append(names, id)
	}
	return names
}

func TestMetricNames(t *testing.T) {
	got := metricNames(`histogram_quantile(0.99, sum by (le, channel) (rate(ticketd_ingest_duration_seconds_bucket{instance=~"$instance",x="a{b}"}[$__rate_interval]))) / time() - up offset 5m`)
	if want := []string{"ticketd_ingest_duration_seconds_bucket", "up"}; !slices.Equal(got, want) {
		t.Errorf("metricNames = %q, want %q", got, want)
	}
}

// TestDashboard: the Grafana dashboard is valid JSON whose every panel
// expression names only metrics the daemon exports (a histogram's
// _bucket, _sum and _count included), and which draws every ticketd_
// metric; panels have unique ids and fit the 24-column grid.
func TestDashboard(t *testing.T) {
	b, err := os.ReadFile("../contrib/grafana/ticketd.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("contrib/grafana/ticketd.json: %v", err)
	}
	if d.Title == "" || d.UID == "" || len(d.Panels) == 0 {
		t.Fatalf("dashboard without title, uid or panels: %+v", d)
	}
	have := exported(t)
	known := func(name string) bool {
		if _, ok := have[name]; ok {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && have[base] == dto.MetricType_HISTOGRAM {
				return true
			}
		}
		return false
	}
	drawn := map[string]bool{}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 || p.GridPos.H <= 0 {
			t.Errorf("panel %q: gridPos %+v outside the grid", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			names := metricNames(tg.Expr)
			if len(names) == 0 {
				t.Errorf("panel %q: %q names no metric", p.Title, tg.Expr)
			}
			for _, n := range names {
				if !known(n) {
					t.Errorf("panel %q: %s is no metric ticketd exports (in %q)", p.Title, n, tg.Expr)
				}
				drawn[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")] = true
			}
		}
	}
	for name := range have {
		if strings.HasPrefix(name, "ticketd_") && !drawn[name] {
			t.Errorf("the dashboard does not draw %s", name)
		}
	}
}
