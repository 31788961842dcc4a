package retention

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"ticketd/config"
	"ticketd/config/configtest"
	"ticketd/store"
	"ticketd/store/storetest"
)

var benchBatch = flag.Int("purge.batch", DefaultBatch, "BenchmarkPurge: tickets per purge transaction")

// benchBody is a small message text.
const benchBody = "Guten Tag, meine Bestellung ist nicht angekommen. Bitte prüfen Sie das. Mit freundlichen Grüßen"

// addBenchTicket writes a ticket of purpose collected_anonymize from a person
// of its own with one small message, created at created.
func addBenchTicket(tx *store.Tx, i int, created time.Time) error {
	email := fmt.Sprintf("kunde%d@example.org", i)
	p, err := tx.EnsurePerson(email, fmt.Sprintf("Kunde %d", i), "system")
	if err != nil {
		return err
	}
	tk := &store.Ticket{Subject: fmt.Sprintf("Bestellung %d", i), Status: store.StatusNew, Queue: "support",
		Purpose: "collected_anonymize", RequesterID: p.ID, Participants: []uint64{p.ID}, Language: "de", CreatedAt: created,
		Origin: store.Origin{Channel: store.ChannelFile}}
	if err := tx.CreateTicket(tk, "system"); err != nil {
		return err
	}
	m := &store.Message{Direction: "in", PersonID: p.ID, From: store.Address{Name: p.Name, Email: email},
		Subject: tk.Subject, MessageID: fmt.Sprintf("<b%d@example.org>", i), Text: benchBody,
		ContentHash: fmt.Sprintf("%064x", i), Origin: store.Origin{Channel: store.ChannelFile}}
	return tx.AddMessage(tk, m, store.DedupKey("", m.MessageID, m.ContentHash), "system")
}

// benchSize is the fixture BenchmarkPurge runs on: 1,000,000 tickets
// with TICKETD_BENCH_1M set, 100,000 without.
func benchSize() int {
	if os.Getenv("TICKETD_BENCH_1M") != "" {
		return 1_000_000
	}
	return 100_000
}

// purgeBenchConfig is testConfig with the fixture's purpose support,
// anonymized a whole number of days after collection, and the time at
// which the oldest tenth of the fixture of n is due then (ticket i of it
// was made n-i minutes before storetest.FixtureEpoch).
func purgeBenchConfig(b *testing.B, n int) (*config.Config, time.Time) {
	keep := time.Duration(n-n/10) * time.Minute
	days := int((keep + 24*time.Hour - 1) / (24 * time.Hour))
	purposes := purposeTOML("closed_anonymize", "contract", "2y", "closed", "anonymize", "") +
		purposeTOML("closed_delete", "contract", "2y", "closed", "delete", "") +
		purposeTOML("collected_anonymize", "contract", "90d", "collected", "anonymize", "") +
		purposeTOML("support", "contract", fmt.Sprintf("%dd", days), "collected", "anonymize", "")
	cfg := configtest.Parse(b, fmt.Sprintf(testTOML, purposes))
	return cfg, storetest.FixtureEpoch.Add(time.Duration(days)*24*time.Hour - keep + 30*time.Second)
}

// BenchmarkPurge measures a purge of the oldest tenth of a storetest
// fixture (100,000 due in 1,000,000 with TICKETD_BENCH_1M set, 10,000 in
// 100,000 without; a copy planned with purgeBenchConfig, kept as a derived
// fixture), and the wait it causes to a concurrent ingest that writes
// one small ticket every 5 ms: the longest and the 99th percentile of those
// transactions, the free-page scrub at the end included (also reported alone).
//
//	TICKETD_BENCH_1M=1 TICKETD_FIXTURES=/var/tmp/ticketd-fixtures \
//	  go test -run='^$' -bench=Purge -benchtime=1x -timeout=60m ./retention/
func BenchmarkPurge(b *testing.B) {
	n := benchSize()
	for range b.N {
		b.StopTimer()
		cfg, purgeAt := purgeBenchConfig(b, n)
		base := storetest.DerivedFixture(b, n, "-retention", func(dir string) error {
			db, err := store.Open(dir, store.Options{MasterKeyFile: storetest.MasterKey(dir), MustExist: true})
			if err != nil {
				return err
			}
			db.SetPlanner(Planner(func() *config.Config { return cfg }))
			if _, err := Reindex(b.Context(), db, cfg); err != nil {
				db.Close()
				return err
			}
			return db.Close()
		})
		e := &env{t: b, clock: storetest.NewClock(purgeAt), cfg: cfg, dir: storetest.CopyFixture(b, base)}
		e.db = storetest.Open(b, e.dir, store.Options{Now: e.clock.Now, MustExist: true})
		e.db.SetPlanner(Planner(e.config))
		if _, err := Reindex(b.Context(), e.db, e.config()); err != nil {
			b.Fatal(err)
		}
		due, err := countDue(e.db, store.PlanPurge, purgeAt) // about n/10: benchmarks that erase people of the fixture erased some
		if err != nil {
			b.Fatal(err)
		}

		// waits: how long each ingest transaction waited for the write
		// lock (or a scrub), from the call until its function ran.
		var waits []time.Duration
		stop := make(chan struct{})
		var lat []time.Duration
		var wg sync.WaitGroup
		wg.Go(func() {
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for i := n; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				t := time.Now()
				if err := e.db.Update(func(tx *store.Tx) error {
					waits = append(waits, time.Since(t))
					return addBenchTicket(tx, i, purgeAt)
				}); err != nil {
					b.Error(err)
					return
				}
				lat = append(lat, time.Since(t))
			}
		})
		b.StartTimer()
		start := time.Now()
		rep, err := Purge(b.Context(), e.db, e.config(), PurgeOptions{At: purgeAt, Batch: *benchBatch})
		took := time.Since(start)
		b.StopTimer()
		close(stop)
		wg.Wait()
		if err != nil {
			b.Fatal(err)
		}
		if rep.Anonymized != due {
			b.Fatalf("anonymized %d, want %d", rep.Anonymized, due)
		}
		slices.Sort(lat)
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		b.ReportMetric(float64(rep.Anonymized)/took.Seconds(), "tickets/s")
		b.ReportMetric(took.Seconds(), "s/purge")
		b.ReportMetric(ms(lat[len(lat)-1]), "ms/max-ingest")
		b.ReportMetric(ms(lat[len(lat)*99/100]), "ms/p99-ingest")
		b.ReportMetric(ms(rep.Scrub.Pause), "ms/scrub-pause")
		b.ReportMetric(float64(len(lat)), "ingests")
		slices.Sort(waits)
		b.ReportMetric(ms(waits[len(waits)-1]), "ms/max-ingest-wait")
		b.ReportMetric(ms(waits[len(waits)*99/100]), "ms/p99-ingest-wait")
	}
}
