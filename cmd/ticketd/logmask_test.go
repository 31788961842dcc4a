package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"ticketd/mail/mailtest"
	"ticketd/mail/mime"
)

// clearAddress is a mail address not masked (masked ones read "j***@e***.com").
var clearAddress = regexp.MustCompile(`[A-Za-z0-9._%+-]*[A-Za-z0-9_%+-]@[A-Za-z0-9-]+\.[A-Za-z]{2,}`)

// TestLogsCarryNoPersonalData runs the daemon through a customer's mail,
// its acknowledgement, a reply of the customer, an agent's answer, a
// quarantined mail and a consent click, at log level debug, and greps the
// whole log for every address, name, subject, body, token and password the
// run used: none may be there. Once with text and once with JSON lines.
func TestLogsCarryNoPersonalData(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			logRun(t, format)
		})
	}
}

func logRun(t *testing.T, format string) {
	imapSrv := mailtest.MemIMAP(t, nil)
	sink := mailtest.StartSMTPSink(t)
	dir := t.TempDir()
	httpAddr := freePort(t)
	cfg := agentLoopConfig(t, dir, imapSrv.Addr, sink.Addr, httpAddr, fmt.Sprintf("log_level = \"debug\"\nlog_format = %q", format))
	d := startRun(t, cfg)
	mailtest.WaitFor(t, 60*time.Second, "the mailbox connected (/healthz 200)", func() bool {
		resp, err := http.Get("http://" + httpAddr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	// The customer's mail: an acknowledgement and a notification to the agent.
	imapSrv.Append(t, "INBOX", []byte("From: Erika Mustermann <erika.kundin@example.org>\r\nTo: support@example.com\r\n"+
		"Subject: Drucker Zeta raucht\r\nMessage-ID: <zeta-1@example.org>\r\nContent-Language: de\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n\r\nDer Drucker Omega brennt seit heute morgen.\r\n"))
	msgs := waitSink(t, sink, d, 2)
	var link, replyAddr string
	for _, m := range msgs {
		pm, err := mime.Parse(bytes.NewReader(m.Data), discardBlobs{}, mime.ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		switch m.To[0] {
		case "erika.kundin@example.org":
			link = regexp.MustCompile(`http://\S+/consent/\S+`).FindString(pm.Text)
		case "anna.agentin@example.com":
			if len(pm.ReplyTo) == 1 {
				replyAddr = pm.ReplyTo[0].Email
			}
		}
	}
	if link == "" || replyAddr == "" {
		t.Fatalf("no consent link (%q) or reply address (%q) in %d mails\n%s", link, replyAddr, len(msgs), d.log())
	}

	// The customer writes again; the agent answers.
	imapSrv.Append(t, "INBOX", []byte("From: Erika Mustermann <erika.kundin@example.org>\r\nTo: support@example.com\r\n"+
		"Subject: Re: Drucker Zeta raucht\r\nMessage-ID: <zeta-2@example.org>\r\nIn-Reply-To: <zeta-1@example.org>\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n\r\nNachtrag Sigma: jetzt auch der Scanner.\r\n"))
	waitSink(t, sink, d, 3)
	imapSrv.Append(t, "INBOX", []byte("From: Anna Agentin <anna.agentin@example.com>\r\nTo: "+replyAddr+"\r\n"+
		"Subject: Re: [#1] Drucker Zeta raucht\r\nMessage-ID: <kappa-1@example.com>\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n\r\nAntwort Kappa: bitte den Stecker ziehen.\r\n"))
	waitSink(t, sink, d, 4)

	// A mail without any sender is quarantined.
	imapSrv.Append(t, "INBOX", []byte("To: support@example.com\r\nSubject: Verlorene Post Lambda\r\nMessage-ID: <lambda-1@example.org>\r\n\r\n"+
		"Inhalt Lambda von quarantaene.person@example.org\r\n"))
	waitLine(t, d, "mail quarantined")

	// The customer grants consent on the page the link opens.
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	field := func(name string) string {
		m := regexp.MustCompile(`name="` + name + `" value="([^"]*)"`).FindSubmatch(page)
		if m == nil {
			t.Fatalf("consent page has no %s:\n%s", name, page)
		}
		return string(m[1])
	}
	form := url.Values{"purpose": {field("purpose")}, "lang": {field("lang")}, "form": {field("form")}, "decision": {"granted"}}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = client.PostForm(link, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("consent POST: %s", resp.Status)
	}
	waitLine(t, d, "consent recorded")

	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop")
	}
	log := d.log()
	for _, want := range []string{"mail stored", "agent reply", "mail sent", "mail quarantined", "consent recorded", "smtp message accepted"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q: the run did not do what the test checks", want)
		}
	}
	token := link[strings.LastIndex(link, "/")+1:]
	secrets := []string{
		"erika.kundin@example.org", "anna.agentin@example.com", "support@example.com", "quarantaene.person@example.org", replyAddr,
		strings.Split(replyAddr, "@")[0], "erika.kundin", "anna.agentin",
		"Erika", "Mustermann", "Anna Agentin",
		"Drucker Zeta", "Verlorene Post", "raucht",
		"Omega", "Nachtrag Sigma", "Scanner", "Antwort Kappa", "Stecker", "Inhalt Lambda",
		"zeta-1@", "zeta-2@", "kappa-1@", "lambda-1@",
		token, field("form"), "secret",
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(log, s) {
			t.Errorf("the log carries %q", s)
		}
	}
	if m := clearAddress.FindAllString(log, -1); len(m) > 0 {
		t.Errorf("addresses in clear in the log: %q", m)
	}
	if format == "json" {
		for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
			if !json.Valid([]byte(line)) {
				t.Errorf("not a JSON log line: %q", line)
			}
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("log:\n%s", log)
	}
}

// waitSink waits for n mails in sink; on a timeout the daemon's log is shown.
func waitSink(t *testing.T, sink *mailtest.SMTPSink, d *daemonProc, n int) []mailtest.SinkMsg {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); len(sink.Msgs()) < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d mails in the SMTP sink, got %d; log:\n%s", n, len(sink.Msgs()), d.log())
		}
	}
	return sink.Msgs()
}

// waitLine waits for a log line holding s, longer than waitLog: the test
// runs beside the others on a loaded machine.
func waitLine(t *testing.T, d *daemonProc, s string) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(d.log(), s); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for the log line %q; log:\n%s", s, d.log())
		}
	}
}
