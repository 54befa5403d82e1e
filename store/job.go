package store

import (
	"time"
)

// JobState is the lifecycle state of a job. The values are the lowercase
// strings promised on the wire (DESIGN §1, §5).
type JobState string

// The job states. A job moves
//
//	scheduled ──(run_at reached)──▶ available ──(claim)──▶ running
//	running ──▶ completed | retryable | dead | cancelled | scheduled (snooze, hand-back)
//	retryable ──(run_at reached)──▶ available
//
// completed, dead and cancelled are final: only an explicit JobRetryMany
// (dead → available) or a delete changes them.
const (
	StateScheduled JobState = "scheduled" // waiting for run_at (delayed or snoozed)
	StateAvailable JobState = "available" // ready to be claimed
	StateRunning   JobState = "running"   // leased by a worker
	StateRetryable JobState = "retryable" // failed, waiting for run_at to run again
	StateCompleted JobState = "completed" // finished successfully (final)
	StateDead      JobState = "dead"      // attempts exhausted or permanent failure (final)
	StateCancelled JobState = "cancelled" // cancelled by a handler or an operator (final)
)

// AllStates lists every state in lifecycle order. Callers must not modify it.
var AllStates = []JobState{
	StateScheduled, StateAvailable, StateRunning, StateRetryable,
	StateCompleted, StateDead, StateCancelled,
}

// Valid reports whether s is one of the defined states.
func (s JobState) Valid() bool {
	switch s {
	case StateScheduled, StateAvailable, StateRunning, StateRetryable,
		StateCompleted, StateDead, StateCancelled:
		return true
	}
	return false
}

// Final reports whether s is a final state (completed, dead, cancelled).
func (s JobState) Final() bool {
	return s == StateCompleted || s == StateDead || s == StateCancelled
}

// Waiting reports whether s waits for run_at (scheduled or retryable).
func (s JobState) Waiting() bool { return s == StateScheduled || s == StateRetryable }

// AttemptError records one failed attempt of a job.
type AttemptError struct {
	At      time.Time `json:"at"`
	Attempt int       `json:"attempt"`
	Message string    `json:"message"`
	// Stack is the goroutine stack for a recovered panic, empty otherwise.
	Stack string `json:"stack,omitempty"`
}

// Job is the durable record of one job as the store returns it.
//
// A *Job returned by a Store is a snapshot owned by the caller: the store
// never modifies it afterwards, and the caller must not modify its slices
// and maps (Args, Metadata, Tags, Errors, Result), which may be shared with
// other snapshots of the same job.
type Job struct {
	ID          ID
	Kind        string
	Args        []byte // JSON
	Queue       string
	Priority    int // 1 (most urgent) … 4
	State       JobState
	RunAt       time.Time     // when the job may run (next run for waiting states)
	Attempt     int           // attempts started so far (incremented by a claim)
	MaxAttempts int           // attempts allowed before the job is dead
	Timeout     time.Duration // how long one attempt may run; 0: the worker's default
	UniqueKey   string        // "" when the job is not unique
	UniqueUntil time.Time     // end of the unique window (zero when not unique)
	OrderingKey string        // "" when the job is not ordered (see InsertJob.OrderingKey)
	Metadata    map[string]string
	Tags        []string
	CreatedAt   time.Time
	AttemptedAt time.Time // start of the latest attempt; zero before the first
	FinishedAt  time.Time // when the job reached a final state; zero otherwise
	Errors      []AttemptError
	Result      []byte // optional JSON output of a completed job

	// Lease: set only while State is running.
	LeaseHolder   string    // the worker id that claimed the job
	LeaseToken    uint64    // fencing token of this lease; never 0 while running
	LeaseDeadline time.Time // the lease expires at this instant unless extended
}

// LeaseRef names one lease: the job, the attempt it was claimed for and the
// fencing token the claim returned. Every leased transition is a
// compare-and-set on (state = running, attempt, token).
type LeaseRef struct {
	ID      ID
	Attempt int
	Token   uint64
}

// Lease returns the LeaseRef of a running job as claimed.
func (j *Job) Lease() LeaseRef { return LeaseRef{ID: j.ID, Attempt: j.Attempt, Token: j.LeaseToken} }
