package smtp

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"ticketd/mail"
	"ticketd/metrics"
	"ticketd/store"
)

// Submitter hands one message to the relay. A *SendError with Temporary
// false is a permanent failure; any other error is retried.
type Submitter interface {
	Send(ctx context.Context, from string, to []string, msg []byte) error
}

// Outbox delivers queued mail: it sends what is due, records each outcome
// (with an audit event) and retries temporary failures with exponential
// backoff until the item's GiveUpAt. After a restart it continues where it
// stopped: an item is marked sent right after the relay accepted it, so a
// crash in between sends it again, with the same Message-ID, and never more.
type Outbox struct {
	DB   *store.DB
	Send Submitter
	Log  *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MinBackoff and MaxBackoff bound the wait after a temporary failure
	// (default 1m and 1h; doubled per attempt, with jitter).
	MinBackoff, MaxBackoff time.Duration
	// RelayBackoff is the first wait after the relay could not be reached
	// or refused the session (default 10s; doubled while it stays so, up
	// to 5m): the rest of what is due waits with it rather than each mail
	// opening a connection of its own.
	RelayBackoff time.Duration
	// Metrics, when set, counts each recorded outcome and the
	// acknowledgements' latency.
	Metrics *metrics.Metrics

	once sync.Once
	wake chan struct{}

	relayRetry time.Time     // no session is tried before; zero when the relay answered last
	relayWait  time.Duration // the wait after the last failure to reach it
}

// maxRelayBackoff bounds RelayBackoff's doubling.
const maxRelayBackoff = 5 * time.Minute

// batch is how many due items one pass reads.
const outboxBatch = 64

// Wake makes Run look for due mail now (after a commit queued some).
func (o *Outbox) Wake() {
	o.init()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// init makes the wake channel once: Wake may come before or during Run's start.
func (o *Outbox) init() {
	o.once.Do(func() { o.wake = make(chan struct{}, 1) })
}

// Run sends due mail until ctx is cancelled; a send in progress is finished.
func (o *Outbox) Run(ctx context.Context) error {
	o.init()
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = time.Minute
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = time.Hour
	}
	if o.RelayBackoff == 0 {
		o.RelayBackoff = 10 * time.Second
	}
	for {
		sent, err := o.pass(ctx)
		if err != nil {
			o.Log.Error("outbox", "err", err)
		}
		if ctx.Err() != nil {
			return mail.ErrStopped
		}
		if sent == outboxBatch {
			continue // more may be due
		}
		wait := time.Hour
		o.DB.View(func(tx *store.Tx) error {
			if next, ok := tx.NextDue(); ok {
				wait = max(0, next.Sub(o.Now()))
			}
			return nil
		})
		if err != nil {
			wait = max(wait, time.Second) // a store error: don't spin
		}
		if !o.relayRetry.IsZero() {
			wait = max(wait, o.relayRetry.Sub(o.Now()))
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return mail.ErrStopped
		case <-o.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// pass sends the items due now and returns how many it handled. While
// the relay is unreachable it sends nothing; a failure to reach it ends
// the pass, and the items left wait for the relay's backoff.
func (o *Outbox) pass(ctx context.Context) (int, error) {
	if !o.relayRetry.IsZero() && o.Now().Before(o.relayRetry) {
		return 0, nil
	}
	var due []*store.OutboxItem
	if err := o.DB.View(func(tx *store.Tx) (err error) {
		due, err = tx.DueOutbox(o.Now(), outboxBatch)
		return err
	}); err != nil {
		return 0, err
	}
	for i, it := range due {
		if ctx.Err() != nil {
			return i, nil
		}
		err := o.Send.Send(context.WithoutCancel(ctx), it.From, it.To, it.Raw)
		if rerr := o.record(it, err); rerr != nil {
			return i, rerr
		}
		var se *SendError
		if errors.As(err, &se) && se.Temporary && se.Connect {
			o.relayWait = min(max(2*o.relayWait, o.RelayBackoff), maxRelayBackoff)
			o.relayRetry = o.Now().Add(mail.Jitter(o.relayWait))
			o.Log.Warn("smtp relay unreachable, outgoing mail waits", "err", err, "retry_at", o.relayRetry, "due", len(due)-i-1)
			return i + 1, nil
		}
		if err == nil || errors.As(err, &se) && !se.Connect {
			o.relayRetry, o.relayWait = time.Time{}, 0 // the relay answered
		}
	}
	return len(due), nil
}

// record stores the outcome of one attempt.
func (o *Outbox) record(it *store.OutboxItem, sendErr error) error {
	now := o.Now()
	it.Attempts++
	var se *SendError
	outcome := metrics.OutboxFailed
	switch {
	case sendErr == nil:
		outcome = metrics.OutboxSent
		it.Status, it.DoneAt, it.LastError = store.OutboxSent, now, ""
		o.Log.Info("mail sent", "outbox", it.ID, "ticket", it.Ticket, "kind", it.Kind, "attempts", it.Attempts)
	case errors.As(sendErr, &se) && !se.Temporary:
		it.Status, it.DoneAt, it.LastError = store.OutboxFailed, now, sendErr.Error()
		o.Log.Error("mail rejected permanently", "outbox", it.ID, "ticket", it.Ticket, "err", sendErr)
	case !now.Before(it.GiveUpAt):
		it.Status, it.DoneAt, it.LastError = store.OutboxFailed, now, "gave up retrying: "+sendErr.Error()
		o.Log.Error("mail failed, retry time is over", "outbox", it.ID, "ticket", it.Ticket, "err", sendErr)
	default:
		outcome = metrics.OutboxDeferred
		backoff := o.MinBackoff << min(it.Attempts-1, 20)
		it.NextAttempt = now.Add(mail.Jitter(min(backoff, o.MaxBackoff)))
		it.LastError = sendErr.Error()
		o.Log.Warn("mail deferred", "outbox", it.ID, "ticket", it.Ticket, "err", sendErr, "next_attempt", it.NextAttempt)
	}
	if err := o.DB.Update(func(tx *store.Tx) error { return tx.UpdateOutbox(it, store.ActorSystem) }); err != nil {
		return err
	}
	o.Metrics.Outbox(it.Kind, outcome)
	if outcome == metrics.OutboxSent && it.Kind == KindAcknowledgement {
		o.Metrics.AckLatency(now.Sub(it.CreatedAt))
	}
	return nil
}

// KindAcknowledgement is the OutboxItem.Kind of a ticket's acknowledgement.
const KindAcknowledgement = "acknowledgement"
