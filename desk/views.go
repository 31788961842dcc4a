package desk

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"ticketd/config"
	"ticketd/store"
)

// TicketSummary is one line of ticketd tickets list.
type TicketSummary struct {
	Number    uint64        `json:"number"`
	Subject   string        `json:"subject"`
	Status    string        `json:"status"`
	Queue     string        `json:"queue"`
	RoutedBy  string        `json:"routed_by,omitempty"` // store.Ticket.RoutedBy
	Requester store.Address `json:"requester"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`
	Messages  int           `json:"messages"`
	Origin    store.Origin  `json:"origin"`
	Purpose   string        `json:"purpose"`
	Language  string        `json:"language"`
	Ack       *AckView      `json:"acknowledgement,omitempty"`

	// What retention and consent did or plan (see package retention).
	ClosedAt     time.Time          `json:"closed_at,omitzero"`
	Holds        []store.Hold       `json:"holds,omitempty"` // with released and ended ones
	Restricted   *store.Restriction `json:"restricted,omitempty"`
	Objected     time.Time          `json:"objected,omitzero"`
	AnonymizedAt time.Time          `json:"anonymized_at,omitzero"`
	PurgeAt      time.Time          `json:"purge_at,omitzero"`
	ConsentDue   time.Time          `json:"consent_due,omitzero"`

	// The agents' work and the service level.
	Assignee   string    `json:"assignee,omitempty"`   // the agent it is assigned to
	DueAt      time.Time `json:"due_at,omitzero"`      // when the first answer is promised
	AnsweredAt time.Time `json:"answered_at,omitzero"` // when the first answer was queued
	// Overdue: open, not answered, and DueAt passed at the time of the view.
	Overdue bool   `json:"overdue"`
	Follows uint64 `json:"follows,omitempty"` // the closed ticket this one continues
}

// TicketDetail is ticketd tickets show: the ticket with its messages and
// the copies of its personal data mailed to agents.
type TicketDetail struct {
	TicketSummary
	Messages []*store.Message `json:"messages"`
	Notified []store.Notified `json:"notified"`
}

// ListOptions filter ListTickets; the filters combine (all must hold), and
// the zero value lists every ticket.
type ListOptions struct {
	Queue    string // only the tickets of this queue (a configured one)
	Overdue  bool   // only the overdue tickets (TicketSummary.Overdue)
	Assignee string // only the tickets assigned to this address (case-insensitive)
	// Limit is the page size (0: DefaultPageSize, at most MaxPageSize);
	// After the number of the last ticket of the page before (TicketPage.Next), 0 for the first.
	Limit int
	After uint64
}

// overdue reports whether tk is open, awaits its first answer and its due
// time has passed at now.
func overdue(tk *store.Ticket, now time.Time) bool {
	return tk.Status != store.StatusClosed && tk.AnsweredAt.IsZero() && !tk.DueAt.IsZero() && now.After(tk.DueAt)
}

// Delivery states of an acknowledgement (AckView.Status).
const (
	AckSuppressed = "suppressed" // none was sent; Reason says why
	AckQueued     = "queued"     // in the outbox, not sent yet (perhaps after a temporary failure)
	AckSent       = "sent"       // the relay accepted it at SentAt
	AckFailed     = "failed"     // given up on at FailedAt, with Error
	AckGone       = "gone"       // the outbox item is no longer stored (erased)
)

// AckView is a ticket's acknowledgement as recorded on the ticket, with what
// the outbox did with it since: the ticket's record says only that it was
// queued, the outbox item knows whether it went.
type AckView struct {
	*store.Ack
	// Status replaces the record's "queued" with what became of it:
	// AckQueued, AckSent, AckFailed, AckSuppressed or AckGone.
	Status      string    `json:"status"`
	Attempts    int       `json:"attempts,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"` // when queued: the next try
	SentAt      time.Time `json:"sent_at,omitzero"`
	FailedAt    time.Time `json:"failed_at,omitzero"`
	Error       string    `json:"error,omitempty"` // the last error: why it failed, or why the last try was deferred
}

// ackView looks up the outbox item of a ticket's acknowledgement.
func ackView(tx *store.Tx, ack *store.Ack) (*AckView, error) {
	if ack == nil {
		return nil, nil
	}
	v := &AckView{Ack: ack, Status: ack.Status}
	if ack.Status != AckQueued || ack.OutboxID == 0 {
		return v, nil
	}
	it, err := tx.OutboxItem(ack.OutboxID)
	if errors.Is(err, store.ErrNotFound) {
		v.Status = AckGone
		return v, nil
	}
	if err != nil {
		return nil, err
	}
	v.Attempts, v.Error = it.Attempts, it.LastError
	switch it.Status {
	case store.OutboxSent:
		v.Status, v.SentAt = AckSent, it.DoneAt
	case store.OutboxFailed:
		v.Status, v.FailedAt = AckFailed, it.DoneAt
	default:
		v.Status, v.NextAttempt = AckQueued, it.NextAttempt
	}
	return v, nil
}

// Held reports whether a hold of the ticket is in force at now
// (store.Ticket.HeldUntil).
func (t *TicketSummary) Held(now time.Time) bool {
	return !(&store.Ticket{Holds: t.Holds}).HeldUntil(now).IsZero()
}

func summary(tx *store.Tx, tk *store.Ticket, now time.Time) (TicketSummary, error) {
	var requester store.Address
	if tk.AnonymizedAt.IsZero() {
		p, err := tx.Person(tk.RequesterID)
		if err != nil {
			return TicketSummary{}, err
		}
		requester = store.Address{Email: p.Email, Name: p.Name}
	}
	ack, err := ackView(tx, tk.Ack)
	if err != nil {
		return TicketSummary{}, err
	}
	return TicketSummary{Number: tk.Number, Subject: tk.Subject, Status: tk.Status, Queue: tk.Queue, RoutedBy: tk.RoutedBy,
		Requester: requester, CreatedAt: tk.CreatedAt, UpdatedAt: tk.UpdatedAt,
		Messages: tk.Messages, Origin: tk.Origin, Purpose: tk.Purpose, Language: tk.Language, Ack: ack,
		ClosedAt: tk.ClosedAt, Holds: tk.Holds, Restricted: tk.Restricted, Objected: tk.Objected,
		AnonymizedAt: tk.AnonymizedAt, PurgeAt: tk.PurgeAt, ConsentDue: tk.ConsentDue,
		Assignee: tk.Assignee, DueAt: tk.DueAt, AnsweredAt: tk.AnsweredAt, Overdue: overdue(tk, now), Follows: tk.Follows}, nil
}

// DefaultPageSize is the page of ListTickets when ListOptions.Limit is 0.
const DefaultPageSize = 50

// MaxPageSize bounds ListOptions.Limit.
const MaxPageSize = 10000

// TicketPage is one page of ListTickets.
type TicketPage struct {
	Tickets []TicketSummary `json:"tickets"`
	// Next is the After of the next page: the number of this page's last
	// ticket when more tickets pass the filters; 0 on the last page.
	Next uint64 `json:"next,omitempty"`
}

// ListTickets returns the tickets that pass opt's filters, oldest first
// (by number), one page at a time: up to opt.Limit of them (DefaultPageSize
// when 0) with numbers above opt.After. It reads only the tickets of the
// page: the queue and assignee filters and the open tickets an overdue
// one looks at are served by the store's ticket indexes. A queue that is
// not configured and a limit out of range are bad requests.
func (d *Desk) ListTickets(opt ListOptions) (*TicketPage, error) {
	if opt.Queue != "" {
		if err := checkQueue(d.Config(), opt.Queue); err != nil {
			return nil, err
		}
	}
	limit := opt.Limit
	if limit == 0 {
		limit = DefaultPageSize
	}
	if limit < 0 || limit > MaxPageSize {
		return nil, badRequest("limit %d: a page holds 1 to %d tickets", opt.Limit, MaxPageSize)
	}
	now := d.DB.Now()
	page := &TicketPage{Tickets: []TicketSummary{}}
	f := store.TicketFilter{Queue: opt.Queue, Assignee: opt.Assignee, Open: opt.Overdue}
	err := d.DB.View(func(tx *store.Tx) error {
		return tx.TicketsWhere(f, opt.After, func(n uint64) (bool, error) {
			tk, err := tx.Ticket(n)
			if errors.Is(err, store.ErrShredded) {
				return true, nil // its requester was erased after the backup this store came from
			}
			if err != nil {
				return false, err
			}
			if opt.Overdue && !overdue(tk, now) {
				return true, nil
			}
			if len(page.Tickets) == limit {
				page.Next = page.Tickets[limit-1].Number
				return false, nil
			}
			s, err := summary(tx, tk, now)
			if err != nil {
				return false, err
			}
			page.Tickets = append(page.Tickets, s)
			return true, nil
		})
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

// eachTicketWhere calls fn for each ticket that f selects, in number
// order, until fn returns false, reading only those (store.Tx.TicketsWhere);
// a ticket whose requester was erased after the backup this store came
// from is skipped, as walks do.
func eachTicketWhere(tx *store.Tx, f store.TicketFilter, fn func(*store.Ticket) bool) error {
	return tx.TicketsWhere(f, 0, func(n uint64) (bool, error) {
		tk, err := tx.Ticket(n)
		if errors.Is(err, store.ErrShredded) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		return fn(tk), nil
	})
}

// ShowTicket returns one ticket with its messages; ErrNotFound when there is none.
func (d *Desk) ShowTicket(number uint64) (*TicketDetail, error) {
	var v TicketDetail
	err := d.DB.View(func(tx *store.Tx) error {
		tk, err := tx.Ticket(number)
		if err != nil {
			return err
		}
		if v.TicketSummary, err = summary(tx, tk, d.DB.Now()); err != nil {
			return err
		}
		v.Notified = append([]store.Notified{}, tk.Notified...)
		v.Messages, err = tx.TicketMessages(number)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// QueueNames are the names of cfg's queues, sorted.
func QueueNames(cfg *config.Config) []string {
	names := make([]string, 0, len(cfg.Queues))
	for _, q := range cfg.Queues {
		names = append(names, q.Name)
	}
	slices.Sort(names)
	return names
}

// checkQueue returns a bad request naming the known queues when cfg has no
// queue name.
func checkQueue(cfg *config.Config, name string) error {
	if cfg.Queue(name) != nil {
		return nil
	}
	return &Error{KindBadRequest, fmt.Errorf("no queue %q; the queues are %s", name, strings.Join(QueueNames(cfg), ", "))}
}

// ListQuarantine returns every quarantine record, oldest first.
func (d *Desk) ListQuarantine() ([]*store.Quarantine, error) {
	out := []*store.Quarantine{}
	err := d.DB.View(func(tx *store.Tx) error {
		return tx.Quarantined(func(q *store.Quarantine) bool { out = append(out, q); return true })
	})
	return out, err
}

// ChannelEmail is the channel of mail fetched over IMAP (store.ChannelEmail).
const ChannelEmail = store.ChannelEmail
