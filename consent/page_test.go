package consent_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"ticketd/config"
	"ticketd/config/configtest"
	"ticketd/consent"
	"ticketd/store"
	"ticketd/store/storetest"
	"ticketd/templates"
)

// pageTOML gives the base configuration one queue per legal basis that a
// ticket can have, and an optional purpose based on consent that no queue
// names.
const pageTOML = `
[server]
data_dir = "data"
language = "de"

[controller]
dpo = "Dr. Erika Muster, dsb@example.com"

[smtp]
host = "127.0.0.1"
tls = "none"

[consent]
rate_limit = 1000

[[queue]]
name = "support"
purpose = "support"
response_time = "1d"

[[queue]]
name = "sales"
purpose = "presales"
response_time = "1d"

[[queue]]
name = "billing"
purpose = "invoices"
response_time = "1d"

[[mailbox]]
name = "support"
address = "support@example.com"
host = "127.0.0.1"
tls = "none"
username = "support"
password_file = "imap.pass"
queue = "support"

[[purpose]]
name = "support"
description = { de = "Bearbeitung Ihrer Anfrage mit Ihrer Einwilligung", en = "Handling your request with your consent" }
legal_basis = "consent"
retention = "2y"
recipients = ["Example Hosting GmbH (mail hosting, processor)"]
transfers = []
required = { de = "Freiwillig.", en = "Voluntary." }

[[purpose]]
name = "presales"
description = { de = "Beantwortung von Fragen vor dem Kauf", en = "Answering questions before a purchase" }
legal_basis = "legitimate_interest"
legitimate_interest = { de = "Anfragen von Interessenten beantworten", en = "Answering enquiries" }
retention = "90d"
recipients = ["Example Hosting GmbH (mail hosting, processor)"]
transfers = ["Helpdesk Cloud Inc., USA (EU-US Data Privacy Framework)"]
required = { de = "Nicht vorgeschrieben.", en = "Not required." }

[[purpose]]
name = "invoices"
description = { de = "Fragen zu Rechnungen", en = "Questions about invoices" }
legal_basis = "contract"
retention = "6y"
recipients = ["Example Hosting GmbH (mail hosting, processor)"]
transfers = []
required = { de = "Erforderlich.", en = "Required." }

[[purpose]]
name = "feedback"
description = { de = "Auswertung Ihres Feedbacks", en = "Evaluating your feedback" }
legal_basis = "consent"
retention = "1y"
on_expiry = "delete"
recipients = ["Example Hosting GmbH (mail hosting, processor)"]
transfers = []
required = { de = "Freiwillig.", en = "Voluntary." }
`

var start = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// fixture is a store with tickets, the consent page on it and a clock.
type fixture struct {
	t      testing.TB
	db     *store.DB
	signer *consent.Signer
	tmpl   *templates.Set
	h      *consent.Handler

	clock *storetest.Clock

	mu      sync.Mutex
	cfg     *config.Config
	planned []uint64 // tickets the planner saw, in order
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: storetest.NewClock(start), cfg: configtest.Parse(t, pageTOML)}
	f.db = storetest.New(t, f.clock.Now)
	f.db.SetPlanner(func(_ *store.Tx, tk *store.Ticket) {
		f.mu.Lock()
		f.planned = append(f.planned, tk.Number)
		f.mu.Unlock()
	})
	var err error
	if f.signer, err = consent.NewSigner([]byte("0123456789abcdef0123456789abcdef")); err != nil {
		t.Fatal(err)
	}
	if f.tmpl, err = templates.Load(""); err != nil {
		t.Fatal(err)
	}
	f.h = &consent.Handler{
		DB: f.db, Signer: f.signer, Config: f.config, Now: f.clock.Now,
		Render:      f.tmpl.ConsentPage,
		RenderError: f.tmpl.ConsentError,
		Notice: func(lang string, tk *store.Ticket, p *config.Purpose) (string, string, error) {
			return f.tmpl.Notice(templates.Ack{Lang: lang, Ticket: tk.Number, Subject: tk.Subject, Controller: f.config().Controller, Purpose: *p})
		},
	}
	return f
}

func (f *fixture) config() *config.Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cfg
}

// ticket stores a ticket of queue from email (name) and issues its consent
// link as the acknowledgement does, with the notice hash the ack carried.
// It returns the ticket number and the token.
func (f *fixture) ticket(queue, email, name, subject, lang string) (uint64, string) {
	f.t.Helper()
	cfg := f.config()
	purpose := cfg.Queue(queue).Purpose
	var number uint64
	var token string
	err := f.db.Update(func(tx *store.Tx) error {
		p, err := tx.EnsurePerson(email, name, "system")
		if err != nil {
			return err
		}
		tk := &store.Ticket{Subject: subject, Status: store.StatusNew, Queue: queue, RequesterID: p.ID,
			Participants: []uint64{p.ID}, Purpose: purpose, Language: lang}
		if err := tx.CreateTicket(tk, "system"); err != nil {
			return err
		}
		number = tk.Number
		var c consent.Claims
		token, c, err = f.signer.Issue(tk.Number, p.ID, email, purpose, tx.Now().Add(90*24*time.Hour))
		if err != nil {
			return err
		}
		_, hash, err := f.tmpl.Notice(templates.Ack{Lang: lang, Ticket: tk.Number, Subject: subject, Controller: cfg.Controller,
			Purpose: *cfg.Purpose(purpose)})
		if err != nil {
			return err
		}
		return tx.RecordConsentToken(&store.ConsentToken{ID: c.ID, Ticket: tk.Number, Person: p.ID, Purpose: purpose,
			Expires: c.Expires, NoticeHash: hash}, "system")
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return number, token
}

// response is one answer of the handler.
type response struct {
	status int
	header http.Header
	body   string
}

// do sends one request from client address from.
func (f *fixture) do(method, target, from string, form url.Values, header ...string) response {
	f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, target, body)
	r.RemoteAddr = from
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return response{w.Code, w.Result().Header, w.Body.String()}
}

func (f *fixture) get(token string, query ...string) response {
	f.t.Helper()
	target := "/consent/" + token
	if len(query) > 0 {
		target += "?" + query[0]
	}
	return f.do("GET", target, "192.0.2.1:4000", nil)
}

func (f *fixture) post(token string, form url.Values, header ...string) response {
	f.t.Helper()
	return f.do("POST", "/consent/"+token, "192.0.2.1:4000", form, header...)
}

// history is the consent history of the person with this address.
func (f *fixture) history(email string) []*store.ConsentRecord {
	f.t.Helper()
	var out []*store.ConsentRecord
	err := f.db.View(func(tx *store.Tx) error {
		p, err := tx.PersonByEmail(email)
		if err != nil {
			return err
		}
		out, err = tx.ConsentHistory(p.ID)
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

func (f *fixture) audit() []*store.AuditEvent {
	f.t.Helper()
	var out []*store.AuditEvent
	if err := f.db.View(func(tx *store.Tx) error {
		return tx.AuditEvents(func(e *store.AuditEvent) bool { out = append(out, e); return true })
	}); err != nil {
		f.t.Fatal(err)
	}
	return out
}

func (f *fixture) stored(n uint64) *store.Ticket {
	f.t.Helper()
	var tk *store.Ticket
	if err := f.db.View(func(tx *store.Tx) (err error) { tk, err = tx.Ticket(n); return err }); err != nil {
		f.t.Fatal(err)
	}
	return tk
}

// pageForms returns the POST forms of a page by purpose and decision.
func pageForms(t *testing.T, body string) map[string]url.Values {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]url.Values{}
	var form url.Values
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "form":
				form = url.Values{}
			case "input":
				form.Set(attr(n, "name"), attr(n, "value"))
			case "button":
				form.Set(attr(n, "name"), attr(n, "value"))
				out[form.Get("purpose")+" "+form.Get("decision")] = form
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
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

func keys(m map[string]url.Values) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// checkPage checks what every answer of the page must be: the security
// headers, and an HTML5 document with a language, headings, no script, no
// external resource, and every button a real submit button in a POST form.
func checkPage(t *testing.T, r response, lang string) {
	t.Helper()
	for k, want := range map[string]string{
		"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
		"Content-Type":            "text/html; charset=utf-8",
	} {
		if got := r.header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if r.header.Get("Set-Cookie") != "" {
		t.Error("the page sets a cookie")
	}
	if !strings.HasPrefix(r.body, "<!DOCTYPE html>\n") {
		t.Error("no HTML5 doctype")
	}
	doc, err := html.Parse(strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	h1, ids := 0, map[string]bool{}
	var walk func(n *html.Node, inPostForm bool)
	walk = func(n *html.Node, inPostForm bool) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "html":
				if attr(n, "lang") != lang {
					t.Errorf("<html lang=%q>, want %q", attr(n, "lang"), lang)
				}
			case "h1":
				h1++
			case "script", "img", "iframe", "link", "object", "embed", "audio", "video", "source", "svg", "base":
				t.Errorf("the page has a <%s> element", n.Data)
			case "form":
				inPostForm = attr(n, "method") == "post" && attr(n, "action") == ""
				if !inPostForm {
					t.Errorf("a form is not method=post to the page itself: %v", n.Attr)
				}
			case "button":
				if !inPostForm || attr(n, "type") != "submit" {
					t.Errorf("a button outside a POST form or not type=submit: %v", n.Attr)
				}
			case "input":
				if !inPostForm || attr(n, "type") != "hidden" {
					t.Errorf("an input outside a POST form or visible without a label: %v", n.Attr)
				}
			}
			for _, a := range n.Attr {
				if strings.HasPrefix(a.Key, "on") {
					t.Errorf("event handler attribute %s=%q", a.Key, a.Val)
				}
				if (a.Key == "src" || a.Key == "href") && strings.Contains(a.Val, "//") {
					t.Errorf("link or resource elsewhere: %s=%q", a.Key, a.Val)
				}
				if a.Key == "id" {
					if ids[a.Val] {
						t.Errorf("id %q twice", a.Val)
					}
					ids[a.Val] = true
				}
				if a.Key == "aria-describedby" || a.Key == "aria-labelledby" {
					defer func() {
						if !ids[a.Val] {
							t.Errorf("%s=%q names no element", a.Key, a.Val)
						}
					}()
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, inPostForm)
		}
	}
	walk(doc, false)
	if h1 != 1 {
		t.Errorf("%d <h1> elements, want 1", h1)
	}
}

func TestGetChangesNothing(t *testing.T) {
	f := newFixture(t)
	n, tok := f.ticket("support", "erika@example.org", "Erika Mustermann", "Drucker druckt nicht", "de")
	before, planned := f.audit(), len(f.planned)
	r := f.get(tok)
	if r.status != 200 {
		t.Fatalf("GET: %d\n%s", r.status, r.body)
	}
	checkPage(t, r, "de")
	for _, want := range []string{"Ticket <strong>[#1]</strong>", "Drucker druckt nicht", "Guten Tag Erika Mustermann,", "Beispiel GmbH",
		"Musterstraße 1, 10115 Berlin", "datenschutz@example.com", "Dr. Erika Muster, dsb@example.com", "Berliner Beauftragte",
		"Bearbeitung Ihrer Anfrage mit Ihrer Einwilligung", "Auswertung Ihres Feedbacks", "Nicht erteilt.",
		"Art. 6 Abs. 1 lit. a DSGVO", "Bis zu 2 Jahre nach Abschluss des Tickets", "Example Hosting GmbH",
		"Was wir speichern, wenn Sie entscheiden", "Fingerabdruck (SHA-256)", "Datenschutzhinweise nach Art. 13 DSGVO",
		"Haben Sie Ihre Einwilligung 14 Tage nach Eingang Ihrer Nachricht nicht erteilt"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// The other queues' purposes are not this ticket's.
	for _, not := range []string{"Beantwortung von Fragen vor dem Kauf", "Fragen zu Rechnungen"} {
		if strings.Contains(r.body, not) {
			t.Errorf("page shows %q, a purpose of another queue", not)
		}
	}
	if got := keys(pageForms(t, r.body)); !slices.Equal(got, []string{"feedback granted", "support granted"}) {
		t.Errorf("forms %v, want a grant for support and feedback", got)
	}
	// HEAD, a reload, the page in English: still nothing stored.
	if r := f.do("HEAD", "/consent/"+tok, "192.0.2.1:4000", nil); r.status != 200 || r.body != "" {
		t.Errorf("HEAD: %d %q", r.status, r.body)
	}
	en := f.get(tok, "lang=en")
	checkPage(t, en, "en")
	if !strings.Contains(en.body, "Handling your request with your consent") || !strings.Contains(en.body, `hreflang="de"`) {
		t.Error("?lang=en is not the English page with a link to the German one")
	}
	after := f.audit()
	if len(after) != len(before) || after[len(after)-1].Hash != before[len(before)-1].Hash {
		t.Errorf("GET added audit events: %d before, %d after", len(before), len(after))
	}
	if h := f.history("erika@example.org"); len(h) != 0 {
		t.Errorf("GET recorded %d decisions", len(h))
	}
	if len(f.planned) != planned || f.stored(n).UpdatedAt != start {
		t.Error("GET wrote the ticket")
	}
}

func TestGrantAndWithdraw(t *testing.T) {
	f := newFixture(t)
	n, tok := f.ticket("support", "erika@example.org", "Erika", "Drucker", "de")
	other, _ := f.ticket("billing", "erika@example.org", "Erika", "Rechnung", "de") // another purpose: untouched
	// The grace sweep restricted the ticket; a grant lifts that.
	f.db.Update(func(tx *store.Tx) error {
		tk, _ := tx.Ticket(n)
		tk.Restricted = &store.Restriction{Since: start, Reason: store.RestrictedNoConsent}
		return tx.UpdateTicket(tk, store.TicketRestricted(tk.Number, store.ActorScheduler))
	})
	var ackHash string
	f.db.View(func(tx *store.Tx) error {
		c, _ := f.signer.Verify(tok, start)
		rec, err := tx.ConsentTokenRecord(c.ID)
		ackHash = rec.NoticeHash
		return err
	})

	page := f.get(tok)
	if !strings.Contains(page.body, "eingeschränkt (Art. 18 DSGVO)") {
		t.Error("the page does not say the ticket is restricted")
	}
	f.clock.Advance(time.Minute)
	f.planned = nil
	r := f.post(tok, pageForms(t, page.body)["support granted"])
	if r.status != http.StatusSeeOther {
		t.Fatalf("POST grant: %d\n%s", r.status, r.body)
	}
	loc := r.header.Get("Location")
	if !strings.HasPrefix(loc, tok+"?lang=de&recorded=") {
		t.Errorf("Location %q, want the page relative to itself with the record", loc)
	}
	h := f.history("erika@example.org")
	if len(h) != 1 {
		t.Fatalf("%d records, want 1", len(h))
	}
	c, _ := f.signer.Verify(tok, start)
	g := h[0]
	if g.Decision != store.ConsentGranted || g.Purpose != "support" || g.Channel != "link" || g.TokenID != c.ID ||
		g.Ticket != n || !g.At.Equal(start.Add(time.Minute)) || g.NoticeHash != ackHash || len(ackHash) != 64 {
		t.Errorf("record %+v; want granted via link, token %s, ticket %d, the ack's notice hash %s", g, c.ID, n, ackHash)
	}
	if tk := f.stored(n); tk.Restricted != nil {
		t.Error("the grant did not lift the restriction")
	}
	if !slices.Contains(f.planned, n) || slices.Contains(f.planned, other) {
		t.Errorf("planner saw tickets %v; want %d (the purpose's) and not %d", f.planned, n, other)
	}
	var actions []store.Action
	for _, e := range f.audit() {
		if e.Actor == store.ActorCustomer {
			actions = append(actions, e.Action)
		}
	}
	if !slices.Equal(actions, []store.Action{store.ActionConsentGranted, store.ActionTicketRestrictionLifted}) {
		t.Errorf("customer's audit events %v", actions)
	}

	// The page after the redirect confirms what was recorded and when.
	u, _ := url.Parse(loc)
	conf := f.get(tok, u.RawQuery)
	for _, want := range []string{"Ihre Entscheidung ist gespeichert", "Sie haben Ihre Einwilligung erteilt für: Bearbeitung Ihrer Anfrage",
		"Gespeichert am 23.11.2026 um 10:01 Uhr (UTC)", c.ID, ackHash, "Erteilt am 23.11.2026 um 10:01 Uhr (UTC)."} {
		if !strings.Contains(conf.body, want) {
			t.Errorf("confirmation lacks %q", want)
		}
	}
	if strings.Contains(conf.body, "eingeschränkt (Art. 18 DSGVO)") {
		t.Error("the page still says the ticket is restricted")
	}
	forms := pageForms(t, conf.body)
	if got := keys(forms); !slices.Equal(got, []string{"feedback granted", "support withdrawn"}) {
		t.Fatalf("forms after the grant: %v", got)
	}

	// Withdrawing is the same kind of button on the same page.
	f.clock.Advance(time.Minute)
	if r := f.post(tok, forms["support withdrawn"]); r.status != http.StatusSeeOther {
		t.Fatalf("POST withdraw: %d\n%s", r.status, r.body)
	}
	h = f.history("erika@example.org")
	if len(h) != 2 || h[0].Decision != store.ConsentGranted || h[1].Decision != store.ConsentWithdrawn ||
		h[1].TokenID != c.ID || h[1].NoticeHash != ackHash || !h[1].At.Equal(start.Add(2*time.Minute)) {
		t.Errorf("history %+v %+v, want granted then withdrawn, both kept", h[0], h[len(h)-1])
	}
	// The optional purpose: granted in English, with the English notice's hash.
	en := f.get(tok, "lang=en")
	if r := f.post(tok, pageForms(t, en.body)["feedback granted"]); r.status != http.StatusSeeOther {
		t.Fatalf("POST grant feedback: %d\n%s", r.status, r.body)
	}
	h = f.history("erika@example.org")
	_, enHash, _ := f.tmpl.Notice(templates.Ack{Lang: "en", Ticket: n, Subject: "Drucker", Controller: f.cfg.Controller, Purpose: *f.cfg.Purpose("feedback")})
	if fb := h[0]; fb.Purpose != "feedback" || fb.Decision != store.ConsentGranted || fb.NoticeHash != enHash {
		t.Errorf("feedback record %+v, want granted with the English notice's hash %s", fb, enHash)
	}
}

func TestObjection(t *testing.T) {
	f := newFixture(t)
	n, tok := f.ticket("sales", "max@example.net", "", "Preisfrage", "en")
	page := f.get(tok)
	checkPage(t, page, "en")
	for _, want := range []string{"Our legitimate interest, Art. 6(1)(f) GDPR: Answering enquiries", "Art. 21(1) GDPR",
		"Helpdesk Cloud Inc., USA", "Your objection", "None.", "Hello,"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	forms := pageForms(t, page.body)
	if got := keys(forms); !slices.Equal(got, []string{"feedback granted", "presales objected"}) {
		t.Fatalf("forms %v", got)
	}
	if r := f.post(tok, forms["presales objected"]); r.status != http.StatusSeeOther {
		t.Fatalf("POST object: %d\n%s", r.status, r.body)
	}
	h := f.history("max@example.net")
	if len(h) != 1 || h[0].Decision != store.ConsentObjected || h[0].Purpose != "presales" {
		t.Fatalf("history %+v", h)
	}
	if tk := f.stored(n); !tk.Objected.Equal(start) {
		t.Errorf("ticket Objected = %v, want %v", tk.Objected, start)
	}
	page = f.get(tok)
	if !strings.Contains(page.body, "Recorded on 23 November 2026 at 10:00 UTC.") {
		t.Error("the page does not show the objection")
	}
	if got := keys(pageForms(t, page.body)); !slices.Equal(got, []string{"feedback granted"}) {
		t.Errorf("forms after the objection: %v", got)
	}
	// An objection form replayed after it was recorded is stale.
	if r := f.post(tok, forms["presales objected"]); r.status != http.StatusForbidden {
		t.Errorf("second objection: %d", r.status)
	}
}

func TestContractOffersNoButton(t *testing.T) {
	f := newFixture(t)
	_, tok := f.ticket("billing", "erika@example.org", "", "Rechnung", "de")
	page := f.get(tok)
	checkPage(t, page, "de")
	if !strings.Contains(page.body, "Für diese Verarbeitung brauchen wir keine Einwilligung") ||
		!strings.Contains(page.body, `<a href="mailto:datenschutz@example.com">datenschutz@example.com</a>`) {
		t.Error("the contract purpose lacks its explanation and the controller's address")
	}
	forms := pageForms(t, page.body)
	if got := keys(forms); !slices.Equal(got, []string{"feedback granted"}) {
		t.Errorf("forms %v, want only the optional purpose's", got)
	}
	// Forged decisions the page does not offer.
	form := forms["feedback granted"]
	for name, mod := range map[string]func(url.Values){
		"withdraw a contract": func(v url.Values) { v.Set("purpose", "invoices"); v.Set("decision", "withdrawn") },
		"object to consent":   func(v url.Values) { v.Set("decision", "objected") },
		"another queue's":     func(v url.Values) { v.Set("purpose", "presales"); v.Set("decision", "objected") },
		"unknown purpose":     func(v url.Values) { v.Set("purpose", "marketing") },
		"unknown decision":    func(v url.Values) { v.Set("decision", "maybe") },
		"unknown language":    func(v url.Values) { v.Set("lang", "fr") },
	} {
		v := url.Values{}
		for k := range form {
			v.Set(k, form.Get(k))
		}
		mod(v)
		if r := f.post(tok, v); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", name, r.status)
		}
	}
	if h := f.history("erika@example.org"); len(h) != 0 {
		t.Errorf("forged forms recorded %d decisions", len(h))
	}
}

func TestBadTokens(t *testing.T) {
	f := newFixture(t)
	n, tok := f.ticket("support", "erika@example.org", "Erika", "Drucker", "de")
	c, _ := f.signer.Verify(tok, start)
	enc, sig, _ := strings.Cut(tok, ".")
	flip := func(s string, i int) string {
		b := []byte(s)
		b[i] ^= 1
		return string(b)
	}
	other, _ := consent.NewSigner([]byte("another key of 32 bytes, exactly"))
	otherTok, _, _ := other.Issue(n, c.Person, "erika@example.org", "support", start.Add(time.Hour))
	unrecorded, _, _ := f.signer.Issue(n, c.Person, "erika@example.org", "support", start.Add(time.Hour)) // signed, never issued in a mail
	wrongPerson, _, _ := f.signer.Issue(n, c.Person+1, "erika@example.org", "support", start.Add(time.Hour))
	short, _, _ := f.signer.Issue(n, c.Person, "erika@example.org", "support", start.Add(time.Hour))
	f.db.Update(func(tx *store.Tx) error {
		sc, _ := f.signer.Verify(short, start)
		return tx.RecordConsentToken(&store.ConsentToken{ID: sc.ID, Ticket: n, Person: c.Person, Purpose: "support", Expires: sc.Expires}, "system")
	})
	// A ticket deleted after its link went out.
	gone, goneTok := f.ticket("support", "ann@example.com", "Ann", "Weg", "de")
	f.db.Update(func(tx *store.Tx) error { return tx.DeleteTicket(gone, "admin", "test") })

	f.clock.Advance(2 * time.Hour) // short has expired, tok has not
	cases := map[string]string{
		"tampered payload":   flip(enc, 20) + "." + sig,
		"tampered signature": enc + "." + flip(sig, 5),
		"other key":          otherTok,
		"expired":            short,
		"unknown":            unrecorded,
		"person not on it":   wrongPerson,
		"ticket deleted":     goneTok,
		"malformed":          "not-a-token",
		"empty":              "",
		"slash":              enc + "/" + sig,
		"too long":           strings.Repeat("A", 300) + "." + sig,
	}
	var first response
	for name, bad := range cases {
		for _, method := range []string{"GET", "POST"} {
			var r response
			if method == "GET" {
				r = f.get(bad)
			} else {
				r = f.post(bad, url.Values{"purpose": {"support"}, "decision": {"granted"}, "lang": {"de"}, "form": {"x"}})
			}
			if r.status != http.StatusNotFound {
				t.Errorf("%s %s: %d, want 404", method, name, r.status)
				continue
			}
			checkPage(t, r, "de")
			if first.body == "" {
				first = r
				continue
			}
			if r.body != first.body {
				t.Errorf("%s %s: the 404 page differs from the others", method, name)
			}
			if len(r.header) != len(first.header) {
				t.Errorf("%s %s: headers %v differ from %v", method, name, r.header, first.header)
			}
			for k := range first.header {
				if r.header.Get(k) != first.header.Get(k) {
					t.Errorf("%s %s: header %s = %q, others %q", method, name, k, r.header.Get(k), first.header.Get(k))
				}
			}
		}
	}
	for _, leak := range []string{"Drucker", "Erika", "[#", "support"} {
		if strings.Contains(first.body, leak) {
			t.Errorf("the 404 page names %q", leak)
		}
	}
	if !strings.Contains(first.body, "Dieser Link ist ungültig") || !strings.Contains(first.body, "datenschutz@example.com") {
		t.Errorf("the 404 page:\n%s", first.body)
	}
	if r := f.get(tok); r.status != 200 {
		t.Errorf("the good token: %d", r.status)
	}
	if h := f.history("erika@example.org"); len(h) != 0 {
		t.Errorf("bad tokens recorded %d decisions", len(h))
	}
}

func TestReplayedAndStaleForms(t *testing.T) {
	f := newFixture(t)
	_, tok := f.ticket("support", "erika@example.org", "Erika", "Drucker", "de")
	page := f.get(tok)
	second := f.get(tok) // a second tab with the same state
	form := pageForms(t, page.body)["support granted"]
	if r := f.post(tok, form); r.status != http.StatusSeeOther {
		t.Fatalf("first POST: %d", r.status)
	}
	for name, v := range map[string]url.Values{
		"the same form again":  form,
		"the second tab's":     pageForms(t, second.body)["support granted"],
		"without the value":    without(form, "form"),
		"with a forged value":  with(form, "form", strings.Repeat("A", 54)),
		"with another's value": with(form, "form", pageForms(t, page.body)["feedback granted"].Get("form")),
	} {
		r := f.post(tok, v)
		if r.status != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, r.status)
			continue
		}
		checkPage(t, r, "de")
		if !strings.Contains(r.body, "Das Formular ist veraltet") || !strings.Contains(r.body, `<a href="`+tok+`?lang=de">`) {
			t.Errorf("%s: the 403 page does not say the form is out of date or link back:\n%s", name, r.body)
		}
	}
	if h := f.history("erika@example.org"); len(h) != 1 {
		t.Errorf("%d records, want 1", len(h))
	}

	// A form is accepted for an hour after the page was rendered.
	page = f.get(tok)
	f.clock.Advance(consent.FormValidity + time.Second)
	if r := f.post(tok, pageForms(t, page.body)["support withdrawn"]); r.status != http.StatusForbidden {
		t.Errorf("a form older than an hour: %d, want 403", r.status)
	}
	page = f.get(tok)
	f.clock.Advance(consent.FormValidity - time.Second)
	if r := f.post(tok, pageForms(t, page.body)["support withdrawn"]); r.status != http.StatusSeeOther {
		t.Errorf("a form just under an hour old: %d, want 303", r.status)
	}

	// A changed notice (the configuration was edited) makes a form stale:
	// the hash recorded must be the one of the notice the customer saw.
	page = f.get(tok)
	cfg := *f.config()
	cfg.Purposes = slices.Clone(cfg.Purposes)
	cfg.Purposes[0].Retention = config.Period{Years: 3}
	f.mu.Lock()
	f.cfg = &cfg
	f.mu.Unlock()
	if r := f.post(tok, pageForms(t, page.body)["support granted"]); r.status != http.StatusForbidden {
		t.Errorf("a form rendered before the notice changed: %d, want 403", r.status)
	}
	if h := f.history("erika@example.org"); len(h) != 2 {
		t.Errorf("%d records, want 2", len(h))
	}
}

func without(v url.Values, key string) url.Values { return with(v, key, "") }

func with(v url.Values, key, value string) url.Values {
	out := url.Values{}
	for k := range v {
		out.Set(k, v.Get(k))
	}
	if value == "" {
		out.Del(key)
	} else {
		out.Set(key, value)
	}
	return out
}

func TestCrossSitePost(t *testing.T) {
	f := newFixture(t)
	_, tok := f.ticket("support", "erika@example.org", "Erika", "Drucker", "de")
	form := pageForms(t, f.get(tok).body)["support granted"]
	for name, hdr := range map[string][]string{
		"Origin of another site":   {"Origin", "https://evil.example"},
		"Origin null":              {"Origin", "null"},
		"Sec-Fetch-Site cross":     {"Sec-Fetch-Site", "cross-site"},
		"Sec-Fetch-Site same-site": {"Sec-Fetch-Site", "same-site", "Origin", "https://other.example.com"},
	} {
		r := f.post(tok, form, hdr...)
		if r.status != http.StatusForbidden || !strings.Contains(r.body, "Anfrage von einer anderen Website") {
			t.Errorf("%s: %d, want 403", name, r.status)
		}
	}
	if h := f.history("erika@example.org"); len(h) != 0 {
		t.Fatalf("a cross-site POST recorded %d decisions", len(h))
	}
	// The browser's own form: same origin, or public_url's origin behind a proxy.
	r := f.post(tok, form, "Sec-Fetch-Site", "same-origin", "Origin", "null")
	if r.status != http.StatusSeeOther {
		t.Errorf("same-origin POST: %d", r.status)
	}
	form = pageForms(t, f.get(tok).body)["support withdrawn"]
	if r := f.post(tok, form, "Origin", "https://help.example.com"); r.status != http.StatusSeeOther {
		t.Errorf("POST with public_url's origin: %d", r.status)
	}
}

func TestWrongMethod(t *testing.T) {
	f := newFixture(t)
	_, tok := f.ticket("support", "erika@example.org", "Erika", "Drucker", "de")
	for _, m := range []string{"PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"} {
		for _, target := range []string{tok, "bad"} {
			r := f.do(m, "/consent/"+target, "192.0.2.1:1", nil)
			if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, HEAD, POST" {
				t.Errorf("%s: %d, Allow %q", m, r.status, r.header.Get("Allow"))
			}
		}
	}
}

func TestRateLimit(t *testing.T) {
	f := newFixture(t)
	f.cfg.Consent.RateLimit = 5
	_, tok := f.ticket("support", "erika@example.org", "Erika", "Drucker", "de")
	for i := range 5 {
		target := "/consent/" + tok
		if i%2 == 1 {
			target = "/consent/bad" // bad tokens count too
		}
		if r := f.do("GET", target, "198.51.100.7:1000", nil); r.status == http.StatusTooManyRequests {
			t.Fatalf("request %d limited", i+1)
		}
	}
	r := f.do("GET", "/consent/"+tok, "198.51.100.7:1001", nil)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "12" {
		t.Fatalf("6th request: %d, Retry-After %q; want 429 and 12 (5 per minute)", r.status, r.header.Get("Retry-After"))
	}
	checkPage(t, r, "de")
	if !strings.Contains(r.body, "Bitte warten Sie 12 Sekunden") || strings.Contains(r.body, "Drucker") {
		t.Errorf("429 page:\n%s", r.body)
	}
	if r := f.do("GET", "/consent/"+tok, "198.51.100.8:1000", nil); r.status != 200 {
		t.Errorf("another client: %d", r.status)
	}
	f.clock.Advance(12 * time.Second)
	if r := f.do("GET", "/consent/"+tok, "198.51.100.7:1000", nil); r.status != 200 {
		t.Errorf("after Retry-After: %d", r.status)
	}
}

func TestMarkupFromMailIsEscaped(t *testing.T) {
	f := newFixture(t)
	_, tok := f.ticket("support", "x@example.org", `<script>alert(1)</script>`, `"><img src=x onerror=alert(1)>`, "en")
	for _, q := range []string{"", "lang=de", "lang=%22%3E%3Cscript%3E"} {
		page := f.get(tok, q)
		if page.status != 200 {
			t.Fatalf("GET ?%s: %d", q, page.status)
		}
		checkPage(t, page, map[string]string{"": "en", "lang=de": "de", "lang=%22%3E%3Cscript%3E": "en"}[q])
		for _, raw := range []string{"<script>", "<img"} {
			if strings.Contains(page.body, raw) {
				t.Errorf("?%s: the page contains %q unescaped", q, raw)
			}
		}
		if !strings.Contains(page.body, "&lt;script&gt;alert(1)&lt;/script&gt;") || !strings.Contains(page.body, "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;") {
			t.Errorf("?%s: the name or subject is not shown escaped", q)
		}
	}
}

func TestRecordOnlyAffectsOwnTickets(t *testing.T) {
	f := newFixture(t)
	own, _ := f.ticket("support", "erika@example.org", "Erika", "Eigenes", "de")
	theirs, _ := f.ticket("support", "ann@example.com", "Ann", "Fremdes", "de")
	var erika uint64
	f.db.Update(func(tx *store.Tx) error {
		p, _ := tx.PersonByEmail("erika@example.org")
		erika = p.ID
		for _, n := range []uint64{own, theirs} {
			tk, _ := tx.Ticket(n)
			tk.Restricted = &store.Restriction{Since: start, Reason: store.RestrictedNoConsent}
			if n == theirs {
				tk.Participants = append(tk.Participants, erika) // Erika wrote to Ann's ticket too
			}
			if err := tx.UpdateTicket(tk, store.TicketRestricted(tk.Number, store.ActorScheduler)); err != nil {
				return err
			}
		}
		return nil
	})
	f.planned = nil
	err := f.db.Update(func(tx *store.Tx) error {
		return consent.Record(tx, &store.ConsentRecord{Person: erika, Purpose: "support", Decision: store.ConsentGranted, Channel: "admin"}, "admin")
	})
	if err != nil {
		t.Fatal(err)
	}
	if f.stored(own).Restricted != nil || f.stored(theirs).Restricted == nil {
		t.Error("a grant must lift the restriction of the person's own ticket only")
	}
	if !slices.Contains(f.planned, own) || !slices.Contains(f.planned, theirs) {
		t.Errorf("planned %v, want both tickets Erika wrote to", f.planned)
	}
	err = f.db.Update(func(tx *store.Tx) error {
		return consent.Record(tx, &store.ConsentRecord{Person: erika, Purpose: "support", Decision: "maybe"}, "admin")
	})
	if err == nil {
		t.Error("an unknown decision was recorded")
	}
}

// FuzzConsentPath sends any path below /consent/ to the page: it never
// panics, answers 200 only for the issued token, and otherwise only 404,
// 405 or 429.
func FuzzConsentPath(f *testing.F) {
	fx := newFixture(f)
	fx.cfg.Consent.RateLimit = 1 << 30 // the limiter has its own test; explore the rest
	_, tok := fx.ticket("support", "erika@example.org", "Erika", "Drucker", "de")
	enc, sig, _ := strings.Cut(tok, ".")
	for _, seed := range []string{tok, "", ".", "a.b", enc, enc + ".", "." + sig, tok + "/x", tok + "=", "../healthz", "%2e%2e", strings.Repeat("A", 257)} {
		f.Add(seed, "GET")
	}
	f.Add(tok, "PUT")
	f.Add("x", "HEAD")
	f.Fuzz(func(t *testing.T, token, method string) {
		if method != "HEAD" && method != "PUT" {
			method = "GET"
		}
		r := &http.Request{Method: method, URL: &url.URL{Path: "/consent/" + token}, Header: http.Header{},
			RemoteAddr: "192.0.2.9:1", Host: "help.example.com", Body: http.NoBody}
		w := httptest.NewRecorder()
		fx.h.ServeHTTP(w, r)
		switch w.Code {
		case 200:
			if token != tok {
				t.Fatalf("%q opened the page; only the issued token may", token)
			}
		case 404, 405, 429:
		default:
			t.Fatalf("%s %q: status %d", method, token, w.Code)
		}
	})
}

// BenchmarkBadToken measures what each kind of bad link costs next to a
// good one: the bad ones should cost the same, so that timing does not
// tell them apart.
func BenchmarkBadToken(b *testing.B) {
	f := newFixture(b)
	f.cfg.Consent.RateLimit = 1 << 30
	n, tok := f.ticket("support", "erika@example.org", "Erika", "Drucker", "de")
	c, _ := f.signer.Verify(tok, start)
	enc, sig, _ := strings.Cut(tok, ".")
	unrecorded, _, _ := f.signer.Issue(n, c.Person, "erika@example.org", "support", start.Add(time.Hour))
	expired, _, _ := f.signer.Issue(n, c.Person, "erika@example.org", "support", start.Add(-time.Hour))
	for _, bc := range []struct{ name, token string }{
		{"malformed", "not-a-token"},
		{"tampered", enc + "." + strings.ToUpper(sig[:4]) + sig[4:]},
		{"expired", expired},
		{"unknown", unrecorded},
		{"good", tok},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/consent/"+bc.token, nil)
			r.RemoteAddr = "192.0.2.1:1"
			start := time.Now()
			for b.Loop() {
				f.h.ServeHTTP(httptest.NewRecorder(), r)
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/request")
		})
	}
}
