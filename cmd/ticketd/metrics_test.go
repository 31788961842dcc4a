package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"ticketd/mail/mailtest"
)

// scrape is one GET /metrics, parsed with the Prometheus text parser.
type scrape struct {
	raw      string
	families map[string]*dto.MetricFamily
}

func getMetrics(t *testing.T, addr string) *scrape {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("the scrape does not parse: %v\n%s", err, body)
	}
	return &scrape{raw: string(body), families: fams}
}

// value is the sample of name whose labels are labels ("k=v" pairs), -1
// when there is none; a histogram's value is its count.
func (s *scrape) value(name string, labels ...string) float64 {
	f := s.families[name]
	if f == nil {
		return -1
	}
	for _, m := range f.Metric {
		if !hasLabels(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			return m.Untyped.GetValue()
		}
	}
	return -1
}

func hasLabels(m *dto.Metric, labels []string) bool {
	have := map[string]string{}
	for _, l := range m.Label {
		have[l.GetName()] = l.GetValue()
	}
	for _, kv := range labels {
		k, v, _ := strings.Cut(kv, "=")
		if have[k] != v {
			return false
		}
	}
	return true
}

// TestMetrics runs the daemon with metrics_listen through customers'
// mails, an agent's answer, a forged answer, a quarantined mail, an
// erasure and a purge, and checks what /metrics says of each; the scrape
// holds no address, name, subject or Message-ID of any of those mails.
func TestMetrics(t *testing.T) {
	imapSrv := mailtest.MemIMAP(t, nil)
	sink := mailtest.StartSMTPSink(t)
	dir := t.TempDir()
	metricsAddr := freePort(t)
	httpAddr := freePort(t)
	cfg := agentLoopConfig(t, dir, imapSrv.Addr, sink.Addr, httpAddr, fmt.Sprintf("metrics_listen = %q", metricsAddr))
	d := startRun(t, cfg)
	mailtest.WaitFor(t, 60*time.Second, "the mailbox connected (ticketd_imap_connected 1)", func() bool {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return getMetrics(t, metricsAddr).value("ticketd_imap_connected", "mailbox=support") == 1
	})

	imapSrv.Append(t, "INBOX", []byte("From: Erika Mustermann <erika.kundin@example.org>\r\nTo: support@example.com\r\n"+
		"Subject: Drucker Zeta raucht\r\nMessage-ID: <zeta-1@example.org>\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n\r\nDer Drucker Omega brennt seit heute morgen.\r\n"))
	msgs := waitSink(t, sink, d, 2) // the acknowledgement, the agent's notification
	replyAddr := ""
	for _, m := range msgs {
		if m.To[0] == "anna.agentin@example.com" {
			for _, line := range strings.Split(string(m.Data), "\r\n") {
				if v, ok := strings.CutPrefix(line, "Reply-To: "); ok {
					replyAddr = strings.Trim(v[strings.LastIndex(v, " ")+1:], "<>")
				}
			}
		}
	}
	if replyAddr == "" {
		t.Fatalf("no reply address in the agent's notification\n%s", d.log())
	}
	imapSrv.Append(t, "INBOX", []byte("From: Anna Agentin <anna.agentin@example.com>\r\nTo: "+replyAddr+"\r\n"+
		"Subject: Re: [#1] Drucker Zeta raucht\r\nMessage-ID: <kappa-1@example.com>\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n\r\nAntwort Kappa: bitte den Stecker ziehen.\r\n"))
	waitSink(t, sink, d, 3) // the answer to the customer
	imapSrv.Append(t, "INBOX", []byte("From: Mallory Faelscher <mallory.faelscher@example.net>\r\nTo: "+replyAddr+"\r\n"+
		"Subject: Re: [#1] Drucker Zeta raucht\r\nMessage-ID: <forged-1@example.net>\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n\r\nGefaelschte Antwort Ypsilon.\r\n"))
	waitLine(t, d, "agent reply refused")
	imapSrv.Append(t, "INBOX", []byte("To: support@example.com\r\nSubject: Verlorene Post Lambda\r\nMessage-ID: <lambda-1@example.org>\r\n\r\n"+
		"Inhalt Lambda von quarantaene.person@example.org\r\n"))
	waitLine(t, d, "mail quarantined")
	imapSrv.Append(t, "INBOX", []byte("From: Otto Loeschmich <otto.loeschmich@example.org>\r\nTo: support@example.com\r\n"+
		"Subject: Bitte alles vergessen Theta\r\nMessage-ID: <theta-1@example.org>\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n\r\nMeine Daten Theta.\r\n"))
	mailtest.WaitFor(t, 60*time.Second, "the second acknowledgement sent", func() bool {
		return getMetrics(t, metricsAddr).value("ticketd_outbox_mails_total", "kind=acknowledgement", "outcome=sent") == 2
	})
	if out, errOut, code := ticketd(t, nil, "subject", "-config", cfg, "erase", "otto.loeschmich@example.org"); code != 0 {
		t.Fatalf("subject erase: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := ticketd(t, nil, "purge", "-config", cfg); code != 0 {
		t.Fatalf("purge: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := ticketd(t, nil, "tickets", "-config", cfg, "close", "1"); code != 0 {
		t.Fatalf("tickets close: exit %d\n%s%s", code, out, errOut)
	}
	// Each admin operation is one log line with its identifiers, and no address.
	for _, re := range []string{`msg="admin operation done" op=subject.erase duration=\S+\n`, `msg="subject erased" person=\d+ tickets=1\n`,
		`msg="admin operation done" op=purge duration=`, `msg="admin operation done" op=tickets.status ticket=1 duration=`,
		`msg="mail stored" ticket=1 message=\d+ new_ticket=true queue=support channel=email mailbox=support uid=1 `} {
		if !regexp.MustCompile(re).MatchString(d.log()) {
			t.Errorf("no log line %s in\n%s", re, d.log())
		}
	}

	s := getMetrics(t, metricsAddr)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"ticketd_mails_fetched_total", []string{"mailbox=support"}, 5},
		{"ticketd_tickets_created_total", []string{"queue=support"}, 2},
		{"ticketd_mails_quarantined_total", []string{"reason=no_sender"}, 1},
		{"ticketd_agent_replies_total", []string{"result=relayed"}, 1},
		{"ticketd_agent_replies_total", []string{"result=refused"}, 1},
		{"ticketd_outbox_mails_total", []string{"kind=acknowledgement", "outcome=sent"}, 2},
		{"ticketd_outbox_mails_total", []string{"kind=answer", "outcome=sent"}, 1},
		{"ticketd_ack_latency_seconds", nil, 2},
		{"ticketd_ingest_duration_seconds", []string{"channel=email"}, 5},
		{"ticketd_erasures_total", nil, 1},
		{"ticketd_purge_runs_total", []string{"trigger=admin", "result=ok"}, 1},
		{"ticketd_tickets_open", []string{"queue=support"}, 0}, // the second one was erased, the first closed
		{"ticketd_tickets_due_soon", []string{"queue=support"}, 0},
		{"ticketd_tickets_overdue", []string{"queue=support"}, 0},
		{"ticketd_outbox_pending", nil, 0},
		{"ticketd_imap_connected", []string{"mailbox=support"}, 1},
		{"ticketd_imap_reconnects_total", []string{"mailbox=support"}, 0},
		{"ticketd_scrape_source_up", nil, 1},
	} {
		if got := s.value(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if sync := s.value("ticketd_imap_last_sync_timestamp_seconds", "mailbox=support"); sync < float64(time.Now().Add(-time.Hour).Unix()) {
		t.Errorf("ticketd_imap_last_sync_timestamp_seconds = %v, want the last minutes", sync)
	}
	if s.value("process_resident_memory_bytes") <= 0 {
		t.Errorf("no process_resident_memory_bytes")
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", s.raw)
	}

	// Nothing personal: no address (clear or masked), name, subject,
	// body or Message-ID of the run's mails, no ticket number as a label.
	if m := clearAddress.FindString(s.raw); m != "" {
		t.Errorf("the scrape holds the address %q", m)
	}
	for _, word := range []string{"@", "erika", "Mustermann", "anna", "mallory", "otto", "Loeschmich", "Drucker", "Zeta",
		"Omega", "Kappa", "Ypsilon", "Lambda", "Theta", "example.org", "example.net", "forged-1", "ticket=", "#1"} {
		if strings.Contains(strings.ToLower(s.raw), strings.ToLower(word)) {
			t.Errorf("the scrape holds %q", word)
		}
	}
	var labels []string
	for name, f := range s.families {
		if !strings.HasPrefix(name, "ticketd_") {
			continue
		}
		for _, m := range f.Metric {
			for _, l := range m.Label {
				labels = append(labels, name+" "+l.GetName())
			}
		}
	}
	sort.Strings(labels)
	for _, l := range labels {
		if name := l[strings.LastIndexByte(l, ' ')+1:]; !allowedLabel[name] {
			t.Errorf("metric label %s is none of the bounded ones", l)
		}
	}

	// The public listener serves no metrics.
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics on http_listen: %s, want 404", resp.Status)
	}
}

// agentLoopConfig is writeBrowserConfig's configuration with
// anna.agentin@example.com as the queue's agent, server's lines added to
// [server], and the mailbox polled every second: a mail appended between a
// search and the start of IDLE would wait for the next minute's poll.
func agentLoopConfig(t *testing.T, dir, imapAddr, smtpAddr, httpAddr, server string) string {
	t.Helper()
	cfg := writeBrowserConfig(t, dir, imapAddr, smtpAddr, httpAddr)
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	conf := string(text)
	for _, r := range [][2]string{
		{"language = \"de\"", "language = \"de\"\n" + server},
		{"response_time = \"1d\"", "response_time = \"1d\"\nagents = [\"anna.agentin@example.com\"]"},
		{"password_file = \"imap.pass\"", "password_file = \"imap.pass\"\nidle = false\npoll_interval = \"1s\""},
	} {
		if !strings.Contains(conf, r[0]) {
			t.Fatalf("the configuration lacks %s:\n%s", r[0], conf)
		}
		conf = strings.Replace(conf, r[0], r[1], 1)
	}
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// allowedLabel are the labels of ticketd_ metrics: each value comes from
// the configuration or a closed set of the code.
var allowedLabel = map[string]bool{"mailbox": true, "queue": true, "reason": true, "channel": true,
	"result": true, "kind": true, "outcome": true, "trigger": true, "action": true, "le": true}
