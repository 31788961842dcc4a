package store

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// TestAuditEventBytes records one audit event of every kind and compares
// what is hashed (each event's JSON with its hash left out) with
// testdata/audit-events.golden. The trail of a store written by an earlier
// version must verify with this one, so these bytes must never change for
// the same event.
func TestAuditEventBytes(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	db, err := Open(dir, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	step := func(fn func(tx *Tx) error) {
		t.Helper()
		now = now.Add(time.Minute)
		if err := db.Update(fn); err != nil {
			t.Fatal(err)
		}
	}
	var p *Person
	var tk *Ticket
	var m *Message
	var q *Quarantine
	var it *OutboxItem
	step(func(tx *Tx) (err error) {
		p, err = tx.EnsurePerson("erika@example.org", "", "system")
		return err
	})
	step(func(tx *Tx) (err error) {
		p, err = tx.EnsurePerson("erika@example.org", "Erika", "system")
		return err
	})
	step(func(tx *Tx) error {
		tk = &Ticket{Subject: "Drucker", Status: StatusNew, Queue: "support", RequesterID: p.ID, Purpose: "support",
			Origin: Origin{Channel: ChannelEmail, Mailbox: "support", MessageID: "a1@example.org"}}
		return tx.CreateTicket(tk, "system")
	})
	step(func(tx *Tx) error {
		m = &Message{PersonID: p.ID, From: Address{Email: p.Email}, MessageID: "a1@example.org", ContentHash: "h1",
			ThreadedBy: "in-reply-to", Origin: Origin{Channel: ChannelEmail, Mailbox: "support"}}
		return tx.AddMessage(tk, m, DedupKey("support", "a1@example.org", "h1"), "system")
	})
	step(func(tx *Tx) error {
		q = &Quarantine{Reason: "unparseable", Origin: Origin{Channel: ChannelEmail, Mailbox: "support", UID: 7}}
		return tx.AddQuarantine(q, "h2", "system")
	})
	step(func(tx *Tx) error {
		q.Reason = "still unparseable"
		return tx.UpdateQuarantine(q, "admin", "retried, still quarantined with a new reason")
	})
	step(func(tx *Tx) error {
		return tx.Audit(QuarantineRetried(q, ActorAdmin))
	})
	step(func(tx *Tx) error {
		return tx.SetCheckpoint(Checkpoint{Mailbox: "support", UIDValidity: 3, LastUID: 7,
			Pending: []PendingAction{{UID: 7, Action: "seen"}}}, "system")
	})
	step(func(tx *Tx) error {
		it = &OutboxItem{Ticket: tk.Number, Kind: "acknowledgement", To: []string{p.Email}}
		return tx.Enqueue(it, "system")
	})
	for _, st := range []string{OutboxPending, OutboxFailed, OutboxSent} {
		step(func(tx *Tx) error {
			it.Status = st
			it.Attempts++
			return tx.UpdateOutbox(it, "system")
		})
	}
	step(func(tx *Tx) error {
		return tx.RecordConsentToken(&ConsentToken{ID: "tok1", Ticket: tk.Number, Person: p.ID, Purpose: "support"}, "system")
	})
	for _, d := range []string{ConsentGranted, ConsentWithdrawn, ConsentObjected} {
		step(func(tx *Tx) error {
			return tx.RecordConsent(&ConsentRecord{Person: p.ID, Purpose: "support", Decision: d, Channel: "link",
				TokenID: "tok1", Ticket: tk.Number}, ActorCustomer)
		})
	}
	step(func(tx *Tx) error {
		return tx.RecordConsent(&ConsentRecord{Person: p.ID, Purpose: "support", Decision: ConsentGranted, Channel: "admin"}, ActorAdmin)
	})
	until := now.AddDate(6, 0, 0)
	for _, event := range []func(uint64, Actor) AuditEvent{TicketAckQueued, TicketAckSuppressed, TicketClosed, TicketReopened,
		TicketRestricted, TicketRestrictionLifted, TicketObjected, TicketParticipantErased, TicketRedacted} {
		step(func(tx *Tx) error { return tx.UpdateTicket(tk, event(tk.Number, ActorAdmin)) })
	}
	step(func(tx *Tx) error {
		return tx.UpdateTicket(tk, TicketHoldAdded(tk.Number, "letters", until, ActorAdmin))
	})
	step(func(tx *Tx) error { return tx.UpdateTicket(tk, TicketHoldReleased(tk.Number, "letters", ActorAdmin)) })
	step(func(tx *Tx) error { return tx.UpdatePerson(p, PersonRectified(p.ID, ActorAdmin)) })
	step(func(tx *Tx) error { return tx.UpdatePerson(p, PersonOffboarded(p.ID, ActorAdmin)) })
	step(func(tx *Tx) error { return tx.PutMessage(m, MessageRectified(m, ActorAdmin)) })
	step(func(tx *Tx) error { return tx.PutMessage(m, MessageRedacted(m, ActorAdmin)) })
	step(func(tx *Tx) error { return tx.Audit(RetentionReplanned("abc123", 2, ActorSystem)) })
	step(func(tx *Tx) error {
		return tx.Audit(SubjectExported(p.ID, "tickets 1 mentions 0 files 2 outbox 1", ActorAdmin))
	})
	step(func(tx *Tx) error {
		return tx.Audit(SubjectErased(p.ID, "tickets 1 messages 1 quarantine 0 outbox 1 redacted tickets 0 held tickets 0 imap deleted 0", ActorAdmin))
	})
	step(func(tx *Tx) error { return tx.DeleteQuarantine(q, "scheduler", "retention: quarantine kept 30d") })
	step(func(tx *Tx) error { return tx.DeleteOutboxItem(it.ID, "admin", "subject erasure") })
	step(func(tx *Tx) error { return tx.AnonymizeTicket(tk.Number, "scheduler", "retention 2y") })
	step(func(tx *Tx) error {
		p, err = tx.EnsurePerson("max@example.org", "", "system")
		if err != nil {
			return err
		}
		tk = &Ticket{Subject: "Rechnung", Status: StatusNew, Queue: "billing", RequesterID: p.ID,
			Origin: Origin{Channel: ChannelFile, Mailbox: "billing"}}
		if err := tx.CreateTicket(tk, "system"); err != nil {
			return err
		}
		return tx.AddMessage(tk, &Message{PersonID: p.ID, From: Address{Email: p.Email}, ContentHash: "h3",
			Origin: Origin{Channel: ChannelFile, Mailbox: "billing"}}, nil, "system")
	})
	step(func(tx *Tx) error { return tx.DeleteTicket(tk.Number, "admin", "subject erasure") })

	// A restore records its own event in the restored store, at the time
	// it ran: the time is left out of the comparison.
	archive := filepath.Join(t.TempDir(), "backup.tar")
	if _, err := db.BackupArchive(archive, false); err != nil {
		t.Fatal(err)
	}
	db.Close()
	restored := filepath.Join(t.TempDir(), "data")
	if _, err := Restore(archive, restored, false); err != nil {
		t.Fatal(err)
	}
	db, err = Open(restored, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.VerifyAudit(); err != nil {
		t.Fatal(err)
	}

	var b strings.Builder
	err = db.View(func(tx *Tx) error {
		return tx.AuditEvents(func(e *AuditEvent) bool {
			c := *e
			c.Hash, c.Prev = "", ""
			if c.Action == ActionStoreRestored {
				c.Time = time.Time{}
			}
			data, err := json.Marshal(&c)
			if err != nil {
				t.Fatal(err)
			}
			b.Write(data)
			b.WriteByte('\n')
			return true
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "audit-events.golden")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("audit events differ from %s:\n%s", golden, diffLines(string(want), got))
	}
}

// diffLines lists the lines of got that differ from want, by line number.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want " + wl + "\n  got  " + gl + "\n")
		}
	}
	return b.String()
}

// An update is refused, and writes nothing, when its audit event is about
// another record or names no known kind: the trail cannot say that one
// thing changed while another did.
func TestUpdatesRefuseAnEventOfAnotherRecord(t *testing.T) {
	db := openTest(t, t.TempDir())
	defer db.Close()
	a := fill(t, db, "erika@example.org", "a1@example.org")
	b := fill(t, db, "max@example.org", "b1@example.org")
	events := func() (n int) {
		db.View(func(tx *Tx) error { return tx.AuditEvents(func(*AuditEvent) bool { n++; return true }) })
		return n
	}
	before := events()
	for name, fn := range map[string]func(tx *Tx) error{
		"ticket": func(tx *Tx) error {
			tk, _ := tx.Ticket(a.Number)
			tk.Status = StatusClosed
			return tx.UpdateTicket(tk, TicketClosed(b.Number, ActorAdmin))
		},
		"person": func(tx *Tx) error {
			p, _ := tx.Person(a.RequesterID)
			p.Name = "Someone Else"
			return tx.UpdatePerson(p, PersonRectified(b.RequesterID, ActorAdmin))
		},
		"message": func(tx *Tx) error {
			ms, _ := tx.TicketMessages(a.Number)
			other, _ := tx.TicketMessages(b.Number)
			ms[0].Text = "changed"
			return tx.PutMessage(ms[0], MessageRedacted(other[0], ActorAdmin))
		},
		"consent decision": func(tx *Tx) error {
			return tx.RecordConsent(&ConsentRecord{Person: a.RequesterID, Purpose: "support", Decision: "maybe", Channel: "link"}, ActorCustomer)
		},
		"outbox status": func(tx *Tx) error {
			it := &OutboxItem{Ticket: a.Number, Kind: "acknowledgement", To: []string{"erika@example.org"}}
			if err := tx.Enqueue(it, ActorSystem); err != nil {
				return err
			}
			it.Status = "lost"
			return tx.UpdateOutbox(it, ActorSystem)
		},
	} {
		if err := db.Update(fn); err == nil {
			t.Errorf("%s: the update was accepted", name)
		}
	}
	if n := events(); n != before {
		t.Errorf("%d audit events written by refused updates", n-before)
	}
	db.View(func(tx *Tx) error {
		if tk, _ := tx.Ticket(a.Number); tk.Status != StatusNew {
			t.Errorf("ticket %d is %s", a.Number, tk.Status)
		}
		if p, _ := tx.Person(a.RequesterID); p.Name != "Erika Mustermann" {
			t.Errorf("person renamed to %q", p.Name)
		}
		if h, _ := tx.ConsentHistory(a.RequesterID); len(h) != 0 {
			t.Errorf("consent history %v", h)
		}
		return nil
	})
	if got := ActorAgent(7); got != "agent:7" {
		t.Errorf("ActorAgent(7) = %q", got)
	}
}
