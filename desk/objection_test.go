package desk

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"ticketd/config"
	"ticketd/mail/mime"
	"ticketd/store"
)

// The acknowledgement offers what its link's page has: an objection (Art.
// 21) only where the ticket's purpose rests on legitimate interest, and
// there the page has the objection button; giving and withdrawing consent
// where it rests on consent; neither for contract and legal obligation.
func TestAcknowledgementOffersWhatThePageHas(t *testing.T) {
	for _, basis := range []string{"contract", "legal_obligation", "legitimate_interest", "consent"} {
		for _, lang := range []string{"de", "en"} {
			t.Run(basis+"/"+lang, func(t *testing.T) {
				fd := newFileDesk(t, func(cfg *config.Config) {
					p := &cfg.Purposes[0]
					p.LegalBasis = config.LegalBasis(basis)
					switch basis {
					case "legitimate_interest":
						p.LegitimateInterest = config.Text{DE: "Anfragen beantworten", EN: "Answering enquiries"}
					case "consent":
						p.Grace, p.WithoutConsent = config.Duration{Duration: 14 * 24 * time.Hour}, "restrict"
					}
				})
				mux := http.NewServeMux()
				mux.Handle("/consent/", ConsentHandler(fd.d))
				srv := httptest.NewServer(mux)
				defer srv.Close()
				fd.ingest(msg{From: "Erika <erika@example.org>", Subject: "Frage", MessageID: "o1@example.org",
					Extra: "Content-Language: " + lang + "\r\n", Body: "Hello, a question about my order."}.raw())
				m, err := mime.Parse(bytes.NewReader(fd.outbox()[0].Raw), discard{}, mime.ParseOptions{})
				if err != nil {
					t.Fatal(err)
				}
				link := ackLink(t, fd)
				// What the acknowledgement says after its notice, about the link.
				text := strings.ReplaceAll(m.Text[strings.LastIndex(m.Text, "-----"):], link, "")
				ackObjects := strings.Contains(text, "Art. 21")
				ackConsent := strings.Contains(text, "Einwilligung") || strings.Contains(text, "consent")

				status, page := get(t, srv.URL+link)
				if status != http.StatusOK {
					t.Fatalf("page: %d", status)
				}
				pageObjects := strings.Contains(page, `value="`+store.ConsentObjected+`"`)
				pageConsent := strings.Contains(page, `value="`+store.ConsentGranted+`"`)
				if ackObjects != pageObjects || ackObjects != (basis == "legitimate_interest") {
					t.Errorf("objection: acknowledgement %v, page %v\n%s", ackObjects, pageObjects, text)
				}
				if ackConsent != pageConsent || ackConsent != (basis == "consent") {
					t.Errorf("consent: acknowledgement %v, page %v\n%s", ackConsent, pageConsent, text)
				}
			})
		}
	}
}
