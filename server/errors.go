package server

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	"github.com/troikahq/troika/store"
)

// Metadata keys that carry the details of typed errors to clients (the
// remote client rebuilds *InvalidArgumentError and *StateError from them).
const (
	metaField  = "Troika-Field"
	metaReason = "Troika-Reason"
	metaID     = "Troika-Job-Id"
	metaOp     = "Troika-Op"
	metaState  = "Troika-State"
)

// errServerDraining is returned to calls that arrive while the server drains.
var errServerDraining = errors.New("troika: the server is shutting down; retry against another node or after restart")

// toConnect maps an error of the store or the engine to a Connect error
// with the code promised in DESIGN §5 and a message for a person.
func toConnect(err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return err
	}
	var inv *store.InvalidArgumentError
	var se *store.StateError
	switch {
	case errors.As(err, &inv):
		e := connect.NewError(connect.CodeInvalidArgument, err)
		e.Meta().Set(metaField, inv.Field)
		e.Meta().Set(metaReason, inv.Reason)
		return e
	case errors.As(err, &se):
		e := connect.NewError(connect.CodeFailedPrecondition, err)
		e.Meta().Set(metaID, se.ID.String())
		e.Meta().Set(metaOp, se.Op)
		e.Meta().Set(metaState, string(se.State))
		return e
	case errors.Is(err, store.ErrInvalidArgument):
		return connect.NewError(connect.CodeInvalidArgument, err)
	case errors.Is(err, store.ErrNotFound):
		return connect.NewError(connect.CodeNotFound, err)
	case errors.Is(err, store.ErrAlreadyExists):
		return connect.NewError(connect.CodeAlreadyExists, err)
	case errors.Is(err, store.ErrLeaseLost):
		return connect.NewError(connect.CodeFailedPrecondition, err)
	case errors.Is(err, store.ErrClosed), errors.Is(err, errServerDraining):
		return connect.NewError(connect.CodeUnavailable, errServerDraining)
	case errors.Is(err, store.ErrStoreFailed):
		return connect.NewError(connect.CodeUnavailable, err)
	case errors.Is(err, errors.ErrUnsupported):
		return connect.NewError(connect.CodeUnimplemented, err)
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, err)
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	}
	return connect.NewError(connect.CodeInternal, err)
}

// invalid returns an invalid_argument error naming field.
func invalid(field, reason string) error {
	return toConnect(&store.InvalidArgumentError{Field: field, Reason: reason})
}

// itemCode is the per-item code of a batch result (DESIGN §5).
func itemCode(err error) (code, msg string) {
	switch {
	case err == nil:
		return "ok", ""
	case errors.Is(err, store.ErrLeaseLost):
		return "failed_precondition", err.Error()
	case errors.Is(err, store.ErrNotFound):
		return "not_found", err.Error()
	case errors.Is(err, store.ErrInvalidArgument):
		return "invalid_argument", err.Error()
	case errors.Is(err, errPermission):
		return "permission_denied", err.Error()
	}
	return "internal", err.Error()
}
