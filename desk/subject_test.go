package desk

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"ticketd/config"
	"ticketd/mail"
	"ticketd/mail/imap"
	"ticketd/mail/mailtest"
	"ticketd/store"
)

const (
	erika     = "Erika Mustermann <erika@example.org>"
	erikaAddr = "erika@example.org"
	erikaName = "Erika Mustermann"
)

// subjectEnv is a store and a Desk fed directly with batches of mail, as
// the IMAP supervisor would, on an injected clock.
type subjectEnv struct {
	t     testing.TB
	cfg   *config.Config
	db    *store.DB
	d     *Desk
	now   time.Time
	uid   uint32
	spool string
}

func newSubjectEnv(t testing.TB) *subjectEnv { return newSubjectEnvOf(t, true) }

// newSubjectEnvOf is newSubjectEnv over an encrypted store, or a plaintext
// one for the tests that look for personal data in clear.
func newSubjectEnvOf(t testing.TB, encrypted bool) *subjectEnv {
	t.Helper()
	cfg := testConfig(t, &mailtest.Account{Addr: "127.0.0.1:1", Username: "support", Password: "secret"})
	e := &subjectEnv{t: t, cfg: cfg, now: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC), spool: t.TempDir()}
	if !encrypted {
		cfg.Server.MasterKeyFile = ""
	}
	db, err := store.Open(cfg.Server.DataDir, store.Options{Now: func() time.Time { return e.now }, MasterKeyFile: cfg.Server.MasterKeyFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e.db = db
	if e.d, err = New(db, cfg, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	return e
}

// deliver stores raws as one fetched batch of mailbox "support"
// (UIDVALIDITY 7), each with the next UID; a nil raw is a mail that was too
// large to be read.
func (e *subjectEnv) deliver(raws ...[]byte) {
	e.t.Helper()
	var fs []*mail.Fetched
	for _, raw := range raws {
		max := int64(64 << 20)
		if raw == nil {
			raw, max = bytes.Repeat([]byte("x"), 100), 10
		}
		f, err := mail.ReadFetched(bytes.NewReader(raw), e.spool, max)
		if err != nil {
			e.t.Fatal(err)
		}
		e.uid++
		f.UID, f.InternalDate = e.uid, e.now
		fs = append(fs, f)
	}
	if _, err := deliver(e.d, &imap.Batch{Mailbox: "support", UIDValidity: 7, Mails: fs}); err != nil {
		e.t.Fatal(err)
	}
}

// ticketOf is the ticket that holds the mail with Message-ID id.
func (e *subjectEnv) ticketOf(id string) uint64 {
	e.t.Helper()
	var n uint64
	e.db.View(func(tx *store.Tx) error { n, _ = tx.TicketByMessageID(id); return nil })
	if n == 0 {
		e.t.Fatalf("no ticket holds %s", id)
	}
	return n
}

func (e *subjectEnv) update(fn func(tx *store.Tx) error) {
	e.t.Helper()
	if err := e.db.Update(fn); err != nil {
		e.t.Fatal(err)
	}
}

// hold puts ticket n under the business_letter hold until 2033.
func (e *subjectEnv) hold(n uint64) time.Time {
	until := time.Date(2033, 1, 1, 0, 0, 0, 0, time.UTC)
	e.update(func(tx *store.Tx) error {
		tk, err := tx.Ticket(n)
		if err != nil {
			return err
		}
		tk.Holds = append(tk.Holds, store.Hold{Category: "business_letter", Since: tx.Now(), Until: until, By: "admin"})
		return tx.UpdateTicket(tk, store.AuditEvent{Actor: store.ActorAdmin, Action: store.ActionTicketHoldAdded, Ticket: tk.Number})
	})
	return until
}

func (e *subjectEnv) auditLen() int {
	e.t.Helper()
	n, err := e.db.VerifyAudit()
	if err != nil {
		e.t.Fatal(err)
	}
	return int(n)
}

func (e *subjectEnv) messages(ticket uint64) []*store.Message {
	e.t.Helper()
	var out []*store.Message
	if err := e.db.View(func(tx *store.Tx) (err error) { out, err = tx.TicketMessages(ticket); return err }); err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *subjectEnv) ticket(n uint64) (*store.Ticket, error) {
	var tk *store.Ticket
	err := e.db.View(func(tx *store.Tx) (err error) { tk, err = tx.Ticket(n); return err })
	return tk, err
}

// withAttachments is a mail with a text part and one attachment per file.
func withAttachments(from, subject, id, body string, files map[string][]byte) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: support@example.com\r\nSubject: %s\r\nMessage-ID: <%s>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n", from, subject, id)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n")
	fmt.Fprintf(&b, "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n", body)
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range files {
			if !yield(k) {
				return
			}
		}
	}) {
		fmt.Fprintf(&b, "--b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"%s\"\r\nContent-Transfer-Encoding: base64\r\n\r\n", name)
		enc := base64.StdEncoding.EncodeToString(files[name])
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n")
	}
	b.WriteString("--b1--\r\n")
	return []byte(b.String())
}

// eraseScenario is a person with n tickets, one of them held, one message
// in someone else's ticket, mentions of the address in other people's
// tickets (one of them held), and quarantined mail.
type eraseScenario struct {
	*subjectEnv
	held, otto, olga, hans uint64
	reply                  uint64 // Erika's message in Olga's ticket
	quarantined            uint64 // the quarantined mail with Erika's address
	holdUntil              time.Time
	ackHeld, ackOtto       uint64
	acks                   []uint64 // Erika's acknowledgements in tickets that are not held
	tickets                []uint64 // Erika's tickets that are not held
}

func newEraseScenario(t testing.TB, n int) *eraseScenario {
	e := &eraseScenario{subjectEnv: newSubjectEnv(t)}
	var batch [][]byte
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("e%d@example.org", i)
		if i == 1 {
			batch = append(batch, withAttachments(erika, "Rechnung", id, "anbei", map[string][]byte{"rechnung.pdf": []byte("%PDF erika")}))
		} else {
			batch = append(batch, msg{From: erika, Subject: fmt.Sprintf("Frage %d", i), MessageID: id, Body: "Hallo"}.raw())
		}
		if len(batch) == 250 || i == n {
			e.deliver(batch...)
			batch = nil
		}
	}
	e.deliver(
		msg{From: "Otto <otto@example.net>", Subject: "Rückfrage zu ERIKA@example.org", MessageID: "o1@example.net",
			Extra: "Cc: " + erika + "\r\n",
			Body:  "Bitte an erika@example.org antworten.\r\nErika Mustermann <erika@example.org> schrieb:\r\n> alt"}.raw(),
		msg{From: "Olga <olga@example.net>", Subject: "Lieferung", MessageID: "o2@example.net",
			Body: "Kontakt: anerika@example.org, erika@example.org.uk, erika@example.organic"}.raw(),
		msg{From: "Hans <hans@example.net>", Subject: "Vertrag", MessageID: "h1@example.net", Body: "Kopie an erika@example.org"}.raw(),
		[]byte("To: Erika Mustermann <erika@example.org>\r\nSubject: ohne Absender\r\nMessage-ID: <q1@example.net>\r\n\r\nhallo\r\n"),
		[]byte("To: someone@example.net\r\nSubject: ohne Absender\r\nMessage-ID: <q2@example.net>\r\n\r\nhallo\r\n"),
		nil, // too large to read
	)
	e.deliver(msg{From: erika, Subject: "Re: Lieferung", MessageID: "e-reply@example.org", InReplyTo: "o2@example.net", Body: "Danke"}.raw())
	e.otto, e.olga, e.hans = e.ticketOf("o1@example.net"), e.ticketOf("o2@example.net"), e.ticketOf("h1@example.net")
	for _, m := range e.messages(e.olga) {
		if m.From.Email == erikaAddr {
			e.reply = m.ID
		}
	}
	e.held = e.ticketOf("e3@example.org")
	e.holdUntil = e.hold(e.held)
	e.hold(e.hans)
	e.update(func(tx *store.Tx) error {
		p, err := tx.PersonByEmail(erikaAddr)
		if err != nil {
			return err
		}
		if err := tx.RecordConsent(&store.ConsentRecord{Person: p.ID, Purpose: "support", Decision: store.ConsentGranted, Channel: "admin"}, "admin"); err != nil {
			return err
		}
		for _, n := range tx.TicketsOf(p.ID) {
			tk, err := tx.Ticket(n)
			if err != nil {
				return err
			}
			if tk.RequesterID != p.ID {
				continue
			}
			if n != e.held {
				e.tickets = append(e.tickets, n)
			}
			if tk.Ack != nil && tk.Ack.OutboxID != 0 {
				if n == e.held {
					e.ackHeld = tk.Ack.OutboxID
				} else {
					e.acks = append(e.acks, tk.Ack.OutboxID)
				}
			}
		}
		otto, err := tx.Ticket(e.otto)
		if err != nil {
			return err
		}
		e.ackOtto = otto.Ack.OutboxID
		return tx.Quarantined(func(q *store.Quarantine) bool {
			if q.Origin.MessageID == "q1@example.net" {
				e.quarantined = q.ID
			}
			return true
		})
	})
	return e
}

func TestEraseReport(t *testing.T) {
	e := newEraseScenario(t, 1000)
	if len(e.tickets) != 999 || len(e.acks) != 4 || e.ackHeld == 0 || e.quarantined == 0 || e.reply == 0 {
		t.Fatalf("scenario: %d tickets, acks %v, held ack %d, quarantine %d, reply %d", len(e.tickets), e.acks, e.ackHeld, e.quarantined, e.reply)
	}

	// A dry run writes nothing.
	before := e.auditLen()
	dry, err := e.d.Erase(context.Background(), "ERIKA@example.org", true)
	if err != nil {
		t.Fatal(err)
	}
	if after := e.auditLen(); after != before {
		t.Errorf("dry run wrote %d audit events", after-before)
	}
	if _, err := e.ticket(e.tickets[0]); err != nil {
		t.Errorf("dry run deleted a ticket: %v", err)
	}

	start := time.Now()
	rep, err := e.d.Erase(context.Background(), erikaAddr, false)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("erasure of a person with %d tickets took %v (free pages overwritten: %d)", len(e.tickets)+1, took, rep.Scrub.Pages)

	// The exact report.
	er := rep.Erased
	var msgRefs []MessageRef
	msgRefs = append(msgRefs, MessageRef{Ticket: e.olga, Message: e.reply})
	switch {
	case !slices.Equal(er.Tickets, e.tickets) || er.TicketMessages != 999 || er.Attachments != 1:
		t.Errorf("erased tickets: %d (%d messages, %d attachments)", len(er.Tickets), er.TicketMessages, er.Attachments)
	case !slices.Equal(er.Messages, msgRefs):
		t.Errorf("erased messages in other tickets = %v, want %v", er.Messages, msgRefs)
	case !slices.Equal(er.Quarantine, []uint64{e.quarantined}):
		t.Errorf("erased quarantine = %v, want [%d]", er.Quarantine, e.quarantined)
	case !slices.Equal(er.Outbox, e.acks) || len(er.OutboxMentions) != 0:
		t.Errorf("erased outbox = %v %v, want %v", er.Outbox, er.OutboxMentions, e.acks)
	case er.Person || er.ConsentRecords != 1:
		t.Errorf("person erased %v with %d consent records; want kept (held), 1", er.Person, er.ConsentRecords)
	}
	wantHeld := []HeldTicket{
		{Ticket: e.held, Holds: []HoldRef{{"business_letter", e.holdUntil}}, Opened: true, Messages: 1, Outbox: []uint64{e.ackHeld}},
		{Ticket: e.hans, Holds: []HoldRef{{"business_letter", e.holdUntil}}, Mentions: 1},
	}
	if got, _ := json.Marshal(rep.Kept.Held); !bytes.Equal(got, mustJSON(t, wantHeld)) {
		t.Errorf("kept held = %s\nwant %s", got, mustJSON(t, wantHeld))
	}
	// Otto's ticket: the Cc entry, the message subject, two places in the text, and the ticket's subject.
	ottoMsg := e.messages(e.otto)[0]
	wantRedacted := []Redaction{{Ticket: e.otto, Places: 5, Messages: []uint64{ottoMsg.ID}}}
	if got, _ := json.Marshal(rep.Kept.Redacted); !bytes.Equal(got, mustJSON(t, wantRedacted)) {
		t.Errorf("kept redacted = %s\nwant %s", got, mustJSON(t, wantRedacted))
	}
	if !slices.Equal(rep.Kept.PendingOutbox, []uint64{e.ackOtto}) || !strings.Contains(rep.Kept.Person, "1 held ticket") {
		t.Errorf("kept pending outbox %v, person %q", rep.Kept.PendingOutbox, rep.Kept.Person)
	}
	nr := rep.NotReachable
	if len(nr.IMAPCopies) != 999+1+1 || nr.FromFiles != 0 || len(nr.UnreadQuarantine) != 1 || nr.EraseIMAPCopies {
		t.Errorf("not reachable: %d copies, %d from files, unread %v", len(nr.IMAPCopies), nr.FromFiles, nr.UnreadQuarantine)
	}
	last := nr.IMAPCopies[len(nr.IMAPCopies)-1]
	if c := nr.IMAPCopies[0]; c.Mailbox != "support" || c.Folder != "INBOX" || c.UIDValidity != 7 || c.UID != 1 || c.MessageID != "e1@example.org" {
		t.Errorf("first IMAP copy = %+v", c)
	}
	if last.Quarantine != e.quarantined || last.MessageID != "q1@example.net" {
		t.Errorf("last IMAP copy = %+v", last)
	}
	if rep.Scrub == nil || rep.Scrub.Pages == 0 {
		t.Errorf("scrub = %+v", rep.Scrub)
	}

	// The dry run reported the same.
	dry.DryRun, dry.Scrub = false, rep.Scrub
	if a, b := mustJSON(t, dry), mustJSON(t, rep); !bytes.Equal(a, b) {
		t.Errorf("the dry run's report differs from the erasure's:\n%s\n%s", a, b)
	}

	// What stays.
	for _, n := range []uint64{e.held, e.otto, e.olga, e.hans} {
		if _, err := e.ticket(n); err != nil {
			t.Errorf("ticket %d: %v", n, err)
		}
	}
	for _, n := range e.tickets[:3] {
		if _, err := e.ticket(n); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ticket %d is still there: %v", n, err)
		}
	}
	m := e.messages(e.otto)[0]
	if m.Text != "Bitte an [erased] antworten.\n[erased] schrieb:\n> alt\n" && m.Text != "Bitte an [erased] antworten.\r\n[erased] schrieb:\r\n> alt\r\n" ||
		m.Subject != "Rückfrage zu [erased]" || len(m.Cc) != 0 {
		t.Errorf("Otto's message after erasure: subject %q text %q cc %v", m.Subject, m.Text, m.Cc)
	}
	if tk, _ := e.ticket(e.otto); tk.Subject != "Rückfrage zu [erased]" {
		t.Errorf("Otto's ticket subject = %q", tk.Subject)
	}
	olga, _ := e.ticket(e.olga)
	if msgs := e.messages(e.olga); olga.Messages != 1 || len(msgs) != 1 || len(olga.Participants) != 1 ||
		msgs[0].Text != "Kontakt: anerika@example.org, erika@example.org.uk, erika@example.organic\n" && !strings.HasPrefix(msgs[0].Text, "Kontakt: anerika@example.org, erika@example.org.uk,") {
		t.Errorf("Olga's ticket after erasure: %+v, messages %+v", olga, msgs)
	}
	if hans := e.messages(e.hans)[0]; !strings.Contains(hans.Text, erikaAddr) {
		t.Errorf("the held ticket was changed: %q", hans.Text)
	}
	e.db.View(func(tx *store.Tx) error {
		if _, err := tx.PersonByEmail(erikaAddr); err != nil {
			t.Errorf("the person of a held ticket is gone: %v", err)
		}
		for _, id := range e.acks {
			if _, err := tx.OutboxItem(id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("outbox item %d is still there", id)
			}
		}
		for _, id := range []uint64{e.ackHeld, e.ackOtto} {
			if _, err := tx.OutboxItem(id); err != nil {
				t.Errorf("outbox item %d: %v", id, err)
			}
		}
		var last *store.AuditEvent
		tx.AuditEvents(func(ev *store.AuditEvent) bool { last = ev; return true })
		if last.Action != "subject.erased" || last.Person != rep.Person || last.Actor != "admin" || strings.Contains(last.Detail, "@") {
			t.Errorf("last audit event = %+v", last)
		}
		return nil
	})
	if qs, _ := e.d.ListQuarantine(); len(qs) != 2 {
		t.Errorf("%d quarantine records left, want 2", len(qs))
	}
	e.auditLen() // verifies the chain

	var text bytes.Buffer
	rep.WriteText(&text)
	for _, want := range []string{"tickets opened by the person, deleted whole: 999", fmt.Sprintf("ticket #%d: under hold business_letter until 2033-01-01", e.held),
		fmt.Sprintf("ticket #%d: another person's ticket that mentions the address; redacted in 5 places", e.otto),
		"copies on the IMAP server: 1001", "Names cannot be found reliably"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// BenchmarkErase1000 erases a person with 1,000 tickets (and the rest of
// eraseScenario) and reports how long it took, how long the free-page scrub
// at its end took, and the longest a concurrent write waited meanwhile.
func BenchmarkErase1000(b *testing.B) {
	for range b.N {
		b.StopTimer()
		e := newEraseScenario(b, 1000)
		b.StartTimer()
		// A concurrent writer, like ingest, measures how long it is held up.
		stop, done := make(chan struct{}), make(chan time.Duration)
		go func() {
			var longest time.Duration
			for {
				select {
				case <-stop:
					done <- longest
					return
				default:
				}
				t0 := time.Now()
				e.db.Update(func(*store.Tx) error { return nil })
				longest = max(longest, time.Since(t0))
			}
		}()
		start := time.Now()
		rep, err := e.d.Erase(context.Background(), erikaAddr, false)
		took := time.Since(start)
		close(stop)
		longest := <-done
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(took.Microseconds())/1000, "ms/erasure")
		b.ReportMetric(rep.Scrub.TookMS, "ms-scrub")
		b.ReportMetric(float64(longest.Microseconds())/1000, "ms-longest-concurrent-write")
	}
}

// containsFold reports whether data holds s, ignoring ASCII case.
func containsFold(data []byte, s string) bool {
	return bytes.Contains(bytes.ToLower(data), bytes.ToLower([]byte(s)))
}

func TestEraseLeavesNoTrace(t *testing.T) {
	e := newSubjectEnvOf(t, false)                                             // plaintext: the data is looked for in clear
	big := bytes.Repeat([]byte("Erika Mustermann, erika@example.org\n"), 3000) // over 64 KiB: a blob file
	e.deliver(
		withAttachments(erika, "Unterlagen", "e1@example.org", "anbei", map[string][]byte{"gross.txt": big, "klein.txt": []byte("Erika")}),
		msg{From: erika, Subject: "Noch eine Frage", MessageID: "e2@example.org", Body: "Gruß, Erika Mustermann"}.raw(),
		msg{From: "Otto <otto@example.net>", Subject: "Kollegin erika@example.org", MessageID: "o1@example.net",
			Extra: "Cc: " + erika + "\r\n", Body: "Erika Mustermann <erika@example.org> schrieb:\r\n> Hallo"}.raw(),
		msg{From: "Olga <olga@example.net>", Subject: "Lieferung", MessageID: "o2@example.net", Body: "Wo bleibt sie?"}.raw(),
		[]byte("To: Erika Mustermann <erika@example.org>\r\nSubject: ohne Absender\r\n\r\nhallo\r\n"),
	)
	e.deliver(msg{From: erika, Subject: "Re: Lieferung", MessageID: "e3@example.org", InReplyTo: "o2@example.net", Body: "Danke"}.raw())
	var blobFile string
	for _, a := range e.messages(e.ticketOf("e1@example.org"))[0].Attachments {
		if a.Size > store.InlineBlobMax {
			blobFile = filepath.Join(e.cfg.Server.DataDir, "blobs", a.SHA256[:2], a.SHA256)
		}
	}
	otto := e.ticketOf("o1@example.net")
	e.update(func(tx *store.Tx) error {
		p, err := tx.PersonByEmail(erikaAddr)
		if err != nil {
			return err
		}
		if err := tx.RecordConsent(&store.ConsentRecord{Person: p.ID, Purpose: "support", Decision: store.ConsentGranted, Channel: "link"}, "customer"); err != nil {
			return err
		}
		// Otto's acknowledgement quotes the subject with the address; it was sent.
		tk, err := tx.Ticket(otto)
		if err != nil {
			return err
		}
		it, err := tx.OutboxItem(tk.Ack.OutboxID)
		if err != nil {
			return err
		}
		it.Status, it.DoneAt = store.OutboxSent, tx.Now()
		return tx.UpdateOutbox(it, "system")
	})
	if _, err := os.Stat(blobFile); err != nil {
		t.Fatalf("the large attachment is not a blob file: %v", err)
	}
	dbFile := filepath.Join(e.cfg.Server.DataDir, "ticketd.db")
	raw, err := os.ReadFile(dbFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{erikaAddr, erikaName} {
		if !containsFold(raw, s) {
			t.Fatalf("the database does not hold %q before the erasure: the search cannot fail", s)
		}
	}

	rep, err := e.d.Erase(context.Background(), erikaAddr, false)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Erased.Person || len(rep.Erased.OutboxMentions) != 1 || len(rep.Kept.Redacted) != 1 || len(rep.Erased.Quarantine) != 1 {
		t.Errorf("report: %+v", rep)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	if _, err := e.db.Backup(backup); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{dbFile, backup} {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{erikaAddr, erikaName, "Erika"} {
			if i := bytes.Index(bytes.ToLower(raw), bytes.ToLower([]byte(s))); i >= 0 {
				t.Errorf("%s still holds %q at offset %d: %q", filepath.Base(file), s, i, raw[max(0, i-80):min(len(raw), i+80)])
			}
		}
	}
	if _, err := os.Stat(blobFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the blob file of the attachment is still there: %v", err)
	}
	// The other people's tickets are still there.
	for _, id := range []string{"o1@example.net", "o2@example.net"} {
		if tk, err := e.ticket(e.ticketOf(id)); err != nil || tk.Messages != 1 {
			t.Errorf("ticket of %s: %+v, %v", id, tk, err)
		}
	}
}

func TestEraseUnknownAndAgain(t *testing.T) {
	e := newSubjectEnv(t)
	if _, err := e.d.Erase(context.Background(), "nobody@example.org", true); !errors.Is(err, store.ErrNotFound) ||
		!strings.Contains(err.Error(), "nobody@example.org") {
		t.Errorf("unknown address: %v", err)
	}
	e.deliver(msg{From: erika, Subject: "Hallo", MessageID: "e1@example.org", Body: "x"}.raw())
	if _, err := e.d.Erase(context.Background(), erikaAddr, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.d.Erase(context.Background(), erikaAddr, false); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second erasure: %v", err)
	}
	if pg, _ := e.d.ListTickets(ListOptions{}); len(pg.Tickets) != 0 {
		t.Errorf("tickets left: %+v", pg.Tickets)
	}
}

// TestEraseIMAPCopies deletes the imported copies on the server with
// erase_imap_copies, and only the person's.
func TestEraseIMAPCopies(t *testing.T) {
	acct := server(t)
	h := newHarness(t, acct, func(b *config.Mailbox) { b.AfterImport = "move"; b.MoveTo = "Processed" })
	h.cfg.Retention.EraseIMAPCopies = true
	acct.Append(t, "INBOX", msg{From: erika, Subject: "eins", MessageID: "e1@example.org", Body: "x"}.raw())
	acct.Append(t, "INBOX", msg{From: "Otto <otto@example.net>", Subject: "zwei", MessageID: "o1@example.net", Body: "x"}.raw())
	last := acct.Append(t, "INBOX", msg{From: erika, Subject: "drei", MessageID: "e2@example.org", InReplyTo: "o1@example.net", Body: "x"}.raw())
	h.start()
	h.waitSettled(last)
	rep, err := h.desk.Erase(context.Background(), erikaAddr, false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.NotReachable.IMAPDeleted != 2 || len(rep.NotReachable.IMAPCopies) != 2 || rep.NotReachable.IMAPCopies[0].MovedTo != "Processed" {
		t.Errorf("not reachable = %+v", rep.NotReachable)
	}
	left := acct.Folder(t, "Processed")
	if len(left) != 1 || !bytes.Contains(left[0].Raw, []byte("o1@example.net")) {
		t.Errorf("left on the server: %d mails", len(left))
	}
}

func TestExportRoundTrip(t *testing.T) {
	e := newSubjectEnv(t)
	big := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte{0, 1, 2, 3, 0xff}, 20000)...) // a blob file, of a type [attachments] allows
	e.deliver(
		withAttachments(erika, "Unterlagen", "e1@example.org", "anbei", map[string][]byte{"scan.bin": big, "../../etc/passwd": []byte("klein")}),
		msg{From: "Olga <olga@example.net>", Subject: "Lieferung", MessageID: "o2@example.net", Body: "Wo?"}.raw(),
		msg{From: "Otto <otto@example.net>", Subject: "Fremd", MessageID: "o3@example.net", Body: "nicht Erikas"}.raw(),
	)
	e.deliver(
		msg{From: erika, Subject: "Re: Unterlagen", MessageID: "e2@example.org", InReplyTo: "e1@example.org", Body: "Nachtrag"}.raw(),
		msg{From: erika, Subject: "Re: Lieferung", MessageID: "e3@example.org", InReplyTo: "o2@example.net", Body: "Danke"}.raw(),
	)
	mine := []uint64{e.ticketOf("e1@example.org"), e.ticketOf("o2@example.net")}
	var person *store.Person
	e.update(func(tx *store.Tx) (err error) {
		person, err = tx.PersonByEmail(erikaAddr)
		if err != nil {
			return err
		}
		tk, err := tx.Ticket(mine[0])
		if err != nil {
			return err
		}
		for _, d := range []string{store.ConsentGranted, store.ConsentWithdrawn} {
			if err := tx.RecordConsent(&store.ConsentRecord{Person: person.ID, Purpose: "support", Decision: d, Channel: "link",
				TokenID: tk.Ack.ConsentID, Ticket: tk.Number, NoticeHash: tk.Ack.NoticeHash}, "customer"); err != nil {
				return err
			}
		}
		return nil
	})

	var buf bytes.Buffer
	if err := e.d.Export("Erika@Example.org", &buf); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name], _ = io.ReadAll(r)
		r.Close()
		if strings.Contains(f.Name, "..") && !strings.HasPrefix(filepath.Base(f.Name), "..") || strings.HasPrefix(f.Name, "/") {
			t.Errorf("archive entry %q escapes its directory", f.Name)
		}
	}
	var doc SubjectExport
	if err := json.Unmarshal(files["subject.json"], &doc); err != nil {
		t.Fatalf("subject.json: %v", err)
	}

	// Compare with the store, record by record, as JSON.
	e.db.View(func(tx *store.Tx) error {
		if !bytes.Equal(mustJSON(t, doc.Person), mustJSON(t, person)) {
			t.Errorf("person = %s", mustJSON(t, doc.Person))
		}
		if len(doc.Tickets) != len(mine) {
			t.Fatalf("%d tickets exported, want %d", len(doc.Tickets), len(mine))
		}
		// Her own ticket as stored, with all its messages (all hers); of
		// Olga's ticket her reply only, Olga's mail withheld (Art. 15(4)).
		tk, _ := tx.Ticket(mine[0])
		msgs, _ := tx.TicketMessages(mine[0])
		if et := doc.Tickets[0]; !et.OpenedByPerson || !bytes.Equal(mustJSON(t, et.Ticket), mustJSON(t, tk)) ||
			!bytes.Equal(mustJSON(t, et.Messages), mustJSON(t, msgs)) || len(et.Withheld) != 0 {
			t.Errorf("ticket %d differs from the store", mine[0])
		}
		msgs, _ = tx.TicketMessages(mine[1])
		et := doc.Tickets[1]
		if et.OpenedByPerson || et.Ticket.Number != mine[1] || et.Ticket.Subject != "" || et.Ticket.RequesterID != 0 ||
			!slices.Equal(et.Ticket.Participants, []uint64{person.ID}) || len(msgs) != 2 ||
			!bytes.Equal(mustJSON(t, et.Messages), mustJSON(t, msgs[1:])) ||
			len(et.Withheld) != 1 || et.Withheld[0].Message != msgs[0].ID {
			t.Errorf("another person's ticket exported as %s", mustJSON(t, et))
		}
		hist, _ := tx.ConsentHistory(person.ID)
		if len(hist) != 2 || !bytes.Equal(mustJSON(t, doc.ConsentHistory), mustJSON(t, hist)) {
			t.Errorf("consent history = %s", mustJSON(t, doc.ConsentHistory))
		}
		items, _ := tx.OutboxFor(erikaAddr)
		if len(items) != 1 || len(doc.Outbox) != 1 || !bytes.Equal(files[doc.Outbox[0].File], items[0].Raw) {
			t.Errorf("outbox: %d items, exported %+v", len(items), doc.Outbox)
		}
		return nil
	})
	if len(doc.ConsentLinks) != 1 || doc.ConsentLinks[0].Person != person.ID || doc.ConsentLinks[0].Ticket != mine[0] {
		t.Errorf("consent links = %+v", doc.ConsentLinks)
	}
	if len(doc.Purposes) != 1 || doc.Purposes[0].Name != "support" || doc.Purposes[0].LegalBasis != "contract" || doc.Purposes[0].Retention != "2y" {
		t.Errorf("purposes = %+v", doc.Purposes)
	}
	// Attachments: byte-equal to what was mailed, named by content.
	if len(doc.Files) != 2 {
		t.Fatalf("files = %+v", doc.Files)
	}
	want := map[string][]byte{"scan.bin": big, "../../etc/passwd": []byte("klein")}
	stored := map[string]string{} // file name -> the store's content key
	for _, m := range e.messages(mine[0]) {
		for _, a := range m.Attachments {
			stored[a.Filename] = a.SHA256
		}
	}
	for _, f := range doc.Files {
		got, ok := files[f.Path]
		if !ok || !bytes.Equal(got, want[f.Filename]) || f.SHA256 != stored[f.Filename] || f.Missing ||
			f.Path != "attachments/"+f.SHA256+"/"+safeFilename(f.Filename) {
			t.Errorf("file %+v: in archive %v, %d bytes", f, ok, len(got))
		}
	}
	// Audit events: about the person or their tickets only, the ticket of another person not among them.
	other := e.ticketOf("o3@example.net")
	created := 0
	for _, ev := range doc.AuditEvents {
		if ev.Ticket == other || ev.Person != person.ID && !slices.Contains(mine, ev.Ticket) {
			t.Errorf("audit event not about the person: %+v", ev)
		}
		if ev.Action == "ticket.created" {
			created++
		}
	}
	if created != 1 {
		t.Errorf("%d ticket.created events exported, want 1 (Olga's ticket's is hers)", created)
	}
	// Deterministic: the same export again gives the same subject.json.
	var again bytes.Buffer
	if err := e.d.Export(erikaAddr, &again); err != nil {
		t.Fatal(err)
	}
	zr2, _ := zip.NewReader(bytes.NewReader(again.Bytes()), int64(again.Len()))
	r, _ := zr2.Open("subject.json")
	second, _ := io.ReadAll(r)
	var doc2 SubjectExport
	json.Unmarshal(second, &doc2)
	doc2.AuditEvents = doc2.AuditEvents[:len(doc.AuditEvents)] // the first export's own event is new
	if !bytes.Equal(mustJSON(t, doc2), mustJSON(t, doc)) {
		t.Error("a second export differs")
	}
	// The export is an audit event with identifiers only.
	e.db.View(func(tx *store.Tx) error {
		n := 0
		tx.AuditEvents(func(ev *store.AuditEvent) bool {
			if ev.Action == "subject.exported" {
				n++
				if ev.Person != person.ID || strings.Contains(ev.Detail, "@") {
					t.Errorf("export event = %+v", ev)
				}
			}
			return true
		})
		if n != 2 {
			t.Errorf("%d subject.exported events, want 2", n)
		}
		return nil
	})
	if err := e.d.Export("nobody@example.org", io.Discard); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("export of an unknown address: %v", err)
	}
}

func TestOffboard(t *testing.T) {
	e := newSubjectEnv(t)
	e.deliver(
		msg{From: erika, Subject: "eins", MessageID: "e1@example.org", Body: "x"}.raw(),
		msg{From: erika, Subject: "zwei", MessageID: "e2@example.org", Body: "x"}.raw(),
		msg{From: erika, Subject: "Vertrag", MessageID: "e3@example.org", Body: "x"}.raw(),
		msg{From: "Olga <olga@example.net>", Subject: "Lieferung", MessageID: "o2@example.net", Body: "Wo?"}.raw(),
	)
	e.deliver(msg{From: erika, Subject: "Re: Lieferung", MessageID: "e4@example.org", InReplyTo: "o2@example.net", Body: "Danke"}.raw())
	t1, t2, t3, olga := e.ticketOf("e1@example.org"), e.ticketOf("e2@example.org"), e.ticketOf("e3@example.org"), e.ticketOf("o2@example.net")
	until := e.hold(t3)
	// A Planner like the retention one: an offboarded requester's ticket is
	// due when the offboarding and every hold are over.
	e.db.SetPlanner(func(tx *store.Tx, tk *store.Ticket) {
		tk.PurgeAt = time.Time{}
		if p, err := tx.Person(tk.RequesterID); err == nil && !p.Offboarded.IsZero() {
			tk.PurgeAt = p.Offboarded
			if end := tk.HeldUntil(tx.Now()); end.After(tk.PurgeAt) {
				tk.PurgeAt = end
			}
		}
	})

	rep, err := e.d.Offboard(erikaAddr)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Anonymized, []uint64{t1, t2}) || len(rep.Held) != 1 || rep.Held[0].Ticket != t3 ||
		!rep.Held[0].AnonymizeAt.Equal(until) || !slices.Equal(rep.OtherTickets, []uint64{olga}) || rep.PersonDeleted ||
		!rep.Offboarded.Equal(e.now) || rep.Scrub == nil {
		t.Errorf("report = %+v", rep)
	}
	for _, n := range []uint64{t1, t2} {
		tk, err := e.ticket(n)
		if err != nil || tk.AnonymizedAt.IsZero() || tk.Subject != "" || len(e.messages(n)) != 0 {
			t.Errorf("ticket %d after offboarding: %+v, %v", n, tk, err)
		}
	}
	if tk, _ := e.ticket(t3); !tk.AnonymizedAt.IsZero() || len(e.messages(t3)) != 1 {
		t.Errorf("the held ticket was anonymised: %+v", tk)
	}
	if len(e.messages(olga)) != 2 {
		t.Error("another person's ticket was changed")
	}
	e.db.View(func(tx *store.Tx) error {
		if due, _ := tx.Due(store.PlanPurge, until.Add(-time.Second), 0); len(due) != 0 {
			t.Errorf("due before the hold ends: %v", due)
		}
		if due, _ := tx.Due(store.PlanPurge, until, 0); !slices.Equal(due, []uint64{t3}) {
			t.Errorf("due when the hold ends: %v, want [%d]", due, t3)
		}
		return nil
	})
	e.db.View(func(tx *store.Tx) error {
		p, err := tx.PersonByEmail(erikaAddr)
		if err != nil || !p.Offboarded.Equal(e.now) {
			t.Errorf("person after offboarding: %+v, %v", p, err)
		}
		return nil
	})

	// Again, a day later: the date stays, nothing more to anonymise.
	e.now = e.now.Add(24 * time.Hour)
	before := e.auditLen()
	rep, err = e.d.Offboard(erikaAddr)
	if err != nil || !rep.Offboarded.Equal(e.now.Add(-24*time.Hour)) || len(rep.Anonymized) != 0 || len(rep.Held) != 1 {
		t.Errorf("second offboarding: %+v, %v", rep, err)
	}
	if e.auditLen() != before {
		t.Error("a second offboarding wrote audit events")
	}

	// A hold that ended before the offboarding: anonymised at once.
	e.deliver(msg{From: "Paul <paul@example.net>", Subject: "eins", MessageID: "p1@example.net", Body: "x"}.raw())
	p1 := e.ticketOf("p1@example.net")
	e.update(func(tx *store.Tx) error {
		tk, _ := tx.Ticket(p1)
		tk.Holds = []store.Hold{{Category: "business_letter", Since: e.now.AddDate(-7, 0, 0), Until: e.now.AddDate(0, 0, -1), By: "admin"}}
		return tx.UpdateTicket(tk, store.AuditEvent{Actor: store.ActorAdmin, Action: store.ActionTicketHoldAdded, Ticket: tk.Number})
	})
	rep, err = e.d.Offboard("paul@example.net")
	if err != nil || !slices.Equal(rep.Anonymized, []uint64{p1}) || !rep.PersonDeleted {
		t.Errorf("offboarding without a hold left: %+v, %v", rep, err)
	}
	if _, err := e.d.Offboard("paul@example.net"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("offboarding a deleted person: %v", err)
	}
}

func TestRectify(t *testing.T) {
	e := newSubjectEnv(t)
	e.deliver(
		msg{From: erika, Subject: "eins", MessageID: "e1@example.org", Body: "x"}.raw(),
		msg{From: erika, Subject: "Vertrag", MessageID: "e2@example.org", Body: "x"}.raw(),
		msg{From: "Otto <otto@example.net>", Subject: "Otto", MessageID: "o1@example.net", Body: "x"}.raw(),
	)
	e.deliver(msg{From: erika, Subject: "Re: eins", MessageID: "e3@example.org", InReplyTo: "e1@example.org", Body: "y"}.raw())
	t1, t2 := e.ticketOf("e1@example.org"), e.ticketOf("e2@example.org")
	e.hold(t2)

	before := e.auditLen()
	if _, err := e.d.Rectify(erikaAddr, "", "otto@example.net"); !errors.Is(err, ErrAddressTaken) {
		t.Errorf("rectify to another person's address: %v", err)
	}
	for _, bad := range [][2]string{{"", ""}, {"", "not an address"}, {"", "Erika <x@example.org>"}} {
		if _, err := e.d.Rectify(erikaAddr, bad[0], bad[1]); !errors.Is(err, ErrInvalid) {
			t.Errorf("rectify %q: %v", bad, err)
		}
	}
	if _, err := e.d.Rectify("nobody@example.org", "X", ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("rectify an unknown address: %v", err)
	}
	if e.auditLen() != before {
		t.Fatal("a refused rectification wrote audit events")
	}

	rep, err := e.d.Rectify("ERIKA@example.org", "Erika Musterfrau", "Erika.M@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Email != "erika.m@example.org" || !slices.Equal(rep.Changed, []string{"email", "name"}) || rep.Messages != 2 ||
		len(rep.Kept) != 1 || rep.Kept[0].Ticket != t2 || rep.Kept[0].Messages != 1 {
		t.Errorf("report = %+v", rep)
	}
	for _, m := range e.messages(t1) {
		if m.From != (store.Address{Name: "Erika Musterfrau", Email: "erika.m@example.org"}) {
			t.Errorf("message %d from %+v", m.ID, m.From)
		}
	}
	if m := e.messages(t2)[0]; m.From.Email != erikaAddr || m.From.Name != erikaName {
		t.Errorf("the held ticket's message was changed: %+v", m.From)
	}
	e.db.View(func(tx *store.Tx) error {
		if _, err := tx.PersonByEmail(erikaAddr); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the old address still finds the person: %v", err)
		}
		p, err := tx.PersonByEmail("erika.m@example.org")
		if err != nil || p.Name != "Erika Musterfrau" {
			t.Errorf("person = %+v, %v", p, err)
		}
		n := 0
		tx.AuditEvents(func(ev *store.AuditEvent) bool {
			if ev.Action == "message.rectified" {
				n++
			}
			return true
		})
		if n != 2 {
			t.Errorf("%d message.rectified events, want 2", n)
		}
		return nil
	})
	// The same again changes nothing.
	if rep, err := e.d.Rectify("erika.m@example.org", "Erika Musterfrau", ""); err != nil || len(rep.Changed) != 0 || rep.Messages != 0 {
		t.Errorf("rectify to the same: %+v, %v", rep, err)
	}
}

func TestRedactAddress(t *testing.T) {
	names := []string{"Erika Mustermann"}
	for _, c := range []struct {
		in, out string
		n       int
	}{
		{"mail erika@example.org now", "mail [erased] now", 1},
		{"ERIKA@EXAMPLE.ORG.", "[erased].", 1},
		{"Erika Mustermann <erika@example.org> wrote", "[erased] wrote", 1},
		{`"erika mustermann" <Erika@example.org>`, "[erased]", 1},
		{"Max <erika@example.org>", "Max [erased]", 1},
		{"xErika Mustermann <erika@example.org>", "xErika Mustermann [erased]", 1},
		{"anerika@example.org erika@example.org.uk erika@example.organic x.erika@example.org erika@example.org-x", "anerika@example.org erika@example.org.uk erika@example.organic x.erika@example.org erika@example.org-x", 0},
		{"mailto:erika@example.org\">erika@example.org</a>", "mailto:[erased]\">[erased]</a>", 2},
		{"&lt;erika@example.org&gt; (erika@example.org)", "&lt;[erased]&gt; ([erased])", 2},
		{"", "", 0},
	} {
		got, n := redactAddress(c.in, erikaAddr, names)
		if got != c.out || n != c.n {
			t.Errorf("redactAddress(%q) = %q, %d; want %q, %d", c.in, got, n, c.out, c.n)
		}
		found, err := containsAddress(strings.NewReader(c.in), erikaAddr)
		if err != nil || found != (c.n > 0) {
			t.Errorf("containsAddress(%q) = %v, %v", c.in, found, err)
		}
	}
	// Across block boundaries of the streamed search.
	for _, pad := range []int{64<<10 - len(erikaAddr), 64<<10 - len(erikaAddr) - 1, 64<<10 - 3, 64 << 10, 64<<10 - 1} {
		for _, tail := range []string{"", " ", ".uk"} {
			in := strings.Repeat("a", pad) + " " + erikaAddr + tail
			found, _ := containsAddress(strings.NewReader(in), erikaAddr)
			if found != (tail != ".uk") {
				t.Errorf("pad %d tail %q: found %v", pad, tail, found)
			}
		}
	}
}

// exportDoc exports the person with address email and returns subject.json, parsed and raw.
func exportDoc(t *testing.T, d *Desk, email string) (*SubjectExport, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := d.Export(email, &buf); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	r, err := zr.Open("subject.json")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(r)
	r.Close()
	var doc SubjectExport
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return &doc, raw
}

// TestExportShowsWhatErasureTouches: every place the erasure would delete or
// redact is in the export (Art. 15: all data concerning the person), places
// in other people's mail as the person's data only (the entry, the
// passage), never as the other person's whole mail (Art. 15(4)).
func TestExportShowsWhatErasureTouches(t *testing.T) {
	e := newEraseScenario(t, 5)
	// Otto's acknowledgement went (it quotes the address in its subject).
	e.update(func(tx *store.Tx) error {
		it, err := tx.OutboxItem(e.ackOtto)
		if err != nil {
			return err
		}
		it.Status, it.DoneAt = store.OutboxSent, tx.Now()
		return tx.UpdateOutbox(it, "system")
	})
	rep, err := e.d.Erase(context.Background(), erikaAddr, true)
	if err != nil {
		t.Fatal(err)
	}
	doc, raw := exportDoc(t, e.d, erikaAddr)
	pid := doc.Person.ID

	tickets := map[uint64]ExportTicket{}
	for _, et := range doc.Tickets {
		tickets[et.Ticket.Number] = et
		for _, m := range et.Messages {
			if m.PersonID != pid && m.Direction != "out" {
				t.Errorf("ticket %d: message %d of person %d exported whole", et.Ticket.Number, m.ID, m.PersonID)
			}
		}
	}
	exported := func(ticket, msg uint64) bool {
		return slices.ContainsFunc(tickets[ticket].Messages, func(m *store.Message) bool { return m.ID == msg })
	}
	withheld := func(ticket, msg uint64) bool {
		return slices.ContainsFunc(tickets[ticket].Withheld, func(w WithheldMessage) bool { return w.Message == msg })
	}
	mentions := func(keep func(Mention) bool) []Mention {
		var out []Mention
		for _, m := range doc.Mentions {
			if keep(m) {
				out = append(out, m)
			}
		}
		return out
	}

	// Tickets deleted whole: each in the export, each of its messages shown or named.
	for _, n := range rep.Erased.Tickets {
		et, ok := tickets[n]
		if !ok || !et.OpenedByPerson {
			t.Errorf("erased ticket %d is not in the export as hers", n)
		}
		for _, m := range e.messages(n) {
			if !exported(n, m.ID) && !withheld(n, m.ID) {
				t.Errorf("message %d of erased ticket %d is not in the export", m.ID, n)
			}
		}
	}
	for _, r := range rep.Erased.Messages {
		if !exported(r.Ticket, r.Message) {
			t.Errorf("her message %d in ticket %d is not in the export", r.Message, r.Ticket)
		}
	}
	// Places redacted in other people's tickets: each one is a mention.
	if len(rep.Kept.Redacted) == 0 || len(rep.Kept.Held) < 2 {
		t.Fatalf("scenario: redacted %+v held %+v", rep.Kept.Redacted, rep.Kept.Held)
	}
	for _, r := range rep.Kept.Redacted {
		if got := mentions(func(m Mention) bool { return m.Ticket == r.Ticket && m.Outbox == 0 }); len(got) != r.Places {
			t.Errorf("ticket %d: %d places redacted, %d in the export: %+v", r.Ticket, r.Places, len(got), got)
		}
		for _, id := range r.Messages {
			if len(mentions(func(m Mention) bool { return m.Message == id })) == 0 {
				t.Errorf("redacted message %d has no mention in the export", id)
			}
		}
	}
	for _, h := range rep.Kept.Held {
		if (h.Opened || h.Messages > 0) && tickets[h.Ticket].Ticket == nil {
			t.Errorf("held ticket %d is not in the export", h.Ticket)
		}
		if got := mentions(func(m Mention) bool { return m.Ticket == h.Ticket && m.Message != 0 }); len(got) != h.Mentions {
			t.Errorf("held ticket %d: %d mentions, %d in the export", h.Ticket, h.Mentions, len(got))
		}
		for _, id := range h.Outbox {
			if !slices.ContainsFunc(doc.Outbox, func(m ExportMail) bool { return m.ID == id }) &&
				len(mentions(func(m Mention) bool { return m.Outbox == id })) == 0 {
				t.Errorf("outgoing mail %d of held ticket %d is not in the export", id, h.Ticket)
			}
		}
	}
	for _, id := range rep.Erased.Quarantine {
		if len(mentions(func(m Mention) bool { return m.Quarantine == id })) == 0 {
			t.Errorf("quarantined mail %d is not in the export", id)
		}
	}
	for _, id := range rep.Erased.Outbox {
		if !slices.ContainsFunc(doc.Outbox, func(m ExportMail) bool { return m.ID == id }) {
			t.Errorf("mail %d to her is not in the export", id)
		}
	}
	if len(rep.Erased.OutboxMentions) == 0 {
		t.Fatalf("scenario: no sent mail to others that quotes her: %+v", rep.Erased)
	}
	for _, id := range slices.Concat(rep.Erased.OutboxMentions, rep.Kept.PendingOutbox) {
		if len(mentions(func(m Mention) bool { return m.Outbox == id })) == 0 {
			t.Errorf("mail %d to someone else that quotes her is not in the export", id)
		}
	}

	// The mentions are her data: the Cc entry and the passages, as the issue names them.
	want := []Mention{
		{Ticket: e.otto, Where: "cc", Passage: erika},
		{Ticket: e.otto, Where: "subject", Passage: "Rückfrage zu ERIKA@example.org"},
		{Ticket: e.otto, Where: "text", Passage: "Bitte an erika@example.org antworten."},
		{Ticket: e.otto, Where: "text", Passage: "Erika Mustermann <erika@example.org> schrieb:"},
		{Ticket: e.otto, Where: "ticket subject", Passage: "Rückfrage zu ERIKA@example.org"},
		{Ticket: e.hans, Where: "text", Passage: "Kopie an erika@example.org"},
		{Quarantine: e.quarantined, Where: "raw", Passage: "To: Erika Mustermann <erika@example.org>"},
	}
	for _, w := range want {
		if !slices.ContainsFunc(doc.Mentions, func(m Mention) bool {
			return m.Ticket == w.Ticket && m.Quarantine == w.Quarantine && m.Where == w.Where && m.Passage == w.Passage
		}) {
			t.Errorf("no mention %+v in %s", w, mustJSON(t, doc.Mentions))
		}
	}
	// Nothing else of the other people's mail: Otto's quote, Olga's text, their addresses.
	for _, s := range []string{"> alt", "Kontakt:", `"subject": "Lieferung"`, "olga@example.net", "hans@example.net", "ohne Absender"} {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("subject.json holds %q of another person's mail", s)
		}
	}
}

// TestExportAnswersToThePerson: an answer from support to the person is
// their data and in the export; one to another person in that person's
// ticket is not (Art. 15(4)).
func TestExportAnswersToThePerson(t *testing.T) {
	e := newSubjectEnv(t)
	e.deliver(msg{From: erika, Subject: "Drucker", MessageID: "e1@example.org", Body: "Hallo"}.raw(),
		msg{From: "Olga <olga@example.net>", Subject: "Lieferung", MessageID: "o1@example.net", Body: "Wo?"}.raw())
	e.deliver(msg{From: erika, Subject: "Re: Lieferung", MessageID: "e2@example.org", InReplyTo: "o1@example.net", Body: "Ich auch"}.raw())
	mine, olgas := e.ticketOf("e1@example.org"), e.ticketOf("o1@example.net")
	answers := map[uint64]uint64{}
	e.update(func(tx *store.Tx) error {
		for _, n := range []uint64{mine, olgas} {
			tk, err := tx.Ticket(n)
			if err != nil {
				return err
			}
			m := &store.Message{Direction: "out", Subject: "Re: " + tk.Subject, Text: "Antwort des Supports", From: store.Address{Email: "support@example.com"}}
			if err := tx.AddMessage(tk, m, nil, "agent:1"); err != nil {
				return err
			}
			answers[n] = m.ID
		}
		return nil
	})
	doc, _ := exportDoc(t, e.d, erikaAddr)
	for _, et := range doc.Tickets {
		shown := slices.ContainsFunc(et.Messages, func(m *store.Message) bool { return m.ID == answers[et.Ticket.Number] })
		withheld := slices.ContainsFunc(et.Withheld, func(w WithheldMessage) bool { return w.Message == answers[et.Ticket.Number] })
		if et.Ticket.Number == mine && (!shown || withheld) || et.Ticket.Number == olgas && (shown || !withheld) {
			t.Errorf("ticket %d (hers: %v): the answer shown %v, withheld %v", et.Ticket.Number, et.OpenedByPerson, shown, withheld)
		}
	}
}
