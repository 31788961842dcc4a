package retention

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"ticketd/store"
	"ticketd/store/storetest"
)

// errKilled is what the crash point panics with.
type errKilled struct{}

// TestPurgeKilledMidwayIsCompletedByTheNext kills a purge (a panic at the
// crash point after a batch committed, which skips everything after it)
// after each of its batches in turn, the last included, where only the
// closing scrub is left to do. The next purge then erases what is left and
// scrubs the free pages, so nothing erased stays in the file, not even in
// the lookup indexes, whose entries the batches leave for the end of the
// purge; the ticket not due is kept.
func TestPurgeKilledMidwayIsCompletedByTheNext(t *testing.T) {
	const due = 3
	for kill := 1; kill <= due; kill++ {
		t.Run(fmt.Sprintf("after batch %d", kill), func(t *testing.T) {
			e := newEnv(t)
			// A plaintext store: the test looks for the erased data in clear.
			e.db.Close()
			e.db = storetest.OpenPlain(t, t.TempDir(), store.Options{Now: e.clock.Now})
			e.dir = e.db.Dir()
			e.db.SetPlanner(Planner(e.config))
			var secrets []string
			for i := range due {
				s := fmt.Sprintf("Geheimnis-%d-Kontonummer-4711", i)
				secrets = append(secrets, s)
				e.ticket(fmt.Sprintf("kunde%d@example.org", i), "support", "collected_anonymize", "Frage", s)
			}
			keep := e.ticket("other@example.net", "support", "closed_anonymize", "Andere Frage", "bleibt-hier")
			raw := func() []byte {
				b, err := os.ReadFile(filepath.Join(e.dir, "ticketd.db"))
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			at := t0.AddDate(1, 0, 0)
			e.at(at)

			batches := 0
			batchCommitted = func() {
				if batches++; batches == kill {
					panic(errKilled{})
				}
			}
			func() {
				defer func() {
					if r := recover(); r != (errKilled{}) {
						t.Fatalf("the purge was not killed at the crash point: %v", r)
					}
				}()
				Purge(t.Context(), e.db, e.config(), PurgeOptions{At: at, Batch: 1})
			}()
			batchCommitted = nil
			if !e.db.ScrubDue() {
				t.Error("a purge killed after a batch left no scrub due")
			}
			if kill == due && !bytes.Contains(raw(), []byte(secrets[due-1])) {
				t.Fatal("the last erased text is not in the free pages after the kill: the test would prove nothing")
			}

			rep := e.purge(at, false)
			if got := rep.Anonymized; got != due-kill {
				t.Errorf("the next purge anonymized %d, want %d", got, due-kill)
			}
			if rep.Scrub == nil {
				t.Fatal("the next purge did not scrub")
			}
			if e.db.ScrubDue() {
				t.Error("a scrub is still due after the next purge")
			}
			file := raw()
			for i, s := range secrets {
				if bytes.Contains(file, []byte(s)) {
					t.Errorf("%q is still in the file after the purge that completed the killed one", s)
				}
				// The lookup indexes' entries (plain keys in a plaintext
				// store), which the killed purge left for after its batches.
				if a := fmt.Sprintf("kunde%d@example.org", i); bytes.Contains(file, []byte(a)) {
					t.Errorf("the address %s is still in the file after the purge that completed the killed one", a)
				}
			}
			if n := e.db.PendingLookupDrops(); n != 0 {
				t.Errorf("%d lookup index drops left after the next purge", n)
			}
			if !bytes.Contains(file, []byte("bleibt-hier")) || !e.exists(keep) {
				t.Error("the ticket not due is gone")
			}
		})
	}
}
