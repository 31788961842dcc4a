package retention

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"ticketd/config"
	"ticketd/config/configtest"
	"ticketd/store"
	"ticketd/store/storetest"
)

// testTOML gives the base configuration two queues (support: closed_anonymize,
// billing: closed_delete) and two holds; %s are the purposes.
const testTOML = `
[[queue]]
name = "support"
purpose = "closed_anonymize"
response_time = "1d"

[[queue]]
name = "billing"
purpose = "closed_delete"
response_time = "1d"

%s

[[hold]]
name = "letters"
duration = "6y"
from_year_end = false
queues = ["billing"]

[[hold]]
name = "invoices"
duration = "10y"
subject_pattern = "\\binvoice\\b"
`

// purposeTOML is one [[purpose]] with the keys that matter here.
func purposeTOML(name, basis, retention, countedFrom, onExpiry, extra string) string {
	return fmt.Sprintf(`
[[purpose]]
name = %q
description = { de = "Zweck", en = "Purpose" }
legal_basis = %q
retention = %q
counted_from = %q
on_expiry = %q
recipients = ["Example Hosting GmbH"]
transfers = []
required = { de = "Freiwillig.", en = "Voluntary." }
%s`, name, basis, retention, countedFrom, onExpiry, extra)
}

// testConfig is a configuration with the purposes closed_anonymize,
// closed_delete, collected_anonymize, collected_delete (retention 2y from
// closing, 90d from collection), feedback (consent, grace 14d, restrict) and
// feedback_erase (consent, grace 14d, erase); retention overrides the 2y.
func testConfig(t testing.TB, retention string) *config.Config {
	t.Helper()
	purposes := purposeTOML("closed_anonymize", "contract", retention, "closed", "anonymize", "") +
		purposeTOML("closed_delete", "contract", retention, "closed", "delete", "") +
		purposeTOML("collected_anonymize", "contract", "90d", "collected", "anonymize", "") +
		purposeTOML("collected_delete", "contract", "90d", "collected", "delete", "") +
		purposeTOML("feedback", "consent", "1y", "closed", "delete", `grace = "14d"`) +
		purposeTOML("feedback_erase", "consent", "1y", "closed", "delete", "grace = \"14d\"\nwithout_consent = \"erase\"")
	return configtest.Parse(t, fmt.Sprintf(testTOML, purposes))
}

// env is a store with the planner installed, its clock and its configuration.
type env struct {
	t     testing.TB
	db    *store.DB
	dir   string
	clock *storetest.Clock
	mu    sync.Mutex
	cfg   *config.Config
}

var t0 = time.Date(2024, 1, 10, 12, 0, 0, 0, time.UTC)

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, clock: storetest.NewClock(t0), cfg: testConfig(t, "2y")}
	e.db = storetest.New(t, e.clock.Now)
	e.dir = e.db.Dir()
	e.db.SetPlanner(Planner(e.config))
	return e
}

func (e *env) config() *config.Config {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cfg
}

func (e *env) setConfig(cfg *config.Config) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cfg = cfg
}

// at sets the clock.
func (e *env) at(t time.Time) *env { e.clock.Set(t); return e }

// update runs fn in a write transaction and fails the test on error.
func (e *env) update(fn func(tx *store.Tx) error) {
	e.t.Helper()
	if err := e.db.Update(fn); err != nil {
		e.t.Fatal(err)
	}
}

// ticket creates a ticket of purpose in queue from email at the clock's time,
// with one message whose text is body, as desk does (hold rules included).
func (e *env) ticket(email, queue, purpose, subject, body string) uint64 {
	e.t.Helper()
	var n uint64
	e.update(func(tx *store.Tx) error {
		p, err := tx.EnsurePerson(email, "Name of "+email, "system")
		if err != nil {
			return err
		}
		tk := &store.Ticket{Subject: subject, Status: store.StatusNew, Queue: queue, Purpose: purpose,
			RequesterID: p.ID, Participants: []uint64{p.ID}, Language: "de"}
		ApplyHoldRules(e.config(), tk, tx.Now())
		if err := tx.CreateTicket(tk, "system"); err != nil {
			return err
		}
		m := &store.Message{Direction: "in", PersonID: p.ID, From: store.Address{Name: "Name of " + email, Email: email},
			Subject: subject, MessageID: fmt.Sprintf("<%d.%s>", tx.Now().UnixNano(), email), Text: body,
			ContentHash: fmt.Sprintf("%x", tx.Now().UnixNano()), Origin: store.Origin{Channel: store.ChannelFile}}
		n = tk.Number
		return tx.AddMessage(tk, m, store.DedupKey("", m.MessageID, m.ContentHash), "system")
	})
	return n
}

func (e *env) get(n uint64) *store.Ticket {
	e.t.Helper()
	var tk *store.Ticket
	e.update(func(tx *store.Tx) error {
		var err error
		tk, err = tx.Ticket(n)
		return err
	})
	return tk
}

// exists reports whether ticket n is in the store.
func (e *env) exists(n uint64) bool {
	var found bool
	e.db.View(func(tx *store.Tx) error {
		_, err := tx.Ticket(n)
		found = err == nil
		return nil
	})
	return found
}

// close closes ticket n as the admin does (desk.CloseTicket).
func (e *env) close(n uint64) {
	e.t.Helper()
	e.setStatus(n, store.StatusClosed)
}

// setStatus sets ticket n's status as closing and reopening do.
func (e *env) setStatus(n uint64, status string) {
	e.t.Helper()
	e.update(func(tx *store.Tx) error {
		tk, err := tx.Ticket(n)
		if err != nil {
			return err
		}
		tk.Status, tk.ClosedAt = status, time.Time{}
		event := store.TicketReopened
		if status == store.StatusClosed {
			tk.ClosedAt, event = tx.Now(), store.TicketClosed
		}
		return tx.UpdateTicket(tk, event(n, store.ActorAdmin))
	})
}

func (e *env) purge(at time.Time, dry bool) *Report {
	e.t.Helper()
	rep, err := Purge(e.t.Context(), e.db, e.config(), PurgeOptions{At: at, DryRun: dry, Actor: "admin"})
	if err != nil {
		e.t.Fatal(err)
	}
	return rep
}

// acted is the report's tickets as "N action", in order.
func acted(rep *Report) string {
	var b strings.Builder
	for _, p := range rep.Tickets {
		fmt.Fprintf(&b, "%d %s; ", p.Ticket, p.Action)
	}
	return b.String()
}
