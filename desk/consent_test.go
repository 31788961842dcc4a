package desk

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"ticketd/config"
	"ticketd/mail/mime"
	"ticketd/store"
)

// consentDesk is a desk whose queue's purpose rests on consent, with an
// optional purpose besides, and its consent page on a test server.
func consentDesk(t *testing.T) (*fileDesk, *httptest.Server) {
	t.Helper()
	fd := newFileDesk(t, func(cfg *config.Config) {
		p := &cfg.Purposes[0]
		p.LegalBasis, p.Grace, p.WithoutConsent = "consent", config.Duration{Duration: 14 * 24 * time.Hour}, "restrict"
		opt := *p
		opt.Name, opt.Description = "feedback", config.Text{DE: "Auswertung Ihres Feedbacks", EN: "Evaluating your feedback"}
		cfg.Purposes = append(cfg.Purposes, opt)
	})
	mux := http.NewServeMux()
	mux.Handle("/consent/", ConsentHandler(fd.d))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return fd, srv
}

var consentURL = regexp.MustCompile(`https://help\.example\.com(/consent/\S+)`)

// ackLink is the consent page's path in the acknowledgement in the outbox.
func ackLink(t *testing.T, fd *fileDesk) string {
	t.Helper()
	items := fd.outbox()
	if len(items) != 1 {
		t.Fatalf("%d outbox items, want the acknowledgement", len(items))
	}
	m, err := mime.Parse(bytes.NewReader(items[0].Raw), discard{}, mime.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sm := consentURL.FindStringSubmatch(m.Text)
	if sm == nil {
		t.Fatalf("no consent link in the acknowledgement:\n%s", m.Text)
	}
	return sm[1]
}

// buttonForm returns the fields of the POST form whose button records decision for purpose.
func buttonForm(t *testing.T, page, purpose, decision string) url.Values {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var found url.Values
	var form url.Values
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			get := func(k string) string {
				for _, a := range n.Attr {
					if a.Key == k {
						return a.Val
					}
				}
				return ""
			}
			switch n.Data {
			case "form":
				form = url.Values{}
			case "input", "button":
				form.Set(get("name"), get("value"))
				if n.Data == "button" && form.Get("purpose") == purpose && form.Get("decision") == decision {
					found = form
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if found == nil {
		t.Fatalf("no button for %s %s on the page", purpose, decision)
	}
	return found
}

func TestConsentPageFromAcknowledgement(t *testing.T) {
	fd, srv := consentDesk(t)
	fd.ingest(msg{From: "Erika Mustermann <Erika@Example.org>", Subject: "Drucker <b>kaputt</b>", MessageID: "c1@example.org",
		Body: "Guten Tag, der Drucker druckt nicht mehr. Bitte helfen Sie mir. Vielen Dank!"}.raw())
	link := ackLink(t, fd)
	resp, err := http.Get(srv.URL + link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "„Drucker &lt;b&gt;kaputt&lt;/b&gt;“") ||
		!strings.Contains(string(body), `<html lang="de">`) {
		t.Fatalf("GET %s: %s\n%s", link, resp.Status, body)
	}
	// The grant goes through the page's own form; the client follows the 303.
	resp, err = http.PostForm(srv.URL+link, buttonForm(t, string(body), "support", store.ConsentGranted))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Ihre Entscheidung ist gespeichert") ||
		!strings.Contains(resp.Request.URL.RawQuery, "recorded=") {
		t.Fatalf("after the grant: %s %s\n%s", resp.Status, resp.Request.URL, body)
	}

	h, err := fd.d.ConsentHistory("ERIKA@example.org ")
	if err != nil {
		t.Fatal(err)
	}
	tk := fd.ticket(1)
	if h.Email != "erika@example.org" || len(h.Purposes) != 1 || h.Purposes[0].Purpose != "support" || h.Purposes[0].Current != "granted" {
		t.Fatalf("history %+v", h)
	}
	rec := h.Purposes[0].Records[0]
	if rec.TokenID != tk.Ack.ConsentID || rec.NoticeHash != tk.Ack.NoticeHash || rec.Ticket != 1 || rec.Channel != "link" ||
		rec.At.Location() != time.UTC {
		t.Errorf("record %+v; want the acknowledgement's token %s and notice hash %s, in UTC", rec, tk.Ack.ConsentID, tk.Ack.NoticeHash)
	}

	// A reload changes the configuration the page works with at once.
	cfg := *fd.d.Config()
	cfg.Controller.Name = "Neuer Name GmbH"
	if err := fd.d.SetConfig(&cfg); err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(srv.URL + link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "Neuer Name GmbH") {
		t.Error("the page still shows the controller of the old configuration")
	}

	if _, err := fd.d.ConsentHistory("nobody@example.org"); !errors.Is(err, store.ErrNotFound) ||
		err.Error() != "no person with address nobody@example.org: store: not found" {
		t.Errorf("unknown address: %v", err)
	}
	fd.ingest(msg{From: "ann@example.com", Subject: "Hi", MessageID: "c2@example.com", Body: "Hello, thanks."}.raw())
	if h, err := fd.d.ConsentHistory("ann@example.com"); err != nil || len(h.Purposes) != 0 {
		t.Errorf("a person without decisions: %+v %v", h, err)
	}
}
