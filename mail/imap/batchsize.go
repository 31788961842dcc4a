package imap

import (
	"time"

	"ticketd/mail"
)

// Bounds of a batch besides batch_size (the most mails per batch).
const (
	// firstBatch is the size of the first batch of a catch-up: it is
	// stored (and its mail acknowledged) early, and the pipeline's stages
	// fill quickly; each batch after it may be twice the one before.
	firstBatch = 16
	// batchBytes is what a batch should hold, by the average size of the
	// mails of the batch before.
	batchBytes = 8 << 20
	// batchTime is how long parsing and storing a batch should take, by
	// the time per mail of the batch before: a commit (and the \Seen of
	// its mails) is never far behind the fetch.
	batchTime = 500 * time.Millisecond
)

// sizer chooses the number of mails of each batch of a catch-up, up to
// max: it starts at firstBatch, at most doubles from batch to batch, and
// keeps each batch within batchBytes and batchTime as the last batch
// measured them.
type sizer struct {
	max, n int
}

func newSizer(max int) *sizer { return &sizer{max: max, n: min(max, firstBatch)} }

// next is the size of the next batch.
func (z *sizer) next() int { return z.n }

// observe takes the figures of a stored batch: its mails, their bytes, and
// the time they took to prepare and write.
func (z *sizer) observe(mails int, bytes int64, took time.Duration) {
	if mails <= 0 {
		return
	}
	n := 2 * z.n
	if bytes > 0 {
		n = min(n, int(batchBytes/max(1, bytes/int64(mails))))
	}
	if took > 0 {
		n = min(n, int(int64(batchTime)*int64(mails)/int64(took)))
	}
	z.n = max(1, min(n, z.max))
}

// bytesOf is the content size of mails.
func bytesOf(mails []*mail.Fetched) int64 {
	var n int64
	for _, m := range mails {
		n += m.Size
	}
	return n
}
