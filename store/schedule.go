package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"
)

// ScheduleStore is the storage seam of the scheduler: schedules as data and
// the atomic "fire" that enqueues a schedule's job and advances it in one
// write. It is a separate interface so that Store stays the job seam; both
// backends implement it, and the conformance group storetest.RunSchedules
// (part of storetest.RunAll) fails a backend that does not.
//
// The general contract of Store applies to every method (concurrency,
// atomicity, durability before return, params never retained, Now zero
// meaning the store's clock, ErrClosed after Close, ErrStoreFailed after a
// write failure, ErrInvalidArgument for malformed params and never a panic).
//
// Policy lives above the seam: the engine parses specs, computes fire
// instants, applies the misfire and overlap policies, validates job
// templates and computes NextFireAt; the store persists what it is given
// and enforces the two invariants that make firing safe with more than one
// firer: ScheduleFire is a compare-and-set on NextFireAt, and each fired
// job carries a unique key, so an instant never becomes two jobs.
type ScheduleStore interface {
	// ScheduleUpsert creates the schedule p.Schedule.ID or replaces its
	// definition. Replacing keeps CreatedAt, LastFireAt, LastJobID and the
	// fire history; Paused is kept unless p.Paused is set. When the stored
	// definition already equals the given one (Definition.Equal) and
	// p.Paused does not change it, nothing is written and the result has
	// Changed false: upserting the same schedule from N processes at once
	// is safe and idempotent. NextFireAt is set to p.NextFireAt whenever the
	// definition changes, on create, and when p.Paused resumes a paused
	// schedule; otherwise it is kept.
	ScheduleUpsert(ctx context.Context, p *ScheduleUpsertParams) (*ScheduleUpsertResult, error)

	// ScheduleGet returns one schedule, or ErrNotFound.
	ScheduleGet(ctx context.Context, p *ScheduleGetParams) (*Schedule, error)

	// ScheduleList returns every schedule, by ID.
	ScheduleList(ctx context.Context, p *ScheduleListParams) ([]*Schedule, error)

	// ScheduleDelete deletes a schedule (its jobs stay), or returns
	// ErrNotFound.
	ScheduleDelete(ctx context.Context, p *ScheduleDeleteParams) error

	// SchedulePause pauses or resumes a schedule and returns it. Resuming
	// sets NextFireAt to p.NextFireAt (the engine computes it from now, so
	// instants that passed while paused are not misfires); pausing keeps
	// NextFireAt for display. Pausing a paused schedule (or resuming a
	// running one) changes nothing. ErrNotFound for an unknown id.
	SchedulePause(ctx context.Context, p *SchedulePauseParams) (*Schedule, error)

	// ScheduleDueList returns up to Limit schedules that are not paused and
	// whose NextFireAt is set and <= Now, earliest first, and the earliest
	// NextFireAt after Now among the other unpaused schedules (zero if
	// none), so a firer knows how long it may sleep.
	ScheduleDueList(ctx context.Context, p *ScheduleDueListParams) (*ScheduleDueListResult, error)

	// ScheduleFire records fires of a schedule atomically with inserting
	// their jobs. Unless p.Manual, it is a compare-and-set: when the
	// schedule's NextFireAt is not p.ExpectNextFireAt, or it is paused,
	// nothing changes and the error is ErrScheduleConflict (another firer,
	// an upsert or a pause got there first: re-read and re-plan). On
	// success, every item with a Job inserts it exactly as JobInsertMany
	// would (its UniqueKey makes a second insert of the same instant a
	// duplicate: outcome FireDuplicate, JobID of the existing job); items
	// are appended to the history (trimmed to the newest MaxScheduleFires);
	// LastJobID becomes the job of the last item that has one; and, unless
	// p.Manual, LastFireAt and NextFireAt become p.LastFireAt and
	// p.NextFireAt. Returns the schedule as updated; ErrNotFound for an
	// unknown id.
	ScheduleFire(ctx context.Context, p *ScheduleFireParams) (*Schedule, error)
}

// ErrScheduleConflict: a ScheduleFire compare-and-set failed because the
// schedule changed since it was read. Nothing was changed.
var ErrScheduleConflict = errors.New("troika: schedule changed concurrently")

// MaxScheduleFires is how many recent fires a schedule keeps.
const MaxScheduleFires = 20

// MisfirePolicy says what happens to fire instants that were missed (the
// firer was down, or the clock jumped forward): those more than the
// engine's misfire grace late. Instants within the grace always fire.
// Values are the wire strings.
type MisfirePolicy string

// The misfire policies.
const (
	// MisfireSkip drops missed instants.
	MisfireSkip MisfirePolicy = "skip"
	// MisfireRunOnce fires one job for the newest missed instant, unless an
	// on-time instant fires anyway.
	MisfireRunOnce MisfirePolicy = "run_once"
	// MisfireCatchUp fires one job per missed instant, the newest
	// CatchUpLimit of them, oldest first.
	MisfireCatchUp MisfirePolicy = "catch_up"
)

// Valid reports whether p is a defined policy.
func (p MisfirePolicy) Valid() bool {
	return p == MisfireSkip || p == MisfireRunOnce || p == MisfireCatchUp
}

// OverlapPolicy says what happens when an instant comes while the job of an
// earlier fire has not finished. Values are the wire strings.
type OverlapPolicy string

// The overlap policies.
const (
	// OverlapAllow always enqueues.
	OverlapAllow OverlapPolicy = "allow"
	// OverlapSkipIfRunning skips the instant while the previous fire's job
	// is not finished (waiting or running).
	OverlapSkipIfRunning OverlapPolicy = "skip_if_running"
	// OverlapQueueOne enqueues while the previous fire's job is running,
	// but skips while it is still waiting to start: at most one fire
	// queues behind a running one.
	OverlapQueueOne OverlapPolicy = "queue_one"
)

// Valid reports whether p is a defined policy.
func (p OverlapPolicy) Valid() bool {
	return p == OverlapAllow || p == OverlapSkipIfRunning || p == OverlapQueueOne
}

// FireOutcome is what became of one fire instant. Values are the wire
// strings.
type FireOutcome string

// The fire outcomes.
const (
	FireEnqueued  FireOutcome = "enqueued"  // a job was inserted
	FireDuplicate FireOutcome = "duplicate" // the instant's job already existed (unique key)
	FireTriggered FireOutcome = "triggered" // a manual trigger inserted a job
	FireOverlap   FireOutcome = "skipped_overlap"
	FireMissed    FireOutcome = "skipped_misfire" // Missed instants dropped by the misfire policy
)

// JobTemplate is the job a schedule enqueues, with the engine's defaults
// already applied (the store stores what it is given).
type JobTemplate struct {
	Kind        string
	Args        []byte // JSON
	Queue       string
	Priority    int
	MaxAttempts int
	Timeout     time.Duration
	Metadata    map[string]string
	Tags        []string
}

// ScheduleDefinition is what a user declares about a schedule: everything
// but its state.
type ScheduleDefinition struct {
	ID            string
	Spec          string // cron (5 or 6 fields), a descriptor, or "@every <duration>"
	TimeZone      string // IANA name; "" is UTC
	Jitter        time.Duration
	StartAt       time.Time // zero: no start bound
	EndAt         time.Time // zero: no end bound
	MisfirePolicy MisfirePolicy
	CatchUpLimit  int // MisfireCatchUp: the most missed instants fired
	OverlapPolicy OverlapPolicy
	Job           JobTemplate
}

// Schedule is a schedule as stored: its definition and its state. A
// *Schedule returned by a store is owned by the caller, who must not modify
// its slices and maps (they may be shared with other snapshots).
type Schedule struct {
	ScheduleDefinition
	Paused     bool
	CreatedAt  time.Time
	UpdatedAt  time.Time            // when the definition or paused state last changed
	LastFireAt time.Time            // the latest instant handled by a fire (fired or skipped); zero before the first
	NextFireAt time.Time            // the next instant to handle; zero when it never fires again
	LastJobID  ID                   // the job of the latest fire that has one; zero before the first
	Fires      []ScheduleFireRecord // recent fires, oldest first, at most MaxScheduleFires
}

// ScheduleFireRecord is one entry of a schedule's fire history.
type ScheduleFireRecord struct {
	Instant time.Time   // the fire instant (FireMissed: the newest instant dropped)
	At      time.Time   // when it was recorded
	Outcome FireOutcome // what became of it
	JobID   ID          // the job, for FireEnqueued, FireDuplicate, FireTriggered
	Missed  int         // FireMissed: how many instants this entry stands for
}

// ScheduleUpsertParams are the params of ScheduleStore.ScheduleUpsert.
type ScheduleUpsertParams struct {
	Definition ScheduleDefinition
	Paused     *bool     // nil: keep (false for a new schedule)
	NextFireAt time.Time // used when the definition is new or changed
	Now        time.Time
}

// ScheduleUpsertResult is the outcome of ScheduleUpsert.
type ScheduleUpsertResult struct {
	Schedule *Schedule
	Created  bool // the schedule did not exist
	Changed  bool // something was written (created, definition or paused changed)
}

// ScheduleGetParams are the params of ScheduleStore.ScheduleGet.
type ScheduleGetParams struct {
	ID string
}

// ScheduleListParams are the params of ScheduleStore.ScheduleList.
type ScheduleListParams struct{}

// ScheduleDeleteParams are the params of ScheduleStore.ScheduleDelete.
type ScheduleDeleteParams struct {
	ID string
}

// SchedulePauseParams are the params of ScheduleStore.SchedulePause.
type SchedulePauseParams struct {
	ID         string
	Paused     bool
	NextFireAt time.Time // resuming: the new next instant
	Now        time.Time
}

// ScheduleDueListParams are the params of ScheduleStore.ScheduleDueList.
type ScheduleDueListParams struct {
	Now   time.Time
	Limit int // default 100
}

// ScheduleDueListResult is the result of ScheduleDueList.
type ScheduleDueListResult struct {
	Due    []*Schedule
	NextAt time.Time // earliest NextFireAt after Now of the other unpaused schedules; zero if none
}

// ScheduleFireItem is one fire to record.
type ScheduleFireItem struct {
	Instant time.Time
	Outcome FireOutcome // FireEnqueued or FireTriggered with Job; FireOverlap or FireMissed without
	Job     *InsertJob  // the job to insert (with its UniqueKey), or nil
	Missed  int         // FireMissed: how many instants were dropped
}

// ScheduleFireParams are the params of ScheduleStore.ScheduleFire.
type ScheduleFireParams struct {
	ID               string
	Manual           bool      // a manual trigger: no compare-and-set; LastFireAt and NextFireAt unchanged
	ExpectNextFireAt time.Time // the NextFireAt the firer planned from
	Fires            []ScheduleFireItem
	LastFireAt       time.Time
	NextFireAt       time.Time // zero: never again
	Now              time.Time
}

// FireJobs validates p.Fires and returns the jobs they insert, in order:
// an item with outcome FireEnqueued or FireTriggered must carry a Job with a
// Kind, one with FireOverlap or FireMissed must not, and any other outcome
// is rejected. check, if not nil, adds a backend's own checks of each job
// (value ranges its layout can hold); field names the job, e.g.
// "fires[2].job". Every rejection is an *InvalidArgumentError; FireJobs
// changes nothing.
func (p *ScheduleFireParams) FireJobs(check func(field string, j *InsertJob) error) ([]InsertJob, error) {
	var jobs []InsertJob
	for i := range p.Fires {
		f := &p.Fires[i]
		field := fmt.Sprintf("fires[%d]", i)
		switch f.Outcome {
		case FireEnqueued, FireTriggered:
			if f.Job == nil {
				return nil, &InvalidArgumentError{Field: field + ".job", Reason: "required for outcome " + string(f.Outcome)}
			}
		case FireOverlap, FireMissed:
			if f.Job != nil {
				return nil, &InvalidArgumentError{Field: field + ".job", Reason: "must be nil for outcome " + string(f.Outcome)}
			}
			continue
		default:
			return nil, &InvalidArgumentError{Field: field + ".outcome", Reason: fmt.Sprintf("unknown outcome %.64q", string(f.Outcome))}
		}
		if f.Job.Kind == "" {
			return nil, &InvalidArgumentError{Field: field + ".job.kind", Reason: "must not be empty"}
		}
		if check != nil {
			if err := check(field+".job", f.Job); err != nil {
				return nil, err
			}
		}
		jobs = append(jobs, *f.Job)
	}
	return jobs, nil
}

// Equal reports whether d and o declare the same schedule (times compared
// as instants at microsecond precision, which every backend keeps; args as
// JSON values, so a backend that normalises JSON, such as jsonb, still
// compares equal; nil and empty maps and slices equal).
func (d *ScheduleDefinition) Equal(o *ScheduleDefinition) bool {
	us := func(a, b time.Time) bool { return a.Truncate(time.Microsecond).Equal(b.Truncate(time.Microsecond)) }
	if d.ID != o.ID || d.Spec != o.Spec || d.TimeZone != o.TimeZone || d.Jitter != o.Jitter ||
		!us(d.StartAt, o.StartAt) || !us(d.EndAt, o.EndAt) ||
		d.MisfirePolicy != o.MisfirePolicy || d.CatchUpLimit != o.CatchUpLimit || d.OverlapPolicy != o.OverlapPolicy {
		return false
	}
	a, b := &d.Job, &o.Job
	if a.Kind != b.Kind || !sameJSON(a.Args, b.Args) || a.Queue != b.Queue || a.Priority != b.Priority ||
		a.MaxAttempts != b.MaxAttempts || a.Timeout != b.Timeout || len(a.Metadata) != len(b.Metadata) || len(a.Tags) != len(b.Tags) {
		return false
	}
	for k, v := range a.Metadata {
		if w, ok := b.Metadata[k]; !ok || w != v {
			return false
		}
	}
	for i := range a.Tags {
		if a.Tags[i] != b.Tags[i] {
			return false
		}
	}
	return true
}

// sameJSON reports whether a and b are the same bytes or encode the same
// JSON value (object key order and spacing aside; numbers compared by their
// text).
func sameJSON(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	decode := func(p []byte) (any, bool) {
		if len(p) == 0 {
			p = []byte("{}")
		}
		d := json.NewDecoder(bytes.NewReader(p))
		d.UseNumber()
		var v any
		if d.Decode(&v) != nil || d.More() {
			return nil, false
		}
		return v, true
	}
	va, oka := decode(a)
	vb, okb := decode(b)
	return oka && okb && reflect.DeepEqual(va, vb)
}
