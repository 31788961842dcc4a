package consent_test

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"ticketd/consent"
	"ticketd/store"
)

// issueFor issues and records a link to ticket n for person, as mailed to
// recipient, with the notice hash of the ticket's own purpose.
func (f *fixture) issueFor(n, person uint64, recipient string) string {
	f.t.Helper()
	var token string
	err := f.db.Update(func(tx *store.Tx) error {
		tk, err := tx.Ticket(n)
		if err != nil {
			return err
		}
		var c consent.Claims
		if token, c, err = f.signer.Issue(n, person, recipient, tk.Purpose, tx.Now().Add(24*time.Hour)); err != nil {
			return err
		}
		return tx.RecordConsentToken(&store.ConsentToken{ID: c.ID, Ticket: n, Person: person, Purpose: tk.Purpose, Expires: c.Expires}, "system")
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return token
}

func (f *fixture) personID(email string) uint64 {
	f.t.Helper()
	var id uint64
	if err := f.db.View(func(tx *store.Tx) error {
		p, err := tx.PersonByEmail(email)
		if err == nil {
			id = p.ID
		}
		return err
	}); err != nil {
		f.t.Fatal(err)
	}
	return id
}

// notFound checks that GET and a POST of token both get the 404 page,
// which names nothing of the ticket or of a person.
func notFound(t *testing.T, f *fixture, token string, secrets ...string) {
	t.Helper()
	form := url.Values{"purpose": {"support"}, "decision": {"granted"}, "lang": {"de"}, "form": {"x"}}
	for _, r := range []response{f.get(token), f.post(token, form)} {
		if r.status != http.StatusNotFound {
			t.Errorf("status %d, want 404", r.status)
		}
		for _, s := range secrets {
			if strings.Contains(r.body, s) {
				t.Errorf("the answer shows %q", s)
			}
		}
	}
}

// A link acts only for the address it was mailed to: one for Erika's
// ticket that went to another address (the Reply-To of her mail, as
// acknowledgements once did) shows nothing and changes nothing; her own
// link stops working when her address is rectified.
func TestLinkActsOnlyForTheAddressItWasMailedTo(t *testing.T) {
	f := newFixture(t)
	n, own := f.ticket("support", "erika@example.org", "Erika Mustermann", "Drucker kaputt", "de")
	erika := f.personID("erika@example.org")

	elsewhere := f.issueFor(n, erika, "mallory@evil.example")
	notFound(t, f, elsewhere, "Erika", "Drucker kaputt", "erika@example.org")
	if h := f.history("erika@example.org"); len(h) != 0 {
		t.Fatalf("a link mailed to another address recorded %+v", h)
	}

	// Her own link works, and the address compares as the store's does.
	if r := f.get(own); r.status != http.StatusOK || !strings.Contains(r.body, "Erika Mustermann") {
		t.Fatalf("her own link: %d", r.status)
	}
	upper := f.issueFor(n, erika, "Erika@EXAMPLE.org")
	if r := f.get(upper); r.status != http.StatusOK {
		t.Errorf("a link mailed to her address in capitals: %d", r.status)
	}

	// After a rectification of her address no earlier link acts for her.
	if err := f.db.Update(func(tx *store.Tx) error {
		p, err := tx.Person(erika)
		if err != nil {
			return err
		}
		p.Email = "erika.neu@example.org"
		return tx.UpdatePerson(p, store.PersonRectified(p.ID, store.ActorAdmin))
	}); err != nil {
		t.Fatal(err)
	}
	notFound(t, f, own, "Erika", "Drucker kaputt")
	if h := f.history("erika.neu@example.org"); len(h) != 0 {
		t.Fatalf("an old link recorded %+v after the rectification", h)
	}
}

// A link names the ticket's requester or nobody: one issued to a
// participant shows nothing of the requester's ticket.
func TestLinkOfAParticipantShowsNothing(t *testing.T) {
	f := newFixture(t)
	n, _ := f.ticket("support", "ann@example.com", "Ann Smith", "Vertrauliche Frage", "de")
	f.ticket("support", "erika@example.org", "Erika", "Andere Frage", "de")
	erika := f.personID("erika@example.org")
	if err := f.db.Update(func(tx *store.Tx) error {
		tk, err := tx.Ticket(n)
		if err != nil {
			return err
		}
		tk.Participants = append(tk.Participants, erika)
		return tx.UpdateTicket(tk, store.AuditEvent{Actor: store.ActorSystem, Action: "ticket.updated", Ticket: tk.Number})
	}); err != nil {
		t.Fatal(err)
	}
	notFound(t, f, f.issueFor(n, erika, "erika@example.org"), "Ann", "Vertrauliche Frage")
	if h := f.history("erika@example.org"); len(h) != 0 {
		t.Errorf("recorded %+v", h)
	}
}

// v1Token is a token in the format before links named their recipient,
// signed with the fixture's key.
func v1Token(t *testing.T, ticket, person uint64, purpose string, expires time.Time) (token, id string) {
	t.Helper()
	p := make([]byte, 41, 41+len(purpose))
	p[0] = 1
	rand.Read(p[1:17])
	binary.BigEndian.PutUint64(p[17:], ticket)
	binary.BigEndian.PutUint64(p[25:], person)
	binary.BigEndian.PutUint64(p[33:], uint64(expires.Unix()))
	p = append(p, purpose...)
	m := hmac.New(sha256.New, []byte("0123456789abcdef0123456789abcdef"))
	m.Write([]byte("ticketd-consent-1"))
	m.Write(p)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(p) + "." + enc.EncodeToString(m.Sum(nil)), hex.EncodeToString(p[1:17])
}

// A link issued before links named their recipient works only while the
// acknowledgement that carried it is in the outbox and went to the
// person's address alone.
func TestVersion1Links(t *testing.T) {
	for _, tc := range []struct {
		name string
		to   []string // nil: no outbox item
		ok   bool
	}{
		{"mailed to the person", []string{"erika@example.org"}, true},
		{"mailed to the person, other case", []string{"ERIKA@example.org"}, true},
		{"mailed to a Reply-To address", []string{"mallory@evil.example"}, false},
		{"mailed to two addresses", []string{"erika@example.org", "mallory@evil.example"}, false},
		{"acknowledgement gone", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			n, _ := f.ticket("support", "erika@example.org", "Erika Mustermann", "Drucker kaputt", "de")
			erika := f.personID("erika@example.org")
			token, id := v1Token(t, n, erika, "support", start.Add(24*time.Hour))
			if err := f.db.Update(func(tx *store.Tx) error {
				if err := tx.RecordConsentToken(&store.ConsentToken{ID: id, Ticket: n, Person: erika, Purpose: "support",
					Expires: start.Add(24 * time.Hour)}, "system"); err != nil {
					return err
				}
				tk, err := tx.Ticket(n)
				if err != nil {
					return err
				}
				tk.Ack = &store.Ack{Status: "queued", ConsentID: id}
				if tc.to != nil {
					it := &store.OutboxItem{Ticket: n, Kind: "acknowledgement", From: "support@example.com", To: tc.to,
						Raw: []byte("x"), GiveUpAt: start.Add(time.Hour)}
					if err := tx.Enqueue(it, "system"); err != nil {
						return err
					}
					tk.Ack.OutboxID = it.ID
				}
				return tx.UpdateTicket(tk, store.TicketAckQueued(tk.Number, store.ActorSystem))
			}); err != nil {
				t.Fatal(err)
			}
			if !tc.ok {
				notFound(t, f, token, "Erika", "Drucker kaputt")
				return
			}
			r := f.get(token)
			if r.status != http.StatusOK || !strings.Contains(r.body, "Erika Mustermann") {
				t.Fatalf("status %d", r.status)
			}
			forms := pageForms(t, r.body)
			if r := f.post(token, forms["support granted"]); r.status != http.StatusSeeOther {
				t.Fatalf("POST: %d", r.status)
			}
			if h := f.history("erika@example.org"); len(h) != 1 || h[0].Person != erika {
				t.Errorf("history %+v", h)
			}
		})
	}
}
