package store

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// benchStore opens an encrypted store of n persons, each with a ticket and
// a message, in a directory kept across the benchmark's runs.
func benchStore(b *testing.B, n int) (*DB, string) {
	b.Helper()
	dir := b.TempDir()
	db, err := Open(dir, Options{MasterKeyFile: testMaster(dir)})
	if err != nil {
		b.Fatal(err)
	}
	const batch = 2000
	for i := 0; i < n; i += batch {
		err := db.Update(func(tx *Tx) error {
			for j := i; j < min(n, i+batch); j++ {
				p, err := tx.EnsurePerson(fmt.Sprintf("kunde%d@example.org", j), "Kunde", "system")
				if err != nil {
					return err
				}
				tk := &Ticket{Subject: "Frage", Status: StatusNew, RequesterID: p.ID}
				if err := tx.CreateTicket(tk, "system"); err != nil {
					return err
				}
				m := &Message{PersonID: p.ID, Direction: DirectionIn, Text: "Hallo"}
				if err := tx.AddMessage(tk, m, nil, "system"); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() { db.Close() })
	return db, dir
}

// BenchmarkRotate100k re-wraps the keys of 100,000 persons under a new master key.
func BenchmarkRotate100k(b *testing.B) {
	const n = 100_000
	db, _ := benchStore(b, n)
	b.ResetTimer()
	for b.Loop() {
		if _, err := db.RotateMasterKey(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "persons/s")
}

// BenchmarkErase erases one person (their ticket, message and person
// record, the key deleted from the key file and the key file's free pages
// overwritten) in a store of 100,000 persons; the data file's Scrub is not
// part of it (the retention benchmark measures that).
func BenchmarkErase(b *testing.B) {
	const n = 100_000
	db, dir := benchStore(b, n)
	next := uint64(1)
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if next > n {
			b.Fatal("more runs than persons")
		}
		id := next
		next++
		err := db.Update(func(tx *Tx) error {
			for _, tk := range tx.TicketsOf(id) {
				if err := tx.DeleteTicket(tk, "admin", "subject erasure"); err != nil {
					return err
				}
			}
			return tx.DeletePerson(id, "admin", "subject erasure")
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	took := time.Since(start)
	b.ReportMetric(float64(b.N)/took.Seconds(), "persons/s")
	if fi, err := os.Stat(filepath.Join(dir, "keys.db")); err == nil {
		b.ReportMetric(float64(fi.Size())/(1<<20), "MiB-keyfile")
	}
}
