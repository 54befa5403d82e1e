package troika

import (
	"encoding/json"

	"github.com/troikahq/troika/store"
)

// JobArgs is implemented by every job argument type. Kind returns the job's
// kind: a stable string naming its handler ("email.send"), never derived
// from the Go type name, 1–128 bytes. Kind must work on the zero value of
// the type (Handle calls it on one). Args are encoded with encoding/json.
type JobArgs interface {
	Kind() string
}

// JobID identifies a job: a UUIDv7, time-ordered.
type JobID = store.ID

// ParseJobID parses the canonical text form of a JobID.
func ParseJobID(s string) (JobID, error) { return store.ParseID(s) }

// JobState is a job's lifecycle state; see the State constants.
type JobState = store.JobState

// The job states (DESIGN §1): scheduled → available → running →
// completed | retryable (→ available) | dead | cancelled.
const (
	StateScheduled = store.StateScheduled
	StateAvailable = store.StateAvailable
	StateRunning   = store.StateRunning
	StateRetryable = store.StateRetryable
	StateCompleted = store.StateCompleted
	StateDead      = store.StateDead
	StateCancelled = store.StateCancelled
)

// JobRow is the stored record of a job: its fields, state, attempts,
// errors and lease. A *JobRow returned by the Client is a snapshot owned by
// the caller; treat its slices and maps as read-only.
type JobRow = store.Job

// AttemptError records one failed attempt: when, which attempt, the error
// message and, for a recovered panic, the stack.
type AttemptError = store.AttemptError

// Job is a job handed to a typed handler: the stored record plus its
// decoded arguments. Handlers must not retain it after they return.
type Job[T JobArgs] struct {
	*JobRow
	Args T
}

// RawArgs are job arguments given as a kind and already-encoded JSON: what
// a caller uses when it has no Go type for the job (CLI, wire API, other
// languages' payloads). JSON must be a valid JSON value; empty means {}.
type RawArgs struct {
	KindName string
	JSON     json.RawMessage
}

// Kind returns r.KindName.
func (r RawArgs) Kind() string { return r.KindName }

// MarshalJSON returns r.JSON ({} when empty) so RawArgs encodes as its payload.
func (r RawArgs) MarshalJSON() ([]byte, error) {
	if len(r.JSON) == 0 {
		return []byte("{}"), nil
	}
	return r.JSON, nil
}
