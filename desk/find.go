package desk

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"ticketd/store"
)

// One finder serves export (Art. 15) and erasure (Art. 17): whatever the
// erasure deletes or redacts, the export shows, so that a person learns of
// every place ticketd holds their data. Places in other people's records
// (a Cc entry, a passage of someone else's mail that names the address) are
// found as Mentions: the export shows each with its passage only, never the
// other person's whole mail (Art. 15(4)); the erasure redacts or deletes them.

// Mention is one place outside the person's own messages that holds their
// address: an entry of a To or Cc list, an occurrence in a subject, text or
// HTML body, or a line of a quarantined or outgoing mail.
type Mention struct {
	Ticket     uint64 `json:"ticket,omitempty"`
	Message    uint64 `json:"message,omitempty"`    // 0: the ticket's own subject, a quarantined or outgoing mail
	MessageID  string `json:"message_id,omitempty"` // the Message-ID of that mail
	Quarantine uint64 `json:"quarantine,omitempty"` // a quarantined mail whose stored content holds the address
	Outbox     uint64 `json:"outbox,omitempty"`     // a mail to someone else whose stored copy holds the address
	// Where is the part of the record: "to", "cc", "subject", "text", "html",
	// "ticket subject" or "raw" (a line of a stored mail as it came or went).
	Where string `json:"where"`
	// Passage is the line with the occurrence (shortened to a window around
	// it), or the list entry; "" where a stored mail holds it only in an
	// encoded form (an outgoing mail quoting the subject of a ticket that
	// mentions it) or in a line too long to quote.
	Passage string `json:"passage"`
}

// foundTicket is a ticket the person wrote to, with its messages.
type foundTicket struct {
	tk   *store.Ticket
	msgs []*store.Message
}

// foundOutbox is a mail to another address that may hold the person's address.
type foundOutbox struct {
	it       *store.OutboxItem
	contains bool // its stored copy holds the address as such
}

// subjectData is everything ticketd holds about one person, found by find.
type subjectData struct {
	person  *store.Person
	names   []string // the person's display names, redacted where they stand before the address
	tickets []foundTicket
	// mentions are the places in messages of other people (in any ticket)
	// and in the subjects of tickets that such a message mentions.
	mentions []Mention
	// outbox is the mail to the address; outboxOthers the mail to other
	// addresses whose copy holds the address or belongs to a ticket with mentions.
	outbox       []*store.OutboxItem
	outboxOthers []foundOutbox
	// quarantine are the quarantined mails whose stored content holds the
	// address, each with its mentions; unread those never read (not searchable).
	quarantine         []*store.Quarantine
	quarantineMentions map[uint64][]Mention
	unread             []uint64
}

// find collects everything that concerns the person with address email.
// Each part is read in a read transaction of its own; blob contents after them.
func find(db *store.DB, email string) (*subjectData, error) {
	d := &subjectData{quarantineMentions: map[uint64][]Mention{}}
	err := db.View(func(tx *store.Tx) error {
		p, err := findPerson(tx, email)
		if err != nil {
			return err
		}
		d.person = p
		d.addName(p.Name)
		err = eachTicket(tx, p.ID, func(tk *store.Ticket, msgs []*store.Message) error {
			for _, m := range msgs {
				if m.PersonID == p.ID {
					d.addName(m.From.Name)
				}
			}
			d.tickets = append(d.tickets, foundTicket{tk: tk, msgs: msgs})
			return nil
		})
		if err != nil {
			return err
		}
		d.outbox, err = tx.OutboxFor(p.Email)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := db.View(d.findMentions); err != nil {
		return nil, err
	}
	if err := db.View(d.findOutbox); err != nil {
		return nil, err
	}
	if err := d.findQuarantine(db); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *subjectData) addName(name string) {
	name = strings.TrimSpace(name)
	if len(name) >= 2 && !slices.Contains(d.names, name) && !strings.Contains(name, "@") {
		d.names = append(d.names, name)
	}
}

// findMentions searches the messages that are not the person's and that
// the store's address index (store.Tx.Mentioning) names for the address;
// the subject of a ticket with such a message is searched too. It reads
// only those messages, so its cost does not grow with the store.
func (d *subjectData) findMentions(tx *store.Tx) error {
	addr := d.person.Email
	byTicket := map[uint64][]Mention{}
	for _, id := range tx.Mentioning(addr, store.MentionMessage) {
		m, err := tx.Message(id)
		if errors.Is(err, store.ErrNotFound) {
			continue // its sender was erased after the backup this store came from
		}
		if err != nil {
			return err
		}
		if m.PersonID == d.person.ID {
			continue
		}
		if ms := messageMentions(m, addr); len(ms) > 0 {
			byTicket[m.Ticket] = append(byTicket[m.Ticket], ms...)
		}
	}
	for _, n := range slices.Sorted(maps.Keys(byTicket)) {
		d.mentions = append(d.mentions, byTicket[n]...)
		tk, err := tx.Ticket(n)
		if err != nil {
			return err
		}
		for _, sp := range addressSpans(tk.Subject, addr) {
			d.mentions = append(d.mentions, Mention{Ticket: n, Where: "ticket subject", Passage: passage(tk.Subject, sp)})
		}
	}
	return nil
}

// messageMentions are the places in m that redactMessage changes, one per place.
func messageMentions(m *store.Message, addr string) []Mention {
	var out []Mention
	add := func(where, text string) {
		out = append(out, Mention{Ticket: m.Ticket, Message: m.ID, MessageID: m.MessageID, Where: where, Passage: text})
	}
	for _, f := range []struct {
		where string
		list  []store.Address
	}{{"to", m.To}, {"cc", m.Cc}, {"reply-to", m.ReplyTo}} {
		for _, a := range f.list {
			if addressEntryMatches(a, addr) {
				add(f.where, FormatAddress(a))
			}
		}
	}
	for _, f := range []struct{ where, s string }{{"subject", m.Subject}, {"text", m.Text}, {"html", m.HTML}} {
		for _, sp := range addressSpans(f.s, addr) {
			add(f.where, passage(f.s, sp))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(m.Headers)) {
		for _, v := range m.Headers[k] {
			for _, sp := range addressSpans(v, addr) {
				add("header "+k, passage(v, sp))
			}
		}
	}
	return out
}

// addressEntryMatches reports whether a To or Cc entry is the address (or names it).
func addressEntryMatches(a store.Address, addr string) bool {
	return store.NormalizeEmail(a.Email) == store.NormalizeEmail(addr) || len(addressSpans(a.Name, addr)) > 0
}

// FormatAddress is a as a person reads it: "Name <email>", or the address alone.
func FormatAddress(a store.Address) string {
	if a.Name == "" {
		return a.Email
	}
	return fmt.Sprintf("%s <%s>", a.Name, a.Email)
}

// findOutbox finds the stored copies of mail to other addresses that may
// hold the address: those whose raw content holds it, and the mail of a
// ticket with mentions (an acknowledgement quotes the subject, perhaps encoded).
func (d *subjectData) findOutbox(tx *store.Tx) error {
	mine := map[uint64]bool{}
	for _, it := range d.outbox {
		mine[it.ID] = true
	}
	mentioned := map[uint64]bool{}
	for _, m := range d.mentions {
		mentioned[m.Ticket] = true
	}
	// The candidates: the mail whose copy the address index names, and the
	// mail of the tickets with mentions.
	ids := map[uint64]bool{}
	for _, id := range tx.Mentioning(d.person.Email, store.MentionOutbox) {
		ids[id] = true
	}
	for n := range mentioned {
		if n != 0 {
			for _, id := range tx.OutboxOf(n) {
				ids[id] = true
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		if mine[id] {
			continue
		}
		it, err := tx.OutboxItem(id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		ok, _ := containsAddress(bytes.NewReader(it.Raw), d.person.Email)
		if ok || it.Ticket != 0 && mentioned[it.Ticket] {
			d.outboxOthers = append(d.outboxOthers, foundOutbox{it: it, contains: ok})
		}
	}
	return nil
}

// findQuarantine searches the stored content of every quarantined mail for
// the address (each read on its own).
func (d *subjectData) findQuarantine(db *store.DB) error {
	var all []*store.Quarantine
	if err := db.View(func(tx *store.Tx) error {
		return tx.Quarantined(func(q *store.Quarantine) bool { all = append(all, q); return true })
	}); err != nil {
		return err
	}
	for _, q := range all {
		if q.Blob == "" {
			d.unread = append(d.unread, q.ID)
			continue
		}
		r, err := db.OpenBlob(q.Blob)
		if errors.Is(err, store.ErrNotFound) {
			d.unread = append(d.unread, q.ID)
			continue
		}
		if err != nil {
			return err
		}
		found, err := containsAddress(r, d.person.Email)
		r.Close()
		if err != nil {
			return fmt.Errorf("search quarantined mail %d: %w", q.ID, err)
		}
		if !found {
			continue
		}
		d.quarantine = append(d.quarantine, q)
		r, err = db.OpenBlob(q.Blob)
		if err != nil {
			return err
		}
		lines, err := rawMentions(r, d.person.Email)
		r.Close()
		if err != nil {
			return fmt.Errorf("search quarantined mail %d: %w", q.ID, err)
		}
		if len(lines) == 0 {
			lines = []string{""} // in a line too long to quote
		}
		for _, l := range lines {
			d.quarantineMentions[q.ID] = append(d.quarantineMentions[q.ID],
				Mention{Quarantine: q.ID, MessageID: q.Origin.MessageID, Where: "raw", Passage: l})
		}
	}
	return nil
}

// maxRawPassages bounds the passages quoted from one stored mail.
const maxRawPassages = 20

// rawMentions returns the lines of a stored mail that hold addr (as
// containsAddress finds it), each shortened to a window around the first
// occurrence; at most maxRawPassages.
func rawMentions(r io.Reader, addr string) ([]string, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var out []string
	for len(out) < maxRawPassages {
		line, err := br.ReadSlice('\n')
		for errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer is judged in pieces: an
			// occurrence across two pieces is not quoted (containsAddress,
			// which decides what is found, reads across them).
			if sp := addressSpans(string(line), addr); len(sp) > 0 {
				out = append(out, passage(string(line), sp[0]))
			}
			line, err = br.ReadSlice('\n')
		}
		if len(line) > 0 {
			s := strings.TrimRight(string(line), "\r\n")
			if sp := addressSpans(s, addr); len(sp) > 0 {
				out = append(out, passage(s, sp[0]))
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// passageWindow is how much of a line on each side of an occurrence a passage keeps.
const passageWindow = 80

// passage is the line of s that holds the span sp, shortened to
// passageWindow bytes on each side of it (at rune boundaries, marked "…").
func passage(s string, sp [2]int) string {
	start := strings.LastIndexByte(s[:sp[0]], '\n') + 1
	end := len(s)
	if i := strings.IndexByte(s[sp[1]:], '\n'); i >= 0 {
		end = sp[1] + i
	}
	pre, post := "", ""
	if sp[0]-start > passageWindow {
		start, pre = sp[0]-passageWindow, "…"
		for start < sp[0] && !utf8.RuneStart(s[start]) {
			start++
		}
	}
	if end-sp[1] > passageWindow {
		end, post = sp[1]+passageWindow, "…"
		for end > sp[1] && !utf8.RuneStart(s[end]) {
			end--
		}
	}
	return pre + strings.TrimRight(s[start:end], "\r") + post
}
