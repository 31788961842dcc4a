package mailtest

import (
	"bytes"
	"net/smtp"
	"strings"
	"testing"
	"time"
)

// Mail to the routed address and to its subaddresses reaches Dovecot's INBOX,
// where an IDLE client sees it; mail to anyone else stays in the sink.
func TestRealServerPostfixInto(t *testing.T) {
	d := StartDovecot(t)
	p := StartPostfixInto(t, d, "Support@Example.com")
	acct := &Account{Addr: d.Addr, Username: d.Username, Password: d.Password}
	for _, rcpt := range []string{"support@example.com", "support+t1.a2.xyz@example.com", "carol@example.org"} {
		msg := realServerMessage("to "+rcpt, "\r\n")
		if err := sendPlain(p.Addr, "anna@example.com", rcpt, msg); err != nil {
			t.Fatalf("%s: %v", rcpt, err)
		}
	}
	var inbox []Mail
	WaitFor(t, 20*time.Second, "two mails in Dovecot's INBOX", func() bool {
		inbox = acct.Folder(t, "INBOX")
		return len(inbox) >= 2
	})
	for _, m := range inbox {
		if bytes.Contains(m.Raw, []byte("carol@example.org")) && !bytes.Contains(m.Raw, []byte("Delivered-To: support")) {
			t.Errorf("INBOX holds mail for carol:\n%s", m.Raw)
		}
	}
	p.WaitMessages(t, 1, 20*time.Second)
	time.Sleep(200 * time.Millisecond) // a stray second delivery would show up by now
	sunk := p.Messages(t)
	if len(sunk) != 1 || !strings.Contains(string(sunk[0]), "Delivered-To: carol@example.org") {
		t.Errorf("sink holds %d messages: %s", len(sunk), srvSummary(sunk))
	}
	if len(acct.Folder(t, "INBOX")) != 2 {
		t.Errorf("INBOX holds %d messages, want 2", len(acct.Folder(t, "INBOX")))
	}
}

// sendPlain sends one mail without STARTTLS.
func sendPlain(addr, from, to string, msg []byte) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}
