package smtp

import (
	"bytes"
	"io"
	"slices"
	"testing"
	"ticketd/mail/mime"
	"ticketd/store"
	"time"
)

// discardBlobs is a mime.BlobSink that keeps nothing.
type discardBlobs struct{}

func (discardBlobs) Put(r io.Reader) (string, int64, error) {
	n, err := io.Copy(io.Discard, r)
	return "", n, err
}

// TestSuppressComposedAck: whatever ticketd sends must never be acknowledged
// when it comes back, by this instance or by another one.
func TestSuppressComposedAck(t *testing.T) {
	raw, err := Compose(AutoReply{
		From:      store.Address{Name: "Other Corp Support", Email: "support@other.example.net"},
		To:        store.Address{Name: "Example Support", Email: "support@example.com"},
		Subject:   "[#12] Printer shows error E-04",
		MessageID: "ticketd.12.h7k2m9q4x1zb@other.example.net",
		Date:      time.Date(2026, 3, 24, 14, 5, 9, 0, time.UTC),
		Instance:  "b41e07c9d2a35f68",
		Text:      "Thank you.\n", HTML: "<p>Thank you.</p>\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mime.Parse(bytes.NewReader(raw), discardBlobs{}, mime.ParseOptions{KeepHeaders: mime.KeepHeaders})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*mime.AutoReplyPolicy{{OwnAddresses: []string{"support@example.com"}}, {}, nil} {
		if got := p.Suppress(m); got != "sent by ticketd itself (X-Ticketd-Loop)" {
			t.Errorf("policy %v: Suppress = %q, want %q", p, got, "sent by ticketd itself (X-Ticketd-Loop)")
		}
	}
	if got := m.Headers[mime.LoopHeader]; !slices.Equal(got, []string{"b41e07c9d2a35f68"}) {
		t.Errorf("Headers[%s] = %q", mime.LoopHeader, got)
	}
}
