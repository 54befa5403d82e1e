package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/troikahq/troika"
)

// Exit codes of the troika command (DESIGN §5).
const (
	ExitOK       = 0 // success
	ExitFailure  = 1 // the command failed (invalid input, wrong state, I/O…)
	ExitUsage    = 2 // the command line was wrong (unknown flag or command, bad flag value, missing argument)
	ExitNotFound = 3 // the named job (or other object) does not exist
)

// ExitError is an error that carries the exit code the command should end
// with.
type ExitError struct {
	Code int
	Err  error
}

// Error returns the message of the wrapped error.
func (e *ExitError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *ExitError) Unwrap() error { return e.Err }

// Usagef returns a usage error (exit code 2) with a formatted message.
func Usagef(format string, args ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, args...)}
}

// Usage marks err as a usage error (exit code 2). Usage(nil) is nil.
func Usage(err error) error {
	if err == nil {
		return nil
	}
	return &ExitError{Code: ExitUsage, Err: err}
}

// Failf returns a plain failure (exit code 1) with a formatted message.
func Failf(format string, args ...any) error {
	return &ExitError{Code: ExitFailure, Err: fmt.Errorf(format, args...)}
}

// ExitCode returns the exit code for err: 0 for nil, the code of an
// *ExitError, 3 for anything matching troika.ErrNotFound, 1 otherwise.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	if e, ok := errors.AsType[*ExitError](err); ok {
		return e.Code
	}
	if errors.Is(err, troika.ErrNotFound) {
		return ExitNotFound
	}
	return ExitFailure
}

// Message renders err as one line for people: the "troika: " prefix the SDK
// puts on its errors is dropped (the command prints its own, and wrapped
// errors need it once), and cobra's
// multi-line "Did you mean this?" suggestions are folded into the line.
func Message(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if head, sugg, ok := strings.Cut(s, "\n\nDid you mean this?\n"); ok {
		s = head + " (did you mean " + strings.Join(strings.Fields(sugg), " or ") + "?)"
	}
	s = strings.TrimPrefix(s, "troika: ")
	s = strings.ReplaceAll(s, ": troika: ", ": ")
	// One line: fold whatever newlines are left.
	if strings.ContainsAny(s, "\r\n") {
		s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }), "; ")
	}
	return strings.TrimSpace(s)
}
