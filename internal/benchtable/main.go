// Command benchtable prints the figures of `make bench` as one Markdown
// table, each beside the floor measured in the same run and its ratio to it.
//
//	go test -run='^$' -bench=. ./desk/ > out.txt
//	go run ./internal/benchtable out.txt [more.txt ...]   (or on stdin)
//
// It reads the output of `go test -bench`: each result line gives a
// benchmark's name (the -N GOMAXPROCS suffix is dropped) and the figures it
// reported with b.ReportMetric(value, metric). A row of the table shows one
// (benchmark, metric); its floor is another figure of the same input, so
// the ratio compares figures of one run on one machine. A row whose figure
// is missing shows "not measured"; a figure that comes twice counts as it
// came last (make bench runs BenchmarkParse and BenchmarkDeliver a second
// time for steadier figures; a part that adds a package to make bench adds
// its output file to the benchtable line of the Makefile).
//
// # Metric names
//
// A benchmark fills a row by reporting the metric of that row. The rows of
// ingest, delivery, parse, acknowledgement, erasure, rotation and purge name
// their benchmark (BenchmarkIngest10k/encrypted "mails/s-seen", ...). The
// rows below are filled by any benchmark that reports the metric (the name
// of the benchmark is free); each is the figure on the left, with the floor
// on the right reported in the same benchmark run:
//
//	lmtp-mails/s          mail delivered over LMTP       floor bolt-inserts/s
//	pipe-mails/s          mail piped to ticketd ingest   floor lmtp-mails/s
//	ingest-0-mails/s      ingest into an empty store     floor bolt-inserts/s
//	ingest-100k-mails/s   ingest with 100,000 stored     floor ingest-0-mails/s
//	ingest-1m-mails/s     ingest with 1,000,000 stored   floor ingest-0-mails/s
//	start-0-ms            daemon start, empty store
//	start-1m-ms           daemon start, 1M store         floor start-0-ms
//	list-0-ms             tickets list first page, empty
//	list-1m-ms            tickets list first page, 1M    floor list-0-ms
//	export-0-ms           subject export, empty store
//	export-1m-ms          subject export, 1M store       floor export-0-ms
//	erase-0-ms            subject erase, empty store
//	erase-1m-ms           subject erase, 1M store        floor erase-0-ms
//
// bolt-inserts/s (bbolt alone, 100 inserts per transaction with fsync) and
// fetch-mails/s (a raw IMAP UID FETCH from Dovecot) are reported by
// BenchmarkIngest10k; a benchmark in another package reports its own
// bolt-inserts/s when it needs the floor in its process.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// ref names one figure: a metric of a benchmark, or of any benchmark ("").
type ref struct {
	bench, metric string
}

// row is one line of the table.
type row struct {
	label string
	fig   ref
	unit  string  // unit shown
	scale float64 // the figure times scale is shown (0: 1)
	// floor is the figure the ratio is taken to; several: the smallest.
	floor []ref
}

const ingest = "BenchmarkIngest10k/encrypted"

var (
	fetch = ref{ingest, "fetch-mails/s"}
	bolt  = ref{ingest, "bolt-inserts/s"}
	boltA = ref{"", "bolt-inserts/s"}
)

var rows = []row{
	{label: "floor: raw IMAP fetch (Dovecot, 10,000 mails of 5.7 KB)", fig: fetch, unit: "mails/s"},
	{label: "floor: bbolt insert, 100 per transaction, fsync", fig: bolt, unit: "inserts/s"},
	{label: "ingest end to end, encrypted, after_import=seen", fig: ref{ingest, "mails/s-seen"}, unit: "mails/s", floor: []ref{fetch, bolt}},
	{label: "ingest end to end, encrypted, after_import=keep", fig: ref{ingest, "mails/s-keep"}, unit: "mails/s", floor: []ref{fetch, bolt}},
	{label: "ingest end to end, plain, after_import=seen", fig: ref{"BenchmarkIngest10k/plain", "mails/s-seen"}, unit: "mails/s", floor: []ref{fetch, bolt}},
	{label: "ingest CPU time per mail, encrypted, seen", fig: ref{ingest, "cpu-us/mail-seen"}, unit: "µs"},
	{label: "BenchmarkDeliver (parse and store, no IMAP)", fig: ref{"BenchmarkDeliver", "mails/s"}, unit: "mails/s", floor: []ref{bolt}},
	{label: "BenchmarkParse, one 6 KB mail", fig: ref{"BenchmarkParse", "ns/op"}, unit: "µs", scale: 1e-3},
	{label: "acknowledgement latency, encrypted, median", fig: ref{"BenchmarkAckLatency/encrypted", "median-ms"}, unit: "ms"},
	{label: "acknowledgement latency, encrypted, p99", fig: ref{"BenchmarkAckLatency/encrypted", "p99-ms"}, unit: "ms"},
	{label: "50 MB mail, binary attachment: peak heap in use", fig: ref{"BenchmarkIngestLargeMail/binary", "MiB/peak-heap"}, unit: "MiB"},
	{label: "50 MB mail, text attachment redacted: peak heap in use", fig: ref{"BenchmarkIngestLargeMail/text", "MiB/peak-heap"}, unit: "MiB"},
	{label: "purge of 100,000 due tickets in 1,000,000, with ingest", fig: ref{"BenchmarkPurgeDuringIngest", "s/purge"}, unit: "s"},
	{label: "purge: longest ingest wait for the write lock", fig: ref{"BenchmarkPurgeDuringIngest", "ms/max-ingest-wait"}, unit: "ms"},
	{label: "purge: 99th-percentile ingest wait for the write lock", fig: ref{"BenchmarkPurgeDuringIngest", "ms/p99-ingest-wait"}, unit: "ms"},
	{label: "purge (retention), 100,000 due in 1,000,000", fig: ref{"BenchmarkPurge", "s/purge"}, unit: "s"},
	{label: "erase one person of 100,000 (store)", fig: ref{"BenchmarkErase", "persons/s"}, unit: "persons/s"},
	{label: "erase one person (desk, 1,000 tickets)", fig: ref{"BenchmarkErase1000", "ms/erasure"}, unit: "ms"},
	{label: "rotate the master key, 100,000 persons", fig: ref{"BenchmarkRotate100k", "persons/s"}, unit: "persons/s"},
	{label: "LMTP delivery", fig: ref{"", "lmtp-mails/s"}, unit: "mails/s", floor: []ref{boltA}},
	{label: "ticketd ingest as a pipe", fig: ref{"", "pipe-mails/s"}, unit: "mails/s", floor: []ref{{"", "lmtp-mails/s"}}},
	{label: "ingest, empty store", fig: ref{"", "ingest-0-mails/s"}, unit: "mails/s", floor: []ref{boltA}},
	{label: "ingest, 100,000 tickets stored", fig: ref{"", "ingest-100k-mails/s"}, unit: "mails/s", floor: []ref{{"", "ingest-0-mails/s"}}},
	{label: "ingest, 1,000,000 tickets stored", fig: ref{"", "ingest-1m-mails/s"}, unit: "mails/s", floor: []ref{{"", "ingest-0-mails/s"}}},
	{label: "daemon start, 1M store", fig: ref{"", "start-1m-ms"}, unit: "ms", floor: []ref{{"", "start-0-ms"}}},
	{label: "tickets list, first page, 1M store", fig: ref{"", "list-1m-ms"}, unit: "ms", floor: []ref{{"", "list-0-ms"}}},
	{label: "subject export, 1M store", fig: ref{"", "export-1m-ms"}, unit: "ms", floor: []ref{{"", "export-0-ms"}}},
	{label: "subject erase, 1M store", fig: ref{"", "erase-1m-ms"}, unit: "ms", floor: []ref{{"", "erase-0-ms"}}},
}

// results are the figures read: benchmark -> metric -> value, and the
// benchmarks in the order they came.
type results struct {
	m     map[string]map[string]float64
	order []string
}

var procSuffix = regexp.MustCompile(`-\d+$`)

// parse reads go test -bench output; lines that are not results are skipped.
func parse(r io.Reader, res *results) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.ParseUint(f[1], 10, 64); err != nil {
			continue
		}
		name := procSuffix.ReplaceAllString(f[0], "")
		if res.m[name] == nil {
			res.m[name] = map[string]float64{}
			res.order = append(res.order, name)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			res.m[name][f[i+1]] = v
		}
	}
	return sc.Err()
}

// get is the figure of r; for any benchmark, the first that reported it.
func (res *results) get(r ref) (float64, bool) {
	if r.bench != "" {
		v, ok := res.m[r.bench][r.metric]
		return v, ok
	}
	for _, b := range res.order {
		if v, ok := res.m[b][r.metric]; ok {
			return v, true
		}
	}
	return 0, false
}

func num(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func name(r ref) string {
	if r.bench == "" {
		return "`" + r.metric + "`"
	}
	return "`" + r.bench + " " + r.metric + "`"
}

// table writes the Markdown table of res.
func table(w io.Writer, res *results) {
	fmt.Fprintln(w, "| figure | value | floor (same run) | ratio | metric |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---|")
	for _, r := range rows {
		v, ok := res.get(r.fig)
		if !ok {
			fmt.Fprintf(w, "| %s | not measured | | | %s |\n", r.label, name(r.fig))
			continue
		}
		if r.scale != 0 {
			v *= r.scale
		}
		floor, ratio := "", ""
		if len(r.floor) > 0 {
			f, have := 0.0, false
			for _, fr := range r.floor {
				if x, ok := res.get(fr); ok && (!have || x < f) {
					f, have = x, true
				}
			}
			if have && f > 0 {
				floor, ratio = num(f), strconv.FormatFloat(v/f, 'f', 2, 64)
			} else {
				floor = "not measured"
			}
		}
		fmt.Fprintf(w, "| %s | %s %s | %s | %s | %s |\n", r.label, num(v), r.unit, floor, ratio, name(r.fig))
	}
}

func run(args []string, stdin io.Reader, out io.Writer) error {
	res := &results{m: map[string]map[string]float64{}}
	if len(args) == 0 {
		if err := parse(stdin, res); err != nil {
			return err
		}
	}
	for _, a := range args {
		f, err := os.Open(a)
		if err != nil {
			return err
		}
		err = parse(f, res)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", a, err)
		}
	}
	if len(res.order) == 0 {
		return errors.New("no benchmark results in the input (the output of go test -bench)")
	}
	table(out, res)
	return nil
}

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
}
