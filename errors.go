package troika

import (
	"errors"
	"fmt"
	"time"

	"github.com/troikahq/troika/store"
)

// Errors returned by the Client and Worker. Match them with errors.Is; the
// typed errors (*InvalidArgumentError, *StateError, *LockedError) carry the
// details and match the sentinel of their kind.
var (
	// ErrNotFound: the job or queue does not exist.
	ErrNotFound = store.ErrNotFound
	// ErrInvalidArgument: input was rejected (see *InvalidArgumentError);
	// nothing was changed.
	ErrInvalidArgument = store.ErrInvalidArgument
	// ErrWrongState: the operation does not apply to the job's current
	// state, e.g. retrying a job that is not dead (see *StateError).
	ErrWrongState = store.ErrWrongState
	// ErrLeaseLost: the worker's lease on a job is no longer valid (it
	// expired and the job was rescued, or an operator cancelled it).
	ErrLeaseLost = store.ErrLeaseLost
	// ErrClosed: the client or its store was closed.
	ErrClosed = store.ErrClosed
	// ErrStoreFailed: the store hit a write or sync error and stopped;
	// nothing after the failure was acknowledged. Reopen to recover.
	ErrStoreFailed = store.ErrStoreFailed
	// ErrLocked: another process owns the data directory (see *LockedError).
	ErrLocked = store.ErrLocked
	// ErrCorrupt: the data directory holds data that fails its checksums.
	ErrCorrupt = store.ErrCorrupt
	// ErrLeaseExpired is the error a RescueRetryPolicy is called with: the
	// attempt's worker stopped heartbeating before its lease deadline.
	ErrLeaseExpired = errors.New("troika: lease expired (the worker crashed or stalled)")
)

// InvalidArgumentError says which input was rejected and why; it matches
// ErrInvalidArgument.
type InvalidArgumentError = store.InvalidArgumentError

// StateError says an operation does not apply to a job in its current
// state; it matches ErrWrongState.
type StateError = store.StateError

// LockedError says another process owns the data directory, naming its pid;
// it matches ErrLocked.
type LockedError = store.LockedError

// Permanent wraps err so that the job fails permanently: it goes to the
// dead-letter queue (state dead) at once, whatever attempts remain.
// Permanent(nil) is treated as Permanent(errors.New("permanent failure")).
func Permanent(err error) error {
	if err == nil {
		err = errors.New("permanent failure")
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return "permanent: " + e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Snooze returns an error that puts the job back to run again after d,
// without spending an attempt and without recording an error. d < 0 is
// treated as 0 (run again as soon as possible).
func Snooze(d time.Duration) error { return &snoozeError{max(d, 0)} }

type snoozeError struct{ d time.Duration }

func (e *snoozeError) Error() string { return fmt.Sprintf("snooze %s", e.d) }

// Cancel wraps err so that the job is cancelled (state cancelled, final,
// not retried). The error is recorded on the job. Cancel(nil) records no
// error.
func Cancel(err error) error { return &cancelError{err} }

type cancelError struct{ err error }

func (e *cancelError) Error() string {
	if e.err == nil {
		return "cancelled"
	}
	return "cancelled: " + e.err.Error()
}
func (e *cancelError) Unwrap() error { return e.err }

// HandlerOutcome classifies a handler's returned error; used by the worker
// and by troikatest.
type handlerOutcome int

const (
	outcomeComplete handlerOutcome = iota
	outcomeRetry
	outcomePermanent
	outcomeSnooze
	outcomeCancel
)

// classify returns what a handler's error asks for, and the snooze delay.
func classify(err error) (handlerOutcome, time.Duration) {
	if err == nil {
		return outcomeComplete, 0
	}
	var s *snoozeError
	if errors.As(err, &s) {
		return outcomeSnooze, s.d
	}
	var c *cancelError
	if errors.As(err, &c) {
		return outcomeCancel, 0
	}
	var p *permanentError
	if errors.As(err, &p) {
		return outcomePermanent, 0
	}
	return outcomeRetry, 0
}
