package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/troikahq/troika/store"
)

// ErrUnavailable means PostgreSQL could not serve the call: it is down,
// restarting, refusing connections, read only (a standby after failover),
// or the call lost a serialization race. Nothing is known to have changed
// (but see UnavailableError). The call may be retried.
var ErrUnavailable = errors.New("troika: postgres unavailable (retryable)")

// UnavailableError is the error of a call that failed because PostgreSQL
// could not serve it, after the store's own retries. It matches
// ErrUnavailable with errors.Is and unwraps to the driver's error.
//
// When the connection broke while a commit was in flight the outcome is
// unknown: the change may have been applied. Every write of this store is
// safe to repeat: inserts reuse their ids, acks and heartbeats are
// compare-and-set (a repeated ack of an applied outcome reports
// ErrLeaseLost), and a claim whose reply was lost leaves leases that the
// rescuer returns after their TTL.
type UnavailableError struct {
	Op  string // the store method, e.g. "JobClaim"
	Err error  // the driver's error
}

func (e *UnavailableError) Error() string {
	return "troika: postgres unavailable during " + e.Op + " (retryable): " + e.Err.Error()
}

// Unwrap returns the driver's error.
func (e *UnavailableError) Unwrap() error { return e.Err }

// Is reports whether target is ErrUnavailable.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// Retryable reports true: the call may be retried. Servers map it to
// Unavailable / HTTP 503 with Retry-After.
func (e *UnavailableError) Retryable() bool { return true }

// SQLSTATE codes the store acts on.
const (
	codeReadOnly          = "25006" // read_only_sql_transaction: we reached a standby
	codeSerialization     = "40001"
	codeDeadlock          = "40P01"
	codeAdminShutdown     = "57P01"
	codeCrashShutdown     = "57P02"
	codeCannotConnectNow  = "57P03"
	codeTooManyConns      = "53300"
	codeUndefinedTable    = "42P01"
	codeInvalidSchemaName = "3F000"
)

// transient reports whether err is worth retrying: the database is not
// reachable, restarting, read only, or the statement lost a race that a
// repeat can win. ctx errors are not transient.
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case codeReadOnly, codeSerialization, codeDeadlock, codeAdminShutdown, codeCrashShutdown,
			codeCannotConnectNow, codeTooManyConns:
			return true
		}
		return strings.HasPrefix(pe.Code, "08") // connection exception
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &ce), errors.As(err, &ne),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		pgconn.SafeToRetry(err):
		return true
	}
	// pgx reports a connection it closed after a failure this way.
	msg := err.Error()
	return strings.Contains(msg, "conn closed") || strings.Contains(msg, "conn busy") ||
		strings.Contains(msg, "unexpected EOF") || strings.Contains(msg, "broken pipe")
}

// readOnly reports whether err says the server is read only.
func readOnly(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == codeReadOnly
}

// badInput reports whether err is PostgreSQL rejecting a value (bad text,
// NUL bytes, out of range numbers or times, invalid JSON, a check).
func badInput(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "22P02", "22021", "22001", "22003", "22007", "22008", "22P05", "23514", "2202E", "22023", "22030", "22032":
		return true
	}
	return false
}

func invalid(field, reason string) error {
	return &store.InvalidArgumentError{Field: field, Reason: reason}
}
