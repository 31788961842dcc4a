package store_test

import (
	"os"
	"testing"

	"ticketd/store"
	"ticketd/store/storetest"
)

// scaleSizes are the store sizes of the benchmarks of a large store: 0
// and 100,000 tickets, and 1,000,000 with TICKETD_BENCH_1M set (its
// fixture takes minutes to build).
func scaleSizes() []struct {
	name string
	n    int
} {
	s := []struct {
		name string
		n    int
	}{{"0", 0}, {"100k", 100_000}}
	if os.Getenv("TICKETD_BENCH_1M") != "" {
		s = append(s, struct {
			name string
			n    int
		}{"1M", 1_000_000})
	}
	return s
}

// BenchmarkOpen measures store.Open and Close of a fixture store of each
// size, with its ratio to the empty store's in the same run.
func BenchmarkOpen(b *testing.B) {
	var base float64
	for _, sz := range scaleSizes() {
		b.Run(sz.name, func(b *testing.B) {
			dir := storetest.Fixture(b, sz.n)
			// Once untimed: a fixture of an older layout gets its new indexes.
			db, err := store.Open(dir, store.Options{MustExist: true, MasterKeyFile: storetest.MasterKey(dir)})
			if err != nil {
				b.Fatal(err)
			}
			db.Close()
			for b.Loop() {
				db, err := store.Open(dir, store.Options{MustExist: true, MasterKeyFile: storetest.MasterKey(dir)})
				if err != nil {
					b.Fatal(err)
				}
				if err := db.Close(); err != nil {
					b.Fatal(err)
				}
			}
			ms := float64(b.Elapsed().Microseconds()) / 1000 / float64(b.N)
			b.ReportMetric(ms, "ms/open")
			if sz.n == 0 {
				base = ms
			}
			if base > 0 {
				b.ReportMetric(ms/base, "ratio")
			}
		})
	}
}
