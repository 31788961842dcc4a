package desk

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"ticketd/mail/mime"
	"ticketd/store"
)

// ackLinks are the consent links of the acknowledgements in the outbox, by
// the envelope recipient each went to.
func ackLinks(t *testing.T, fd *fileDesk) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, it := range fd.outbox() {
		m, err := mime.Parse(bytes.NewReader(it.Raw), discard{}, mime.ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(it.To) != 1 || len(m.To) != 1 || !strings.EqualFold(m.To[0].Email, it.To[0]) {
			t.Fatalf("outbox item %d: envelope %v, header To %v", it.ID, it.To, m.To)
		}
		for _, sm := range consentURL.FindAllStringSubmatch(m.Text, -1) {
			out[it.To[0]] = append(out[it.To[0]], sm[1])
		}
	}
	return out
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func historyOf(t *testing.T, fd *fileDesk, email string) []store.ConsentRecord {
	t.Helper()
	h, err := fd.d.ConsentHistory(email)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.ConsentRecord
	for _, p := range h.Purposes {
		for _, r := range p.Records {
			out = append(out, *r)
		}
	}
	return out
}

// A mail whose Reply-To names someone else: the acknowledgement, with the
// consent link, goes to the From address, which is the ticket's requester
// and the person the link acts for; the Reply-To address gets nothing. The
// other way round, a mail from Mallory naming Erika as Reply-To gives
// Mallory a link that shows and changes nothing of Erika.
func TestAcknowledgementGoesToTheRequester(t *testing.T) {
	fd, srv := consentDesk(t)
	out := fd.ingest(msg{From: "Erika Mustermann <erika@example.org>", Subject: "Drucker kaputt", MessageID: "rt1@example.org",
		Extra: "Reply-To: Mallory <mallory@evil.example>\r\n", Body: "Guten Tag, der Drucker druckt nicht."}.raw())
	if !out.AckQueued {
		t.Fatalf("outcome %+v", out)
	}
	links := ackLinks(t, fd)
	if len(links) != 1 || len(links["erika@example.org"]) != 1 {
		t.Fatalf("consent links by recipient: %v, want one to erika@example.org", links)
	}
	tk := fd.ticket(out.Ticket)
	var requester *store.Person
	fd.db.View(func(tx *store.Tx) (err error) { requester, err = tx.Person(tk.RequesterID); return err })
	if requester.Email != "erika@example.org" {
		t.Fatalf("requester %q", requester.Email)
	}
	if status, body := get(t, srv.URL+links["erika@example.org"][0]); status != http.StatusOK || !strings.Contains(body, "Erika Mustermann") {
		t.Fatalf("Erika's link: %d", status)
	}

	// Mallory writes with Erika as Reply-To: his acknowledgement goes to him.
	fd.ingest(msg{From: "Mallory <mallory@evil.example>", Subject: "Frage", MessageID: "rt2@evil.example",
		Extra: "Reply-To: Erika Mustermann <erika@example.org>\r\n", Body: "Hallo, eine Frage."}.raw())
	links = ackLinks(t, fd)
	if len(links["erika@example.org"]) != 1 || len(links["mallory@evil.example"]) != 1 {
		t.Fatalf("consent links by recipient: %v", links)
	}
	mallory := links["mallory@evil.example"][0]
	status, body := get(t, srv.URL+mallory)
	if status != http.StatusOK {
		t.Fatalf("Mallory's link: %d", status)
	}
	for _, s := range []string{"Erika Mustermann", "erika@example.org", "Drucker kaputt"} {
		if strings.Contains(body, s) {
			t.Errorf("Mallory's page shows %q", s)
		}
	}
	resp, err := http.PostForm(srv.URL+mallory, buttonForm(t, body, "support", store.ConsentGranted))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if h := historyOf(t, fd, "erika@example.org"); len(h) != 0 {
		t.Errorf("Mallory's POST changed Erika's record: %+v", h)
	}
	if h := historyOf(t, fd, "mallory@evil.example"); len(h) != 1 || h[0].Decision != store.ConsentGranted {
		t.Errorf("Mallory's own record: %+v", h)
	}
}

// What an acknowledgement repeats of the mail is the subject and the
// display name, each one short line without format characters; the body
// never.
func TestAcknowledgementEchoesLittle(t *testing.T) {
	fd := newFileDesk(t)
	long := "Cheap pills \u202eat www.evil.example\u202c " + strings.Repeat("buy now ", 40)
	name := "Win a prize at www.evil.example " + strings.Repeat("x", 80)
	out := fd.ingest(msg{From: `"` + name + `" <victim@example.org>`, Subject: long, MessageID: "echo@evil.example",
		Body: "SPAM-BODY-MARKER visit www.evil.example for offers"}.raw())
	if !out.AckQueued {
		t.Fatalf("outcome %+v", out)
	}
	it := fd.outbox()[0]
	m, err := mime.Parse(bytes.NewReader(it.Raw), discard{}, mime.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for part, s := range map[string]string{"raw": string(it.Raw), "text": m.Text, "html": m.HTML, "subject": m.Subject} {
		if strings.Contains(s, "SPAM-BODY-MARKER") {
			t.Errorf("%s repeats the body", part)
		}
		if strings.ContainsRune(s, '\u202e') {
			t.Errorf("%s has a bidirectional override", part)
		}
		if strings.Contains(s, strings.Repeat("buy now ", 13)) || strings.Contains(s, strings.Repeat("x", 60)) {
			t.Errorf("%s repeats more than the limit", part)
		}
	}
	subj := strings.TrimPrefix(m.Subject, "[#1] ")
	if n := utf8.RuneCountInString(subj); n > 100 || !strings.HasSuffix(subj, "…") || !strings.HasPrefix(subj, "Cheap pills at") {
		t.Errorf("subject %q (%d characters)", m.Subject, n)
	}
	// The ticket keeps the subject as it came.
	if tk := fd.ticket(out.Ticket); tk.Subject != strings.TrimSpace(long) {
		t.Errorf("stored subject %q", tk.Subject)
	}
}

// A mail that names only a Reply-To (no From, no Sender) becomes that
// address's ticket, but gets no acknowledgement: an automatic response
// never goes to a Reply-To (RFC 3834 §4).
func TestNoAcknowledgementToReplyToOnly(t *testing.T) {
	fd := newFileDesk(t)
	raw := "Reply-To: Mallory <mallory@evil.example>\r\nTo: support@example.com\r\nSubject: Frage\r\nMessage-ID: <ro@evil.example>\r\n\r\nHallo\r\n"
	out := fd.ingest([]byte(raw))
	if !out.NewTicket || out.AckQueued || out.AckReason != reasonReplyToOnly {
		t.Fatalf("outcome %+v", out)
	}
	if n := len(fd.outbox()); n != 0 {
		t.Errorf("%d mails queued", n)
	}
}
