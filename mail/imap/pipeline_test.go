package imap_test

import (
	"context"
	"fmt"
	"slices"
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
	mailtest.WaitFor(t, 20*time.Second, "every batch stored", func() bool { return checkpointUID(t, db) == uids[5] })
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
