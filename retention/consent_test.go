package retention

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"ticketd/store"
)

const grace = 14 * 24 * time.Hour

func (e *env) sweep(now time.Time) *ConsentReport {
	e.t.Helper()
	e.at(now)
	rep, err := SweepConsent(e.t.Context(), e.db, e.config(), now)
	if err != nil {
		e.t.Fatal(err)
	}
	return rep
}

// decide records a consent decision of the person at the clock's time, as
// the consent page does, and plans their tickets anew.
func (e *env) decide(email, purpose, decision string) {
	e.t.Helper()
	e.update(func(tx *store.Tx) error {
		p, err := tx.PersonByEmail(email)
		if err != nil {
			return err
		}
		return tx.RecordConsent(&store.ConsentRecord{Person: p.ID, Purpose: purpose, Decision: decision, Channel: "link"}, "customer")
	})
}

func done(rep *ConsentReport) string {
	var s string
	for _, a := range rep.Tickets {
		s += fmt.Sprintf("%d %s; ", a.Ticket, a.Done)
	}
	return s
}

func TestConsentGraceRestrict(t *testing.T) {
	e := newEnv(t)
	n := e.ticket("kunde@example.org", "support", "feedback", "Idee", "Text")
	other := e.ticket("kunde@example.org", "support", "closed_anonymize", "Frage", "Text") // not consent-based
	if tk := e.get(n); !tk.ConsentDue.Equal(t0.Add(grace)) {
		t.Fatalf("ConsentDue = %v", tk.ConsentDue)
	}
	if tk := e.get(other); !tk.ConsentDue.IsZero() {
		t.Fatalf("contract ticket has ConsentDue %v", tk.ConsentDue)
	}
	if rep := e.sweep(t0.Add(grace - time.Second)); len(rep.Tickets) != 0 {
		t.Fatalf("before the grace period ended: %s", done(rep))
	}
	rep := e.sweep(t0.Add(grace))
	if done(rep) != fmt.Sprintf("%d restricted; ", n) || rep.Restricted != 1 || rep.Scrub != nil {
		t.Fatalf("at the end of grace: %+v", rep)
	}
	if rep.Tickets[0].Reason != "no consent within 14d of 2024-01-10" {
		t.Errorf("reason %q", rep.Tickets[0].Reason)
	}
	tk := e.get(n)
	if tk.Restricted == nil || tk.Restricted.Reason != store.RestrictedNoConsent || !tk.Restricted.Since.Equal(t0.Add(grace)) ||
		!tk.ConsentDue.IsZero() || tk.Messages != 1 {
		t.Errorf("restricted ticket: %+v", tk)
	}
	if rep := e.sweep(t0.AddDate(1, 0, 0)); len(rep.Tickets) != 0 {
		t.Errorf("swept twice: %s", done(rep))
	}
}

func TestConsentGraceErase(t *testing.T) {
	e := newEnv(t)
	n := e.ticket("weg@example.org", "support", "feedback_erase", "Idee", "Der vertrauliche Text")
	e.at(t0.Add(24 * time.Hour))
	second := e.ticket("weg@example.org", "support", "feedback_erase", "Idee 2", "Text")
	if rep := e.sweep(t0.Add(grace - time.Second)); len(rep.Tickets) != 0 {
		t.Fatalf("before the grace period ended: %s", done(rep))
	}
	// The first ticket's grace ends; the second still has a day.
	rep := e.sweep(t0.Add(grace))
	if done(rep) != fmt.Sprintf("%d erased; ", n) || rep.Scrub == nil {
		t.Fatalf("at the end of grace: %+v", rep)
	}
	if e.exists(n) || !e.exists(second) {
		t.Fatal("wrong tickets erased")
	}
	rep = e.sweep(t0.Add(grace + 24*time.Hour))
	if done(rep) != fmt.Sprintf("%d erased; ", second) {
		t.Fatalf("second ticket: %s", done(rep))
	}
	e.db.View(func(tx *store.Tx) error {
		if _, err := tx.PersonByEmail("weg@example.org"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("person after erasing all their tickets: %v", err)
		}
		return nil
	})
	raw, _ := os.ReadFile(filepath.Join(e.dir, "ticketd.db"))
	for _, s := range []string{"weg@example.org", "vertrauliche"} {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("%q still in the database file", s)
		}
	}
}

func TestConsentWithdrawalDueAtOnce(t *testing.T) {
	e := newEnv(t)
	n := e.ticket("kunde@example.org", "support", "feedback_erase", "Idee", "Text")
	sibling := e.ticket("kunde@example.org", "support", "feedback_erase", "Idee 2", "Text")
	e.at(t0.Add(time.Hour)).decide("kunde@example.org", "feedback_erase", store.ConsentGranted)
	if tk := e.get(n); !tk.ConsentDue.IsZero() {
		t.Fatalf("granted, still due %v", tk.ConsentDue)
	}
	withdrawn := t0.Add(48 * time.Hour)
	e.at(withdrawn).decide("kunde@example.org", "feedback_erase", store.ConsentWithdrawn)
	if tk := e.get(n); !tk.ConsentDue.Equal(withdrawn) {
		t.Fatalf("withdrawn: ConsentDue %v, want %v", tk.ConsentDue, withdrawn)
	}
	rep := e.sweep(withdrawn)
	if done(rep) != fmt.Sprintf("%d erased; %d erased; ", n, sibling) || rep.Tickets[0].Reason != "consent withdrawn on 2024-01-12" {
		t.Fatalf("after withdrawal: %+v", rep)
	}
}

// TestConsentWithdrawalMissedReplan: a withdrawal recorded without planning
// the sibling tickets anew still reaches them when one of them is swept.
func TestConsentWithdrawalMissedReplan(t *testing.T) {
	e := newEnv(t)
	n := e.ticket("kunde@example.org", "support", "feedback", "Idee", "Text")
	sibling := e.ticket("kunde@example.org", "support", "feedback", "Idee 2", "Text")
	e.at(t0.Add(time.Hour)).decide("kunde@example.org", "feedback", store.ConsentGranted)
	e.at(t0.Add(2 * time.Hour)).update(func(tx *store.Tx) error {
		p, _ := tx.PersonByEmail("kunde@example.org")
		if err := tx.RecordConsent(&store.ConsentRecord{Person: p.ID, Purpose: "feedback", Decision: store.ConsentWithdrawn, Channel: "link"}, "customer"); err != nil {
			return err
		}
		return tx.Replan(n) // only the ticket whose link was used
	})
	rep := e.sweep(t0.Add(2 * time.Hour))
	if done(rep) != fmt.Sprintf("%d restricted; %d restricted; ", n, sibling) {
		t.Fatalf("sweep: %s", done(rep))
	}
}

func TestConsentGrantBeforeEnd(t *testing.T) {
	e := newEnv(t)
	n := e.ticket("kunde@example.org", "support", "feedback_erase", "Idee", "Text")
	e.at(t0.Add(grace-time.Minute)).decide("kunde@example.org", "feedback_erase", store.ConsentGranted)
	if rep := e.sweep(t0.AddDate(0, 2, 0)); len(rep.Tickets) != 0 {
		t.Fatalf("granted in time, yet: %s", done(rep))
	}
	if tk := e.get(n); tk.Restricted != nil || !tk.ConsentDue.IsZero() {
		t.Errorf("ticket: %+v", tk)
	}
}

// TestConsentWithdrawnBeforeTicket: a withdrawal before the ticket existed
// leaves the new ticket its own grace period.
func TestConsentWithdrawnBeforeTicket(t *testing.T) {
	e := newEnv(t)
	e.ticket("kunde@example.org", "support", "closed_anonymize", "Frage", "Text")
	e.at(t0.Add(time.Hour)).decide("kunde@example.org", "feedback", store.ConsentWithdrawn)
	created := t0.Add(24 * time.Hour)
	n := e.at(created).ticket("kunde@example.org", "support", "feedback", "Idee", "Text")
	if tk := e.get(n); !tk.ConsentDue.Equal(created.Add(grace)) {
		t.Errorf("ConsentDue = %v, want the grace period after creation", tk.ConsentDue)
	}
}

func TestConsentHeldEraseRestricts(t *testing.T) {
	e := newEnv(t)
	n := e.ticket("kunde@example.org", "support", "feedback_erase", "Re: invoice 12", "Text") // held by subject rule
	if tk := e.get(n); len(tk.Holds) != 1 || tk.Holds[0].Category != "invoices" || tk.Holds[0].By != "rule" {
		t.Fatalf("holds: %+v", tk.Holds)
	}
	rep := e.sweep(t0.Add(grace))
	if done(rep) != fmt.Sprintf("%d %s; ", n, HeldRestricted) || rep.HeldRestricted != 1 || rep.Erased != 0 ||
		!rep.Tickets[0].HeldUntil.Equal(time.Date(2035, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("held: %+v", rep)
	}
	if tk := e.get(n); tk.Restricted == nil || tk.Messages != 1 {
		t.Errorf("held ticket: %+v", tk)
	}
}

func TestApplyHoldRules(t *testing.T) {
	cfg := testConfig(t, "2y")
	for _, c := range []struct {
		queue, subject, want string
	}{
		{"support", "Frage", ""},
		{"billing", "Frage", "letters"},
		{"support", "Your INVOICE 4711", "invoices"},
		{"billing", "invoice", "letters invoices"},
		{"support", "invoices", ""}, // \b: a whole word only
	} {
		tk := &store.Ticket{Queue: c.queue, Subject: c.subject}
		ApplyHoldRules(cfg, tk, t0)
		got := ""
		for _, h := range tk.Holds {
			got += " " + h.Category
			if h.By != "rule" || !h.Since.Equal(t0) {
				t.Errorf("hold %+v", h)
			}
		}
		if len(got) > 0 {
			got = got[1:]
		}
		if got != c.want {
			t.Errorf("%s %q: holds %q, want %q", c.queue, c.subject, got, c.want)
		}
	}
	// from_year_end counts from the end of the year the hold was set in.
	tk := &store.Ticket{Subject: "invoice"}
	ApplyHoldRules(cfg, tk, t0)
	if want := time.Date(2035, 1, 1, 0, 0, 0, 0, time.UTC); !tk.Holds[0].Until.Equal(want) {
		t.Errorf("invoices hold until %v, want %v", tk.Holds[0].Until, want)
	}
}

func TestHoldAddRelease(t *testing.T) {
	e := newEnv(t)
	n := e.ticket("kunde@example.org", "support", "closed_anonymize", "Frage", "Text")
	add := func(cat string) error {
		return e.db.Update(func(tx *store.Tx) error { _, err := AddHold(tx, e.config(), n, cat, "admin"); return err })
	}
	if err := add("nonsense"); !errors.Is(err, ErrUnknownHold) {
		t.Errorf("unknown category: %v", err)
	}
	if err := add("letters"); err != nil {
		t.Fatal(err)
	}
	if err := add("letters"); !errors.Is(err, ErrAlreadyHeld) {
		t.Errorf("twice: %v", err)
	}
	var holds []ActiveHold
	e.db.View(func(tx *store.Tx) error { holds, _ = ActiveHolds(tx, t0); return nil })
	if len(holds) != 1 || holds[0].Ticket != n || holds[0].Category != "letters" || holds[0].By != "admin" {
		t.Errorf("active holds: %+v", holds)
	}
	release := t0.AddDate(1, 0, 0)
	e.at(release).update(func(tx *store.Tx) error { return ReleaseHold(tx, n, "letters", "admin") })
	if err := e.db.Update(func(tx *store.Tx) error { return ReleaseHold(tx, n, "letters", "admin") }); !errors.Is(err, ErrNotHeld) {
		t.Errorf("release twice: %v", err)
	}
	tk := e.get(n)
	if len(tk.Holds) != 1 || !tk.Holds[0].Until.Equal(release) {
		t.Errorf("history after release: %+v", tk.Holds)
	}
	e.db.View(func(tx *store.Tx) error { holds, _ = ActiveHolds(tx, release); return nil })
	if len(holds) != 0 {
		t.Errorf("active after release: %+v", holds)
	}
}
