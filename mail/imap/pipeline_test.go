package imap_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"ticketd/mail/imap"
	"ticketd/mail/mailtest"
	"ticketd/store"
)

// gatedDeliverer records the order of Prepare, Write and Committed calls
// by batch (its first UID); the Write of the first batch waits for open.
type gatedDeliverer struct {
	mu     sync.Mutex
	events []string
	open   chan struct{}
	first  uint32
}

func (d *gatedDeliverer) log(what string, b *imap.Batch) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.events = append(d.events, fmt.Sprint(what, " ", b.Mails[0].UID))
}

func (d *gatedDeliverer) Prepare(_ context.Context, b *imap.Batch) (imap.Prepared, error) {
	d.log("prepare", b)
	return &gatedBatch{d: d, b: b}, nil
}

func (d *gatedDeliverer) seen() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.events...)
}

type gatedBatch struct {
	d *gatedDeliverer
	b *imap.Batch
}

func (g *gatedBatch) Write(tx *store.Tx) ([]imap.Result, error) {
	g.d.log("write", g.b)
	if g.b.Mails[0].UID == g.d.first {
		<-g.d.open
	}
	return make([]imap.Result, len(g.b.Mails)), nil
}

func (g *gatedBatch) Committed() { g.d.log("committed", g.b) }

// TestNextBatchParsedWhileOneIsStored: the pipeline overlaps its stages,
// so the next batch is prepared (parsed) while the one before it is still
// being written; the writes and commits stay in order, one after the other.
func TestNextBatchParsedWhileOneIsStored(t *testing.T) {
	srv := mailtest.MemIMAP(t, nil)
	var uids []uint32
	for i := range 6 {
		uids = append(uids, srv.Append(t, "INBOX", supMail(i, "")))
	}
	d := &gatedDeliverer{open: make(chan struct{}), first: uids[0]}
	box := supervisedBox(t, &srv.Account)
	box.BatchSize = 2
	db, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := &imap.Supervisor{Box: box, DB: db, Deliver: d, Log: discardLog(), SpoolDir: t.TempDir(),
		MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond, After: newClock(0).After}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done; db.Close() }()

	second := fmt.Sprint("prepare ", uids[2])
	deadline := time.Now().Add(10 * time.Second)
	for !containsEvent(d.seen(), second) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	close(d.open)
	if !containsEvent(d.seen(), second) {
		t.Fatalf("the second batch was not prepared while the first was written: %v", d.seen())
	}
	lastCommit := fmt.Sprint("committed ", uids[4])
	mailtest.WaitFor(t, 20*time.Second, "every batch committed", func() bool { return containsEvent(d.seen(), lastCommit) })
	var order []string
	for _, e := range d.seen() {
		if e[0] != 'p' {
			order = append(order, e)
		}
	}
	var want []string
	for _, u := range []uint32{uids[0], uids[2], uids[4]} {
		want = append(want, fmt.Sprint("write ", u), fmt.Sprint("committed ", u))
	}
	if !slices.Equal(order, want) {
		t.Fatalf("writes and commits %v, want %v", order, want)
	}
}

func containsEvent(events []string, e string) bool { return slices.Contains(events, e) }

// sizingDeliverer records the number and bytes of the mails of each batch.
type sizingDeliverer struct {
	mu      sync.Mutex
	batches [][2]int64
}

func (d *sizingDeliverer) Prepare(_ context.Context, b *imap.Batch) (imap.Prepared, error) {
	var bytes int64
	for _, m := range b.Mails {
		bytes += m.Size
	}
	d.mu.Lock()
	d.batches = append(d.batches, [2]int64{int64(len(b.Mails)), bytes})
	d.mu.Unlock()
	return sizedBatch(len(b.Mails)), nil
}

func (d *sizingDeliverer) seen() [][2]int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.batches)
}

type sizedBatch int

func (n sizedBatch) Write(*store.Tx) ([]imap.Result, error) { return make([]imap.Result, n), nil }
func (sizedBatch) Committed()                               {}

// TestBatchesSizedByBytes: batch_size (50 here) is only the most mails
// per batch.
// A catch-up starts with a small batch (stored early, the stages fill),
// and a batch of large mails holds about 8 MB, not batch_size of them.
func TestBatchesSizedByBytes(t *testing.T) {
	srv := mailtest.MemIMAP(t, nil)
	const n, size = 60, 512 << 10
	var last uint32
	for i := range n {
		last = srv.Append(t, "INBOX", supMail(i, strings.Repeat("x", size)))
	}
	d := &sizingDeliverer{}
	_, db := startDeliverer(t, &srv.Account, d, "") // batch_size 50
	mailtest.WaitFor(t, 20*time.Second, "every mail stored", func() bool { return checkpointUID(t, db) == last })
	batches := d.seen()
	total := int64(0)
	for _, b := range batches {
		total += b[0]
	}
	if total != n {
		t.Fatalf("batches %v hold %d mails, want %d", batches, total, n)
	}
	if batches[0][0] > 16 {
		t.Errorf("the first batch holds %d mails, want at most 16 (batches %v)", batches[0][0], batches)
	}
	for _, b := range batches[1:] {
		if b[1] > 9<<20 {
			t.Errorf("a batch holds %d mails of %d bytes, want about 8 MB at most (batches %v)", b[0], b[1], batches)
		}
	}
}
