package templates

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	htemplate "html/template"
	"io"
	"strings"
	"time"

	"golang.org/x/net/html"

	"ticketd/config"
	"ticketd/consent"
	"ticketd/store"
)

// The consent page's templates: one HTML set per language holding the page
// ("consent") and its error page ("consent-error").
const (
	roleConsent      = "consent"
	roleConsentError = "consent-error"
)

var consentRoles = []string{roleConsent, roleConsentError}

// consentSet is the consent page templates of one language.
type consentSet struct {
	html  *htemplate.Template // "consent", with "consent-error" beside it
	where map[string]string   // by role: "built-in consent.de.html.tmpl" or the override's path
}

func consentNames() []string { return roleNames(consentRoles, extHTML) }

// consentFuncs are the functions of the consent templates:
//
//	date t       a time in UTC in lang: "23.11.2026 um 10:00 Uhr (UTC)", "23 November 2026 at 10:00 UTC"
//	duration d   as in the acknowledgement
//	period p     as in the acknowledgement
func consentFuncs(lang string) htemplate.FuncMap {
	f := htmlFuncs(lang)
	f["date"] = func(t time.Time) string { return Date(t, lang) }
	return f
}

// Date formats t in UTC for lang ("de" or "en"), to the minute.
// LocalDate writes a time in its own location, with the zone's
// abbreviation: "23.11.2026 um 17:00 Uhr (CET)", "23 November 2026 at 17:00 CET".
func LocalDate(t time.Time, lang string) string {
	if lang == "de" {
		return t.Format("02.01.2006 um 15:04 Uhr (MST)")
	}
	return t.Format("2 January 2006 at 15:04 MST")
}

func Date(t time.Time, lang string) string {
	t = t.UTC()
	if lang == "de" {
		return t.Format("02.01.2006 um 15:04 Uhr (UTC)")
	}
	return t.Format("2 January 2006 at 15:04 UTC")
}

// loadConsent parses the consent templates, each replaced by its override,
// and renders them against sample data.
func (s *Set) loadConsent(overrides map[string]string) error {
	s.consent = map[string]*consentSet{}
	for _, lang := range langs {
		cs := &consentSet{where: map[string]string{}}
		cs.html = htemplate.New(roleConsent).Funcs(consentFuncs(lang))
		for _, role := range consentRoles {
			text, where, err := source(fileName(role, lang, extHTML), overrides)
			if err != nil {
				return err
			}
			cs.where[role] = where
			t := cs.html
			if role != roleConsent {
				t = t.New(role)
			}
			if _, err := t.Parse(text); err != nil {
				return fmt.Errorf("templates: %s: %w", cs.where[role], err)
			}
		}
		s.consent[lang] = cs
	}
	for _, p := range consentSamples() {
		var b bytes.Buffer
		if err := s.ConsentPage(&b, p); err != nil {
			return fmt.Errorf("%w (rendering sample data)", err)
		}
		if err := s.consent[p.Lang].checkPage(p, b.String()); err != nil {
			return err
		}
	}
	for _, lang := range langs {
		for _, kind := range errorKinds {
			if err := s.ConsentError(io.Discard, &consent.ErrorPage{Lang: lang, Status: 400, Kind: kind, Back: "sample-token?lang=" + lang,
				RetryAfter: 2, Controller: sampleController}); err != nil {
				return fmt.Errorf("%w (rendering sample data)", err)
			}
		}
	}
	return nil
}

// ConsentPage renders the consent page p (in p.Lang) to w.
func (s *Set) ConsentPage(w io.Writer, p *consent.Page) error {
	return s.execConsent(w, p.Lang, roleConsent, p)
}

// ConsentError renders an error page of the consent page (in e.Lang) to w.
func (s *Set) ConsentError(w io.Writer, e *consent.ErrorPage) error {
	return s.execConsent(w, e.Lang, roleConsentError, e)
}

func (s *Set) execConsent(w io.Writer, lang, role string, data any) error {
	cs, ok := s.consent[lang]
	if !ok {
		return fmt.Errorf("templates: render %s: unknown language %q", role, lang)
	}
	if err := cs.html.ExecuteTemplate(w, role, data); err != nil {
		return fmt.Errorf("templates: %s: %w", cs.where[role], err)
	}
	return nil
}

// Notice renders the transparency notice of a exactly as Ack includes it in
// the text part, and returns it with its hex SHA-256 (the hash Ack
// returns for the same a). The consent page shows it and records the hash
// with a decision; only a.Lang, a.Controller and a.Purpose need be set for
// the built-in notice.
func (s *Set) Notice(a Ack) (text, hash string, err error) {
	ls, ok := s.langs[a.Lang]
	if !ok {
		return "", "", fmt.Errorf("templates: render notice: unknown language %q", a.Lang)
	}
	a.Subject = EchoSubject(a.Subject)
	a.RequesterName = EchoName(a.RequesterName)
	if text, err = ls.exec(extText, roleNotice, a); err != nil {
		return "", "", err
	}
	text = strings.TrimRight(reflow(text), "\n") + "\n"
	sum := sha256.Sum256([]byte(text))
	return text, hex.EncodeToString(sum[:]), nil
}

var errorKinds = []string{consent.KindNotFound, consent.KindStaleForm, consent.KindCrossSite, consent.KindBadRequest,
	consent.KindMethod, consent.KindRateLimited, consent.KindInternal}

// checkPage checks what Load can check only against known data: that an
// override of the page still shows each purpose's notice (which names the
// controller), and has each purpose's button, with its form fields, inside
// a POST form (withdrawing must stay as easy as granting).
func (cs *consentSet) checkPage(p *consent.Page, out string) error {
	where := cs.where[roleConsent]
	doc, err := html.Parse(strings.NewReader(out))
	if err != nil {
		return fmt.Errorf("templates: %s: %w", where, err)
	}
	text := oneLine(htmlTextOf(doc))
	forms := postForms(doc)
	for _, pp := range p.Purposes {
		if !strings.Contains(text, oneLine(pp.Notice)) {
			return fmt.Errorf("templates: %s: the page leaves out the notice of a purpose (.Notice)", where)
		}
		if pp.Offer == "" {
			continue
		}
		want := map[string]string{"purpose": pp.Purpose.Name, "lang": p.Lang, "form": pp.Form, "decision": pp.Offer}
		found := false
		for _, f := range forms {
			if f["purpose"] == want["purpose"] && f["lang"] == want["lang"] && f["form"] == want["form"] && f["decision"] == want["decision"] {
				found = true
			}
		}
		if !found {
			return fmt.Errorf(`templates: %s: no <form method="post"> with a <button name="decision" value=%q> and the fields purpose, lang and form for purpose %s`,
				where, pp.Offer, pp.Purpose.Name)
		}
	}
	return nil
}

// htmlTextOf is the text content of n.
func htmlTextOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data + " ")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

// postForms returns the fields of each <form method="post"> in doc: its
// inputs by name, and "decision" from a submit button of that name.
func postForms(doc *html.Node) []map[string]string {
	var out []map[string]string
	var walk func(n *html.Node, form map[string]string)
	walk = func(n *html.Node, form map[string]string) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "form":
				if strings.EqualFold(attr(n, "method"), "post") {
					form = map[string]string{}
					out = append(out, form)
				} else {
					form = nil
				}
			case "input", "button":
				if form != nil && (n.Data == "input" || attr(n, "type") == "" || attr(n, "type") == "submit") {
					form[attr(n, "name")] = attr(n, "value")
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, form)
		}
	}
	walk(doc, nil)
	return out
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

var sampleController = config.Controller{
	Name:      "Sample Controller GmbH",
	Address:   "Sample Street 1, 12345 Sample City",
	Email:     "privacy@sample.example",
	DPO:       "Sample DPO, dpo@sample.example",
	Authority: "Sample Supervisory Authority, https://authority.example",
}

// consentSamples are the pages Load renders the consent templates with:
// together they take every branch of the built-in templates.
func consentSamples() []*consent.Page {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var out []*consent.Page
	for _, lang := range langs {
		other := map[string]string{"de": "en", "en": "de"}[lang]
		var ps []consent.PagePurpose
		for i, basis := range sampleBases {
			for j, state := range []string{"", store.ConsentGranted, store.ConsentWithdrawn, store.ConsentObjected} {
				possible := state == "" || (basis == config.BasisConsent && state != store.ConsentObjected) ||
					(basis == config.BasisLegitimateInterest && state == store.ConsentObjected)
				if !possible {
					continue
				}
				a := samples()[i]
				a.Lang = lang
				pu := a.Purpose
				pu.Name = fmt.Sprintf("sample-%s-%d", basis, j)
				pu.CountedFrom = []string{"closed", "collected"}[j%2]
				if basis == config.BasisConsent {
					pu.Grace = config.Duration{Duration: 14 * 24 * time.Hour}
					pu.WithoutConsent = []string{"restrict", "erase"}[j%2]
				}
				pp := consent.PagePurpose{Purpose: pu, ID: fmt.Sprintf("purpose-%d-%d", i, j), Own: j == 0, State: state,
					Notice: fmt.Sprintf("Sample notice %s %d\nsecond line\n", basis, j), NoticeHash: strings.Repeat("ab", 32)}
				if state != "" {
					pp.Since = at
				}
				pp.Offer = consent.Offer(basis, state)
				if pp.Offer != "" {
					pp.Form = fmt.Sprintf("sample-form-%s-%d", basis, j)
				}
				ps = append(ps, pp)
			}
		}
		for k, decision := range []string{store.ConsentGranted, store.ConsentWithdrawn, store.ConsentObjected, ""} {
			p := &consent.Page{Lang: lang, Ticket: 1000, Subject: "Sample subject", Name: "Sample Requester",
				Controller: sampleController, Purposes: ps, OtherLang: other, OtherLangURL: "?lang=" + other, FormValidity: time.Hour}
			if decision != "" {
				p.Recorded = &consent.Recorded{Purpose: ps[0].Purpose, Decision: decision, At: at, Channel: consent.ChannelLink,
					TokenID: strings.Repeat("0f", 16), NoticeHash: strings.Repeat("ab", 32)}
			}
			if k == 0 {
				p.Restricted = at
				p.Name = ""
			}
			if k == 1 {
				p.Controller.DPO = "" // none designated
			}
			out = append(out, p)
		}
	}
	return out
}
