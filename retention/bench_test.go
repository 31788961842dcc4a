package retention

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"ticketd/store"
	"ticketd/store/storetest"
)

var (
	benchTickets = flag.Int("purge.tickets", 1_000_000, "BenchmarkPurge: tickets in the store")
	benchDue     = flag.Int("purge.due", 100_000, "BenchmarkPurge: how many of them are due")
	benchBatch   = flag.Int("purge.batch", DefaultBatch, "BenchmarkPurge: tickets per purge transaction")
)

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

// buildBenchStore writes tickets tickets, every (tickets/due)th of them due at purgeAt.
func buildBenchStore(b *testing.B, e *env, tickets, due int, purgeAt time.Time) {
	const perTx = 20000
	every := max(1, tickets/max(1, due))
	old, recent := t0, purgeAt.AddDate(0, 0, -1)
	for made := 0; made < tickets; {
		e.update(func(tx *store.Tx) error {
			end := min(tickets, made+perTx)
			for i := made; i < end; i++ {
				created := recent
				if i%every == 0 && i/every < due {
					created = old
				}
				if err := addBenchTicket(tx, i, created); err != nil {
					return err
				}
			}
			made = end
			return nil
		})
	}
}

// compact replaces the store with a compacted copy, as a store in steady
// use looks: building it in large transactions leaves gigabytes of free
// pages, which every commit would write out as the free list.
func (e *env) compact() {
	e.t.Helper()
	path := filepath.Join(e.dir, "ticketd.db")
	if _, err := e.db.Backup(path + ".compact"); err != nil {
		e.t.Fatal(err)
	}
	e.db.Close()
	if err := os.Rename(path+".compact", path); err != nil {
		e.t.Fatal(err)
	}
	e.db = storetest.Open(e.t, e.dir, store.Options{Now: e.clock.Now})
	e.db.SetPlanner(Planner(e.config))
}

// BenchmarkPurge measures a purge of -purge.due due tickets in a store of
// -purge.tickets, and the wait it causes to a concurrent ingest that writes
// one small ticket every 5 ms: the longest and the 99th percentile of those
// transactions, the free-page scrub at the end included (also reported alone).
//
//	go test -run='^$' -bench=Purge -benchtime=1x -timeout=60m ./retention/
func BenchmarkPurge(b *testing.B) {
	for range b.N {
		b.StopTimer()
		e := newEnv(b)
		purgeAt := t0.AddDate(1, 0, 0)
		e.at(purgeAt)
		if _, err := Reindex(b.Context(), e.db, e.config()); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		buildBenchStore(b, e, *benchTickets, *benchDue, purgeAt)
		b.Logf("store of %d tickets built in %v", *benchTickets, time.Since(start).Round(time.Millisecond))
		e.compact()

		// waits: how long each ingest transaction waited for the write
		// lock (or a scrub), from the call until its function ran.
		var waits []time.Duration
		stop := make(chan struct{})
		var lat []time.Duration
		var wg sync.WaitGroup
		wg.Go(func() {
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for i := *benchTickets; ; i++ {
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
		start = time.Now()
		rep, err := Purge(b.Context(), e.db, e.config(), PurgeOptions{At: purgeAt, Batch: *benchBatch})
		took := time.Since(start)
		b.StopTimer()
		close(stop)
		wg.Wait()
		if err != nil {
			b.Fatal(err)
		}
		if rep.Anonymized != *benchDue {
			b.Fatalf("anonymized %d, want %d", rep.Anonymized, *benchDue)
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
