package desk

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"ticketd/config/configtest"
	"ticketd/mail/mailtest"
	"ticketd/mail/mime"
	"ticketd/store"
)

// newAgentHarness is a harness on acct with agentTOML's queues and agents.
func newAgentHarness(t testing.TB, acct *mailtest.Account) *harness {
	t.Helper()
	host, port := splitAddr(t, acct.Addr)
	cfg := configtest.Parse(t, fmt.Sprintf(testTOML, host, port), agentTOML)
	cfg.Server.DataDir, cfg.Server.MasterKeyFile = t.TempDir(), filepath.Join(t.TempDir(), "master.key")
	cfg.Mailboxes[0].Username, cfg.Mailboxes[0].Password = acct.Username, acct.Password
	return &harness{t: t, cfg: cfg, acct: acct}
}

// blobs keeps attachment contents by their digest.
type blobs map[string][]byte

func (b blobs) Put(r io.Reader) (string, int64, error) {
	data, err := io.ReadAll(r)
	sum := sha256.Sum256(data)
	b[hex.EncodeToString(sum[:])] = data
	return hex.EncodeToString(sum[:]), int64(len(data)), err
}

// delivered is one mail an SMTP server accepted, parsed.
type delivered struct {
	to    []string // envelope recipients
	msg   *mime.Message
	blobs blobs
	raw   string
}

func parseDelivered(t testing.TB, to []string, raw []byte) delivered {
	t.Helper()
	b := blobs{}
	m, err := mime.Parse(bytes.NewReader(raw), b, mime.ParseOptions{KeepHeaders: []string{"Reply-To", "Auto-Submitted"}})
	if err != nil {
		t.Fatal(err)
	}
	return delivered{to: to, msg: m, blobs: b, raw: string(raw)}
}

// sinkMail waits for n mails at the sink and returns them parsed.
func sinkMail(t testing.TB, sink *mailtest.SMTPSink, n int) []delivered {
	t.Helper()
	var out []delivered
	for _, m := range sink.WaitMsgs(t, n, 20*time.Second) {
		out = append(out, parseDelivered(t, m.To, m.Data))
	}
	return out
}

// to returns the mails among ms whose envelope recipient is addr.
func to(ms []delivered, addr string) []delivered {
	var out []delivered
	for _, m := range ms {
		if slices.Contains(m.to, addr) {
			out = append(out, m)
		}
	}
	return out
}

// clientReply is an agent's reply to notification n as Thunderbird writes
// one: To the Reply-To address, threaded under the notification, the reply
// on top, a signature, the quoted notification below, and an attachment.
func clientReply(id, from string, n *mime.Message, to, text, attachment string) []byte {
	refs := ""
	for _, r := range append(slices.Clone(n.References), n.MessageID) {
		refs += " <" + r + ">"
	}
	var quoted strings.Builder
	for line := range strings.SplitSeq(strings.TrimRight(n.Text, "\n"), "\n") {
		quoted.WriteString("> " + line + "\r\n")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Message-ID: <%s>\r\nDate: Mon, 23 Nov 2026 11:00:00 +0100\r\nFrom: %s\r\nTo: %s\r\n", id, from, to)
	fmt.Fprintf(&b, "Subject: Re: %s\r\nIn-Reply-To: <%s>\r\nReferences:%s\r\n", n.Subject, n.MessageID, refs)
	b.WriteString("User-Agent: Mozilla Thunderbird\r\nMIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: multipart/mixed; boundary=\"------------b0undary\"\r\n\r\n")
	b.WriteString("--------------b0undary\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(strings.ReplaceAll(text, "\n", "\r\n"))
	b.WriteString("\r\n-- \r\nAnna Beispiel\r\nSupport-Team\r\n\r\n")
	b.WriteString("Am 23.11.2026 um 10:00 schrieb Support:\r\n" + quoted.String() + "\r\n")
	if attachment != "" {
		b.WriteString("--------------b0undary\r\nContent-Type: text/plain; charset=UTF-8; name=\"anleitung.txt\"\r\n")
		b.WriteString("Content-Disposition: attachment; filename=\"anleitung.txt\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
		b.WriteString(attachment + "\r\n")
	}
	b.WriteString("--------------b0undary--\r\n")
	return []byte(b.String())
}

// The agent loop end to end over IMAP and SMTP, with the in-process
// servers: two queues, three agents, one supervisor (agentTOML).
func TestAgentLoopEndToEnd(t *testing.T) {
	mem := mailtest.MemIMAP(t, nil)
	sink := mailtest.StartSMTPSink(t)
	h := newAgentHarness(t, &mem.Account)
	h.relay = sink.Addr
	h.start()
	h.waitConnected()

	// Two customers' tickets, one per queue.
	h.acct.Append(t, "INBOX", msg{Subject: "Drucker kaputt", MessageID: "c1@example.org", Body: "Der Drucker druckt nicht."}.raw())
	h.acct.Append(t, "INBOX", msg{From: "Max <max@example.net>", Subject: "invoice falsch", MessageID: "c2@example.net", Body: "Die Rechnung ist falsch."}.raw())
	first := sinkMail(t, sink, 5)
	if len(first) != 5 || len(to(first, "erika@example.org")) != 1 || len(to(first, "max@example.net")) != 1 {
		t.Fatalf("%d mails; want an acknowledgement each and three notifications", len(first))
	}
	var tk1, tk2 uint64
	for _, tk := range h.tickets() {
		if tk.Queue == "support" {
			tk1 = tk.Number
		} else {
			tk2 = tk.Number
		}
	}
	notes := map[string]delivered{}
	for _, a := range []string{"anna@example.com", "ben@example.com", "carl@example.com"} {
		ms := to(first, a)
		if len(ms) != 1 {
			t.Fatalf("%d notifications to %s", len(ms), a)
		}
		notes[a] = ms[0]
	}
	for a, n := range notes {
		m, want := n.msg, tk1
		if a == "carl@example.com" {
			want = tk2
		}
		if len(m.To) != 1 || m.To[0].Email != a || len(n.to) != 1 {
			t.Errorf("notification to %s: header To %v, envelope %v", a, m.To, n.to)
		}
		if len(m.ReplyTo) != 1 || !strings.HasPrefix(m.ReplyTo[0].Email, fmt.Sprintf("support+t%d.a", want)) {
			t.Errorf("notification to %s: Reply-To %v", a, m.ReplyTo)
		}
		root := fmt.Sprintf("thread%d.", want)
		if len(m.References) != 1 || !strings.Contains(m.References[0], root) || len(m.InReplyTo) != 1 || m.InReplyTo[0] != m.References[0] {
			t.Errorf("notification to %s threading: In-Reply-To %v References %v", a, m.InReplyTo, m.References)
		}
		if strings.Contains(n.raw, "erika@example.org") && a == "carl@example.com" {
			t.Errorf("carl's notification names another queue's customer")
		}
	}
	if notes["anna@example.com"].msg.References[0] != notes["ben@example.com"].msg.References[0] ||
		notes["anna@example.com"].msg.References[0] == notes["carl@example.com"].msg.References[0] {
		t.Errorf("thread roots: one per ticket wanted")
	}

	// Anna answers from her mail client, with an attachment.
	note := notes["anna@example.com"].msg
	ra := note.ReplyTo[0].Email
	h.acct.Append(t, "INBOX", clientReply("a1@example.com", "Anna Beispiel <anna@example.com>", note, ra,
		"Guten Tag,\n\nbitte starten Sie den Drucker neu; die Anleitung liegt bei.", "1. Aus. 2. An."))
	all := sinkMail(t, sink, 6)
	answers := to(all, "erika@example.org")
	if len(answers) != 2 {
		t.Fatalf("%d mails to the customer, want the acknowledgement and the answer", len(answers))
	}
	ans := answers[1].msg
	checkAnswer(t, ans, tk1, "bitte starten Sie den Drucker neu")
	if strings.Contains(answers[1].raw, "anna@example.com") || strings.Contains(answers[1].raw, ra) {
		t.Errorf("the answer shows the agent's or the reply address")
	}
	if len(ans.Attachments) != 1 || ans.Attachments[0].Filename != "anleitung.txt" ||
		!strings.Contains(string(answers[1].blobs[ans.Attachments[0].SHA256]), "1. Aus. 2. An.") {
		t.Errorf("answer attachments %+v", ans.Attachments)
	}

	// A forged From with Anna's token, and Anna's token altered by one
	// character: nothing to the customer, a refusal to each sender.
	flipped := []byte(ra)
	at := bytes.IndexByte(flipped, '@')
	if flipped[at-1] == 'a' {
		flipped[at-1] = 'b'
	} else {
		flipped[at-1] = 'a'
	}
	h.acct.Append(t, "INBOX", clientReply("f1@evil.example", "Mallory <mallory@evil.example>", note, ra, "Bitte zahlen Sie an mich.", ""))
	h.acct.Append(t, "INBOX", clientReply("f2@example.com", "Anna Beispiel <anna@example.com>", note, string(flipped), "Ein geänderter Code.", ""))
	all = sinkMail(t, sink, 8)
	if r := to(all, "mallory@evil.example"); len(r) != 1 || strings.Contains(r[0].msg.Text, "zahlen") {
		t.Errorf("mallory got %d mails", len(r))
	}
	if r := to(all, "anna@example.com"); len(r) != 2 {
		t.Errorf("anna got %d mails, want the notification and one refusal", len(r))
	}

	// #close: the ticket is closed, nothing goes to the customer.
	h.acct.Append(t, "INBOX", clientReply("a2@example.com", "Anna Beispiel <anna@example.com>", note, ra, "#close", ""))
	mailtest.WaitFor(t, 20*time.Second, "the ticket closed", func() bool {
		for _, tk := range h.tickets() {
			if tk.Number == tk1 {
				return tk.Status == store.StatusClosed
			}
		}
		return false
	})
	mailtest.WaitFor(t, 20*time.Second, "the outbox drained", func() bool {
		pending := 0
		h.db.View(func(tx *store.Tx) error {
			return tx.Outbox(func(it *store.OutboxItem) bool {
				if it.DoneAt.IsZero() {
					pending++
				}
				return true
			})
		})
		return pending == 0
	})
	if got := to(sinkMail(t, sink, 8), "erika@example.org"); len(got) != 2 {
		t.Errorf("%d mails to the customer after #close, want still 2", len(got))
	}
}

// checkAnswer checks the answer to Erika's "c1@example.org" on ticket n:
// from the support address to her, tagged, threaded, with the agent's text
// and nothing of the quote.
func checkAnswer(t testing.TB, ans *mime.Message, n uint64, text string) {
	t.Helper()
	if ans.From.Email != "support@example.com" || len(ans.To) != 1 || ans.To[0].Email != "erika@example.org" ||
		!strings.Contains(ans.Subject, fmt.Sprintf("[#%d]", n)) {
		t.Errorf("answer: From %v To %v Subject %q", ans.From, ans.To, ans.Subject)
	}
	if len(ans.InReplyTo) != 1 || ans.InReplyTo[0] != "c1@example.org" || !slices.Contains(ans.References, "c1@example.org") {
		t.Errorf("answer threading: In-Reply-To %v References %v", ans.InReplyTo, ans.References)
	}
	if !strings.Contains(ans.Text, text) || strings.Contains(ans.Text, ">") || strings.Contains(ans.Text, "schrieb") ||
		strings.Contains(ans.Text, "wrote") || strings.Contains(ans.Text, "Der Drucker druckt nicht") {
		t.Errorf("answer text %q: want the agent's text without the quote", ans.Text)
	}
}
