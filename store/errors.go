package store

import (
	"errors"
	"fmt"
)

// The error vocabulary of the seam. Every backend returns these (wrapped or
// as the typed errors below, which match them with errors.Is); the root
// package re-exports them for users.
var (
	// ErrNotFound: the job (or queue, leader row…) does not exist.
	ErrNotFound = errors.New("troika: not found")
	// ErrLeaseLost: a leased operation named a lease that is no longer
	// valid (the job is not running, or runs under another attempt or
	// token). Nothing was changed.
	ErrLeaseLost = errors.New("troika: lease lost (stale attempt or token)")
	// ErrWrongState: the operation does not apply to the job's current
	// state (retrying a job that is not dead, deleting a running job…).
	// Nothing was changed. Returned as a *StateError.
	ErrWrongState = errors.New("troika: job is in the wrong state for this operation")
	// ErrInvalidArgument: input failed validation. Nothing was changed.
	// Returned as an *InvalidArgumentError.
	ErrInvalidArgument = errors.New("troika: invalid argument")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("troika: store closed")
	// ErrStoreFailed: a write or sync failed and the store stopped; every
	// later call returns an error wrapping it. Reopen to recover what is
	// durable.
	ErrStoreFailed = errors.New("troika: store failed")
	// ErrLocked: another process owns the data directory. Returned as a
	// *LockedError.
	ErrLocked = errors.New("troika: data directory locked by another process")
	// ErrCorrupt: the durable data cannot be read back faithfully.
	ErrCorrupt = errors.New("troika: data corrupt")
	// ErrAlreadyExists: the thing to create (a subscription name on a
	// topic) already exists. Nothing was changed.
	ErrAlreadyExists = errors.New("troika: already exists")
)

// InvalidArgumentError says which input was rejected and why. It matches
// ErrInvalidArgument with errors.Is.
type InvalidArgumentError struct {
	Field  string // the offending field, e.g. "queue", "jobs[3].kind"
	Reason string // what is wrong, for a person
}

func (e *InvalidArgumentError) Error() string {
	if e.Field == "" {
		return "troika: invalid argument: " + e.Reason
	}
	return "troika: invalid " + e.Field + ": " + e.Reason
}

// Is reports whether target is ErrInvalidArgument.
func (e *InvalidArgumentError) Is(target error) bool { return target == ErrInvalidArgument }

// StateError says that an operation does not apply to a job in its current
// state. It matches ErrWrongState with errors.Is.
type StateError struct {
	ID    ID
	Op    string   // e.g. "retry", "delete", "cancel"
	State JobState // the job's state when the operation was refused
}

func (e *StateError) Error() string {
	return fmt.Sprintf("troika: cannot %s job %s: it is %s", e.Op, e.ID, e.State)
}

// Is reports whether target is ErrWrongState.
func (e *StateError) Is(target error) bool { return target == ErrWrongState }

// LockedError says that another process holds the data directory's lock.
// It matches ErrLocked with errors.Is.
type LockedError struct {
	Dir string
	PID int // the holder's pid as it recorded it; 0 if unknown
}

func (e *LockedError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("troika: data directory %s is in use by process %d (one process owns a directory; use the server to share it)", e.Dir, e.PID)
	}
	return fmt.Sprintf("troika: data directory %s is in use by another process", e.Dir)
}

// Is reports whether target is ErrLocked.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }
