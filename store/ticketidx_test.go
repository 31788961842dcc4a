package store

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// whereByScan is what TicketsWhere must return: the walk over every ticket.
func whereByScan(tx *Tx, f TicketFilter) []uint64 {
	var out []uint64
	tx.Tickets(func(tk *Ticket) bool {
		if f.Queue != "" && tk.Queue != f.Queue || f.Assignee != "" && !strings.EqualFold(tk.Assignee, f.Assignee) ||
			f.Open && (tk.Status == StatusClosed || !tk.AnonymizedAt.IsZero()) || f.Notified && len(tk.Notified) == 0 {
			return true
		}
		out = append(out, tk.Number)
		return true
	})
	return out
}

func where(t *testing.T, tx *Tx, f TicketFilter, after uint64) []uint64 {
	t.Helper()
	var out []uint64
	if err := tx.TicketsWhere(f, after, func(n uint64) (bool, error) { out = append(out, n); return true, nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkAuditIndex compares AuditAbout with the walk over the trail for
// every person and ticket in it.
func checkAuditIndex(t *testing.T, db *DB, step string) {
	t.Helper()
	db.View(func(tx *Tx) error {
		var all []*AuditEvent
		people, tickets := map[uint64]bool{}, map[uint64]bool{}
		tx.AuditEvents(func(e *AuditEvent) bool {
			all = append(all, e)
			people[e.Person], tickets[e.Ticket] = true, true
			return true
		})
		seqs := func(es []*AuditEvent) (out []uint64) {
			for _, e := range es {
				out = append(out, e.Seq)
			}
			return out
		}
		for p := range people {
			for n := range tickets {
				if p == 0 || n == 0 {
					continue
				}
				var want []*AuditEvent
				for _, e := range all {
					if e.Person == p || e.Person == 0 && e.Ticket == n {
						want = append(want, e)
					}
				}
				got, err := tx.AuditAbout(p, []uint64{n})
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(seqs(got), seqs(want)) {
					t.Errorf("%s: events about person %d and ticket %d: %v, the walk finds %v", step, p, n, seqs(got), seqs(want))
				}
			}
		}
		return nil
	})
}

// checkMentions compares idx_mention with the addresses of every message
// and outgoing mail.
func checkMentions(t *testing.T, db *DB, step string) {
	t.Helper()
	db.View(func(tx *Tx) error {
		want := map[string][]uint64{}
		wantOut := map[string][]uint64{}
		tx.Messages(func(m *Message) bool {
			for a := range messageAddresses(m) {
				want[a] = append(want[a], m.ID)
			}
			return true
		})
		tx.Outbox(func(it *OutboxItem) bool {
			for a := range outboxAddresses(it) {
				wantOut[a] = append(wantOut[a], it.ID)
			}
			return true
		})
		n := 0
		tx.b(bIdxMention).ForEach(func(_, _ []byte) error { n++; return nil })
		total := 0
		for a, ids := range want {
			total += len(ids)
			if got := tx.Mentioning(a, MentionMessage); !slices.Equal(got, ids) {
				t.Errorf("%s: messages mentioning %s: %v, the walk finds %v", step, a, got, ids)
			}
		}
		for a, ids := range wantOut {
			total += len(ids)
			if got := tx.Mentioning(strings.ToUpper(a), MentionOutbox); !slices.Equal(got, ids) {
				t.Errorf("%s: outgoing mail mentioning %s: %v, the walk finds %v", step, a, got, ids)
			}
		}
		if n != total {
			t.Errorf("%s: idx_mention holds %d entries, the records %d", step, n, total)
		}
		return nil
	})
}

// checkTicketIndexes compares every filter (and their combinations) with
// the walk over every ticket, and idx_mention with the records.
func checkTicketIndexes(t *testing.T, db *DB, step string) {
	t.Helper()
	checkMentions(t, db, step)
	checkAuditIndex(t, db, step)
	var filters []TicketFilter
	for _, q := range []string{"", "support", "billing", "nosuch"} {
		for _, a := range []string{"", "agent@example.com", "AGENT@example.com", "other@example.com"} {
			for _, open := range []bool{false, true} {
				for _, nf := range []bool{false, true} {
					filters = append(filters, TicketFilter{Queue: q, Assignee: a, Open: open, Notified: nf})
				}
			}
		}
	}
	db.View(func(tx *Tx) error {
		for _, f := range filters {
			want := whereByScan(tx, f)
			if got := where(t, tx, f, 0); !slices.Equal(got, want) {
				t.Errorf("%s: TicketsWhere(%+v) = %v, the walk over every ticket finds %v", step, f, got, want)
			}
			if len(want) > 1 {
				if got := where(t, tx, f, want[0]); !slices.Equal(got, want[1:]) {
					t.Errorf("%s: TicketsWhere(%+v) after %d = %v, want %v", step, f, want[0], got, want[1:])
				}
			}
		}
		return nil
	})
}

func fillQueue(t *testing.T, db *DB, i int, queue, assignee string) uint64 {
	t.Helper()
	tk := fill(t, db, fmt.Sprintf("p%d@example.org", i), fmt.Sprintf("m%d@example.org", i))
	err := db.Update(func(tx *Tx) error {
		cur, err := tx.Ticket(tk.Number)
		if err != nil {
			return err
		}
		// A message of someone else that names p<i-1> and an outgoing mail that does.
		other, err := tx.EnsurePerson(fmt.Sprintf("o%d@example.org", i), "", ActorSystem)
		if err != nil {
			return err
		}
		m := &Message{PersonID: other.ID, From: Address{Email: other.Email}, Cc: []Address{{Email: fmt.Sprintf("P%d@Example.org", i-1)}},
			Text: fmt.Sprintf("Bitte auch an p%d@example.org, nicht an xp%d@example.org.", i+1, i), Subject: "Re: Drucker"}
		if err := tx.AddMessage(cur, m, nil, ActorSystem); err != nil {
			return err
		}
		if err := tx.Enqueue(&OutboxItem{Ticket: cur.Number, To: []string{other.Email},
			Raw: []byte(fmt.Sprintf("To: %s\r\n\r\nWie p%d@example.org schrieb", other.Email, i+2))}, ActorSystem); err != nil {
			return err
		}
		cur.Queue, cur.Assignee = queue, assignee
		return tx.UpdateTicket(cur, TicketAssigned(cur.Number, 0, ActorAdmin))
	})
	if err != nil {
		t.Fatal(err)
	}
	return tk.Number
}

func change(t *testing.T, db *DB, n uint64, fn func(tk *Ticket)) {
	t.Helper()
	err := db.Update(func(tx *Tx) error {
		tk, err := tx.Ticket(n)
		if err != nil {
			return err
		}
		fn(tk)
		return tx.UpdateTicket(tk, TicketClosed(n, ActorAdmin))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTicketIndexesFollowTheTicket(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir)
	var n []uint64
	for i := range 8 {
		q := []string{"support", "billing"}[i%2]
		a := []string{"", "agent@example.com", "other@example.com"}[i%3]
		n = append(n, fillQueue(t, db, i, q, a))
	}
	checkTicketIndexes(t, db, "ingest")
	change(t, db, n[0], func(tk *Ticket) { tk.Status = StatusClosed })
	change(t, db, n[1], func(tk *Ticket) { tk.Queue, tk.Assignee = "support", "AGENT@example.com" })
	change(t, db, n[2], func(tk *Ticket) {
		tk.Notified = []Notified{{Agent: "agent@example.com", Kind: NotifyNew, Content: "full"}}
	})
	change(t, db, n[3], func(tk *Ticket) { tk.Assignee = "" })
	// A redaction changes a message's text; an outgoing copy is redacted too.
	if err := db.Update(func(tx *Tx) error {
		ms, err := tx.TicketMessages(n[6])
		if err != nil {
			return err
		}
		m := ms[1]
		m.Text, m.Cc = "Bitte an [erased].", nil
		if err := tx.PutMessage(m, MessageRedacted(m, ActorAdmin)); err != nil {
			return err
		}
		it, err := tx.OutboxItem(tx.OutboxOf(n[6])[0])
		if err != nil {
			return err
		}
		it.Raw = []byte("To: x@example.org\r\n\r\n[erased]")
		it.Status = OutboxSent
		return tx.UpdateOutbox(it, ActorSystem)
	}); err != nil {
		t.Fatal(err)
	}
	checkTicketIndexes(t, db, "changes")
	// Purge: anonymise one, delete another; erase: a person's tickets go.
	if err := db.Update(func(tx *Tx) error {
		if err := tx.AnonymizeTicket(n[2], ActorScheduler, "retention"); err != nil {
			return err
		}
		return tx.DeleteTicket(n[4], ActorScheduler, "retention")
	}); err != nil {
		t.Fatal(err)
	}
	checkTicketIndexes(t, db, "purge")
	if err := db.Update(func(tx *Tx) error { return tx.DeleteTicket(n[5], ActorAdmin, "erasure") }); err != nil {
		t.Fatal(err)
	}
	checkTicketIndexes(t, db, "erasure")
	db.View(func(tx *Tx) error {
		for _, name := range ticketIndexBuckets {
			tx.b(name).ForEach(func(k, _ []byte) error {
				num := k[len(k)-8:]
				if tx.b(bTickets).Get(num) == nil {
					t.Errorf("%s holds %x of a ticket that is gone", name, k)
				}
				return nil
			})
		}
		return nil
	})

	// Restore: the copy's indexes answer as the original's.
	out := filepath.Join(t.TempDir(), "backup.tar")
	if _, err := db.BackupArchive(out, false); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(t.TempDir(), "keys.snap")
	if _, err := db.BackupKeys(snap, false); err != nil {
		t.Fatal(err)
	}
	db.Close()
	dirB := filepath.Join(t.TempDir(), "data")
	if _, err := Restore(out, dirB, false); err != nil {
		t.Fatal(err)
	}
	if err := RestoreKeys(snap, dirB, false); err != nil {
		t.Fatal(err)
	}
	copyFile(t, testMaster(dir), testMaster(dirB))
	db = openTest(t, dirB)
	defer db.Close()
	checkTicketIndexes(t, db, "restore")
}

func TestTicketIndexesOfAnOlderStoreAreBuiltOnOpen(t *testing.T) {
	for _, mode := range []string{"encrypted", "plaintext", "encrypted on open", "indexed, encrypted on open"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			var db *DB
			if mode == "encrypted" {
				db = openTest(t, dir)
			} else {
				db = openPlain(t, dir)
			}
			for i := range 6 {
				fillQueue(t, db, i, []string{"support", "billing"}[i%2], []string{"", "agent@example.com"}[i%2])
			}
			// Make the file look like one written before the ticket indexes.
			err := db.bolt.Update(func(tx *bolt.Tx) error {
				if mode == "indexed, encrypted on open" {
					return nil // plaintext keys, re-keyed by the encryption
				}
				return unbuildIndexes(tx)
			})
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
			if mode == "plaintext" {
				db = openPlain(t, dir)
			} else {
				db = openTest(t, dir)
			}
			defer db.Close()
			checkTicketIndexes(t, db, mode)
			db.View(func(tx *Tx) error {
				if tx.b(bMeta).Get(keyTicketIdx) == nil {
					t.Error("idx_v3 not set after the build")
				}
				return nil
			})
		})
	}
}
