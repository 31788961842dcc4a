package desk

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"ticketd/mail/mailtest"
	"ticketd/store"
)

// snail returns the path of s-nail; outside CI a missing one skips the test.
func snail(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("s-nail")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("s-nail is missing; run .ci/install-deps as root")
		}
		t.Skip("s-nail is missing (run .ci/install-deps as root)")
	}
	return p
}

// sunk parses what the Postfix sink holds; Delivered-To names the recipient.
func sunk(t *testing.T, raws [][]byte) []delivered {
	t.Helper()
	var out []delivered
	for _, raw := range raws {
		d := parseDelivered(t, nil, raw)
		if _, rest, ok := bytes.Cut(raw, []byte("Delivered-To: ")); ok {
			line, _, _ := bytes.Cut(rest, []byte("\n"))
			d.to = []string{strings.ToLower(strings.TrimSpace(string(line)))}
		}
		out = append(out, d)
	}
	return out
}

// The agent loop with the real servers (make interop): mail reaches the
// real Dovecot through the real Postfix, whose recipient_delimiter "+"
// brings the reply address to the support mailbox; ticketd's mail leaves
// through the same Postfix. Anna answers with s-nail, replying to her
// notification as a person would.
func TestAgentLoopInterop(t *testing.T) {
	d := mailtest.StartDovecot(t)
	nail := snail(t)
	pf := mailtest.StartPostfixInto(t, d, "support@example.com")
	acct := &mailtest.Account{Addr: d.Addr, Username: d.Username, Password: d.Password}
	h := newAgentHarness(t, acct)
	h.relay = pf.Addr
	h.start()
	h.waitConnected()

	acct.Append(t, "INBOX", msg{Subject: "Drucker kaputt", MessageID: "c1@example.org", Body: "Der Drucker druckt nicht."}.raw())
	first := sunk(t, pf.WaitMessages(t, 3, 20*time.Second))
	notes := to(first, "anna@example.com")
	if len(notes) != 1 || len(to(first, "erika@example.org")) != 1 {
		t.Fatalf("want an acknowledgement and notifications, got %d mails", len(first))
	}
	tk := h.tickets()[0].Number

	// s-nail reads the notification from a mailbox file and replies to it
	// with its defaults: the notification quoted below an attribution line,
	// each quoted line indented with a tab (its indentprefix).
	dir := t.TempDir()
	mbox := filepath.Join(dir, "notification.mbox")
	raw := strings.ReplaceAll(notes[0].raw, "\r\n", "\n")
	if err := os.WriteFile(mbox, []byte("From support@example.com Mon Nov 23 10:00:00 2026\n"+raw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nail, "-#:/", "-S", "v15-compat", "-S", "mta=smtp://"+pf.Addr, "-S", "smtp-auth=none",
		"-S", "from=Anna Beispiel <anna@example.com>", "-S", "reply-to-honour=yes", "-S", "quote",
		"-S", "sendwait", "-S", "nosave", "-f", mbox)
	cmd.Stdin = strings.NewReader("reply 1\nGuten Tag,\n\nbitte starten Sie den Drucker neu.\n~.\nquit\n")
	cmd.Env = append(os.Environ(), "HOME="+dir, "MAILRC=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("s-nail: %v\n%s", err, out)
	}

	// What s-nail wrote reached Dovecot as a reply to the notification.
	var reply *delivered
	mailtest.WaitFor(t, 20*time.Second, "s-nail's reply in Dovecot", func() bool {
		for _, m := range acct.Folder(t, "INBOX") {
			if d := parseDelivered(t, nil, m.Raw); d.msg.From.Email == "anna@example.com" {
				reply = &d
			}
		}
		return reply != nil
	})
	if r, n := reply.msg, notes[0].msg; !slices.ContainsFunc(r.To, func(a store.Address) bool { return a.Email == n.ReplyTo[0].Email }) ||
		!slices.Equal(r.InReplyTo, []string{n.MessageID}) || !slices.Contains(r.References, n.MessageID) {
		t.Errorf("s-nail's reply: To %v In-Reply-To %v References %v; notification %s, Reply-To %v",
			r.To, r.InReplyTo, r.References, n.MessageID, n.ReplyTo)
	}

	var answers []delivered
	mailtest.WaitFor(t, 20*time.Second, "the answer at the customer's", func() bool {
		answers = to(sunk(t, pf.Messages(t)), "erika@example.org")
		return len(answers) >= 2
	})
	checkAnswer(t, answers[1].msg, tk, "bitte starten Sie den Drucker neu")
}
