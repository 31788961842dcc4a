package desk

import (
	"errors"
	"time"

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
}

// TicketDetail is ticketd tickets show: the ticket with its messages.
type TicketDetail struct {
	TicketSummary
	Messages []*store.Message `json:"messages"`
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

func summary(tx *store.Tx, tk *store.Ticket) (TicketSummary, error) {
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
		AnonymizedAt: tk.AnonymizedAt, PurgeAt: tk.PurgeAt, ConsentDue: tk.ConsentDue}, nil
}

// ListTickets returns every ticket, oldest first.
func (d *Desk) ListTickets() ([]TicketSummary, error) {
	out := []TicketSummary{}
	err := d.DB.View(func(tx *store.Tx) error {
		var err error
		ferr := tx.Tickets(func(tk *store.Ticket) bool {
			var s TicketSummary
			s, err = summary(tx, tk)
			out = append(out, s)
			return err == nil
		})
		if err != nil {
			return err
		}
		return ferr
	})
	return out, err
}

// ShowTicket returns one ticket with its messages; ErrNotFound when there is none.
func (d *Desk) ShowTicket(number uint64) (*TicketDetail, error) {
	var v TicketDetail
	err := d.DB.View(func(tx *store.Tx) error {
		tk, err := tx.Ticket(number)
		if err != nil {
			return err
		}
		if v.TicketSummary, err = summary(tx, tk); err != nil {
			return err
		}
		v.Messages, err = tx.TicketMessages(number)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &v, nil
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
