package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"ticketd/desk"
	"ticketd/store"
)

func TestConsentShowCLI(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "127.0.0.1:1", "")
	if _, _, code := ticketd(t, nil, "consent", "-config", cfg, "show"); code != exitUsage {
		t.Errorf("show without address: exit %d, want %d", code, exitUsage)
	}
	if _, _, code := ticketd(t, nil, "consent", "-config", cfg, "list"); code != exitUsage {
		t.Errorf("unknown subcommand: exit %d, want %d", code, exitUsage)
	}
	ticketd(t, []byte("From: Erika <erika@example.org>\r\nSubject: Hallo\r\nMessage-ID: <cs1@example.org>\r\n\r\nText\r\n"), "ingest", "-config", cfg, "-")
	if _, errOut, code := ticketd(t, nil, "consent", "-config", cfg, "show", "nobody@example.org"); code != 1 ||
		!strings.Contains(errOut, "no person with address nobody@example.org") {
		t.Errorf("unknown address: exit %d, %q", code, errOut)
	}
	out, _, code := ticketd(t, nil, "consent", "-config", cfg, "show", "Erika@Example.org")
	if code != 0 || !strings.Contains(out, "Consent history of erika@example.org") || !strings.Contains(out, "No decisions recorded.") {
		t.Errorf("a person without decisions: exit %d\n%s", code, out)
	}
	out, _, code = ticketd(t, nil, "consent", "-config", cfg, "show", "-json", "erika@example.org")
	var h desk.PersonConsents
	if err := json.Unmarshal([]byte(out), &h); code != 0 || err != nil || h.Email != "erika@example.org" || h.Purposes == nil || len(h.Purposes) != 0 {
		t.Errorf("-json: exit %d, %v\n%s", code, err, out)
	}
}

func TestPrintConsents(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 0, 5, 0, time.FixedZone("CET", 3600))
	h := &desk.PersonConsents{Person: 3, Email: "erika@example.org", Purposes: []desk.PurposeConsents{
		{Purpose: "feedback", Current: "withdrawn", Records: []*store.ConsentRecord{
			{Decision: "granted", At: at, Channel: "link", TokenID: "0f1e2d3c4b5a69788796a5b4c3d2e1f0", Ticket: 12, NoticeHash: strings.Repeat("ab", 32)},
			{Decision: "withdrawn", At: at.Add(time.Hour), Channel: "admin"},
		}},
		{Purpose: "gone", Current: "granted", Records: []*store.ConsentRecord{{Decision: "granted", At: at, Channel: "link"}}},
	}}
	var b strings.Builder
	if err := printConsents(&b, h, func(p string) string {
		if p == "feedback" {
			return "consent"
		}
		return "no longer configured"
	}); err != nil {
		t.Fatal(err)
	}
	want := `Consent history of erika@example.org (person 3)

Purpose feedback (legal basis: consent), current: withdrawn
  TIME (UTC)            DECISION   CHANNEL  TICKET  TOKEN                             NOTICE SHA-256
  2026-11-23T09:00:05Z  granted    link     #12     0f1e2d3c4b5a69788796a5b4c3d2e1f0  ` + strings.Repeat("ab", 32) + `
  2026-11-23T10:00:05Z  withdrawn  admin    -       -                                 -

Purpose gone (legal basis: no longer configured), current: granted
  TIME (UTC)            DECISION  CHANNEL  TICKET  TOKEN  NOTICE SHA-256
  2026-11-23T09:00:05Z  granted   link     -       -      -
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
