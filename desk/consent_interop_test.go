package desk

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"ticketd/config"
	"ticketd/mail/mailtest"
	"ticketd/mail/mime"
	"ticketd/store"
)

// The Reply-To case end to end, with mail coming from a private Dovecot and
// acknowledgements going out through a private Postfix (make interop;
// skipped otherwise): Erika writes with Mallory's address as Reply-To,
// Mallory writes with Erika's. Each acknowledgement reaches only its From
// address, so Mallory's mailbox holds no link for Erika; the link he holds
// shows nothing of her, and his POST through it leaves her consent record
// unchanged.
func TestReplyToInterop(t *testing.T) {
	d := mailtest.StartDovecot(t)
	pf := mailtest.StartPostfix(t)
	acct := &mailtest.Account{Addr: d.Addr, Username: d.Username, Password: d.Password}
	h := newHarness(t, acct)
	p := &h.cfg.Purposes[0]
	p.LegalBasis, p.Grace, p.WithoutConsent = "consent", config.Duration{Duration: 14 * 24 * time.Hour}, "restrict"
	h.relay = pf.Addr
	h.start()
	h.waitConnected()
	mux := http.NewServeMux()
	mux.Handle("/consent/", ConsentHandler(h.desk))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	acct.Append(t, "INBOX", msg{From: "Erika Mustermann <erika@example.org>", Subject: "Drucker kaputt", MessageID: "i1@example.org",
		Extra: "Reply-To: Mallory <mallory@evil.example>\r\n", Body: "Guten Tag, der Drucker druckt nicht."}.raw())
	pf.WaitMessages(t, 1, 20*time.Second)
	acct.Append(t, "INBOX", msg{From: "Mallory <mallory@evil.example>", Subject: "Frage", MessageID: "i2@evil.example",
		Extra: "Reply-To: Erika Mustermann <erika@example.org>\r\n", Body: "Hallo, eine Frage."}.raw())
	delivered := pf.WaitMessages(t, 2, 20*time.Second)

	// Postfix delivers one file per envelope recipient, named in Delivered-To.
	links := map[string][]string{}
	for _, raw := range delivered {
		m, err := mime.Parse(bytes.NewReader(raw), discard{}, mime.ParseOptions{KeepHeaders: []string{"Delivered-To"}})
		if err != nil {
			t.Fatal(err)
		}
		to := strings.ToLower(strings.TrimSpace(strings.Join(m.Headers["Delivered-To"], ",")))
		for _, sm := range consentURL.FindAllStringSubmatch(m.Text, -1) {
			links[to] = append(links[to], sm[1])
		}
	}
	if len(delivered) != 2 || len(links["erika@example.org"]) != 1 || len(links["mallory@evil.example"]) != 1 {
		t.Fatalf("%d mails delivered; consent links by recipient: %v", len(delivered), links)
	}

	// Every link in Mallory's mailbox: followed, it shows nothing of Erika;
	// a POST through it changes only Mallory's record.
	for _, link := range links["mallory@evil.example"] {
		status, body := get(t, srv.URL+link)
		if status != http.StatusOK {
			t.Fatalf("Mallory's link: %d", status)
		}
		for _, s := range []string{"Erika Mustermann", "erika@example.org", "Drucker kaputt"} {
			if strings.Contains(body, s) {
				t.Errorf("Mallory's page shows %q", s)
			}
		}
		resp, err := http.PostForm(srv.URL+link, buttonForm(t, body, "support", store.ConsentGranted))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Request.URL.RawQuery, "recorded=") {
			t.Fatalf("Mallory's POST: %s %s", resp.Status, resp.Request.URL)
		}
	}
	var erika, mallory []*store.ConsentRecord
	h.db.View(func(tx *store.Tx) error {
		for email, dst := range map[string]*[]*store.ConsentRecord{"erika@example.org": &erika, "mallory@evil.example": &mallory} {
			p, err := tx.PersonByEmail(email)
			if err != nil {
				t.Fatalf("%s: %v", email, err)
			}
			if *dst, err = tx.ConsentHistory(p.ID); err != nil {
				t.Fatal(err)
			}
		}
		return nil
	})
	if len(erika) != 0 {
		t.Errorf("Erika's consent record changed: %+v", erika)
	}
	if len(mallory) != 1 || mallory[0].Decision != store.ConsentGranted {
		t.Errorf("Mallory's record: %+v", mallory)
	}
}
