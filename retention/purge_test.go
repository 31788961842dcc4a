package retention

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ticketd/store"
	"ticketd/store/storetest"
)

// TestPurgeCombinations runs every combination of counted_from, on_expiry
// and hold state, and checks that the ticket is kept one second before its
// due time and acted on at it.
func TestPurgeCombinations(t *testing.T) {
	closedAt := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	heldAt := t0.Add(24 * time.Hour)
	for _, counted := range []string{"closed", "collected"} {
		for _, action := range []string{Anonymize, Delete} {
			for _, hold := range []string{"none", "held", "released early", "released late"} {
				t.Run(counted+"/"+action+"/"+hold, func(t *testing.T) {
					e := newEnv(t)
					purpose := counted + "_" + action
					n := e.ticket("kunde@example.org", "support", purpose, "Frage", "Der Text der Frage")
					base := time.Date(2024, 4, 9, 12, 0, 0, 0, time.UTC) // 90d after t0
					reason := "retention 90d counted from collection on 2024-01-10 ended 2024-04-09"
					if counted == "closed" {
						e.at(closedAt).close(n)
						base = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
						reason = "retention 2y counted from closing on 2024-03-01 ended 2026-03-01"
					}
					due := base
					switch hold {
					case "held":
						e.at(heldAt).update(func(tx *store.Tx) error {
							_, err := AddHold(tx, e.config(), n, "letters", "admin")
							return err
						})
						due = heldAt.AddDate(6, 0, 0)
						reason += "; hold letters ended 2030-01-11"
					case "released early", "released late":
						e.at(heldAt).update(func(tx *store.Tx) error {
							_, err := AddHold(tx, e.config(), n, "letters", "admin")
							return err
						})
						release := base.Add(-time.Hour) // the purpose's rule applies at base
						if hold == "released late" {
							release = base.Add(10 * 24 * time.Hour) // due when released
							due = release
							reason += "; hold letters ended 2026-03-11"
							if counted == "collected" {
								reason = strings.Replace(reason, "2026-03-11", "2024-04-19", 1)
							}
						}
						e.at(release).update(func(tx *store.Tx) error { return ReleaseHold(tx, n, "letters", "admin") })
					}
					if got := e.get(n).PurgeAt; !got.Equal(due) {
						t.Fatalf("PurgeAt = %v, want %v", got, due)
					}

					rep := e.at(due.Add(-time.Second)).purge(due.Add(-time.Second), false)
					if len(rep.Tickets) != 0 || len(e.get(n).Holds) == 0 && hold != "none" {
						t.Fatalf("one second early: %s", acted(rep))
					}
					if tk := e.get(n); !tk.AnonymizedAt.IsZero() || tk.Messages != 1 {
						t.Fatalf("one second early the ticket changed: %+v", tk)
					}

					rep = e.at(due).purge(due, false)
					if want := fmt.Sprintf("%d %s; ", n, action); acted(rep) != want {
						t.Fatalf("at due: %q, want %q", acted(rep), want)
					}
					if rep.Tickets[0].Reason != reason || rep.Tickets[0].Purpose != purpose || !rep.Tickets[0].Due.Equal(due) {
						t.Errorf("report %+v, want reason %q", rep.Tickets[0], reason)
					}
					if rep.Scrub == nil || rep.Scrub.Pages == 0 {
						t.Errorf("no scrub after the purge: %+v", rep.Scrub)
					}
					if action == Delete {
						if e.exists(n) {
							t.Errorf("ticket %d still there after delete", n)
						}
					} else if tk := e.get(n); tk.AnonymizedAt.IsZero() || !tk.PurgeAt.IsZero() {
						t.Errorf("after anonymize: %+v", tk)
					}
					if rep := e.purge(due.AddDate(100, 0, 0), false); len(rep.Tickets) != 0 {
						t.Errorf("acted twice: %s", acted(rep))
					}
				})
			}
		}
	}
}

func TestPurgeOpenTicketNeverDue(t *testing.T) {
	e := newEnv(t)
	n := e.ticket("kunde@example.org", "support", "closed_delete", "Frage", "Text")
	if tk := e.get(n); !tk.PurgeAt.IsZero() {
		t.Fatalf("open ticket planned for %v", tk.PurgeAt)
	}
	// Closed, reopened: retention from closing stops again.
	e.at(t0.AddDate(0, 1, 0)).close(n)
	if tk := e.get(n); !tk.PurgeAt.Equal(t0.AddDate(2, 1, 0)) || tk.Status != store.StatusClosed {
		t.Fatalf("closed: %+v", tk)
	}
	e.setStatus(n, store.StatusOpen)
	if tk := e.get(n); !tk.PurgeAt.IsZero() || !tk.ClosedAt.IsZero() || tk.Status != store.StatusOpen {
		t.Fatalf("reopened: %+v", tk)
	}
	if rep := e.purge(t0.AddDate(100, 0, 0), false); len(rep.Tickets) != 0 {
		t.Errorf("open ticket purged: %s", acted(rep))
	}
	// Under a hold it stays unplanned.
	e.update(func(tx *store.Tx) error { _, err := AddHold(tx, e.config(), n, "letters", "admin"); return err })
	if tk := e.get(n); !tk.PurgeAt.IsZero() {
		t.Errorf("open held ticket planned for %v", tk.PurgeAt)
	}
}

func TestPurgeOffboarded(t *testing.T) {
	e := newEnv(t)
	open := e.ticket("left@example.org", "support", "closed_delete", "Frage", "Text") // open: no retention runs
	collected := e.ticket("left@example.org", "support", "collected_delete", "Frage", "Text")
	heldTk := e.ticket("left@example.org", "support", "closed_anonymize", "Frage", "Text")
	e.update(func(tx *store.Tx) error { _, err := AddHold(tx, e.config(), heldTk, "letters", "admin"); return err })
	off := t0.Add(48 * time.Hour)
	e.at(off).update(func(tx *store.Tx) error {
		p, err := tx.PersonByEmail("left@example.org")
		if err != nil {
			return err
		}
		p.Offboarded = off
		return tx.UpdatePerson(p, store.PersonOffboarded(p.ID, store.ActorAdmin))
	})
	rep := e.purge(off, false)
	if want := fmt.Sprintf("%d anonymize; %d anonymize; ", open, collected); acted(rep) != want {
		t.Fatalf("purge at offboarding: %q, want %q", acted(rep), want)
	}
	if rep.Tickets[0].Reason != "requester offboarded on 2024-01-12" {
		t.Errorf("reason %q", rep.Tickets[0].Reason)
	}
	// The held ticket waits for its hold, then is anonymized too.
	until := e.get(heldTk).Holds[0].Until
	if tk := e.get(heldTk); !tk.PurgeAt.Equal(until) || !tk.AnonymizedAt.IsZero() {
		t.Fatalf("held ticket: %+v", tk)
	}
	rep = e.at(until).purge(until, false)
	if want := fmt.Sprintf("%d anonymize; ", heldTk); acted(rep) != want {
		t.Errorf("after the hold: %q, want %q", acted(rep), want)
	}
	// The person had no ticket left with their data: the record is gone.
	e.db.View(func(tx *store.Tx) error {
		if _, err := tx.PersonByEmail("left@example.org"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("person after anonymizing all their tickets: %v", err)
		}
		return nil
	})
}

// TestPurgePersonRecord: the person goes with the last ticket that references them.
func TestPurgePersonRecord(t *testing.T) {
	e := newEnv(t)
	old := e.ticket("both@example.org", "support", "collected_delete", "alt", "Text")
	only := e.ticket("once@example.org", "support", "collected_anonymize", "alt", "Text")
	e.at(t0.AddDate(0, 6, 0))
	e.ticket("both@example.org", "support", "collected_delete", "neu", "Text")
	rep := e.purge(t0.AddDate(0, 4, 0), false)
	if want := fmt.Sprintf("%d delete; %d anonymize; ", old, only); acted(rep) != want {
		t.Fatalf("purge: %q, want %q", acted(rep), want)
	}
	e.db.View(func(tx *store.Tx) error {
		if _, err := tx.PersonByEmail("both@example.org"); err != nil {
			t.Errorf("person with a ticket left: %v", err)
		}
		if _, err := tx.PersonByEmail("once@example.org"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("person without a ticket: %v", err)
		}
		return nil
	})
}

// TestDryRunAtFutureTime: a dry run for a time in the future lists exactly
// what a real run at that time does, and changes nothing.
func TestDryRunAtFutureTime(t *testing.T) {
	e := newEnv(t)
	var all []uint64
	for i, p := range []string{"closed_anonymize", "closed_delete", "collected_anonymize", "collected_delete"} {
		e.at(t0.AddDate(0, i, 0))
		all = append(all, e.ticket(fmt.Sprintf("k%d@example.org", i), "support", p, "Frage", "Text"))
		all = append(all, e.ticket(fmt.Sprintf("k%d@example.org", i), "billing", p, "Frage", "Text")) // held by rule
	}
	e.at(t0.AddDate(0, 5, 0))
	for _, n := range all[:4] {
		e.close(n)
	}
	future := t0.AddDate(3, 0, 0)
	e.at(t0.AddDate(0, 6, 0))
	before, _ := os.ReadFile(filepath.Join(e.dir, "ticketd.db"))
	dry := e.purge(future, true)
	after, _ := os.ReadFile(filepath.Join(e.dir, "ticketd.db"))
	if !bytes.Equal(before, after) {
		t.Error("the dry run changed the database file")
	}
	if !dry.DryRun || dry.Anonymized != 2 || dry.Deleted != 2 || dry.Scrub != nil {
		t.Errorf("dry run: %+v", dry)
	}
	real := e.at(future).purge(future, false)
	if acted(dry) != acted(real) || fmt.Sprint(dry.Tickets) != fmt.Sprint(real.Tickets) {
		t.Errorf("dry run %v\nreal run %v", dry.Tickets, real.Tickets)
	}
}

// TestAnonymizeLeavesNothingInFile: after the purge the skeleton is left,
// and the person's address, name and text are not in the database file.
func TestAnonymizeLeavesNothingInFile(t *testing.T) {
	e := newEnv(t)
	// A plaintext store: the test looks for the data in clear (an
	// encrypted store holds none; store's tests show that).
	e.db.Close()
	e.db = storetest.OpenPlain(t, t.TempDir(), store.Options{Now: e.clock.Now})
	e.dir = e.db.Dir()
	e.db.SetPlanner(Planner(e.config))
	secret := "Meine Kontonummer ist geheim-4711 und mein Geburtstag der 3. Mai"
	n := e.ticket("erika.mustermann@example.org", "support", "collected_anonymize", "Kündigung Vertrag 4711", secret)
	keep := e.ticket("other@example.net", "support", "closed_anonymize", "Andere Frage", "anderer Text")
	raw := func() []byte {
		b, err := os.ReadFile(filepath.Join(e.dir, "ticketd.db"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	needles := []string{"erika.mustermann@example.org", "Name of erika.mustermann", "geheim-4711", "Kündigung Vertrag 4711"}
	for _, s := range needles {
		if !bytes.Contains(raw(), []byte(s)) {
			t.Fatalf("%q is not in the file before the purge: the test would prove nothing", s)
		}
	}
	at := t0.AddDate(1, 0, 0)
	rep := e.at(at).purge(at, false)
	if acted(rep) != fmt.Sprintf("%d anonymize; ", n) {
		t.Fatalf("purge: %s", acted(rep))
	}
	tk := e.get(n)
	if tk.Subject != "" || tk.RequesterID != 0 || len(tk.Participants) != 0 || tk.Queue != "support" ||
		tk.Purpose != "collected_anonymize" || !tk.CreatedAt.Equal(t0) || tk.Messages != 1 || !tk.AnonymizedAt.Equal(at) {
		t.Errorf("skeleton: %+v", tk)
	}
	e.db.View(func(tx *store.Tx) error {
		msgs, err := tx.TicketMessages(n)
		if err != nil || len(msgs) != 0 {
			t.Errorf("messages left: %v %v", msgs, err)
		}
		return nil
	})
	file := raw()
	for _, s := range needles {
		if bytes.Contains(file, []byte(s)) {
			t.Errorf("%q is still in the database file after the purge", s)
		}
	}
	if !bytes.Contains(file, []byte("other@example.net")) || !e.exists(keep) {
		t.Error("the other person's data went too")
	}
	if _, err := e.db.VerifyAudit(); err != nil {
		t.Errorf("audit trail: %v", err)
	}
}

// TestReindexAfterConfigChange: shorter retention in the configuration makes
// old closed tickets due; the plans follow without touching the tickets.
func TestReindexAfterConfigChange(t *testing.T) {
	e := newEnv(t)
	if _, err := Reindex(t.Context(), e.db, e.config()); err != nil {
		t.Fatal(err)
	}
	n := e.ticket("kunde@example.org", "support", "closed_anonymize", "Frage", "Text")
	e.at(t0.AddDate(0, 1, 0)).close(n)
	now := t0.AddDate(0, 6, 0)
	e.at(now)
	if rep := e.purge(now, false); len(rep.Tickets) != 0 {
		t.Fatalf("purged under 2y: %s", acted(rep))
	}
	if changed, err := Reindex(t.Context(), e.db, e.config()); err != nil || changed != 0 {
		t.Errorf("reindex without a change: %d, %v", changed, err)
	}

	e.setConfig(testConfig(t, "90d"))
	if stale, _ := Stale(e.db, e.config()); !stale {
		t.Fatal("a changed retention is not noticed")
	}
	dry := e.purge(now, true)
	if !dry.FullScan || acted(dry) != fmt.Sprintf("%d anonymize; ", n) {
		t.Errorf("dry run over stale plans: %+v", dry)
	}
	changed, err := Reindex(t.Context(), e.db, e.config())
	if err != nil || changed != 1 {
		t.Fatalf("reindex: %d, %v", changed, err)
	}
	if due := e.get(n).PurgeAt; !due.Equal(t0.AddDate(0, 1, 90)) {
		t.Errorf("PurgeAt after reindex = %v", due)
	}
	if rep := e.purge(now, false); acted(rep) != fmt.Sprintf("%d anonymize; ", n) {
		t.Errorf("purge after reindex: %s", acted(rep))
	}
}

// TestPurgeSkipsHeldTicketWithStalePlan: a ticket whose plan did not see its
// hold (written without the planner) is kept, reported and planned anew.
func TestPurgeSkipsHeldTicketWithStalePlan(t *testing.T) {
	e := newEnv(t)
	if _, err := Reindex(t.Context(), e.db, e.config()); err != nil {
		t.Fatal(err)
	}
	n := e.ticket("kunde@example.org", "support", "collected_delete", "Frage", "Text")
	e.db.SetPlanner(nil)
	e.update(func(tx *store.Tx) error {
		tk, err := tx.Ticket(n)
		if err != nil {
			return err
		}
		tk.Holds = append(tk.Holds, store.Hold{Category: "letters", Since: t0, Until: t0.AddDate(6, 0, 0), By: "admin"})
		return tx.UpdateTicket(tk, store.AuditEvent{Actor: store.ActorAdmin, Action: store.ActionTicketHoldAdded, Ticket: tk.Number})
	})
	e.db.SetPlanner(Planner(e.config))
	at := t0.AddDate(1, 0, 0)
	rep := e.at(at).purge(at, false)
	if len(rep.Tickets) != 0 || len(rep.Held) != 1 || rep.Held[0].Ticket != n || rep.Held[0].Category != "letters" ||
		!rep.Held[0].Until.Equal(t0.AddDate(6, 0, 0)) {
		t.Fatalf("report: %+v", rep)
	}
	if tk := e.get(n); !tk.PurgeAt.Equal(t0.AddDate(6, 0, 0)) {
		t.Errorf("not planned for the hold's end: %v", tk.PurgeAt)
	}
}

func TestPurgeProgressAndBatches(t *testing.T) {
	e := newEnv(t)
	const count = 25
	e.update(func(tx *store.Tx) error {
		for i := range count {
			p, err := tx.EnsurePerson(fmt.Sprintf("p%d@example.org", i), "", "system")
			if err != nil {
				return err
			}
			if err := tx.CreateTicket(&store.Ticket{Status: store.StatusNew, Purpose: "collected_delete", RequesterID: p.ID,
				Participants: []uint64{p.ID}}, "system"); err != nil {
				return err
			}
		}
		return nil
	})
	var calls [][2]int
	at := t0.AddDate(1, 0, 0)
	rep, err := Purge(t.Context(), e.db, e.config(), PurgeOptions{At: at, Batch: 4, Progress: func(done, total int) {
		calls = append(calls, [2]int{done, total})
	}})
	if err != nil || rep.Deleted != count {
		t.Fatalf("purge in batches of 4: %d deleted, %v", rep.Deleted, err)
	}
	// A short run reports no progress at all.
	if len(calls) != 0 {
		t.Errorf("progress calls for a short run: %v", calls)
	}
	p := newProgress(func(done, total int) { calls = append(calls, [2]int{done, total}) }, 25000)
	for range 25 {
		p.add(1000)
	}
	p.finish()
	if fmt.Sprint(calls) != "[[10000 25000] [20000 25000] [25000 25000]]" {
		t.Errorf("progress lines: %v", calls)
	}
}

func TestHoldAuditEventsNameTheCategory(t *testing.T) {
	e := newEnv(t)
	n := e.ticket("erika@example.org", "support", "closed_anonymize", "Vertrag", "Text")
	e.update(func(tx *store.Tx) error { _, err := AddHold(tx, e.config(), n, "letters", "admin"); return err })
	e.update(func(tx *store.Tx) error { return ReleaseHold(tx, n, "letters", "admin") })
	var details []string
	e.db.View(func(tx *store.Tx) error {
		return tx.AuditEvents(func(ev *store.AuditEvent) bool {
			if ev.Ticket == n && strings.HasPrefix(string(ev.Action), "ticket.hold_") {
				details = append(details, string(ev.Action)+": "+ev.Detail)
			}
			return true
		})
	})
	if len(details) != 2 || !strings.HasPrefix(details[0], "ticket.hold_added: category letters until ") ||
		details[1] != "ticket.hold_released: category letters" {
		t.Errorf("hold audit events = %q", details)
	}
}

func TestPurgeDeletesOldQuarantine(t *testing.T) {
	e := newEnv(t)
	raw := bytes.Repeat([]byte("From: quarantaene.kunde@example.org\r\nkaputt\r\n"), 2000) // a file blob, over 64 KiB
	quarantine := func(at time.Time, content []byte) {
		e.at(at)
		w := e.db.NewBlobWriter()
		sum, n, err := w.Put(bytes.NewReader(content))
		if err != nil {
			t.Fatal(err)
		}
		e.update(func(tx *store.Tx) error {
			if err := tx.PutBlobs(w); err != nil {
				return err
			}
			q := &store.Quarantine{Reason: "parse mail: unreadable header", Size: n, ContentHash: sum, Blob: sum,
				Origin: store.Origin{Channel: store.ChannelEmail, Mailbox: "support"}}
			return tx.AddQuarantine(q, sum, "system")
		})
	}
	quarantine(t0, raw)                                      // 1: older than 30d at the purge
	quarantine(t0.Add(time.Hour), []byte("kaputt, klein"))   // 2: too
	quarantine(t0.AddDate(0, 0, 20), []byte("jung, bleibt")) // 3: kept
	at := t0.AddDate(0, 0, 30).Add(2 * time.Hour)

	dry := e.purge(at, true)
	if len(dry.Quarantine) != 2 || dry.Quarantine[0].ID != 1 || dry.Quarantine[1].ID != 2 || dry.Quarantine[0].Reason == "" {
		t.Fatalf("dry run lists %+v, want quarantine 1 and 2", dry.Quarantine)
	}
	if n := countQuarantine(e); n != 3 {
		t.Fatalf("dry run deleted quarantine: %d left", n)
	}
	rep := e.purge(at, false)
	if len(rep.Quarantine) != 2 || rep.Scrub == nil {
		t.Fatalf("purge deleted %+v (scrub %v), want quarantine 1 and 2", rep.Quarantine, rep.Scrub)
	}
	if n := countQuarantine(e); n != 1 {
		t.Errorf("%d quarantine records left, want 1", n)
	}
	data, _ := os.ReadFile(filepath.Join(e.dir, "ticketd.db"))
	if bytes.Contains(data, []byte("kaputt, klein")) {
		t.Error("the deleted small quarantined mail is still in the database file")
	}
	sum := sha256.Sum256(raw)
	if _, err := e.db.OpenBlob(hex.EncodeToString(sum[:])); err == nil {
		t.Error("the deleted large quarantined mail's blob file is still there")
	}
	if again := e.purge(at, false); len(again.Quarantine) != 0 {
		t.Errorf("second purge deleted %+v", again.Quarantine)
	}
}

func countQuarantine(e *env) int {
	n := 0
	e.db.View(func(tx *store.Tx) error {
		return tx.Quarantined(func(*store.Quarantine) bool { n++; return true })
	})
	return n
}
