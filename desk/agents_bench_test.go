package desk

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"ticketd/mail/mime"
	"ticketd/store"
)

// BenchmarkAgentReplyLatency measures, for 50 agent replies appended one at
// a time, the time from the reply landing in the IMAP mailbox (APPEND
// completed) to the customer's copy being accepted by the SMTP server, with
// IDLE; beside it the floor, the same path for a new customer mail and its
// acknowledgement. Under make bench the servers are Dovecot and Postfix on
// loopback. It prints the figures and asserts no time.
func BenchmarkAgentReplyLatency(b *testing.B) {
	const n = 50
	acct := server(b)
	relay, _ := relayFor(b)
	type accept struct {
		to string
		at time.Time
	}
	accepted := make(chan accept, 16*n)
	h := newAgentHarness(b, acct)
	h.relay = relay
	h.cfg.Acknowledgement.MaxPerSender = 4 * n
	h.sent = func(to []string, err error) {
		if err == nil && len(to) > 0 {
			accepted <- accept{to[0], time.Now()}
		}
	}
	h.start()
	h.waitConnected()
	waitFor := func(addr string, since time.Time) time.Duration {
		deadline := time.After(30 * time.Second)
		for {
			select {
			case a := <-accepted:
				if a.to == addr {
					return a.at.Sub(since)
				}
			case <-deadline:
				b.Fatalf("nothing accepted for %s within 30s", addr)
			}
		}
	}
	run := 0
	for b.Loop() {
		run++
		var ack, answer []time.Duration
		for i := range n {
			customer := fmt.Sprintf("kunde%d.%d@example.org", run, i)
			acct.Append(b, "INBOX", msg{From: customer, Subject: fmt.Sprintf("Drucker %d", i),
				MessageID: fmt.Sprintf("c-%d-%d@example.org", run, i), Body: "Der Drucker druckt nicht."}.raw())
			ack = append(ack, waitFor(customer, time.Now()))
			note := anyNotification(b, h, customer)
			acct.Append(b, "INBOX", clientReply(fmt.Sprintf("a-%d-%d@example.com", run, i), "Anna Beispiel <anna@example.com>",
				note, note.ReplyTo[0].Email, "Bitte starten Sie ihn neu.", ""))
			answer = append(answer, waitFor(customer, time.Now()))
		}
		med, p99 := quantiles(answer)
		fmed, fp99 := quantiles(ack)
		fmt.Printf("agent reply in IMAP -> customer's copy accepted by SMTP, %d replies, IDLE: median %v, p99 %v\n",
			n, med.Round(time.Millisecond), p99.Round(time.Millisecond))
		fmt.Printf("floor, customer mail in IMAP -> acknowledgement accepted: median %v, p99 %v; ratio of medians %.2f\n",
			fmed.Round(time.Millisecond), fp99.Round(time.Millisecond), float64(med)/float64(fmed))
		b.ReportMetric(float64(med.Microseconds())/1000, "median-ms")
		b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(fmed.Microseconds())/1000, "ack-median-ms")
		b.ReportMetric(float64(fp99.Microseconds())/1000, "ack-p99-ms")
	}
}

// quantiles returns the median and the 99th percentile of ds.
func quantiles(ds []time.Duration) (time.Duration, time.Duration) {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2], ds[len(ds)*99/100]
}

// anyNotification waits for anna's notification of the ticket of customer
// in the outbox and returns it parsed.
func anyNotification(b *testing.B, h *harness, customer string) *mime.Message {
	b.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var raw []byte
		h.db.View(func(tx *store.Tx) error {
			p, err := tx.PersonByEmail(customer)
			if err != nil {
				return nil
			}
			return tx.Outbox(func(it *store.OutboxItem) bool {
				if it.Kind == "agent new ticket" && it.To[0] == "anna@example.com" {
					if tk, err := tx.Ticket(it.Ticket); err == nil && tk.RequesterID == p.ID {
						raw = it.Raw
					}
				}
				return true
			})
		})
		if raw != nil {
			return parseDelivered(b, nil, raw).msg
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.Fatalf("no notification to anna for %s", customer)
	return nil
}
