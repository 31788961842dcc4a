package desk

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
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

var (
	purgeTickets = flag.Int("purgeingest.tickets", 1_000_000, "BenchmarkPurgeDuringIngest: tickets in the store")
	purgeDue     = flag.Int("purgeingest.due", 100_000, "BenchmarkPurgeDuringIngest: how many of them are due")
)

// BenchmarkPurgeDuringIngest purges -purgeingest.due due tickets of an
// encrypted store of -purgeingest.tickets while a steady ingest delivers
// batches of 10 benchmark mails every 10 ms as the mailbox supervisor does
// (Prepare, one write transaction, Committed). It reports the purge's time
// and how long each ingest commit waited for the write lock (from the
// Update call until its function ran: the purge's transactions and its
// closing scrub are what it waits for), the longest and the 99th percentile,
// and the longest whole ingest transaction, wait and commit included.
//
//	go test -run='^$' -bench=PurgeDuringIngest -benchtime=1x -timeout=60m ./desk/
func BenchmarkPurgeDuringIngest(b *testing.B) {
	for range b.N {
		b.StopTimer()
		clock := storetest.NewClock(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
		cfg := testConfig(b, &mailtest.Account{Addr: "127.0.0.1:1"})
		p := &cfg.Purposes[0]
		p.CountedFrom, p.OnExpiry, p.Retention = "collected", retention.Anonymize, config.Period{Days: 90}
		dir := cfg.Server.DataDir
		open := func() *store.DB {
			db, err := store.Open(dir, store.Options{Now: clock.Now, MasterKeyFile: cfg.Server.MasterKeyFile})
			if err != nil {
				b.Fatal(err)
			}
			return db
		}
		db := open()
		if _, err := New(db, cfg, testLogger(b)); err != nil { // makes the keys, plans what is built
			b.Fatal(err)
		}
		if _, err := retention.Reindex(b.Context(), db, cfg); err != nil {
			b.Fatal(err)
		}
		purgeAt := clock.Now()
		start := time.Now()
		if err := buildPurgeStore(db, *purgeTickets, *purgeDue, purgeAt.AddDate(-1, 0, 0), purgeAt.AddDate(0, 0, -1)); err != nil {
			b.Fatal(err)
		}
		b.Logf("store of %d tickets built in %v", *purgeTickets, time.Since(start).Round(time.Millisecond))
		// A compacted copy, as a store in steady use looks: building it in
		// large transactions leaves its free pages in every commit's free list.
		path := filepath.Join(dir, "ticketd.db")
		if _, err := db.Backup(path + ".compact"); err != nil {
			b.Fatal(err)
		}
		db.Close()
		if err := os.Rename(path+".compact", path); err != nil {
			b.Fatal(err)
		}
		db = open()
		d, err := New(db, cfg, testLogger(b))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := retention.Reindex(b.Context(), db, cfg); err != nil {
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
		start = time.Now()
		rep, err := retention.Purge(b.Context(), db, cfg, retention.PurgeOptions{At: purgeAt})
		took := time.Since(start)
		b.StopTimer()
		close(stop)
		wg.Wait()
		if err != nil {
			b.Fatal(err)
		}
		if rep.Anonymized != *purgeDue {
			b.Fatalf("anonymized %d, want %d", rep.Anonymized, *purgeDue)
		}
		if len(waits) == 0 {
			b.Fatal("no ingest during the purge")
		}
		slices.Sort(waits)
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		b.ReportMetric(took.Seconds(), "s/purge")
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

// buildPurgeStore writes tickets tickets of the first purpose, each from a
// person of its own with one small message, in large transactions; every
// (tickets/due)th of the first due of them was created at old, the rest at
// recent. It is the fastest correct path through the store's API.
func buildPurgeStore(db *store.DB, tickets, due int, old, recent time.Time) error {
	const perTx = 20000
	every := max(1, tickets/max(1, due))
	for made := 0; made < tickets; {
		err := db.Update(func(tx *store.Tx) error {
			end := min(tickets, made+perTx)
			for i := made; i < end; i++ {
				created := recent
				if i%every == 0 && i/every < due {
					created = old
				}
				email := fmt.Sprintf("kunde%d@example.org", i)
				p, err := tx.EnsurePerson(email, fmt.Sprintf("Kunde %d", i), "system")
				if err != nil {
					return err
				}
				tk := &store.Ticket{Subject: fmt.Sprintf("Bestellung %d", i), Status: store.StatusNew, Queue: "support",
					Purpose: "support", RequesterID: p.ID, Participants: []uint64{p.ID}, Language: "de", CreatedAt: created,
					Origin: store.Origin{Channel: store.ChannelFile}}
				if err := tx.CreateTicket(tk, "system"); err != nil {
					return err
				}
				m := &store.Message{Direction: "in", PersonID: p.ID, From: store.Address{Name: p.Name, Email: email},
					Subject: tk.Subject, MessageID: fmt.Sprintf("<p%d@example.org>", i), Text: "Meine Bestellung ist nicht angekommen.",
					ContentHash: fmt.Sprintf("%064x", i), Origin: store.Origin{Channel: store.ChannelFile}}
				if err := tx.AddMessage(tk, m, store.DedupKey("", m.MessageID, m.ContentHash), "system"); err != nil {
					return err
				}
			}
			made = end
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
