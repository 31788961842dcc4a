package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/table.golden from the current output")

// TestTable: the figures of go test -bench output come out as one table,
// each beside its floor from the same input and the ratio to it; rows no
// benchmark filled say so; lines that are not results are skipped.
func TestTable(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{filepath.Join("testdata", "bench.txt")}, nil, &out); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "table.golden")
	if *update {
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != string(want) {
		t.Errorf("table:\n%s\nwant:\n%s", out.String(), want)
	}
	// The ratio of ingest to the smaller floor (bbolt here), and another
	// part's rows filled by metric name alone.
	for _, line := range []string{
		"| ingest end to end, encrypted, after_import=seen | 1500 mails/s | 9800 | 0.15 |",
		"| ticketd ingest as a pipe | 98.0 mails/s | 2500 | 0.04 |",
		"| BenchmarkParse, one 6 KB mail | 58.9 µs |",
		"| ingest, 1,000,000 tickets stored | not measured |",
	} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("table lacks %q", line)
		}
	}
}

// TestNoResults: input without a benchmark result (a build failure, a
// wrong file) is an error, not an empty table.
func TestNoResults(t *testing.T) {
	var out bytes.Buffer
	err := run(nil, strings.NewReader("FAIL\tticketd/desk [build failed]\n"), &out)
	if err == nil || out.Len() != 0 {
		t.Errorf("run = %v with output %q, want an error and no table", err, out.String())
	}
}
