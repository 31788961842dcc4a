package desk

import (
	"strings"
	"testing"

	"ticketd/config"
	"ticketd/store"
)

// spamDesk is a desk that believes the filter headers of trust, with
// mx.example.com as its own authserv-id, and turns spam into action.
func spamDesk(t *testing.T, action string, trust ...string) *fileDesk {
	return newFileDesk(t, func(c *config.Config) {
		c.Spam = config.Spam{Trust: trust, AuthservIDs: []string{"mx.example.com"}, Action: action}
	})
}

// spamHeaders are one marked mail for each kind of filter header.
var spamHeaders = map[string]string{
	"x-spam-flag":            "X-Spam-Flag: YES\r\n",
	"x-spam-status":          "X-Spam-Status: Yes, score=12.3 required=5.0 tests=BAYES_99\r\n",
	"rspamd":                 "X-Rspamd-Action: add header\r\nX-Spamd-Result: default: True [9.10 / 15.00]\r\n",
	"authentication-results": "Authentication-Results: mx.example.com; spf=fail smtp.mailfrom=bank.example; dmarc=fail (p=reject dis=none) header.from=bank.example\r\n",
}

// Mail a trusted filter marked as spam becomes a ticket without
// acknowledgement, with the reason recorded on the ticket.
func TestSpamGetsNoAcknowledgement(t *testing.T) {
	for kind, hdr := range spamHeaders {
		t.Run(kind, func(t *testing.T) {
			fd := spamDesk(t, "ticket", kind)
			out := fd.ingest(msg{From: "Bank <security@bank.example>", Subject: "Verify your account", MessageID: "s1@bank.example",
				Extra: hdr, Body: "Click here."}.raw())
			if !out.NewTicket || out.AckQueued || !strings.HasPrefix(out.AckReason, reasonSpam) {
				t.Fatalf("outcome %+v", out)
			}
			if a := fd.ticket(out.Ticket).Ack; a == nil || a.Status != "suppressed" || a.Reason != out.AckReason {
				t.Errorf("ticket ack %+v", a)
			}
			if n := len(fd.outbox()); n != 0 {
				t.Errorf("%d mails queued", n)
			}
		})
	}
}

// A filter header that is not believed counts for nothing: nothing is
// believed by default, a field below the topmost one is the sender's, and
// an Authentication-Results field of another server is no verdict.
func TestForgedSpamHeadersAreIgnored(t *testing.T) {
	for _, tc := range []struct {
		name  string
		trust []string
		hdr   string
	}{
		{"nothing trusted", nil, spamHeaders["x-spam-flag"] + spamHeaders["x-spam-status"] + spamHeaders["rspamd"] + spamHeaders["authentication-results"]},
		{"another kind trusted", []string{"rspamd"}, spamHeaders["x-spam-flag"]},
		{"below our own field", []string{"x-spam-flag"}, "X-Spam-Flag: NO\r\nX-Spam-Flag: YES\r\n"},
		{"another server's Authentication-Results", []string{"authentication-results"},
			"Authentication-Results: mx.evil.example; dmarc=fail (p=reject) header.from=bank.example\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fd := spamDesk(t, "quarantine", tc.trust...)
			out := fd.ingest(msg{From: "Erika <erika@example.org>", Subject: "Frage", MessageID: "f1@example.org", Extra: tc.hdr, Body: "Hallo"}.raw())
			if !out.NewTicket || !out.AckQueued {
				t.Errorf("outcome %+v, want a ticket with its acknowledgement", out)
			}
		})
	}
}

// With action = "quarantine" marked mail becomes a quarantine entry with
// the reason and the mail kept; no ticket, no acknowledgement, and the same
// mail again is a duplicate.
func TestSpamQuarantine(t *testing.T) {
	fd := spamDesk(t, "quarantine", "x-spam-flag", "authentication-results")
	raw := msg{From: "Bank <security@bank.example>", Subject: "Verify", MessageID: "q1@bank.example",
		Extra: spamHeaders["authentication-results"], Body: "Click here."}.raw()
	out := fd.ingest(raw)
	want := reasonSpam + "DMARC fail with policy reject (Authentication-Results from mx.example.com)"
	if out.Quarantine == 0 || out.NewTicket || out.Ticket != 0 || out.AckQueued || out.Reason != want {
		t.Fatalf("outcome %+v, want quarantine %q", out, want)
	}
	qs := quarantined(t, fd)
	if len(qs) != 1 || qs[0].Reason != want || qs[0].Blob == "" {
		t.Fatalf("quarantine %+v", qs)
	}
	if len(fd.outbox()) != 0 || fd.ticket(1) != nil {
		t.Error("spam made a ticket or a mail")
	}
	if again := fd.ingest(raw); !again.Duplicate || again.Quarantine != 0 && again.Quarantine != out.Quarantine {
		t.Errorf("the same mail again: %+v", again)
	}
	if qs := quarantined(t, fd); len(qs) != 1 {
		t.Errorf("%d quarantine entries", len(qs))
	}
	// A retry reads the same verdict: the entry and its copy stay.
	retried, err := fd.d.RetryQuarantine(t.Context(), out.Quarantine)
	if err != nil || retried.Quarantine != out.Quarantine || retried.Reason != want {
		t.Errorf("retry: %+v, %v; want it still quarantined with %q", retried, err, want)
	}
	if qs := quarantined(t, fd); len(qs) != 1 || qs[0].Blob == "" || fd.ticket(1) != nil {
		t.Errorf("after the retry: quarantine %+v, ticket %+v", qs, fd.ticket(1))
	}
}

func quarantined(t *testing.T, fd *fileDesk) []*store.Quarantine {
	t.Helper()
	var out []*store.Quarantine
	if err := fd.db.View(func(tx *store.Tx) error {
		return tx.Quarantined(func(q *store.Quarantine) bool { out = append(out, q); return true })
	}); err != nil {
		t.Fatal(err)
	}
	return out
}
