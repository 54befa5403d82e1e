package troika

import (
	"context"
	"time"

	"github.com/troikahq/troika/internal/engine"
	"github.com/troikahq/troika/store"
)

// MisfirePolicy says what happens to fire instants that were missed while
// no process was firing (or when the wall clock jumped forward). An instant
// at most the misfire grace (30s) late is on time and fires under every
// policy; older ones are missed. See docs/scheduler.md.
type MisfirePolicy = store.MisfirePolicy

// The misfire policies. The default is MisfireRunOnce.
const (
	// MisfireSkip drops missed instants.
	MisfireSkip = store.MisfireSkip
	// MisfireRunOnce fires one job for the newest missed instant, unless an
	// on-time instant fires anyway.
	MisfireRunOnce = store.MisfireRunOnce
	// MisfireCatchUp fires one job per missed instant, the newest
	// CatchUpLimit of them (default 10, at most 1000), oldest first.
	MisfireCatchUp = store.MisfireCatchUp
)

// OverlapPolicy says what happens when an instant comes while the previous
// fire's job has not finished. The default is OverlapAllow.
type OverlapPolicy = store.OverlapPolicy

// The overlap policies.
const (
	OverlapAllow         = store.OverlapAllow         // always enqueue
	OverlapSkipIfRunning = store.OverlapSkipIfRunning // skip while the previous job is waiting or running
	OverlapQueueOne      = store.OverlapQueueOne      // enqueue behind a running job, skip while one waits
)

// FireOutcome is what became of one fire instant, as recorded in a
// schedule's history.
type FireOutcome = store.FireOutcome

// The fire outcomes.
const (
	FireEnqueued  = store.FireEnqueued  // a job was enqueued
	FireDuplicate = store.FireDuplicate // the instant's job already existed (another firer made it)
	FireTriggered = store.FireTriggered // TriggerSchedule enqueued a job
	FireOverlap   = store.FireOverlap   // skipped by the overlap policy
	FireMissed    = store.FireMissed    // dropped by the misfire policy (Missed says how many)
)

// Schedule limits, as for Enqueue: inputs outside them are rejected with an
// *InvalidArgumentError naming the field.
const (
	MaxScheduleIDLen = engine.MaxScheduleIDLen // 128 bytes, [A-Za-z0-9._:/-]
	MaxCatchUpLimit  = engine.MaxCatchUpLimit  // 1000
	MaxJitter        = engine.MaxJitter        // 24h
)

// Schedule declares a schedule: a rule that enqueues a job at each of its
// fire instants. See docs/scheduler.md for specs, time zones and DST.
type Schedule struct {
	// ID names the schedule ([A-Za-z0-9._:/-]{1,128}); upserting the same
	// ID replaces the definition.
	ID string
	// Spec is 5 cron fields ("*/15 9-17 * * MON-FRI"), 6 with seconds
	// first, a descriptor (@hourly, @daily, @weekly, @monthly, @yearly) or
	// an interval ("@every 90s", at least 1s).
	Spec string
	// TimeZone is the IANA zone cron specs are read in; "" is UTC.
	TimeZone string
	// Jitter delays each job by a deterministic amount in [0, Jitter):
	// never earlier than the instant. For intervals it must be shorter than
	// the interval.
	Jitter time.Duration
	// Start and End bound the fire instants (zero: unbounded). Intervals
	// count from Start, or else from when the schedule was created.
	Start, End time.Time
	// Misfire is the misfire policy; default MisfireRunOnce.
	Misfire MisfirePolicy
	// CatchUpLimit bounds MisfireCatchUp (default 10, at most 1000).
	CatchUpLimit int
	// Overlap is the overlap policy; default OverlapAllow.
	Overlap OverlapPolicy
	// Paused: UpsertSchedule sets the schedule's paused state to it;
	// ReconcileSchedules applies it only to schedules it creates (an
	// operator's pause survives a redeploy).
	Paused bool
	// Args are the job's arguments (its kind is Args.Kind()); RawArgs for
	// a kind and JSON.
	Args JobArgs
	// Options are the job's enqueue options: Queue, Priority, MaxAttempts,
	// Timeout, Metadata and Tags. Delay, RunAt and Unique are rejected (a
	// schedule's jobs run at its instants, each unique to its instant).
	Options []EnqueueOption
}

// ScheduleRow is a schedule as stored: its definition (the job template
// with defaults applied), paused state, last and next fire instants, the
// job of the latest fire and the recent fire history (oldest first, at
// most 20 entries). Treat its slices and maps as read-only.
type ScheduleRow = store.Schedule

// ScheduleFire is one entry of a schedule's fire history: the instant,
// when it was handled, the outcome and the job (if any).
type ScheduleFire = store.ScheduleFireRecord

// ScheduleInfo is a schedule with its upcoming fire instants.
type ScheduleInfo struct {
	*ScheduleRow
	// NextFireTimes are the next fire instants (NextFireAt first); empty
	// when paused or when the schedule never fires again.
	NextFireTimes []time.Time
}

// UpsertScheduleResult is the outcome of UpsertSchedule.
type UpsertScheduleResult struct {
	Schedule *ScheduleInfo
	Created  bool // the schedule did not exist
	Changed  bool // something was written (false: the same definition was already stored)
}

// UpsertSchedule validates s and creates or replaces the schedule s.ID,
// durably. It is idempotent: upserting an unchanged definition writes
// nothing, so N processes may declare the same schedule at once. A changed
// definition keeps the schedule's history and never refires an instant
// already handled. Invalid input gives an *InvalidArgumentError naming the
// field ("schedule.spec", "schedule.job.queue"…) and stores nothing. The
// store must support schedules (the embedded store does).
func (c *Client) UpsertSchedule(ctx context.Context, s Schedule) (*UpsertScheduleResult, error) {
	return c.impl.upsertSchedule(ctx, s)
}

// ScheduleListParams configure ListSchedules.
type ScheduleListParams struct {
	// Next is how many upcoming fire instants to compute per schedule;
	// default 5, at most 100.
	Next int
}

// ListSchedules returns every schedule, by ID, with its next fire times and
// recent fires.
func (c *Client) ListSchedules(ctx context.Context, p ScheduleListParams) ([]*ScheduleInfo, error) {
	return c.impl.listSchedules(ctx, p)
}

// GetSchedule returns one schedule with its next 5 fire times, or an error
// matching ErrNotFound.
func (c *Client) GetSchedule(ctx context.Context, id string) (*ScheduleInfo, error) {
	return c.impl.getSchedule(ctx, id)
}

// DeleteSchedule deletes a schedule; jobs it already enqueued stay. An
// unknown id gives ErrNotFound.
func (c *Client) DeleteSchedule(ctx context.Context, id string) error {
	return c.impl.deleteSchedule(ctx, id)
}

// PauseSchedule stops a schedule from firing until ResumeSchedule. Pausing
// a paused schedule changes nothing.
func (c *Client) PauseSchedule(ctx context.Context, id string) (*ScheduleInfo, error) {
	return c.impl.pauseSchedule(ctx, id, true)
}

// ResumeSchedule undoes PauseSchedule. The schedule fires next at its
// first instant after now: instants that passed while it was paused are
// not fired (they are not misfires).
func (c *Client) ResumeSchedule(ctx context.Context, id string) (*ScheduleInfo, error) {
	return c.impl.pauseSchedule(ctx, id, false)
}

// TriggerSchedule enqueues the schedule's job once, now, outside its
// timetable (whatever its overlap policy and paused state), and records it
// in the history as FireTriggered. The timetable is unchanged.
func (c *Client) TriggerSchedule(ctx context.Context, id string) (*EnqueueResult, error) {
	return c.impl.triggerSchedule(ctx, id)
}

// ReconcileResult says what ReconcileSchedules did, by schedule ID.
type ReconcileResult struct {
	Created   []string
	Updated   []string
	Unchanged []string
	Deleted   []string // only with prune
}

// ReconcileSchedules makes the stored schedules match a declared set, as a
// service does on start: every schedule of set is upserted (created,
// updated, or left alone when unchanged; an operator's pause is kept), and,
// only if prune is true, every stored schedule not in set is deleted.
// Without prune a schedule removed from the code keeps firing until it is
// deleted (troika schedule remove). The whole set is validated first: an
// invalid or duplicate entry gives an *InvalidArgumentError naming it
// ("schedules[2].spec") and changes nothing. Safe when N replicas boot at
// once: upserts are idempotent, and concurrent reconciles of the same set
// converge on it.
func (c *Client) ReconcileSchedules(ctx context.Context, set []Schedule, prune bool) (*ReconcileResult, error) {
	return c.impl.reconcileSchedules(ctx, set, prune)
}
