package main

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"ticketd/config"
	"ticketd/desk"
	"ticketd/mail/mailtest"
)

// TestLMTPFromPostfix: a real Postfix whose transport map sends
// support@example.com to the daemon's LMTP socket; a mail submitted to
// Postfix becomes a ticket, and its acknowledgement goes out through the
// same Postfix (into its sink). Only under make interop.
func TestLMTPFromPostfix(t *testing.T) {
	if !mailtest.Interop() {
		t.Skip("needs a real Postfix: TICKETD_INTEROP=1 (make interop)")
	}
	sockDir, err := os.MkdirTemp("/tmp", "ticketd-lmtp-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	os.Chmod(sockDir, 0o755) // Postfix's lmtp client, user postfix, must reach the socket
	sock := filepath.Join(sockDir, "lmtp.sock")
	p := mailtest.StartPostfixLMTP(t, sock, "support@example.com")

	dir := t.TempDir()
	path := writeConfig(t, dir, "127.0.0.1:1", "\n[lmtp]\nlisten = \"unix:"+sock+"\"\nsocket_group = \"postfix\"\n")
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(p.Addr)
	cfg.SMTP.Host = host
	cfg.SMTP.Port, _ = strconv.Atoi(port)
	logs := &syncBuffer{}
	d, err := startDaemon(cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.stop()

	c, err := gosmtp.Dial(p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	raw := lmtpMail("postfix1@example.org")
	if err := c.SendMail("erika@example.org", []string{"support@example.com"}, bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	var tks []desk.TicketSummary
	mailtest.WaitFor(t, 30*time.Second, "the ticket from Postfix (log:\n"+logs.String()+")", func() bool {
		if page, err := d.desk.ListTickets(desk.ListOptions{}); err == nil {
			tks = page.Tickets
		}
		return len(tks) == 1
	})
	tk, err := d.desk.ShowTicket(tks[0].Number)
	if err != nil || tk.Messages[0].Origin.Channel != "lmtp" {
		t.Errorf("ticket %+v, %v: want channel lmtp", tk, err)
	}
	msgs := p.WaitMessages(t, 1, 30*time.Second)
	if len(msgs) != 1 || !bytes.Contains(msgs[0], []byte("erika@example.org")) ||
		!strings.Contains(string(msgs[0]), "#"+strconv.FormatUint(tks[0].Number, 10)) {
		t.Errorf("sink holds %d messages, want the acknowledgement to erika:\n%s", len(msgs), bytes.Join(msgs, []byte("\n----\n")))
	}
}
