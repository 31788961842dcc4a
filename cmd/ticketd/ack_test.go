package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"ticketd/desk"
	"ticketd/mail/mailtest"
)

// TestTicketsShowAckState: tickets show follows the acknowledgement through
// the outbox of a running daemon: sent at a time, or failed with the relay's reason.
func TestTicketsShowAckState(t *testing.T) {
	srv := mailtest.MemIMAP(t, nil)
	sink := mailtest.StartSMTPSink(t)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, srv.Addr, "")
	raw, _ := os.ReadFile(cfg)
	_, port, _ := strings.Cut(sink.Addr, "127.0.0.1:")
	os.WriteFile(cfg, []byte(strings.Replace(string(raw), "[smtp]\nhost = \"127.0.0.1\"\n", "[smtp]\nhost = \"127.0.0.1\"\nport = "+port+"\n", 1)), 0o600)
	d := startRun(t, cfg)
	d.waitLog(t, "ticketd started")

	ingest := func(from, id string) {
		t.Helper()
		f := filepath.Join(dir, id+".eml")
		os.WriteFile(f, []byte("From: "+from+"\r\nSubject: Drucker\r\nMessage-ID: <"+id+"@example.org>\r\n\r\nHallo\r\n"), 0o600)
		runWant(t, 0, "ingest", "-config", cfg, "-mailbox", "support", f)
	}
	// show waits until tickets show -json says status, and returns the text output.
	show := func(n, status string) (string, *desk.AckView) {
		t.Helper()
		var ack *desk.AckView
		mailtest.WaitFor(t, 20*time.Second, "acknowledgement of #"+n+" "+status, func() bool {
			var tk desk.TicketDetail
			if json.Unmarshal([]byte(runWant(t, 0, "tickets", "-config", cfg, "show", "-json", n)), &tk) != nil || tk.Ack == nil {
				return false
			}
			ack = tk.Ack
			return ack.Status == status
		})
		return runWant(t, 0, "tickets", "-config", cfg, "show", n), ack
	}

	ingest("Erika <erika@example.org>", "s1")
	out, ack := show("1", "sent")
	if ack.SentAt.IsZero() || !regexp.MustCompile(`(?m)^Ack:       sent \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(outbox 1, `).MatchString(out) {
		t.Errorf("sent acknowledgement: %+v\n%s", ack, out)
	}
	sink.Fail("RCPT", mailtest.SMTPErr(550, "mailbox unavailable"))
	ingest("Otto <otto@example.net>", "s2")
	out, ack = show("2", "failed")
	if !strings.Contains(ack.Error, "mailbox unavailable") || !regexp.MustCompile(`(?m)^Ack:       failed: .*550.*mailbox unavailable`).MatchString(out) {
		t.Errorf("failed acknowledgement: %+v\n%s", ack, out)
	}
}
