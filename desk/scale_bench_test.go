package desk

import (
	"bytes"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"testing"
	"time"

	"ticketd/agent"
	"ticketd/config"
	"ticketd/consent"
	"ticketd/mail"
	"ticketd/mail/imap"
	"ticketd/mail/mailtest"
	"ticketd/store"
	"ticketd/store/storetest"
)

// The benchmarks of a large store run on storetest.Fixture stores of 0 and
// 100,000 tickets, and of 1,000,000 with TICKETD_BENCH_1M set (its fixture
// takes minutes to build; TICKETD_FIXTURES keeps it across runs). Each
// reports its figure under the name the table of make bench reads
// (ingest-100k-mails/s, start-1m-ms, ...) and its ratio to the empty
// store's, measured in the same run.

type scaleSize struct {
	name string // "0", "100k", "1m"
	n    int
}

func scaleSizes() []scaleSize {
	s := []scaleSize{{"0", 0}, {"100k", 100_000}}
	if os.Getenv("TICKETD_BENCH_1M") != "" {
		s = append(s, scaleSize{"1m", 1_000_000})
	}
	return s
}

// fixtureConfig is the configuration of the desk on the fixture of n
// tickets: the test configuration with the fixture's data directory and
// master key, and the consent and agent keys a store of its age would
// have. For 0 it is a new store of the benchmark's own, so that what
// another benchmark wrote does not count.
func fixtureConfig(b *testing.B, n int) *config.Config {
	b.Helper()
	cfg := testConfig(b, &mailtest.Account{Addr: "127.0.0.1:1"})
	if n == 0 {
		d, err := Open(cfg, testLogger(b), Options{})
		if err != nil {
			b.Fatal(err)
		}
		d.Close()
		return cfg
	}
	dir := storetest.Fixture(b, n)
	cfg.Server.DataDir, cfg.Server.MasterKeyFile = dir, storetest.MasterKey(dir)
	if _, err := consent.LoadKey(dir); err != nil {
		b.Fatal(err)
	}
	if _, err := agent.LoadKey(dir); err != nil {
		b.Fatal(err)
	}
	return cfg
}

func openFixture(b *testing.B, n int) *Desk {
	b.Helper()
	d, err := Open(fixtureConfig(b, n), testLogger(b), Options{MustExist: true})
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// ratioTo reports v under metric and beside it its ratio to the empty
// store's figure of the same run (base, set by the first size).
func ratioTo(b *testing.B, base *float64, sz scaleSize, v float64, metric string) {
	b.ReportMetric(v, metric)
	if sz.n == 0 {
		*base = v
	}
	if *base > 0 {
		b.ReportMetric(v / *base, "ratio")
	}
}

// BenchmarkIngestAt stores batches of 500 benchmark mails (parse, dedup,
// thread, acknowledge, one transaction per batch with fsync) into a store
// that holds 0, 100,000 (and 1,000,000) tickets already. The machine is
// shared, so a size other than 0 stores each batch into a new empty store
// too, alternately, and its ratio is to that interleaved empty-store rate:
// both see the same load.
func BenchmarkIngestAt(b *testing.B) {
	for _, sz := range scaleSizes() {
		b.Run(sz.name, func(b *testing.B) {
			d := openFixture(b, sz.n)
			defer d.Close()
			var empty *Desk
			if sz.n > 0 {
				empty = openFixture(b, 0)
				defer empty.Close()
			}
			spool := b.TempDir()
			// Numbers of its own per run, so that no mail is a duplicate of the last run's.
			off := int(time.Now().UnixNano()%1e9) * 1000
			n := 0
			var at, at0 time.Duration
			batch := func(d *Desk, from int) time.Duration {
				rnd := mrand.New(mrand.NewPCG(uint64(from), 2))
				batch := imap.Batch{Mailbox: "support"}
				for i := range 500 {
					f, err := mail.ReadFetched(bytes.NewReader(benchMail(off+from+i, rnd)), spool, 1<<20)
					if err != nil {
						b.Fatal(err)
					}
					f.UID = uint32(from + i)
					batch.Mails = append(batch.Mails, f)
				}
				start := time.Now()
				if _, err := deliver(d, &batch); err != nil {
					b.Fatal(err)
				}
				return time.Since(start)
			}
			// Untimed, one batch into each: the acknowledgement rate limit of
			// the benchmark's senders is in the same state in both stores then.
			batch(d, 1)
			if empty != nil {
				batch(empty, 1)
			}
			n = 500
			for b.Loop() {
				at += batch(d, n+1)
				if empty != nil {
					at0 += batch(empty, n+1)
				}
				n += 500
			}
			n -= 500
			rate := float64(n) / at.Seconds()
			b.ReportMetric(rate, "mails/s")
			b.ReportMetric(rate, "ingest-"+sz.name+"-mails/s")
			if empty != nil {
				b.ReportMetric(rate/(float64(n)/at0.Seconds()), "ratio")
			}
		})
	}
}

// BenchmarkStart measures what the daemon does at start with its store:
// open it (desk.Open: the store, its key file, the keys of the desk) and
// make the retention and service schedulers; then close it.
func BenchmarkStart(b *testing.B) {
	var base float64
	for _, sz := range scaleSizes() {
		b.Run(sz.name, func(b *testing.B) {
			cfg := fixtureConfig(b, sz.n)
			once := func() {
				d, err := Open(cfg, testLogger(b), Options{MustExist: true})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := d.NewScheduler(); err != nil {
					b.Fatal(err)
				}
				if _, err := d.NewServiceScheduler(nil); err != nil {
					b.Fatal(err)
				}
				if err := d.Close(); err != nil {
					b.Fatal(err)
				}
			}
			once() // untimed: a fixture of an older layout gets its new indexes
			for b.Loop() {
				once()
			}
			ratioTo(b, &base, sz, float64(b.Elapsed().Microseconds())/1000/float64(b.N), "start-"+sz.name+"-ms")
		})
	}
}

// BenchmarkListFirstPage measures the first page of tickets list (50
// tickets), unfiltered, with -overdue and with -queue and -assignee; its
// "0" is a new store holding one page of tickets.
func BenchmarkListFirstPage(b *testing.B) {
	var base float64
	for _, sz := range scaleSizes() {
		b.Run(sz.name, func(b *testing.B) {
			d := openFixture(b, sz.n)
			defer d.Close()
			if sz.n == 0 {
				// A new store with one page of tickets, so that both fill a page.
				spool := b.TempDir()
				rnd := mrand.New(mrand.NewPCG(5, 6))
				batch := imap.Batch{Mailbox: "support"}
				for i := range DefaultPageSize + 10 {
					f, err := mail.ReadFetched(bytes.NewReader(benchMail(3*i, rnd)), spool, 1<<20)
					if err != nil {
						b.Fatal(err)
					}
					f.UID = uint32(i + 1)
					batch.Mails = append(batch.Mails, f)
				}
				if _, err := deliver(d, &batch); err != nil {
					b.Fatal(err)
				}
			}
			for b.Loop() {
				for _, opt := range []ListOptions{{}, {Overdue: true}, {Queue: "support", Assignee: "agent1@example.com"}} {
					if _, err := d.ListTickets(opt); err != nil {
						b.Fatal(err)
					}
				}
			}
			ratioTo(b, &base, sz, float64(b.Elapsed().Microseconds())/1000/float64(b.N)/3, "list-"+sz.name+"-ms")
		})
	}
}

// BenchmarkSubject measures the export and the (dry-run free) erasure of
// one person of the fixture, each iteration another.
func BenchmarkSubject(b *testing.B) {
	var exportBase, eraseBase float64
	for _, sz := range scaleSizes() {
		b.Run(sz.name, func(b *testing.B) {
			d := openFixture(b, sz.n)
			defer d.Close()
			if sz.n == 0 {
				// An empty store has no one to export: one person with one ticket.
				raw := msg{From: "Erika <fixture1@example.org>", Subject: "Frage", MessageID: "s1@example.org", Body: "Hallo"}.raw()
				if _, err := d.IngestFrom(b.Context(), bytes.NewReader(raw), IngestRequest{Mailbox: "support", Silent: true}); err != nil {
					b.Fatal(err)
				}
			}
			var export, erase time.Duration
			i := 0
			for b.Loop() {
				i++
				addr := fmt.Sprintf("fixture%d@example.org", i*97%max(sz.n, 1)+1)
				if sz.n > 0 {
					// The fixture is kept across runs: skip the people an
					// earlier run erased.
					b.StopTimer()
					for !hasPerson(d, addr) {
						i++
						addr = fmt.Sprintf("fixture%d@example.org", i*97%sz.n+1)
					}
					b.StartTimer()
				}
				start := time.Now()
				if err := d.Export(addr, io.Discard); err != nil {
					b.Fatalf("export %s: %v", addr, err)
				}
				export += time.Since(start)
				start = time.Now()
				if _, err := d.Erase(b.Context(), addr, false); err != nil {
					b.Fatalf("erase %s: %v", addr, err)
				}
				erase += time.Since(start)
				if sz.n == 0 {
					b.StopTimer()
					raw := msg{From: "Erika <fixture1@example.org>", Subject: "Frage", MessageID: fmt.Sprintf("s%d@example.org", i+1), Body: "Hallo"}.raw()
					if _, err := d.IngestFrom(b.Context(), bytes.NewReader(raw), IngestRequest{Mailbox: "support", Silent: true}); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			}
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
			b.ReportMetric(ms(export), "export-"+sz.name+"-ms")
			b.ReportMetric(ms(erase), "erase-"+sz.name+"-ms")
			if sz.n == 0 {
				exportBase, eraseBase = ms(export), ms(erase)
			} else if exportBase > 0 && eraseBase > 0 {
				b.ReportMetric(ms(export)/exportBase, "export-ratio")
				b.ReportMetric(ms(erase)/eraseBase, "erase-ratio")
			}
		})
	}
}

// hasPerson reports whether the store of d knows the address.
func hasPerson(d *Desk, addr string) bool {
	found := false
	d.DB.View(func(tx *store.Tx) error {
		_, err := tx.PersonByEmail(addr)
		found = err == nil
		return nil
	})
	return found
}
