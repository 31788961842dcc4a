package templates

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"ticketd/config"
	"ticketd/consent"
	"ticketd/store"
)

// consentPage is a page as the consent package builds it: the ticket's own
// purpose (basis) and an optional purpose based on consent, in state.
func consentPage(t *testing.T, s *Set, lang, basis, optionalState string) *consent.Page {
	t.Helper()
	at := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
	p := &consent.Page{Lang: lang, Ticket: 1042, Subject: "Rechnung März doppelt abgebucht", Name: "Erika Müller",
		Controller: controller, OtherLang: "en", OtherLangURL: "?lang=en", FormValidity: time.Hour}
	if lang == "en" {
		p.Subject, p.Name, p.OtherLang, p.OtherLangURL = "Invoice for March charged twice", "Jane Doe", "de", "?lang=de"
	}
	optional := purposes["consent"]
	optional.Name = "newsletter"
	optional.Description = config.Text{DE: "Zusendung unseres Newsletters", EN: "Sending you our newsletter"}
	for i, pu := range []config.Purpose{purposes[basis], optional} {
		if pu.LegalBasis == "consent" {
			pu.Grace, pu.WithoutConsent = config.Duration{Duration: 14 * 24 * time.Hour}, "restrict"
		}
		pu.CountedFrom = "closed"
		text, hash, err := s.Notice(Ack{Lang: lang, Controller: controller, Purpose: pu})
		if err != nil {
			t.Fatal(err)
		}
		pp := consent.PagePurpose{Purpose: pu, ID: fmt.Sprintf("purpose-%d", i+1), Own: i == 0, Notice: text, NoticeHash: hash}
		if i == 1 {
			pp.State = optionalState
		}
		if pp.State != "" {
			pp.Since = at
		}
		if pp.Offer = consent.Offer(pu.LegalBasis, pp.State); pp.Offer != "" {
			pp.Form = fmt.Sprintf("FORM-%d-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", i+1)
		}
		p.Purposes = append(p.Purposes, pp)
	}
	return p
}

// noDPO makes p the page of a controller that designated no data
// protection officer, its notices included.
func noDPO(t *testing.T, s *Set, p *consent.Page) {
	t.Helper()
	p.Controller.DPO = ""
	for i := range p.Purposes {
		pp := &p.Purposes[i]
		var err error
		if pp.Notice, pp.NoticeHash, err = s.Notice(Ack{Lang: p.Lang, Controller: p.Controller, Purpose: pp.Purpose}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestConsentGolden(t *testing.T) {
	s := load(t)
	at := time.Date(2026, 11, 23, 9, 31, 12, 0, time.UTC)
	for _, c := range []struct {
		name, lang, basis, state string
		mod                      func(*consent.Page)
	}{
		{"consent-de-consent", "de", "consent", store.ConsentGranted, func(p *consent.Page) {
			p.Restricted = at.Add(-time.Hour)
		}},
		{"consent-en-consent", "en", "consent", store.ConsentWithdrawn, func(p *consent.Page) {
			p.Purposes[0].State, p.Purposes[0].Since = store.ConsentGranted, at
			p.Purposes[0].Offer = store.ConsentWithdrawn
			p.Recorded = &consent.Recorded{Purpose: p.Purposes[0].Purpose, Decision: store.ConsentGranted, At: at, Channel: consent.ChannelLink,
				TokenID: "5f0c2a4e9b1d3f7a8c6e0b2d4f6a8c0e", NoticeHash: p.Purposes[0].NoticeHash}
		}},
		{"consent-de-legitimate-interest", "de", "legitimate_interest", "", func(p *consent.Page) {
			p.Purposes[0].State, p.Purposes[0].Since, p.Purposes[0].Offer, p.Purposes[0].Form = store.ConsentObjected, at, "", ""
			p.Recorded = &consent.Recorded{Purpose: p.Purposes[0].Purpose, Decision: store.ConsentObjected, At: at, Channel: consent.ChannelLink,
				TokenID: "5f0c2a4e9b1d3f7a8c6e0b2d4f6a8c0e", NoticeHash: p.Purposes[0].NoticeHash}
		}},
		{"consent-en-legitimate-interest", "en", "legitimate_interest", "", func(p *consent.Page) { p.Name = "" }},
		{"consent-de-contract", "de", "contract", store.ConsentWithdrawn, nil},
		{"consent-en-legal-obligation", "en", "legal_obligation", "", nil},
		{"consent-de-no-dpo", "de", "contract", "", func(p *consent.Page) { noDPO(t, s, p) }},
		{"consent-en-no-dpo", "en", "contract", "", func(p *consent.Page) { noDPO(t, s, p) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := consentPage(t, s, c.lang, c.basis, c.state)
			if c.mod != nil {
				c.mod(p)
			}
			var b bytes.Buffer
			if err := s.ConsentPage(&b, p); err != nil {
				t.Fatal(err)
			}
			if err := s.consent[c.lang].checkPage(p, b.String()); err != nil {
				t.Error(err)
			}
			golden(t, "testdata/"+c.name+".html.golden", b.String())
		})
	}
	for _, lang := range langs {
		var all strings.Builder
		for _, kind := range errorKinds {
			e := &consent.ErrorPage{Lang: lang, Status: 400, Kind: kind, Back: "AQID.BAUG?lang=" + lang, RetryAfter: 12, Controller: controller}
			fmt.Fprintf(&all, "==== %s ====\n", kind)
			if err := s.ConsentError(&all, e); err != nil {
				t.Fatal(err)
			}
		}
		golden(t, "testdata/consent-error-"+lang+".html.golden", all.String())
	}
}

// TestNoticeIsTheAcks checks that Notice renders the notice and its hash
// exactly as Ack does, so a decision on the consent page records the hash
// of the notice the acknowledgement carried.
func TestNoticeIsTheAcks(t *testing.T) {
	s := load(t)
	for name, a := range goldenCases() {
		r, err := s.Ack(a)
		if err != nil {
			t.Fatal(err)
		}
		text, hash, err := s.Notice(Ack{Lang: a.Lang, Controller: a.Controller, Purpose: a.Purpose})
		if err != nil {
			t.Fatal(err)
		}
		if text != r.Notice || hash != r.NoticeHash {
			t.Errorf("%s: Notice differs from the acknowledgement's notice", name)
		}
	}
	if _, _, err := s.Notice(Ack{Lang: "fr"}); err == nil {
		t.Error("Notice in an unknown language: no error")
	}
}

func TestConsentDate(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("CET", 3600))
	if got := Date(at, "de"); got != "04.03.2026 um 04:06 Uhr (UTC)" {
		t.Errorf("de: %q", got)
	}
	if got := Date(at, "en"); got != "4 March 2026 at 04:06 UTC" {
		t.Errorf("en: %q", got)
	}
}

func TestConsentOverride(t *testing.T) {
	dir := t.TempDir()
	src := strings.Replace(builtinSource(t, "consent.en.html.tmpl"), "<h1>Your consent and your data</h1>", "<h1>Consent</h1>", 1)
	writeFile(t, dir, "consent.en.html.tmpl", src)
	writeFile(t, dir, "consent-error.de.html.tmpl", `<!DOCTYPE html><html lang="de"><title>Fehler</title><p>{{.Kind}} {{.Controller.Email}}</p></html>`)
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := s.ConsentPage(&b, consentPage(t, s, "en", "contract", "")); err != nil || !strings.Contains(b.String(), "<h1>Consent</h1>") {
		t.Errorf("page override not used: %v", err)
	}
	b.Reset()
	if err := s.ConsentPage(&b, consentPage(t, s, "de", "contract", "")); err != nil || !strings.Contains(b.String(), "<h1>Ihre Einwilligung und Ihre Daten</h1>") {
		t.Errorf("the English override changed the German page: %v", err)
	}
	b.Reset()
	if err := s.ConsentError(&b, &consent.ErrorPage{Lang: "de", Kind: consent.KindNotFound, Controller: controller}); err != nil ||
		!strings.Contains(b.String(), "not_found datenschutz@beispiel.example") {
		t.Errorf("error page override not used: %v %q", err, b.String())
	}
}

func TestConsentOverrideErrors(t *testing.T) {
	page := builtinSource(t, "consent.de.html.tmpl")
	for _, c := range []struct {
		name, file, content, want string
	}{
		{"parse error", "consent.de.html.tmpl", "<p>{{if .Lang}}</p>", "unexpected EOF"},
		{"missing field", "consent.en.html.tmpl", "<p>{{.Tikket}}</p>", "can't evaluate field Tikket"},
		{"missing field in error page", "consent-error.de.html.tmpl", "<p>{{.Reason}}</p>", "can't evaluate field Reason"},
		{"no withdraw button", "consent.de.html.tmpl", strings.Replace(page, `{{- if .Offer}}`, `{{- if eq .Offer "granted"}}`, 1), `value="withdrawn"`},
		{"button outside the form", "consent.de.html.tmpl", strings.Replace(page, `<form method="post">`, `<form method="get">`, 1), `no <form method="post">`},
		{"no anti-forgery value", "consent.de.html.tmpl", strings.Replace(page, `name="form" value="{{.Form}}"`, `name="form" value=""`, 1), `no <form method="post">`},
		{"no notice", "consent.de.html.tmpl", strings.Replace(page, `<pre>{{.Notice}}</pre>`, ``, 1), "notice"},
		{"unknown name", "consent.fr.html.tmpl", "x", "not a template name"},
	} {
		t.Run(c.name, func(t *testing.T) { loadRefuses(t, c.file, c.content, c.want) })
	}
}
