package desk

import (
	"fmt"
	"time"

	"ticketd/store"
)

// OutboxView is one line of ticketd outbox list: an outbox item without its raw message.
type OutboxView struct {
	ID          uint64    `json:"id"`
	Ticket      uint64    `json:"ticket"`
	Kind        string    `json:"kind"`
	MessageID   string    `json:"message_id"`
	To          []string  `json:"to"`
	Status      string    `json:"status"`
	Attempts    int       `json:"attempts"`
	Size        int       `json:"size"`
	CreatedAt   time.Time `json:"created_at"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	DoneAt      time.Time `json:"done_at,omitzero"`
	GiveUpAt    time.Time `json:"give_up_at"`
	LastError   string    `json:"last_error,omitempty"`
}

// ListOutbox returns every outbox item, oldest first.
func (d *Desk) ListOutbox() ([]OutboxView, error) {
	out := []OutboxView{}
	err := d.DB.View(func(tx *store.Tx) error {
		return tx.Outbox(func(it *store.OutboxItem) bool {
			out = append(out, outboxView(it))
			return true
		})
	})
	return out, err
}

// outboxView is an outbox item without its raw message.
func outboxView(it *store.OutboxItem) OutboxView {
	v := OutboxView{ID: it.ID, Ticket: it.Ticket, Kind: it.Kind, MessageID: it.MessageID, To: it.To,
		Status: it.Status, Attempts: it.Attempts, Size: len(it.Raw), CreatedAt: it.CreatedAt,
		DoneAt: it.DoneAt, GiveUpAt: it.GiveUpAt, LastError: it.LastError}
	if it.Status == store.OutboxPending {
		v.NextAttempt = it.NextAttempt
	}
	return v
}

// ErrNotRetryable is returned for an item that was already sent.
var ErrNotRetryable = fmt.Errorf("outbox: the mail was sent already")

// RetryOutbox makes a failed (or deferred) item due now, with smtp.retry_for
// more time for temporary failures, and wakes the outbox. The admin did it:
// that is the audit event's actor.
func (d *Desk) RetryOutbox(id uint64) error {
	retryFor := d.Config().SMTP.RetryFor.Duration
	err := d.DB.Update(func(tx *store.Tx) error {
		it, err := tx.OutboxItem(id)
		if err != nil {
			return err
		}
		if it.Status == store.OutboxSent {
			return fmt.Errorf("outbox item %d: %w", id, ErrNotRetryable)
		}
		it.Status, it.NextAttempt, it.DoneAt = store.OutboxPending, tx.Now(), time.Time{}
		it.GiveUpAt = tx.Now().Add(retryFor)
		return tx.UpdateOutbox(it, store.ActorAdmin)
	})
	if err == nil {
		d.wake()
	}
	return err
}
