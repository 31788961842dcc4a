package desk

import (
	"context"
	"errors"
	"fmt"
	"io"
	netmail "net/mail"
	"slices"
	"strings"
	"time"

	"ticketd/store"
)

// The data-subject rights (GDPR Art. 15-17, 20): export, erasure,
// offboarding and rectification of one person, found by address. Each works
// in batches of short transactions, so that ingest goes on meanwhile, and
// leaves one audit event (identifiers only) for the request.

// Errors of the data-subject functions besides store.ErrNotFound (no such person).
var (
	// ErrAddressTaken is returned by Rectify when the new address is another person's.
	ErrAddressTaken = errors.New("the address belongs to another person")
	// ErrInvalid is returned for a request that cannot be carried out as given.
	ErrInvalid = errors.New("invalid request")
)

// actorAdmin is the audit actor of every data-subject request: the admin ran it.
const actorAdmin = store.ActorAdmin

// batchSize is how many tickets or messages one write transaction handles.
const batchSize = 100

// findPerson is the person with address email, or store.ErrNotFound saying so.
func findPerson(tx *store.Tx, email string) (*store.Person, error) {
	p, err := tx.PersonByEmail(email)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no data subject with the address %q: %w", strings.TrimSpace(email), store.ErrNotFound)
	}
	return p, err
}

// eachTicket calls fn with each ticket person wrote to, in order, and its messages.
func eachTicket(tx *store.Tx, person uint64, fn func(tk *store.Ticket, msgs []*store.Message) error) error {
	for _, n := range tx.TicketsOf(person) {
		tk, err := tx.Ticket(n)
		if err != nil {
			return err
		}
		msgs, err := tx.TicketMessages(n)
		if err != nil {
			return err
		}
		if err := fn(tk, msgs); err != nil {
			return err
		}
	}
	return nil
}

// HoldRef is one active statutory hold on a ticket.
type HoldRef struct {
	Category string    `json:"category"`
	Until    time.Time `json:"until"`
}

// activeHolds are the holds on tk still in force at now, latest end first.
func activeHolds(tk *store.Ticket, now time.Time) []HoldRef {
	var out []HoldRef
	for _, h := range tk.Holds {
		if h.Active(now) {
			out = append(out, HoldRef{Category: h.Category, Until: h.Until})
		}
	}
	slices.SortStableFunc(out, func(a, b HoldRef) int { return b.Until.Compare(a.Until) })
	return out
}

// inBatches calls fn for each item, batchSize items to a write transaction,
// and returns fn's results of the committed transactions. It stops at the
// first error and when ctx is done.
func inBatches[T, R any](ctx context.Context, db *store.DB, items []T, fn func(tx *store.Tx, item T) (R, error)) ([]R, error) {
	var out []R
	for chunk := range slices.Chunk(items, batchSize) {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		var results []R
		err := db.Update(func(tx *store.Tx) error {
			results = results[:0]
			for _, it := range chunk {
				r, err := fn(tx, it)
				if err != nil {
					return err
				}
				results = append(results, r)
			}
			return nil
		})
		if err != nil {
			return out, err
		}
		out = append(out, results...)
	}
	return out, nil
}

// ScrubReport says what overwriting the free pages did after an erasure.
type ScrubReport struct {
	Pages int   `json:"pages"`
	Bytes int64 `json:"bytes"`
	// TookMS is how long the scrub took, waiting for open transactions
	// included: other transactions waited at most that long.
	TookMS float64 `json:"took_ms"`
}

func scrub(db *store.DB) (*ScrubReport, error) {
	start := time.Now()
	st, err := db.Scrub()
	if err != nil {
		return nil, err
	}
	return &ScrubReport{Pages: st.Pages, Bytes: st.Bytes, TookMS: float64(time.Since(start).Microseconds()) / 1000}, nil
}

func (s *ScrubReport) text() string {
	if s == nil {
		return ""
	}
	return fmt.Sprintf("Free pages of the database overwritten with zeros: %d (%d bytes, in %.1f ms, during which other transactions waited).\n",
		s.Pages, s.Bytes, s.TookMS)
}

// ---- offboarding ----

// OffboardReport is what offboarding a customer did.
type OffboardReport struct {
	Email      string    `json:"email"`
	Person     uint64    `json:"person"`
	Offboarded time.Time `json:"offboarded"`
	// Anonymized are the person's tickets anonymised now.
	Anonymized []uint64 `json:"anonymized"`
	// Held are the person's tickets under a hold: the scheduled purge
	// anonymises each at AnonymizeAt (when the last hold ends).
	Held []OffboardHeld `json:"held"`
	// OtherTickets are other people's tickets the person wrote to: not changed.
	OtherTickets []uint64 `json:"other_tickets"`
	// PersonDeleted is set when no ticket references the person any more.
	PersonDeleted bool         `json:"person_deleted"`
	Scrub         *ScrubReport `json:"scrub,omitempty"`
}

// OffboardHeld is a held ticket of an offboarded customer.
type OffboardHeld struct {
	Ticket      uint64    `json:"ticket"`
	Holds       []HoldRef `json:"holds"`
	AnonymizeAt time.Time `json:"anonymize_at"`
}

// Offboard records that the customer with address email has left
// (Person.Offboarded) and anonymises at once each ticket they opened that
// is under no active hold. A held ticket is anonymised by the scheduled
// purge when its hold ends (at the latest of offboarding and hold end): it is
// stored again so that the store's Planner schedules it with the
// offboarding. Free pages are overwritten afterwards. The configuration is
// not consulted: holds carry their own end.
func (d *Desk) Offboard(email string) (*OffboardReport, error) {
	db := d.DB
	r := &OffboardReport{Anonymized: []uint64{}, Held: []OffboardHeld{}, OtherTickets: []uint64{}}
	var due []uint64
	err := db.Update(func(tx *store.Tx) error {
		p, err := findPerson(tx, email)
		if err != nil {
			return err
		}
		r.Email, r.Person = p.Email, p.ID
		if p.Offboarded.IsZero() {
			p.Offboarded = tx.Now()
			if err := tx.UpdatePerson(p, store.PersonOffboarded(p.ID, actorAdmin)); err != nil {
				return err
			}
		}
		r.Offboarded = p.Offboarded
		for _, n := range tx.TicketsOf(p.ID) {
			tk, err := tx.Ticket(n)
			if err != nil {
				return err
			}
			switch holds := activeHolds(tk, tx.Now()); {
			case tk.RequesterID != p.ID:
				r.OtherTickets = append(r.OtherTickets, n)
			case len(holds) > 0:
				at := holds[0].Until
				if p.Offboarded.After(at) {
					at = p.Offboarded
				}
				// UpdatePerson above had the Planner schedule it for then.
				r.Held = append(r.Held, OffboardHeld{Ticket: n, Holds: holds, AnonymizeAt: at})
			default:
				due = append(due, n)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	done, err := inBatches(context.Background(), db, due, func(tx *store.Tx, n uint64) (uint64, error) {
		tk, err := tx.Ticket(n)
		if err != nil {
			return 0, err
		}
		if len(activeHolds(tk, tx.Now())) > 0 {
			return 0, nil // held meanwhile: the purge will do it
		}
		return n, tx.AnonymizeTicket(n, actorAdmin, "offboarding")
	})
	for _, n := range done {
		if n != 0 {
			r.Anonymized = append(r.Anonymized, n)
		}
	}
	if err != nil {
		return r, err
	}
	err = db.View(func(tx *store.Tx) error {
		_, err := tx.Person(r.Person)
		r.PersonDeleted = errors.Is(err, store.ErrNotFound)
		if r.PersonDeleted {
			return nil
		}
		return err
	})
	if err != nil {
		return r, err
	}
	if len(r.Anonymized) > 0 {
		r.Scrub, err = scrub(db)
	}
	return r, err
}

// ---- rectification (Art. 16) ----

// RectifyReport is what a rectification changed.
type RectifyReport struct {
	Person  uint64   `json:"person"`
	Email   string   `json:"email"` // the address now
	Changed []string `json:"changed"`
	// Messages are the person's messages whose sender was corrected.
	Messages int `json:"messages"`
	// Kept are held tickets whose messages were left unaltered.
	Kept []RectifyKept `json:"kept"`
}

// RectifyKept is a held ticket a rectification left unaltered.
type RectifyKept struct {
	Ticket   uint64    `json:"ticket"`
	Holds    []HoldRef `json:"holds"`
	Messages int       `json:"messages"`
}

// Rectify corrects the name and/or address of the person with address email
// (GDPR Art. 16): the person record and the sender of their messages, except
// in tickets under an active hold, which are kept unaltered and reported. An
// empty newName or newEmail leaves that part as it is. A new address that
// belongs to another person is ErrAddressTaken.
func (d *Desk) Rectify(email, newName, newEmail string) (*RectifyReport, error) {
	db := d.DB
	newName, newEmail = strings.TrimSpace(newName), strings.TrimSpace(newEmail)
	if newName == "" && newEmail == "" {
		return nil, fmt.Errorf("%w: give a new name, a new address or both", ErrInvalid)
	}
	if newEmail != "" {
		a, err := netmail.ParseAddress(newEmail)
		if err != nil || a.Address != newEmail {
			return nil, fmt.Errorf("%w: %q is not a bare email address", ErrInvalid, newEmail)
		}
	}
	r := &RectifyReport{Changed: []string{}, Kept: []RectifyKept{}}
	var msgs []uint64
	var person store.Person
	err := db.Update(func(tx *store.Tx) error {
		p, err := findPerson(tx, email)
		if err != nil {
			return err
		}
		if newEmail != "" && store.NormalizeEmail(newEmail) != p.Email {
			if other, err := tx.PersonByEmail(newEmail); err == nil && other.ID != p.ID {
				return fmt.Errorf("rectify person %d: %w", p.ID, ErrAddressTaken)
			}
			p.Email = newEmail
			r.Changed = append(r.Changed, "email")
		}
		if newName != "" && newName != p.Name {
			p.Name = newName
			r.Changed = append(r.Changed, "name")
		}
		if len(r.Changed) > 0 {
			if err := tx.UpdatePerson(p, store.PersonRectified(p.ID, actorAdmin)); err != nil {
				return err
			}
		}
		person, r.Person, r.Email = *p, p.ID, p.Email
		return eachTicket(tx, p.ID, func(tk *store.Ticket, tmsgs []*store.Message) error {
			var mine []uint64
			for _, m := range tmsgs {
				if m.PersonID == p.ID {
					mine = append(mine, m.ID)
				}
			}
			if holds := activeHolds(tk, tx.Now()); len(holds) > 0 {
				r.Kept = append(r.Kept, RectifyKept{Ticket: tk.Number, Holds: holds, Messages: len(mine)})
			} else {
				msgs = append(msgs, mine...)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	changed, err := inBatches(context.Background(), db, msgs, func(tx *store.Tx, id uint64) (bool, error) {
		m, err := tx.Message(id)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		from := m.From
		if newEmail != "" {
			from.Email = person.Email
		}
		if newName != "" {
			from.Name = person.Name
		}
		if from == m.From {
			return false, nil
		}
		m.From = from
		return true, tx.PutMessage(m, store.MessageRectified(m, actorAdmin))
	})
	for _, c := range changed {
		if c {
			r.Messages++
		}
	}
	return r, err
}

// ---- text output ----

// WriteText writes the report for a person to read.
func (r *OffboardReport) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Offboarded %s (person %d) on %s\n", r.Email, r.Person, r.Offboarded.UTC().Format(time.DateTime+" MST"))
	fmt.Fprintf(&b, "Anonymised now: %s%s\n", plural(len(r.Anonymized), "ticket"), numberList(" ", r.Anonymized))
	for _, h := range r.Held {
		fmt.Fprintf(&b, "Ticket #%d: under hold %s; anonymised by the scheduled purge on %s\n", h.Ticket, holdList(h.Holds), h.AnonymizeAt.UTC().Format(time.DateOnly))
	}
	if len(r.OtherTickets) > 0 {
		fmt.Fprintf(&b, "Other people's tickets the person wrote to, not changed: %d%s\n", len(r.OtherTickets), numberList(" ", r.OtherTickets))
	}
	if r.PersonDeleted {
		b.WriteString("The person record is deleted: no ticket references it any more.\n")
	}
	b.WriteString(r.Scrub.text())
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteText writes the report for a person to read.
func (r *RectifyReport) WriteText(w io.Writer) error {
	var b strings.Builder
	if len(r.Changed) == 0 {
		fmt.Fprintf(&b, "Person %d: the record already says so\n", r.Person)
	} else {
		fmt.Fprintf(&b, "Person %d: rectified %s; the address is now %s\n", r.Person, strings.Join(r.Changed, " and "), r.Email)
	}
	fmt.Fprintf(&b, "Messages whose sender was corrected: %d\n", r.Messages)
	for _, k := range r.Kept {
		fmt.Fprintf(&b, "Ticket #%d: under hold %s; %s kept unaltered\n", k.Ticket, holdList(k.Holds), plural(k.Messages, "message"))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func holdList(hs []HoldRef) string {
	var parts []string
	for _, h := range hs {
		parts = append(parts, fmt.Sprintf("%s until %s", h.Category, h.Until.UTC().Format(time.DateOnly)))
	}
	return strings.Join(parts, ", ")
}

// numberList writes ticket numbers as ranges: " (#1-#3, #7)".
func numberList(sep string, ns []uint64) string { return ranges(sep+"(", "#", ns) }

// idList writes ids of a kind as ranges: " (outbox 1-3, 7)".
func idList(sep, kind string, ids []uint64) string { return ranges(sep+"("+kind+" ", "", ids) }

// plural is "1 message", "2 messages".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// ranges writes ns as ranges after open, each number with prefix, and a
// closing parenthesis: " (#1-#3, #7)". No numbers make "".
func ranges(open, prefix string, ns []uint64) string {
	if len(ns) == 0 {
		return ""
	}
	s := slices.Sorted(slices.Values(ns))
	var parts []string
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] == s[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, fmt.Sprintf("%s%d", prefix, s[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%s%d-%s%d", prefix, s[i], prefix, s[j]))
		}
		i = j + 1
	}
	return open + strings.Join(parts, ", ") + ")"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
