package troika

import (
	"context"
	"log/slog"
	"time"

	"github.com/troikahq/troika/store"
)

// Config configures a Client. The zero value of every field means its
// default.
type Config struct {
	// Dir is the data directory of the embedded store (Open only). It is
	// created if missing. One process owns a directory at a time.
	Dir string
	// Logger receives the client's and its services' logs; default
	// slog.Default().
	Logger *slog.Logger
	// MaxPayloadBytes bounds the encoded args of one job; default 1 MiB.
	MaxPayloadBytes int
	// CompletedRetention is how long completed jobs are kept (default 24h),
	// DeadRetention dead jobs (default 7 days), CancelledRetention
	// cancelled jobs (default 7 days). A queue's own settings override them.
	CompletedRetention time.Duration
	DeadRetention      time.Duration
	CancelledRetention time.Duration
	// SweepInterval is how often maintenance looks for expired leases, due
	// jobs and jobs past retention; default 1s. A dead worker's jobs come
	// back within their lease TTL plus this interval.
	SweepInterval time.Duration
	// RescueRetryPolicy is the back-off applied to an attempt whose lease
	// expired (its worker crashed, was killed or stalled past its lease):
	// the attempt counts, and the job runs again after this delay, or is
	// dead when its attempts are exhausted. It is called with the attempt
	// that was lost and ErrLeaseExpired. Default DefaultRetryPolicy.
	RescueRetryPolicy RetryPolicy
	// DisableMaintenance turns the maintenance services off (lease rescue,
	// promotion, retention). For tests and for clients that share a store
	// with another process that runs them.
	DisableMaintenance bool
	// Now is the clock; default time.Now. Tests inject one.
	Now func() time.Time
}

// Client enqueues and manages jobs. It is safe for concurrent use. A Client
// from Open owns its store and runs the maintenance services until Close.
type Client struct {
	// implementation: see client_impl.go
	impl *clientImpl
}

// Open opens (creating if needed) the embedded store in cfg.Dir and returns
// a Client over it, with maintenance running. It fails with *LockedError if
// another process owns the directory and with ErrCorrupt if the data fails
// its checksums. Close the Client to release the directory.
func Open(ctx context.Context, cfg Config) (*Client, error) { return openEmbedded(ctx, cfg) }

// OpenStore returns a Client over an already open store (any backend). The
// Client takes ownership of st: Close closes it. cfg.Dir is ignored.
func OpenStore(ctx context.Context, st store.Store, cfg Config) (*Client, error) {
	return openStore(ctx, st, cfg)
}

// Enqueue validates and durably enqueues one job. On success the job is
// stored (fsynced or committed) before Enqueue returns. Invalid input gives
// an *InvalidArgumentError and enqueues nothing.
func (c *Client) Enqueue(ctx context.Context, args JobArgs, opts ...EnqueueOption) (*EnqueueResult, error) {
	return c.impl.enqueue(ctx, args, opts)
}

// EnqueueMany enqueues jobs atomically: all are stored or none. Results are
// in the order of items. An invalid item fails the whole call with an
// *InvalidArgumentError naming it (e.g. field "jobs[3].queue").
func (c *Client) EnqueueMany(ctx context.Context, items ...EnqueueItem) ([]EnqueueResult, error) {
	return c.impl.enqueueMany(ctx, items)
}

// GetJob returns a job, or ErrNotFound.
func (c *Client) GetJob(ctx context.Context, id JobID) (*JobRow, error) {
	return c.impl.getJob(ctx, id)
}

// ListParams filter and page ListJobs. Empty filters match everything.
type ListParams struct {
	Queue  string
	State  JobState
	Kind   string
	Tag    string
	Limit  int   // default 100, at most 10,000
	Cursor JobID // JobPage.Next of the previous page; zero for the first
	Desc   bool  // newest first
}

// JobPage is one page of ListJobs.
type JobPage struct {
	Jobs []*JobRow
	Next JobID // cursor of the next page; zero when this is the last
}

// ListJobs returns a page of jobs in ID (creation) order.
func (c *Client) ListJobs(ctx context.Context, p ListParams) (*JobPage, error) {
	return c.impl.listJobs(ctx, p)
}

// CancelJob cancels a job that is not finished. A running job's lease is
// revoked: its handler's context is cancelled at the worker's next
// heartbeat and its result is discarded. A finished job gives *StateError.
func (c *Client) CancelJob(ctx context.Context, id JobID) (*JobRow, error) {
	return c.impl.cancelJob(ctx, id)
}

// RetryJob makes a dead job available again with a fresh attempt budget
// (its errors are kept). A job that is not dead gives *StateError.
func (c *Client) RetryJob(ctx context.Context, id JobID) (*JobRow, error) {
	return c.impl.retryJob(ctx, id)
}

// DeadFilter selects dead jobs for bulk replay or purge. Empty fields match
// everything.
type DeadFilter struct {
	Queue string
	Kind  string
	Limit int // at most this many; 0: all
}

// RetryDead makes dead jobs matching f available again (replay of the
// dead-letter queue) and returns how many.
func (c *Client) RetryDead(ctx context.Context, f DeadFilter) (int, error) {
	return c.impl.retryDead(ctx, f)
}

// DeleteJob deletes a job that is not running (a running job gives
// *StateError; cancel it first).
func (c *Client) DeleteJob(ctx context.Context, id JobID) error { return c.impl.deleteJob(ctx, id) }

// PurgeDead deletes dead jobs matching f and returns how many.
func (c *Client) PurgeDead(ctx context.Context, f DeadFilter) (int, error) {
	return c.impl.purgeDead(ctx, f)
}

// QueueInfo is a queue's settings and statistics.
type QueueInfo struct {
	Name               string
	Paused             bool
	Counts             map[JobState]int64 // every state, zero included
	OldestAvailableAge time.Duration      // age of the oldest ready job; 0 when none
	CompletedRetention time.Duration      // effective (queue setting or client default)
	DeadRetention      time.Duration
	CancelledRetention time.Duration
}

// ListQueues returns every queue that has jobs or settings, by name.
func (c *Client) ListQueues(ctx context.Context) ([]*QueueInfo, error) { return c.impl.listQueues(ctx) }

// QueueStats returns one queue (a queue with no jobs has zero counts).
func (c *Client) QueueStats(ctx context.Context, name string) (*QueueInfo, error) {
	return c.impl.queueStats(ctx, name)
}

// PauseQueue stops workers from claiming jobs of the queue; enqueues still
// succeed. Jobs already running finish.
func (c *Client) PauseQueue(ctx context.Context, name string) error {
	return c.impl.pauseQueue(ctx, name, true)
}

// ResumeQueue undoes PauseQueue; idle workers are woken at once.
func (c *Client) ResumeQueue(ctx context.Context, name string) error {
	return c.impl.pauseQueue(ctx, name, false)
}

// QueueUpdate changes queue settings; nil fields are left as they are.
type QueueUpdate struct {
	Paused             *bool
	CompletedRetention *time.Duration
	DeadRetention      *time.Duration
	CancelledRetention *time.Duration
}

// UpdateQueue changes a queue's settings and returns the queue.
func (c *Client) UpdateQueue(ctx context.Context, name string, u QueueUpdate) (*QueueInfo, error) {
	return c.impl.updateQueue(ctx, name, u)
}

// Stats are the Client's cumulative counters since it was opened.
type Stats struct {
	RetentionDeleted int64 // finished jobs deleted by retention
	LeasesRescued    int64 // expired leases returned by the rescuer
	Store            store.Stats
}

// Stats returns the Client's counters.
func (c *Client) Stats() Stats { return c.impl.stats() }

// Close stops the maintenance services and closes the store. Workers using
// the Client must be stopped first. Safe to call more than once.
func (c *Client) Close() error { return c.impl.close() }
