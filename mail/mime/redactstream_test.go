package mime

import (
	"strings"
	"testing"
)

// TestRedactTextLongAttachmentInPieces: a text attachment of several MiB
// is given to RedactText a bounded piece at a time, each ending at a line
// break, and stored as the whole text redacted would be: a card number on
// every line, near the end too, is gone. One with a line longer than a
// piece is dropped, never stored unredacted.
func TestRedactTextLongAttachmentInPieces(t *testing.T) {
	const card = "4111 1111 1111 1111"
	var most int
	redact := func(s string) string {
		most = max(most, len(s))
		return strings.ReplaceAll(s, card, "[redacted: card number]")
	}
	var b strings.Builder
	for i := 0; b.Len() < 3<<20; i++ {
		b.WriteString("Zeile " + strings.Repeat("x", i%97) + " Karte " + card + " Ende\n")
	}
	text := b.String()
	want := strings.ReplaceAll(text, card, "[redacted: card number]")
	raw := mailWith(part{"log.txt", "text/plain; charset=utf-8", []byte(text)})
	m, sink := parseWith(t, raw, ParseOptions{RedactText: redact, Attachments: &AttachmentPolicy{MaxSize: 64 << 20}})
	if len(m.Attachments) != 1 || len(m.Dropped) != 0 {
		t.Fatalf("Attachments = %+v, Dropped = %+v", m.Attachments, m.Dropped)
	}
	if got := string(sink.get(t, m.Attachments[0].SHA256)); got != want {
		t.Errorf("stored %d bytes, %d of them a card number; want the %d bytes of the whole text redacted",
			len(got), strings.Count(got, card), len(want))
	}
	if most > 1<<20 {
		t.Errorf("RedactText was given %d bytes at once, want at most 1 MiB", most)
	}

	long := strings.Repeat("Karte "+card+" ", (2<<20)/25)
	raw = mailWith(part{"one-line.txt", "text/plain; charset=utf-8", []byte("erste Zeile\n" + long + "\nletzte Zeile\n")})
	m, _ = parseWith(t, raw, ParseOptions{RedactText: redact})
	if len(m.Attachments) != 0 || len(m.Dropped) != 1 || !strings.Contains(m.Dropped[0].Reason, "too long to redact") {
		t.Errorf("a line over the window: Attachments = %+v, Dropped = %+v", m.Attachments, m.Dropped)
	}
}
