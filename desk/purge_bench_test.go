package desk

import (
	"bytes"
	"context"
	mrand "math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"ticketd/config"
	"ticketd/mail"
	"ticketd/mail/imap"
	"ticketd/mail/mailtest"
	"ticketd/retention"
	"ticketd/store"
	"ticketd/store/storetest"
)

// BenchmarkPurgeDuringIngest purges the oldest tenth of the tickets of a
// storetest fixture (100,000 due in 1,000,000 with TICKETD_BENCH_1M set;
// 10,000 in 100,000 without), a copy of it planned with the support
// purpose anonymized after a retention counted from collection, while a
// steady ingest delivers batches of 10 benchmark mails every 10 ms as the
// mailbox supervisor does (Prepare, one write transaction, Committed). It
// reports the purge's time and how long each ingest commit waited for the
// write lock (from the Update call until its function ran: the purge's
// transactions and its closing scrub are what it waits for), the longest
// and the 99th percentile, and the longest whole ingest transaction, wait
// and commit included.
//
//	TICKETD_BENCH_1M=1 TICKETD_FIXTURES=/var/tmp/ticketd-fixtures \
//	  go test -run='^$' -bench=PurgeDuringIngest -benchtime=1x -timeout=60m ./desk/
func BenchmarkPurgeDuringIngest(b *testing.B) {
	n := 100_000
	if os.Getenv("TICKETD_BENCH_1M") != "" {
		n = 1_000_000
	}
	for range b.N {
		b.StopTimer()
		cfg, purgeAt := purgeFixtureConfig(b, n)
		base := storetest.DerivedFixture(b, n, "-purge", func(dir string) error {
			return planPurgeFixture(b, cfg, dir)
		})
		dir := storetest.CopyFixture(b, base)
		cfg.Server.DataDir, cfg.Server.MasterKeyFile = dir, storetest.MasterKey(dir)
		clock := storetest.NewClock(purgeAt)
		db, err := store.Open(dir, store.Options{Now: clock.Now, MasterKeyFile: cfg.Server.MasterKeyFile, MustExist: true})
		if err != nil {
			b.Fatal(err)
		}
		d, err := New(db, cfg, testLogger(b))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := retention.Reindex(b.Context(), db, cfg); err != nil {
			b.Fatal(err)
		}
		// About n/10: the benchmarks that erase people of the fixture erased some.
		var due int
		if err := db.View(func(tx *store.Tx) error {
			ids, err := tx.Due(store.PlanPurge, purgeAt, 0)
			due = len(ids)
			return err
		}); err != nil {
			b.Fatal(err)
		}

		rnd := mrand.New(mrand.NewPCG(1, 2))
		spool := b.TempDir()
		stop := make(chan struct{})
		var waits, commits []time.Duration
		var mails int
		var wg sync.WaitGroup
		wg.Go(func() {
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for uid := uint32(1); ; {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				batch := imap.Batch{Mailbox: "support"}
				for range 10 {
					f, err := mail.ReadFetched(bytes.NewReader(benchMail(int(uid), rnd)), spool, 1<<20)
					if err != nil {
						b.Error(err)
						return
					}
					f.UID = uid
					uid++
					batch.Mails = append(batch.Mails, f)
				}
				pr, err := d.Prepare(context.Background(), &batch)
				if err != nil {
					b.Error(err)
					return
				}
				asked := time.Now()
				err = db.Update(func(tx *store.Tx) error {
					waits = append(waits, time.Since(asked))
					_, err := pr.Write(tx)
					return err
				})
				if err != nil {
					b.Error(err)
					return
				}
				commits = append(commits, time.Since(asked))
				pr.Committed()
				mails += len(batch.Mails)
			}
		})
		b.StartTimer()
		start, cpu0 := time.Now(), cpuTime()
		rep, err := retention.Purge(b.Context(), db, cfg, retention.PurgeOptions{At: purgeAt})
		took, cpu := time.Since(start), cpuTime()-cpu0
		b.StopTimer()
		close(stop)
		wg.Wait()
		if err != nil {
			b.Fatal(err)
		}
		if rep.Anonymized != due {
			b.Fatalf("anonymized %d, want %d", rep.Anonymized, due)
		}
		if len(waits) == 0 {
			b.Fatal("no ingest during the purge")
		}
		slices.Sort(waits)
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		b.ReportMetric(took.Seconds(), "s/purge")
		b.ReportMetric(cpu.Seconds(), "cpu-s/purge") // the process's, the ingest's included
		b.ReportMetric(float64(rep.Anonymized)/took.Seconds(), "tickets/s")
		b.ReportMetric(ms(waits[len(waits)-1]), "ms/max-ingest-wait")
		b.ReportMetric(ms(waits[len(waits)*99/100]), "ms/p99-ingest-wait")
		slices.Sort(commits)
		b.ReportMetric(ms(commits[len(commits)-1]), "ms/max-ingest-commit")
		b.ReportMetric(ms(rep.Scrub.Pause), "ms/scrub-pause")
		b.ReportMetric(float64(mails), "ingested-mails")
		db.Close()
	}
}

// purgeFixtureConfig is the configuration of BenchmarkPurgeDuringIngest
// on the fixture of n tickets, and the time at which its oldest tenth is
// due: the support purpose anonymized a whole number of days after
// collection (ticket i of the fixture was made n-i minutes before its epoch).
func purgeFixtureConfig(b *testing.B, n int) (*config.Config, time.Time) {
	cfg := testConfig(b, &mailtest.Account{Addr: "127.0.0.1:1"})
	keep := time.Duration(n-n/10) * time.Minute
	days := int((keep + 24*time.Hour - 1) / (24 * time.Hour))
	p := &cfg.Purposes[0]
	p.CountedFrom, p.OnExpiry, p.Retention = "collected", retention.Anonymize, config.Period{Days: days}
	// Ticket n/10 is due then, ticket n/10+1 a minute later.
	at := storetest.FixtureEpoch.Add(time.Duration(days)*24*time.Hour - keep + 30*time.Second)
	return cfg, at
}

// planPurgeFixture opens the fixture copy in dir with cfg (the desk's keys
// made, the retention planner installed) and plans every ticket with it.
func planPurgeFixture(b *testing.B, cfg *config.Config, dir string) error {
	c := *cfg
	c.Server.DataDir, c.Server.MasterKeyFile = dir, storetest.MasterKey(dir)
	db, err := store.Open(dir, store.Options{Now: func() time.Time { return storetest.FixtureEpoch }, MasterKeyFile: c.Server.MasterKeyFile, MustExist: true})
	if err != nil {
		return err
	}
	if _, err := New(db, &c, testLogger(b)); err != nil {
		db.Close()
		return err
	}
	if _, err := retention.Reindex(b.Context(), db, &c); err != nil {
		db.Close()
		return err
	}
	return db.Close()
}
