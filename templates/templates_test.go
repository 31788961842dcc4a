package templates

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/net/html"

	"ticketd/config"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the templates' output")

var controller = config.Controller{
	Name:      "Beispiel Software GmbH",
	Address:   "Hauptstraße 5, 10115 Berlin, Deutschland",
	Email:     "datenschutz@beispiel.example",
	DPO:       "Dr. Jana Groß, dsb@beispiel.example",
	Authority: "Berliner Beauftragte für Datenschutz und Informationsfreiheit, Alt-Moabit 59-61, 10555 Berlin, https://www.datenschutz-berlin.de",
}

// purposes are one purpose per legal basis, as an admin would configure them.
var purposes = map[string]config.Purpose{
	"contract": {
		Name: "support",
		Description: config.Text{
			DE: "Bearbeitung Ihrer Supportanfrage zu unseren Produkten und die Kommunikation mit Ihnen dazu.",
			EN: "Handling your support request about our products and communicating with you about it.",
		},
		LegalBasis: "contract",
		Retention:  config.Period{Years: 2},
		OnExpiry:   "anonymize",
		Recipients: []string{"Beispiel Hosting GmbH, Nürnberg (E-Mail-Hosting, Auftragsverarbeiter)"},
		Transfers:  []string{},
		Required: config.Text{
			DE: "Die Angabe Ihrer E-Mail-Adresse ist erforderlich, damit wir Ihnen antworten können. Ohne sie können wir Ihre Anfrage nicht bearbeiten.",
			EN: "Your email address is required so that we can answer you. Without it we cannot handle your request.",
		},
	},
	"consent": {
		Name: "feedback",
		Description: config.Text{
			DE: "Auswertung Ihres Feedbacks, um unsere Produkte zu verbessern.",
			EN: "Evaluating your feedback to improve our products.",
		},
		LegalBasis: "consent",
		Retention:  config.Period{Days: 90},
		OnExpiry:   "delete",
		Recipients: []string{"Beispiel Hosting GmbH, Nürnberg (E-Mail-Hosting, Auftragsverarbeiter)", "Beispiel Analytics GmbH, München (Auftragsverarbeiter)"},
		Transfers:  []string{},
		Required: config.Text{
			DE: "Die Angabe Ihrer Daten ist freiwillig. Ohne Einwilligung werten wir Ihr Feedback nicht aus.",
			EN: "Providing your data is voluntary. Without your consent we do not evaluate your feedback.",
		},
	},
	"legitimate_interest": {
		Name: "presales",
		Description: config.Text{
			DE: "Beantwortung Ihrer Fragen vor einem Kauf.",
			EN: "Answering your questions before a purchase.",
		},
		LegalBasis: "legitimate_interest",
		LegitimateInterest: config.Text{
			DE: "Anfragen von Interessenten zu beantworten und unsere Produkte vorzustellen.",
			EN: "Answering enquiries from prospective customers and presenting our products.",
		},
		Retention:  config.Period{},
		OnExpiry:   "delete",
		Recipients: []string{"Beispiel Hosting GmbH, Nürnberg (E-Mail-Hosting, Auftragsverarbeiter)"},
		Transfers:  []string{"Helpdesk Cloud Inc., USA (EU-US Data Privacy Framework)"},
		Required: config.Text{
			DE: "Die Angabe Ihrer Daten ist weder gesetzlich noch vertraglich vorgeschrieben.",
			EN: "Providing your data is required neither by law nor by contract.",
		},
	},
	"legal_obligation": {
		Name: "invoices",
		Description: config.Text{
			DE: "Bearbeitung von Fragen zu Rechnungen, die wir als Geschäftsbriefe aufbewahren müssen.",
			EN: "Handling questions about invoices, which we must keep as business letters.",
		},
		LegalBasis: "legal_obligation",
		Retention:  config.Period{Years: 6},
		OnExpiry:   "delete",
		Recipients: []string{"Beispiel Hosting GmbH, Nürnberg (E-Mail-Hosting, Auftragsverarbeiter)", "Kanzlei Schmidt Steuerberatung, Köln"},
		Transfers:  []string{},
		Required: config.Text{
			DE: "Die Aufbewahrung ist gesetzlich vorgeschrieben (§ 257 HGB, § 147 AO).",
			EN: "Keeping the data is required by law (§ 257 HGB, § 147 AO).",
		},
	},
}

func ack(lang, basis string) Ack {
	return Ack{
		Lang:           lang,
		Ticket:         1042,
		Subject:        "Rechnung März doppelt abgebucht",
		RequesterName:  "Erika Müller",
		ResponseTime:   8 * time.Hour,
		ConsentURL:     "https://help.beispiel.example/c/1042?t=Zm9vYmFy",
		Controller:     controller,
		Purpose:        purposes[basis],
		SupportAddress: "support@beispiel.example",
	}
}

func load(t testing.TB) *Set {
	t.Helper()
	s, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// goldenCases are the acknowledgements whose text is kept in testdata.
func goldenCases() map[string]Ack {
	cases := map[string]Ack{}
	for _, lang := range []string{"de", "en"} {
		for _, basis := range []string{"contract", "consent", "legitimate_interest", "legal_obligation"} {
			a := ack(lang, basis)
			if lang == "en" {
				a.Subject = "Invoice for March charged twice"
				a.RequesterName = "Jane Doe"
			}
			switch basis {
			case "consent":
				a.RequesterName = ""
				a.ResponseTime = 36 * time.Hour
			case "legitimate_interest":
				a.ResponseTime = 2 * 24 * time.Hour
			}
			cases[lang+"-"+strings.ReplaceAll(basis, "_", "-")] = a
		}
		a := ack(lang, "contract")
		a.Controller.DPO = "" // none designated (Art. 13(1)(b) asks only for a designated one)
		cases[lang+"-no-dpo"] = a
		a = ack(lang, "contract")
		a.Due = time.Date(2026, 11, 24, 17, 0, 0, 0, time.FixedZone("CET", 3600))
		cases[lang+"-business-hours"] = a
		a = ack(lang, "contract")
		a.Redacted = []string{"IBAN", "card number"}
		cases[lang+"-redacted"] = a
		a = ack(lang, "contract")
		a.Redacted = []string{"customer number"}
		cases[lang+"-redacted-rule"] = a
	}
	return cases
}

func TestAckGolden(t *testing.T) {
	s := load(t)
	for name, a := range goldenCases() {
		t.Run(name, func(t *testing.T) {
			r, err := s.Ack(a)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256([]byte(r.Notice))
			if r.NoticeHash != hex.EncodeToString(sum[:]) {
				t.Errorf("NoticeHash = %s, want the SHA-256 of Notice", r.NoticeHash)
			}
			if !strings.Contains(r.Text, r.Notice) {
				t.Error("Text does not contain Notice")
			}
			if !strings.HasSuffix(r.Text, "\n") || strings.HasSuffix(r.Text, "\n\n") {
				t.Errorf("Text should end with exactly one newline: %q", r.Text[max(0, len(r.Text)-20):])
			}
			golden(t, "testdata/"+name+".txt.golden", r.Text)
			golden(t, "testdata/"+name+".html.golden", r.HTML)
			golden(t, "testdata/"+name+".notice.golden", r.Notice)
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestTextLines checks the text part's layout for every legal basis: no line
// is longer than 72 characters unless it is one word (a URL), and no line
// ends in white space.
func TestTextLines(t *testing.T) {
	s := load(t)
	for _, lang := range []string{"de", "en"} {
		for basis := range purposes {
			r, err := s.Ack(ack(lang, basis))
			if err != nil {
				t.Fatal(err)
			}
			for i, line := range strings.Split(r.Text, "\n") {
				if utf8.RuneCountInString(line) > textWidth && strings.ContainsRune(line, ' ') {
					t.Errorf("%s %s line %d has %d characters: %q", lang, basis, i+1, utf8.RuneCountInString(line), line)
				}
				if strings.TrimRight(line, " \t") != line {
					t.Errorf("%s %s line %d ends in white space: %q", lang, basis, i+1, line)
				}
			}
		}
	}
}

// htmlText returns the text content of the element with the given tag in
// doc (the whole document for ""), white space collapsed, entities decoded.
func htmlText(t *testing.T, doc, tag string) string {
	t.Helper()
	root, err := html.Parse(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	var walk func(n *html.Node, in bool)
	walk = func(n *html.Node, in bool) {
		in = in || tag == "" || (n.Type == html.ElementNode && n.Data == tag)
		if in && n.Type == html.TextNode {
			b.WriteString(n.Data + " ")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, in)
		}
	}
	walk(root, false)
	return oneLine(b.String())
}

// TestNoticeItems checks that the notice names every Art. 13 item of
// GDPR.md, in both languages, both parts and for every legal basis.
func TestNoticeItems(t *testing.T) {
	s := load(t)
	type words struct {
		basis                                                    map[string]string
		rights                                                   []string
		withdraw, objectLI, complaint, automated, noTransfers    string
		object, objectOther                                      string
		recorded                                                 []string
		retentionClosed, deleted, anonymised, retention2y, ret90 string
	}
	lw := map[string]words{
		"de": {
			basis: map[string]string{
				"consent": "Art. 6 Abs. 1 lit. a DSGVO", "contract": "Art. 6 Abs. 1 lit. b DSGVO",
				"legal_obligation": "Art. 6 Abs. 1 lit. c DSGVO", "legitimate_interest": "Art. 6 Abs. 1 lit. f DSGVO",
			},
			rights: []string{"Auskunft über Ihre Daten (Art. 15 DSGVO)", "Berichtigung (Art. 16 DSGVO)", "Löschung (Art. 17 DSGVO)",
				"Einschränkung der Verarbeitung (Art. 18 DSGVO)", "Datenübertragbarkeit (Art. 20 DSGVO)"},
			object:      "Widerspruch gegen die Verarbeitung (Art. 21 DSGVO)",
			objectOther: "Widerspruch gegen eine Verarbeitung aufgrund berechtigter Interessen (Art. 21 DSGVO)",
			withdraw:    "jederzeit mit Wirkung für die Zukunft widerrufen (Art. 7 Abs. 3 DSGVO)",
			objectLI:    "Art. 21 Abs. 1 DSGVO",
			complaint:   "Datenschutz-Aufsichtsbehörde beschweren (Art. 77 DSGVO)",
			automated:   "Eine automatisierte Entscheidungsfindung einschließlich Profiling (Art. 22 DSGVO) findet nicht statt.",
			noTransfers: "Wir übermitteln Ihre Daten nicht in Länder außerhalb der EU und des EWR (Drittländer).",
			recorded: []string{"Ihre Absenderadresse und Ihren Namen", "Zeitpunkt des Eingangs und den der Speicherung",
				"Eingangsweg", "Postfach", "Anhänge", "Message-ID, In-Reply-To, References"},
			retentionClosed: "Sobald das Ticket abgeschlossen ist, werden Ihre Daten gelöscht.",
			deleted:         "danach werden sie gelöscht", anonymised: "danach werden sie anonymisiert",
			retention2y: "bis 2 Jahre nach Abschluss des Tickets", ret90: "bis 90 Tage nach Abschluss des Tickets",
		},
		"en": {
			basis: map[string]string{
				"consent": "Art. 6(1)(a) GDPR", "contract": "Art. 6(1)(b) GDPR",
				"legal_obligation": "Art. 6(1)(c) GDPR", "legitimate_interest": "Art. 6(1)(f) GDPR",
			},
			rights: []string{"access your data (Art. 15 GDPR)", "rectification (Art. 16 GDPR)", "erasure (Art. 17 GDPR)",
				"restriction of processing (Art. 18 GDPR)", "data portability (Art. 20 GDPR)"},
			object:      "object to the processing (Art. 21 GDPR)",
			objectOther: "object to processing based on legitimate interests (Art. 21 GDPR)",
			withdraw:    "withdraw your consent at any time with effect for the future (Art. 7(3) GDPR)",
			objectLI:    "Art. 21(1) GDPR",
			complaint:   "lodge a complaint with a data protection supervisory authority (Art. 77 GDPR)",
			automated:   "No automated decision-making, including profiling, takes place (Art. 22 GDPR).",
			noTransfers: "We do not transfer your data to countries outside the EU and the EEA (third countries).",
			recorded: []string{"your sender address and name", "the time your message was received and the time it was stored",
				"the channel it came through", "mailbox", "attachments", "Message-ID, In-Reply-To, References"},
			retentionClosed: "Your data is deleted as soon as the ticket is closed.",
			deleted:         "then it is deleted", anonymised: "then it is anonymised",
			retention2y: "for up to 2 years after the ticket is closed", ret90: "for up to 90 days after the ticket is closed",
		},
	}
	for lang, w := range lw {
		for basis, p := range purposes {
			a := ack(lang, basis)
			r, err := s.Ack(a)
			if err != nil {
				t.Fatal(err)
			}
			for part, notice := range map[string]string{"text": oneLine(r.Notice), "html": htmlText(t, r.HTML, "section")} {
				t.Run(lang+"/"+basis+"/"+part, func(t *testing.T) {
					has := func(what, s string) {
						t.Helper()
						if !strings.Contains(notice, s) {
							t.Errorf("notice lacks %s: %q", what, s)
						}
					}
					hasNot := func(what, s string) {
						t.Helper()
						if strings.Contains(notice, s) {
							t.Errorf("notice has %s: %q", what, s)
						}
					}
					has("controller name", controller.Name)
					has("controller address", controller.Address)
					has("controller email", controller.Email)
					has("DPO", controller.DPO)
					has("supervisory authority", controller.Authority)
					has("complaint right", w.complaint)
					has("purpose", p.Description.In(lang))
					has("legal basis", w.basis[basis])
					for b, art := range w.basis {
						if b != basis {
							hasNot("other legal basis", art)
						}
					}
					for _, rcpt := range p.Recipients {
						has("recipient", rcpt)
					}
					if len(p.Transfers) == 0 {
						has("no transfers sentence", w.noTransfers)
					} else {
						hasNot("no transfers sentence", w.noTransfers)
						for _, tr := range p.Transfers {
							has("transfer", tr)
						}
					}
					for _, right := range w.rights {
						has("right", right)
					}
					// The right to object (Art. 21(1)) applies to processing
					// based on legitimate interest; for another basis the
					// notice says so.
					if basis == "legitimate_interest" {
						has("right to object", w.object)
						hasNot("right to object, qualified", w.objectOther)
					} else {
						has("right to object, qualified", w.objectOther)
						hasNot("right to object", w.object)
					}
					if basis == "consent" {
						has("withdrawal of consent", w.withdraw)
					} else {
						hasNot("withdrawal of consent", w.withdraw)
					}
					if basis == "legitimate_interest" {
						has("legitimate interest", p.LegitimateInterest.In(lang))
						has("right to object (Art. 21(4))", w.objectLI)
					} else {
						hasNot("legitimate interest", purposes["legitimate_interest"].LegitimateInterest.In(lang))
						hasNot("legitimate interest", w.basis["legitimate_interest"])
						hasNot("right to object (Art. 21(4))", w.objectLI)
					}
					has("required", p.Required.In(lang))
					has("automated decisions", w.automated)
					for _, rec := range w.recorded {
						has("recorded data", rec)
					}
					switch basis {
					case "contract":
						has("retention", w.retention2y)
						has("anonymised on expiry", w.anonymised)
					case "consent":
						has("retention", w.ret90)
						has("deleted on expiry", w.deleted)
					case "legitimate_interest":
						has("retention 0d", w.retentionClosed)
					}
				})
			}
		}
	}
}

// TestConsentParagraph checks what the acknowledgement says its link
// offers, by legal basis: consent to give or withdraw; an objection (Art.
// 21) only where the basis is legitimate interest, the one basis whose page
// has an objection button; for contract and legal obligation neither.
func TestConsentParagraph(t *testing.T) {
	s := load(t)
	want := map[string]map[string]string{
		"de": {
			"consent":             "Ihre Einwilligung können Sie hier jederzeit erteilen oder widerrufen:",
			"legitimate_interest": "Hier sehen Sie, wie wir die Daten zu Ihrem Ticket verarbeiten, und können der Verarbeitung widersprechen (Art. 21 DSGVO):",
			"contract":            "Hier sehen Sie, wie und auf welcher Rechtsgrundlage wir die Daten zu Ihrem Ticket verarbeiten:",
			"legal_obligation":    "Hier sehen Sie, wie und auf welcher Rechtsgrundlage wir die Daten zu Ihrem Ticket verarbeiten:",
		},
		"en": {
			"consent":             "You can give or withdraw your consent here at any time:",
			"legitimate_interest": "Here you can see how we process the data of your ticket, and object to the processing (Art. 21 GDPR):",
			"contract":            "Here you can see how we process the data of your ticket, and on what legal basis:",
			"legal_obligation":    "Here you can see how we process the data of your ticket, and on what legal basis:",
		},
	}
	for lang, w := range want {
		for basis := range purposes {
			a := ack(lang, basis)
			r, err := s.Ack(a)
			if err != nil {
				t.Fatal(err)
			}
			after := oneLine(r.Text[strings.Index(r.Text, r.Notice)+len(r.Notice):])
			htmlAfter := htmlText(t, r.HTML[strings.Index(r.HTML, "</section>"):], "")
			for part, got := range map[string]string{"text": after, "html": htmlAfter} {
				if !strings.Contains(got, w[basis]) {
					t.Errorf("%s %s %s: after the notice\n%s\nwant %q", lang, basis, part, got, w[basis])
				}
				for b, other := range w {
					if other != w[basis] && strings.Contains(got, other) {
						t.Errorf("%s %s %s: has the paragraph of %s", lang, basis, part, b)
					}
				}
				if objects := strings.Contains(got, "Art. 21") || strings.Contains(got, "widersprechen") || strings.Contains(got, "object"); objects != (basis == "legitimate_interest") {
					t.Errorf("%s %s %s: offers an objection: %v\n%s", lang, basis, part, objects, got)
				}
			}
			if !strings.Contains(r.Text, "\n"+a.ConsentURL+"\n") {
				t.Errorf("%s %s: consent URL not on a line of its own", lang, basis)
			}
		}
	}
}

// TestHTMLDocument checks the HTML part is a self-contained, accessible
// document: lang attribute, headings, a real link to the consent URL, and
// nothing loaded from elsewhere.
func TestHTMLDocument(t *testing.T) {
	s := load(t)
	for _, lang := range []string{"de", "en"} {
		for basis := range purposes {
			a := ack(lang, basis)
			r, err := s.Ack(a)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(r.HTML, "<!DOCTYPE html>\n") || !strings.HasSuffix(r.HTML, "</html>\n") {
				t.Errorf("%s %s: not a full document", lang, basis)
			}
			root, err := html.Parse(strings.NewReader(r.HTML))
			if err != nil {
				t.Fatal(err)
			}
			var consentLink bool
			tags := map[string]int{}
			var walk func(*html.Node)
			walk = func(n *html.Node) {
				if n.Type == html.ElementNode {
					tags[n.Data]++
					switch n.Data {
					case "img", "link", "script", "style", "iframe", "object", "embed", "video", "audio", "source", "base", "form":
						t.Errorf("%s %s: element <%s>", lang, basis, n.Data)
					}
					for _, at := range n.Attr {
						switch {
						case at.Key == "src" || at.Key == "srcset" || at.Key == "background":
							t.Errorf("%s %s: <%s %s=%q>", lang, basis, n.Data, at.Key, at.Val)
						case at.Key == "style" && (strings.Contains(at.Val, "url(") || strings.Contains(at.Val, "@import")):
							t.Errorf("%s %s: style loads a resource: %q", lang, basis, at.Val)
						case n.Data == "html" && at.Key == "lang" && at.Val != lang:
							t.Errorf("%s %s: <html lang=%q>", lang, basis, at.Val)
						case n.Data == "a" && at.Key == "href" && at.Val == a.ConsentURL:
							consentLink = true
						}
					}
				}
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
			}
			walk(root)
			if !consentLink {
				t.Errorf("%s %s: no <a href=%q>", lang, basis, a.ConsentURL)
			}
			if tags["h1"] != 1 || tags["h2"] != 1 || tags["h3"] < 10 || tags["main"] != 1 || tags["section"] != 1 {
				t.Errorf("%s %s: headings and landmarks: %v", lang, basis, tags)
			}
			if !strings.Contains(r.HTML, `<html lang="`+lang+`">`) {
				t.Errorf("%s %s: no lang attribute", lang, basis)
			}
		}
	}
}

func TestEscaping(t *testing.T) {
	s := load(t)
	const evilSubject = `<script>alert("x")</script> & 'quoted'`
	const evilName = `"Bob" <b>O'Brien</b>`
	for _, lang := range []string{"de", "en"} {
		a := ack(lang, "consent")
		a.Subject = evilSubject
		a.RequesterName = evilName
		a.Controller.Name = `Evil <i>Corp</i> & "Co"`
		a.Purpose.Recipients = []string{`<img src="https://tracker.example/x.gif">`}
		a.Purpose.Description = config.Text{DE: "<b>fett</b>", EN: "<b>bold</b>"}
		r, err := s.Ack(a)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range []string{"<script>", "<b>", "<i>", "<img", `"Bob"`, `"x"`, "& '"} {
			if strings.Contains(r.HTML, raw) {
				t.Errorf("%s: HTML contains unescaped %q", lang, raw)
			}
		}
		for _, esc := range []string{
			"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#39;quoted&#39;",
			"&#34;Bob&#34; &lt;b&gt;O&#39;Brien&lt;/b&gt;",
			"Evil &lt;i&gt;Corp&lt;/i&gt; &amp; &#34;Co&#34;",
			"&lt;img src=&#34;https://tracker.example/x.gif&#34;&gt;",
		} {
			if !strings.Contains(r.HTML, esc) {
				t.Errorf("%s: HTML lacks escaped %q", lang, esc)
			}
		}
		// The parsed HTML reads exactly what the customer wrote.
		if got := htmlText(t, r.HTML, "body"); !strings.Contains(got, evilSubject) || !strings.Contains(got, evilName) {
			t.Errorf("%s: HTML text does not show the subject and name as written:\n%s", lang, got)
		}
		// The text part keeps them literally.
		for _, lit := range []string{evilSubject, evilName, a.Controller.Name, a.Purpose.Recipients[0]} {
			if !strings.Contains(r.Text, lit) {
				t.Errorf("%s: text part lacks literal %q", lang, lit)
			}
		}
	}
}

func TestUnsafeConsentURL(t *testing.T) {
	s := load(t)
	a := ack("en", "consent")
	a.ConsentURL = "javascript:alert(1)"
	r, err := s.Ack(a)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.HTML, "javascript:") {
		t.Error("HTML links a javascript: URL")
	}
}

// A subject or name with line breaks stays on its line in the text part.
func TestOneLine(t *testing.T) {
	s := load(t)
	a := ack("de", "contract")
	a.Subject = "Hilfe\r\n\r\nTicketnummer [#9999] erfasst.\tEnde"
	a.RequesterName = "Erika\nMüller\x00"
	r, err := s.Ack(a)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Text, "\nBetreff: Hilfe Ticketnummer [#9999] erfasst. Ende\n") {
		t.Errorf("subject not reduced to one line:\n%s", r.Text)
	}
	if !strings.HasPrefix(r.Text, "Guten Tag Erika Müller,\n") {
		t.Errorf("name not reduced to one line:\n%s", r.Text)
	}
}

func TestAckErrors(t *testing.T) {
	s := load(t)
	for name, mod := range map[string]func(*Ack){
		"language":    func(a *Ack) { a.Lang = "fr" },
		"ticket":      func(a *Ack) { a.Ticket = 0 },
		"consent URL": func(a *Ack) { a.ConsentURL = "" },
		"legal basis": func(a *Ack) { a.Purpose.LegalBasis = "vital_interest" },
	} {
		a := ack("de", "contract")
		mod(&a)
		if _, err := s.Ack(a); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestConcurrent(t *testing.T) {
	s := load(t)
	want, err := s.Ack(ack("de", "consent"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				got, err := s.Ack(ack("de", "consent"))
				if err != nil || got != want {
					t.Error("concurrent render differs")
					return
				}
			}
		})
	}
	wg.Wait()
}

// loadRefuses checks that Load refuses the override file with content,
// with an error that names its path and says want.
func loadRefuses(t *testing.T, file, content, want string) {
	t.Helper()
	path := writeFile(t, t.TempDir(), file, content)
	_, err := Load(filepath.Dir(path))
	if err == nil {
		t.Fatal("no error")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error does not name %s: %v", path, err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error lacks %q: %v", want, err)
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func builtinSource(t *testing.T, name string) string {
	t.Helper()
	b, err := builtin.ReadFile("builtin/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLoadOverride(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "README", "not a template, ignored")
	writeFile(t, dir, "ack.en.txt.tmpl", `Dear customer,

your ticket is [#{{.Ticket}}].

{{template "notice" .}}
Consent: {{.ConsentURL}}
`)
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Ack(ack("en", "contract"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.Text, "Dear customer,\n\nyour ticket is [#1042].\n\n---") {
		t.Errorf("override not used:\n%s", r.Text)
	}
	builtinSet := load(t)
	b, err := builtinSet.Ack(ack("en", "contract"))
	if err != nil {
		t.Fatal(err)
	}
	if r.HTML != b.HTML || r.Notice != b.Notice || r.NoticeHash != b.NoticeHash {
		t.Error("overriding the English text ack changed another part")
	}
	d1, _ := s.Ack(ack("de", "contract"))
	d2, _ := builtinSet.Ack(ack("de", "contract"))
	if d1 != d2 {
		t.Error("overriding the English text ack changed the German one")
	}
}

func TestLoadOverrideNotice(t *testing.T) {
	dir := t.TempDir()
	src := strings.Replace(builtinSource(t, "notice.de.txt.tmpl"), "Datenschutzhinweise nach", "Hinweise zum Datenschutz nach", 1)
	writeFile(t, dir, "notice.de.txt.tmpl", src)
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Ack(ack("de", "contract"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Notice, "Hinweise zum Datenschutz nach Art. 13 DSGVO") || !strings.Contains(r.Text, r.Notice) {
		t.Errorf("notice override not used:\n%s", r.Notice)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, c := range []struct {
		name, file, content, want string
	}{
		{"parse error", "ack.de.txt.tmpl", "Hallo {{.Ticket\n", "unclosed action"},
		{"html parse error", "notice.en.html.tmpl", "<p>{{if .Lang}}</p>", "unexpected EOF"},
		{"unknown function", "ack.de.html.tmpl", "{{frobnicate .}}", `function "frobnicate" not defined`},
		{"missing field", "ack.de.txt.tmpl", "{{.Tikket}}\n{{template \"notice\" .}}\n{{.ConsentURL}}\n", "can't evaluate field Tikket"},
		{"missing field in a branch", "notice.en.txt.tmpl",
			strings.Replace(builtinSource(t, "notice.en.txt.tmpl"), "{{$p.LegitimateInterest.EN}}", "{{$p.Interest.EN}}", 1),
			"can't evaluate field Interest"},
		{"missing nested field", "notice.de.html.tmpl", "<p>{{.Controller.Phone}}</p>", "can't evaluate field Phone"},
		{"no notice", "ack.en.txt.tmpl", "Ticket [#{{.Ticket}}] {{.ConsentURL}}\n", "does not include the notice"},
		{"no notice in HTML", "ack.en.html.tmpl", `<a href="{{.ConsentURL}}">x</a>`, "does not include the notice"},
		{"no consent link", "ack.de.txt.tmpl", "{{template \"notice\" .}}\n", "consent link"},
		{"no consent href", "ack.de.html.tmpl", `{{template "notice" .}}<p>{{.ConsentURL}}</p>`, "consent URL"},
		{"notice without authority", "notice.de.txt.tmpl",
			strings.Replace(builtinSource(t, "notice.de.txt.tmpl"), "{{.Controller.Authority}}", "", 1),
			".Controller.Authority"},
		{"notice without transfers", "notice.en.html.tmpl",
			strings.Replace(builtinSource(t, "notice.en.html.tmpl"), "<li>{{.}}</li>", "<li>a recipient</li>", -1),
			".Purpose.Recipients"},
		{"empty notice", "notice.en.txt.tmpl", "", "the notice is empty"},
		{"unknown name", "ack.de.text.tmpl", "x", "not a template name"},
	} {
		t.Run(c.name, func(t *testing.T) { loadRefuses(t, c.file, c.content, c.want) })
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing override directory: no error")
	}
}

func TestLanguage(t *testing.T) {
	const (
		german  = "Hallo, ich habe die Rechnung für März zweimal bezahlt. Bitte prüfen Sie das. Vielen Dank!"
		english = "Hello, I paid the invoice for March twice. Could you please check this? Thanks!"
	)
	for _, c := range []struct {
		name, header, text, def, want string
	}{
		{"header de-DE", "de-DE", english, "en", "de"},
		{"header en-US", "en-US", german, "de", "en"},
		{"header list", "de, en", "", "en", "de"},
		{"header first known", "fr, en-GB, de", "", "de", "en"},
		{"header upper case", "DE", "", "en", "de"},
		{"header underscore", "de_AT", "", "en", "de"},
		{"header unknown", "fr", german, "en", "de"},
		{"header unknown, no text", "fr-FR", "", "en", "en"},
		{"german text", "", german, "en", "de"},
		{"english text", "", english, "de", "en"},
		{"umlauts", "", "Größe Übergabe Rückfrage", "en", "de"},
		{"german quoting english", "", "Danke, das ist nicht richtig, bitte noch mal.\n> Thanks for your message, please note that the invoice is paid.\n> You will hear from us.", "en", "de"},
		{"mixed", "", "Hello, thanks for the invoice. Vielen Dank für die Rechnung.", "en", "en"},
		{"mixed other default", "", "Hello, thanks for the invoice. Vielen Dank für die Rechnung.", "de", "de"},
		{"short", "", "Danke!", "en", "en"},
		{"short english", "", "Thanks!", "de", "de"},
		{"empty", "", "", "de", "de"},
		{"french", "", "Bonjour, je voudrais une facture, merci beaucoup.", "en", "en"},
		{"german after 4 KB", "", strings.Repeat("x ", 3000) + german, "en", "en"},
	} {
		if got := Language(c.header, c.text, c.def); got != c.want {
			t.Errorf("%s: Language(%q, %.30q, %q) = %q, want %q", c.name, c.header, c.text, c.def, got, c.want)
		}
	}
}

func TestDuration(t *testing.T) {
	for _, c := range []struct {
		d      time.Duration
		de, en string
	}{
		{8 * time.Hour, "8 Stunden", "8 hours"},
		{time.Hour, "1 Stunde", "1 hour"},
		{24 * time.Hour, "1 Tag", "1 day"},
		{48 * time.Hour, "2 Tage", "2 days"},
		{30 * time.Minute, "30 Minuten", "30 minutes"},
		{time.Minute, "1 Minute", "1 minute"},
		{36 * time.Hour, "1 Tag und 12 Stunden", "1 day and 12 hours"},
		{90 * time.Minute, "1 Stunde und 30 Minuten", "1 hour and 30 minutes"},
		{26*time.Hour + 5*time.Minute, "1 Tag, 2 Stunden und 5 Minuten", "1 day, 2 hours and 5 minutes"},
		{14 * 24 * time.Hour, "14 Tage", "14 days"},
		{90 * time.Second, "2 Minuten", "2 minutes"},
		{10 * time.Second, "1 Minute", "1 minute"},
		{0, "0 Minuten", "0 minutes"},
	} {
		if got := Duration(c.d, "de"); got != c.de {
			t.Errorf("Duration(%v, de) = %q, want %q", c.d, got, c.de)
		}
		if got := Duration(c.d, "en"); got != c.en {
			t.Errorf("Duration(%v, en) = %q, want %q", c.d, got, c.en)
		}
	}
}

func TestPeriod(t *testing.T) {
	for _, c := range []struct {
		p      config.Period
		de, en string
	}{
		{config.Period{Years: 2}, "2 Jahre", "2 years"},
		{config.Period{Years: 1}, "1 Jahr", "1 year"},
		{config.Period{Days: 90}, "90 Tage", "90 days"},
		{config.Period{Days: 1}, "1 Tag", "1 day"},
		{config.Period{Years: 1, Days: 30}, "1 Jahr und 30 Tage", "1 year and 30 days"},
		{config.Period{}, "0 Tage", "0 days"},
	} {
		if got := Period(c.p, "de"); got != c.de {
			t.Errorf("Period(%+v, de) = %q, want %q", c.p, got, c.de)
		}
		if got := Period(c.p, "en"); got != c.en {
			t.Errorf("Period(%+v, en) = %q, want %q", c.p, got, c.en)
		}
	}
}

func TestReflow(t *testing.T) {
	long := strings.Repeat("wort ", 30)
	got := reflow(long)
	for _, line := range strings.Split(got, "\n") {
		if len(line) > textWidth {
			t.Errorf("line too long: %q", line)
		}
	}
	if oneLine(got) != oneLine(long) {
		t.Error("reflow lost words")
	}
	url := "https://example.com/" + strings.Repeat("a", 80)
	for _, c := range []struct{ in, want string }{
		{"see " + url, "see\n" + url},
		{url, url},
		{"short  \n\nlines stay\t\n", "short\n\nlines stay\n"},
		{"- " + strings.Repeat("item ", 20), "- item item item item item item item item item item item item item item\n  item item item item item item"},
		{"  indented " + strings.Repeat("ab ", 30), "  indented ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab\n  ab ab ab ab ab ab ab ab ab ab"},
		{strings.Repeat("ü", 72), strings.Repeat("ü", 72)},
		{"Eine automatisierte Entscheidungsfindung einschließlich Profiling (Art. 22 DSGVO) findet nicht statt.",
			"Eine automatisierte Entscheidungsfindung einschließlich Profiling\n(Art. 22 DSGVO) findet nicht statt."},
	} {
		if got := reflow(c.in); got != c.want {
			t.Errorf("reflow(%q) =\n%s\nwant\n%s", c.in, got, c.want)
		}
	}
}

// TestNoticeWithoutDPO checks that a controller without a data protection
// officer gets a notice without the DPO's heading, in both parts and
// languages, and one with a DPO gets it.
func TestNoticeWithoutDPO(t *testing.T) {
	s := load(t)
	heading := map[string]string{"de": "Datenschutzbeauftragter", "en": "Data protection officer"}
	for lang, h := range heading {
		for _, dpo := range []string{"", controller.DPO} {
			a := ack(lang, "contract")
			a.Controller.DPO = dpo
			r, err := s.Ack(a)
			if err != nil {
				t.Fatal(err)
			}
			for part, text := range map[string]string{"text": r.Text, "html": r.HTML} {
				if got := strings.Contains(text, h); got != (dpo != "") {
					t.Errorf("%s %s with DPO %q: heading %q shown: %v", lang, part, dpo, h, got)
				}
				if strings.Contains(text, h+"\n\n") || strings.Contains(text, "<p style=\"margin-top:0;\"></p>") {
					t.Errorf("%s %s: an empty DPO entry", lang, part)
				}
			}
		}
	}
}
