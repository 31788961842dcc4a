package main

import (
	"strings"
	"testing"

	"ticketd/desk"
	"ticketd/store"
)

// tickets show names what was redacted from a message and whether its
// original is kept.
func TestPrintTicketShowsRedactions(t *testing.T) {
	tk := &desk.TicketDetail{TicketSummary: desk.TicketSummary{Number: 1, Subject: "Karte [redacted: card number]"},
		Messages: []*store.Message{
			{ID: 1, Subject: "Karte [redacted: card number]", Text: "x", Redacted: map[string]int{"card number": 2, "IBAN": 1},
				Original: &store.Attachment{Size: 1234}},
			{ID: 2, Subject: "Danke", Text: "y"},
		}}
	var b strings.Builder
	if err := printTicket(&b, tk); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "Redacted: IBAN ×1, card number ×2\n") || strings.Count(out, "Redacted:") != 1 {
		t.Errorf("tickets show:\n%s", out)
	}
	if !strings.Contains(out, "[original mail kept (keep_original), 1234 bytes]") {
		t.Errorf("tickets show:\n%s", out)
	}
}
