package desk

import (
	"errors"
	"fmt"

	"ticketd/retention"
	"ticketd/store"
)

// Kind is what kind of failure an error of the desk's operations is, so that
// a caller (the CLI, directly or through the daemon's admin socket) reports
// it the same way wherever the operation ran.
type Kind string

// The kinds of failure. KindOf gives the kind of any error.
const (
	KindOther       Kind = ""            // anything else: a fault of ticketd or its environment
	KindNotFound    Kind = "notfound"    // no such ticket, person, quarantine record or outbox item
	KindBadRequest  Kind = "badrequest"  // the request cannot be carried out as given
	KindUnavailable Kind = "unavailable" // there is no store to work on
	KindTemporary   Kind = "temporary"   // the store is busy (locked by another process): try again
)

// Error is an error with its kind; errors.Is(err, ErrNotFound) and the
// like hold for it.
type Error struct {
	Kind Kind
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Is makes an *Error match the sentinel of its kind.
func (e *Error) Is(target error) bool {
	k, ok := kindOfSentinel[target]
	return ok && k == e.Kind
}

// Sentinels of the kinds, for errors.Is.
var (
	ErrNotFound    = store.ErrNotFound
	ErrBadRequest  = errors.New("bad request")
	ErrUnavailable = errors.New("unavailable")
	ErrTemporary   = errors.New("temporarily unavailable")
)

var kindOfSentinel = map[error]Kind{ErrNotFound: KindNotFound, ErrBadRequest: KindBadRequest,
	ErrUnavailable: KindUnavailable, ErrTemporary: KindTemporary}

// badRequests are the errors of the workflow and its packages that mean the
// request was wrong, not ticketd.
var badRequests = []error{ErrBadRequest, ErrAddressTaken, ErrInvalid, ErrNoCopy, ErrNotRetryable, ErrStatusIsSame,
	ErrAnonymized, retention.ErrUnknownHold, retention.ErrAlreadyHeld, retention.ErrNotHeld, store.ErrExists}

// KindOf is the kind of err.
func KindOf(err error) Kind {
	var e *Error
	switch {
	case err == nil:
		return KindOther
	case errors.As(err, &e):
		return e.Kind
	case errors.Is(err, store.ErrNotFound):
		return KindNotFound
	case errors.Is(err, store.ErrNoStore):
		return KindUnavailable
	case errors.Is(err, store.ErrLocked):
		return KindTemporary
	}
	for _, b := range badRequests {
		if errors.Is(err, b) {
			return KindBadRequest
		}
	}
	return KindOther
}

// badRequest is an error of kind KindBadRequest.
func badRequest(format string, args ...any) error {
	return &Error{KindBadRequest, fmt.Errorf(format, args...)}
}
