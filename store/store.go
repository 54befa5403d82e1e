package store

import (
	"context"
	"time"
)

// Store is the storage seam: every backend implements it and passes the
// conformance suite in store/storetest, which is the executable form of the
// contracts written here.
//
// General contract, for every method:
//   - Safe for concurrent use by many goroutines.
//   - Atomic: a method either applies all of its effect or none of it, except
//     the per-item batch methods (JobAckMany, JobLeaseExtendMany), where each
//     item succeeds or fails on its own and the result says which.
//   - Durable before it returns: a nil error from a method that changes
//     state means the change survives a crash of the process (embedded:
//     fsynced; PostgreSQL: committed).
//   - Params are read, never retained or modified; results are owned by the
//     caller (see Job).
//   - A Now field left zero means "the store's clock". Tests set it to drive
//     time; production callers leave it zero or pass one clock consistently.
//     Now is the time the call was made. A store that retries a call
//     internally (PostgreSQL across a connection loss) grants or extends
//     leases (JobClaim, JobLeaseExtendMany, LeaderAcquire) at Now plus the
//     real time elapsed since its first attempt, so that such a lease runs
//     its full TTL from when it is granted, not from when it was asked for.
//     Other times a retried call records (FinishedAt, a retry's RunAt) may
//     be that much early.
//   - Validation of user input (kind, queue names, priorities, sizes) is the
//     engine's job; a store may trust well-formed params but must never panic
//     on malformed ones (it returns ErrInvalidArgument).
//   - After Close, every method returns ErrClosed. After a write or sync
//     failure, every method returns an error wrapping ErrStoreFailed.
type Store interface {
	// JobInsertMany inserts jobs atomically, all or nothing, and returns
	// one result per job in order. A job whose UniqueKey names a job that
	// still exists and whose window (UniqueUntil) has not passed is not
	// inserted: its result is that existing job with Duplicate set (this
	// holds within one batch too: the second of two items with one key is a
	// duplicate of the first). A job with RunAt after Now is scheduled,
	// otherwise available.
	JobInsertMany(ctx context.Context, p *JobInsertManyParams) ([]InsertResult, error)

	// JobClaim leases up to Max jobs that are ready (available, or
	// scheduled/retryable with RunAt <= Now) in the given queues, skipping
	// paused queues. Within a queue, jobs are taken by priority (1 first),
	// then RunAt, then ID (FIFO). Across queues, Max is shared out by weight
	// (see JobClaimParams). Each claimed job is returned in state running
	// with Attempt incremented, AttemptedAt = Now, a fresh non-zero
	// LeaseToken, LeaseHolder = Worker and LeaseDeadline = Now + LeaseTTL.
	// Two concurrent claims never return the same job. It returns an empty
	// slice, not an error, when nothing is ready.
	JobClaim(ctx context.Context, p *JobClaimParams) ([]*Job, error)

	// JobAckMany applies the outcome of leased attempts (complete, retry,
	// snooze, dead, cancel). Each item is a compare-and-set on (state =
	// running, Attempt, Token): an item whose lease is not current fails
	// with ErrLeaseLost and changes nothing; an unknown id fails with
	// ErrNotFound. Items succeed or fail independently; the slice of errors
	// has one entry per item (nil for success). The method's own error is
	// for failures of the whole call (closed, failed store, ctx).
	JobAckMany(ctx context.Context, p *JobAckManyParams) ([]error, error)

	// JobLeaseExtendMany moves the deadline of current leases to Now + TTL
	// (a heartbeat). Per-item results as in JobAckMany: ErrLeaseLost for a
	// lease that is no longer current (the worker must stop the attempt).
	JobLeaseExtendMany(ctx context.Context, p *JobLeaseExtendManyParams) ([]error, error)

	// JobLeaseExpiredList returns up to Limit running jobs whose lease
	// deadline is before Now, oldest deadline first. It changes nothing:
	// the engine decides each job's fate and applies it with JobAckMany
	// (whose compare-and-set makes a race with a late worker ack safe).
	JobLeaseExpiredList(ctx context.Context, p *JobLeaseExpiredListParams) ([]*Job, error)

	// JobPromoteDue moves up to Limit scheduled and retryable jobs whose
	// RunAt <= Now to available, and returns how many it moved. Claims do
	// not depend on it (they take due jobs directly); it keeps states and
	// counts current for people and metrics.
	JobPromoteDue(ctx context.Context, p *JobPromoteDueParams) (int, error)

	// JobGet returns one job, or ErrNotFound.
	JobGet(ctx context.Context, p *JobGetParams) (*Job, error)

	// JobList returns jobs matching every non-empty filter, in ID order
	// (ascending, or descending with Desc), starting after the cursor
	// After, at most Limit (default 100, capped at 10,000). Next is the
	// cursor for the following page, zero when there is none.
	JobList(ctx context.Context, p *JobListParams) (*JobListResult, error)

	// JobCancel cancels one job that is not final: scheduled, available and
	// retryable jobs become cancelled at once; a running job becomes
	// cancelled and its lease is revoked (the worker's next heartbeat or ack
	// fails with ErrLeaseLost, which cancels the handler). A final job gives
	// a *StateError; an unknown id ErrNotFound. Returns the job as updated.
	JobCancel(ctx context.Context, p *JobCancelParams) (*Job, error)

	// JobRetry makes dead jobs available again with a fresh attempt budget
	// (Attempt reset to 0, FinishedAt cleared, Errors kept). With IDs it
	// acts on exactly those jobs, atomically: any id that is unknown
	// (ErrNotFound) or not dead (*StateError) fails the whole call and
	// nothing changes. Without IDs it retries up to Limit dead jobs matching
	// Queue and Kind. Returns the jobs it retried.
	JobRetry(ctx context.Context, p *JobRetryParams) ([]*Job, error)

	// JobDelete deletes jobs that are not running. With IDs, atomically as
	// JobRetry (a running job gives a *StateError). Without IDs, it deletes
	// up to Limit jobs in State (required, not running) matching Queue and
	// Kind and, if FinishedBefore is set, finished before it (retention).
	// Deleting a job frees its unique key. Returns how many it deleted.
	JobDelete(ctx context.Context, p *JobDeleteParams) (int, error)

	// QueueList returns every queue that has jobs or settings, by name,
	// with its settings and its counts per state.
	QueueList(ctx context.Context, p *QueueListParams) ([]*Queue, error)

	// QueueGet returns one queue; a queue that has neither jobs nor settings
	// is returned with default settings and zero counts (queues exist by
	// being named).
	QueueGet(ctx context.Context, p *QueueGetParams) (*Queue, error)

	// QueueUpdate changes the settings of a queue (creating its settings
	// record if needed) and returns the queue. Nil fields are left as they are.
	QueueUpdate(ctx context.Context, p *QueueUpdateParams) (*Queue, error)

	// LeaderAcquire takes or renews the named leader lease for Holder. It
	// succeeds when the lease is free, expired, or already Holder's; then
	// Expires = Now + TTL, and Epoch increases by one whenever the holder
	// changes (a fencing epoch). It returns the lease as it stands after the
	// call, whether or not Holder got it.
	LeaderAcquire(ctx context.Context, p *LeaderAcquireParams) (*Leader, error)

	// LeaderRelease gives the lease up if Holder holds it; otherwise it
	// does nothing.
	LeaderRelease(ctx context.Context, p *LeaderReleaseParams) error

	// JobSubscribe returns a channel that receives a value (coalesced:
	// buffered, capacity 1, never blocking the store) when a job may have
	// become ready in one of the queues (empty: any queue): an insert, a
	// retry, a hand-back, a resumed queue, or a scheduled job coming due.
	// A wake-up can be spurious; none is lost while the subscription is
	// open (a backend that cannot push an event, such as a job coming due
	// in another process, delivers it within one second). The returned cancel function
	// ends the subscription and is safe to call more than once.
	JobSubscribe(p *JobSubscribeParams) (<-chan struct{}, func())

	// Close releases the store. In-flight calls finish first; later calls
	// return ErrClosed. Safe to call more than once.
	Close() error
}

// InsertJob is one job to insert. Zero values take the engine's defaults
// before they reach the store; the store stores what it is given.
type InsertJob struct {
	Kind        string
	Args        []byte
	Queue       string
	Priority    int
	RunAt       time.Time // zero: now
	MaxAttempts int
	Timeout     time.Duration
	UniqueKey   string
	UniqueUntil time.Time
	Metadata    map[string]string
	Tags        []string
	// OrderingKey, when not empty, makes the job part of the FIFO line of
	// (Queue, OrderingKey): it starts only after every job inserted before
	// it with the same queue and key has finished (completed, dead or
	// cancelled) or been deleted, whatever their priorities and run times;
	// a job that is retrying or snoozed keeps its place at the head and
	// holds the line. Jobs of different keys (or without one) are not
	// affected. Only a backend implementing store.OrderingStore honours it
	// (see store/topic.go); the engine refuses the option on one that does
	// not.
	OrderingKey string
}

// JobInsertManyParams are the params of Store.JobInsertMany.
type JobInsertManyParams struct {
	Jobs []InsertJob
	Now  time.Time
}

// InsertResult is the outcome of inserting one job.
type InsertResult struct {
	Job       *Job // the inserted job, or the existing one for a duplicate
	Duplicate bool
}

// QueueWeight names a queue and its share of a claim.
type QueueWeight struct {
	Name   string
	Weight int // > 0
}

// JobClaimParams are the params of Store.JobClaim.
//
// Max is shared out across Queues in proportion to Weight (each queue first
// gets up to ceil(Max*Weight/sum) ready jobs, in the given order); what is
// left of Max then goes to the queues in the given order. A worker that
// wants weighted-random order shuffles Queues itself.
type JobClaimParams struct {
	Queues   []QueueWeight
	Max      int
	Worker   string        // lease holder id, for people and for rescue
	LeaseTTL time.Duration // > 0
	Now      time.Time
}

// AckOutcome says what a JobAck does to its job.
type AckOutcome uint8

// The ack outcomes.
const (
	// AckComplete: completed; FinishedAt = Now; Result stored.
	AckComplete AckOutcome = iota + 1
	// AckRetry: retryable at RunAt (the engine's back-off), Error appended.
	AckRetry
	// AckDead: dead; FinishedAt = Now; Error appended.
	AckDead
	// AckCancel: cancelled; FinishedAt = Now; Error appended if set.
	AckCancel
	// AckSnooze: scheduled at RunAt (available if RunAt <= Now) and the
	// attempt is given back (Attempt decremented). Used for Snooze and for
	// graceful hand-back of unfinished jobs at shutdown.
	AckSnooze
)

// JobAck is the outcome of one leased attempt.
type JobAck struct {
	Lease   LeaseRef
	Outcome AckOutcome
	RunAt   time.Time     // AckRetry, AckSnooze
	Error   *AttemptError // AckRetry, AckDead; optional for AckCancel
	Result  []byte        // AckComplete, optional
}

// JobAckManyParams are the params of Store.JobAckMany.
type JobAckManyParams struct {
	Acks []JobAck
	Now  time.Time
}

// JobLeaseExtendManyParams are the params of Store.JobLeaseExtendMany.
type JobLeaseExtendManyParams struct {
	Leases []LeaseRef
	TTL    time.Duration // > 0; the new deadline is Now + TTL
	Now    time.Time
}

// JobLeaseExpiredListParams are the params of Store.JobLeaseExpiredList.
type JobLeaseExpiredListParams struct {
	Now   time.Time
	Limit int // default 1,000
}

// JobPromoteDueParams are the params of Store.JobPromoteDue.
type JobPromoteDueParams struct {
	Now   time.Time
	Limit int // default 10,000
}

// JobGetParams are the params of Store.JobGet.
type JobGetParams struct {
	ID ID
}

// JobListParams are the params of Store.JobList. Empty filters match all.
type JobListParams struct {
	Queue string
	State JobState
	Kind  string
	Tag   string // jobs whose Tags contain Tag
	After ID     // cursor: start after this ID (zero: from the start)
	Limit int    // default 100, capped at 10,000
	Desc  bool   // newest first
}

// JobListResult is a page of JobList.
type JobListResult struct {
	Jobs []*Job
	Next ID // cursor of the next page; zero when this is the last page
}

// JobCancelParams are the params of Store.JobCancel.
type JobCancelParams struct {
	ID     ID
	Reason string // recorded as an AttemptError message when non-empty
	Now    time.Time
}

// JobRetryParams are the params of Store.JobRetry: either IDs, or a filter.
type JobRetryParams struct {
	IDs   []ID
	Queue string // filter (without IDs)
	Kind  string // filter (without IDs)
	Limit int    // without IDs; default 1,000
	Now   time.Time
}

// JobDeleteParams are the params of Store.JobDelete: either IDs, or a
// filter with a State.
type JobDeleteParams struct {
	IDs            []ID
	State          JobState // required without IDs; not running
	Queue          string
	Kind           string
	FinishedBefore time.Time // without IDs: only jobs finished before this
	Limit          int       // without IDs; default 1,000
}

// QueueSettings are the per-queue settings a store persists. The zero value
// of a field means the engine's default.
type QueueSettings struct {
	Paused             bool
	CompletedRetention time.Duration // how long completed jobs are kept
	DeadRetention      time.Duration // how long dead jobs are kept
	CancelledRetention time.Duration // how long cancelled jobs are kept
	MaxLength          int           // backpressure (reserved; 0: unlimited)
}

// Queue is a queue's settings and its current counts.
type Queue struct {
	Name     string
	Settings QueueSettings
	Counts   map[JobState]int64 // every state present, zero included
	// OldestAvailableAt is the RunAt of the oldest ready job (available, or
	// waiting with RunAt <= now); zero when there is none.
	OldestAvailableAt time.Time
	UpdatedAt         time.Time // when the settings last changed; zero if never
}

// QueueListParams are the params of Store.QueueList.
type QueueListParams struct {
	Now time.Time
}

// QueueGetParams are the params of Store.QueueGet.
type QueueGetParams struct {
	Name string
	Now  time.Time
}

// QueueUpdateParams are the params of Store.QueueUpdate.
type QueueUpdateParams struct {
	Name               string
	Paused             *bool
	CompletedRetention *time.Duration
	DeadRetention      *time.Duration
	CancelledRetention *time.Duration
	MaxLength          *int
	Now                time.Time
}

// Leader is the state of a named leader lease.
type Leader struct {
	Name    string
	Holder  string // "" when free
	Epoch   int64  // increases whenever the holder changes
	Expires time.Time
}

// LeaderAcquireParams are the params of Store.LeaderAcquire.
type LeaderAcquireParams struct {
	Name   string
	Holder string
	TTL    time.Duration
	Now    time.Time
}

// LeaderReleaseParams are the params of Store.LeaderRelease.
type LeaderReleaseParams struct {
	Name   string
	Holder string
}

// JobSubscribeParams are the params of Store.JobSubscribe.
type JobSubscribeParams struct {
	Queues []string // empty: every queue
}

// StatsProvider is implemented by stores that can report I/O counters; the
// benchmark and metrics use it when present.
type StatsProvider interface {
	Stats() Stats
}

// Stats are cumulative I/O counters since the store was opened.
type Stats struct {
	Commits int64 // durable write batches applied
	Syncs   int64 // fsyncs of the write-ahead log (group commit shares one)
	Bytes   int64 // bytes written to the write-ahead log
	// SyncTime is the wall time spent inside those fsyncs; zero where the
	// store cannot measure it. SyncTime over elapsed time near 1 means the
	// log's one sync at a time is what bounds durable throughput.
	SyncTime time.Duration
}
