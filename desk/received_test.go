package desk

import (
	"testing"
	"time"

	"ticketd/mail"
	"ticketd/mail/mime"
	"ticketd/store"
)

// TestReceivedAt: the received time of mail from a file or pipe, which
// retention counts from, is never a sender's claim pushed into the past
// for live mail, nor later than the truth for migrated mail.
func TestReceivedAt(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	mtime := time.Date(2024, 5, 2, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name        string
		date, mtime time.Time
		want        time.Time
		from        string
	}{
		{"file, Date before mtime", mtime.Add(-48 * time.Hour), mtime, mtime.Add(-48 * time.Hour), store.ReceivedDate},
		{"file, Date within the skew after mtime", mtime.Add(10 * time.Minute), mtime, mtime.Add(10 * time.Minute), store.ReceivedDate},
		{"file, Date after mtime", mtime.Add(time.Hour), mtime, mtime, store.ReceivedMtime},
		{"file, no Date", time.Time{}, mtime, mtime, store.ReceivedMtime},
		{"file, Date before 1970", time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC), mtime, mtime, store.ReceivedMtime},
		{"file, mtime in the future", time.Time{}, now.Add(time.Hour), now, store.ReceivedImport},
		{"pipe, Date an hour ago", now.Add(-time.Hour), time.Time{}, now.Add(-time.Hour), store.ReceivedDate},
		{"pipe, Date six days ago", now.Add(-6 * 24 * time.Hour), time.Time{}, now.Add(-6 * 24 * time.Hour), store.ReceivedDate},
		{"pipe, Date eight days ago", now.Add(-8 * 24 * time.Hour), time.Time{}, now, store.ReceivedImport},
		{"pipe, Date in the future", now.Add(time.Hour), time.Time{}, now, store.ReceivedImport},
		{"pipe, no Date", time.Time{}, time.Time{}, now, store.ReceivedImport},
	} {
		it := &parsed{f: &mail.Fetched{Modified: c.mtime}, msg: &mime.Message{Date: c.date}}
		got, from := receivedAt(it, now)
		if !got.Equal(c.want) || from != c.from {
			t.Errorf("%s: %s (%s), want %s (%s)", c.name, got, from, c.want, c.from)
		}
	}
	// An unparseable mail has no Date.
	if got, from := receivedAt(&parsed{f: &mail.Fetched{}}, now); !got.Equal(now) || from != store.ReceivedImport {
		t.Errorf("unparsed: %s (%s)", got, from)
	}
}
