package remote

import (
	"errors"
	"fmt"

	"connectrpc.com/connect"

	"github.com/troikahq/troika/store"
)

// Error is an error the server returned, with its Connect code. It matches
// (errors.Is) the store sentinel of its code: ErrNotFound, ErrAlreadyExists, ErrLeaseLost,
// ErrInvalidArgument, ErrWrongState; and errors.ErrUnsupported for
// unimplemented. errors.As to *connect.Error also works.
type Error struct {
	Code     connect.Code
	Message  string
	sentinel error
	cause    *connect.Error
}

func (e *Error) Error() string {
	return "troika: server: " + e.Code.String() + ": " + e.Message
}

// Unwrap returns the sentinel and the Connect error.
func (e *Error) Unwrap() []error {
	if e.sentinel == nil {
		return []error{e.cause}
	}
	return []error{e.sentinel, e.cause}
}

// Transient reports whether a call that failed with err may succeed if
// retried: the server was unreachable, draining or overloaded.
func Transient(err error) bool {
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable, connect.CodeResourceExhausted, connect.CodeAborted:
		return true
	}
	return false
}

// fromConnect maps a Connect error to the store's vocabulary; typed errors
// (*store.InvalidArgumentError, *store.StateError) are rebuilt from the
// metadata the server attaches.
func fromConnect(err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return err
	}
	meta := ce.Meta()
	switch ce.Code() {
	case connect.CodeInvalidArgument:
		if f, r := meta.Get("Troika-Field"), meta.Get("Troika-Reason"); r != "" {
			return &store.InvalidArgumentError{Field: f, Reason: r}
		}
		return &Error{Code: ce.Code(), Message: ce.Message(), sentinel: store.ErrInvalidArgument, cause: ce}
	case connect.CodeFailedPrecondition:
		if st := meta.Get("Troika-State"); st != "" {
			id, _ := store.ParseID(meta.Get("Troika-Job-Id"))
			return &store.StateError{ID: id, Op: meta.Get("Troika-Op"), State: store.JobState(st)}
		}
		return &Error{Code: ce.Code(), Message: ce.Message(), sentinel: store.ErrLeaseLost, cause: ce}
	case connect.CodeNotFound:
		return &Error{Code: ce.Code(), Message: ce.Message(), sentinel: store.ErrNotFound, cause: ce}
	case connect.CodeAlreadyExists:
		return &Error{Code: ce.Code(), Message: ce.Message(), sentinel: store.ErrAlreadyExists, cause: ce}
	case connect.CodeUnimplemented:
		return &Error{Code: ce.Code(), Message: ce.Message(), sentinel: errors.ErrUnsupported, cause: ce}
	}
	return &Error{Code: ce.Code(), Message: ce.Message(), cause: ce}
}

// itemError maps a per-item result code to an error (nil for "ok").
func itemError(code, msg string) error {
	switch code {
	case "ok":
		return nil
	case "failed_precondition":
		return fmt.Errorf("%w (%s)", store.ErrLeaseLost, msg)
	case "not_found":
		return fmt.Errorf("%w (%s)", store.ErrNotFound, msg)
	case "invalid_argument":
		return fmt.Errorf("%w: %s", store.ErrInvalidArgument, msg)
	}
	return fmt.Errorf("troika: server: %s: %s", code, msg)
}

func unsupported(method string) error {
	return fmt.Errorf("troika: %s is not available over the API (the server runs it): %w", method, errors.ErrUnsupported)
}
