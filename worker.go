package troika

import (
	"context"
	"log/slog"
	"time"
)

// WorkerConfig configures a Worker. The zero value of every field means its
// default.
type WorkerConfig struct {
	// Queues maps queue names to weights: when several queues have work, a
	// claim takes jobs from each in proportion to its weight. Default
	// {"default": 1}.
	Queues map[string]int
	// Concurrency is the most jobs this worker runs at once; default 100.
	// With Concurrency 1 jobs start one at a time in the store's claim order
	// (priority, then run time, then FIFO); with more, claims overlap and
	// jobs of neighbouring batches may start in either order.
	Concurrency int
	// LeaseTTL is how long a claim lasts without a heartbeat: how fast a
	// dead worker is detected. The worker heartbeats every LeaseTTL/3.
	// Default 30s. It is independent of how long a job may run (Timeout).
	LeaseTTL time.Duration
	// JobTimeout bounds one attempt of a job that has no Timeout of its own;
	// default 30 minutes. A timed-out attempt counts as failed.
	JobTimeout time.Duration
	// ShutdownGrace is how long Run waits, once its context is done, for
	// in-flight jobs to finish before cancelling them and handing them back;
	// default 10s.
	ShutdownGrace time.Duration
	// ClaimBatch is the most jobs one claim takes; default Concurrency.
	// While its queues have a backlog (the last claim came back full), a
	// worker also holds up to 2 x ClaimBatch jobs leased ahead of its free
	// slots, so the next claims overlap the running batch. Those jobs show
	// as running, start as slots free, and go back to their queue (attempt
	// not spent) if they wait longer than min(200ms, LeaseTTL/4) or the
	// worker stops; after such a hand-back the worker does not claim ahead
	// for 5s. Set ClaimBatch low for long jobs that other workers should
	// pick up instead.
	ClaimBatch int
	// ID names this worker in leases; default hostname-pid-random.
	ID string
	// RetryPolicy computes back-off for failed attempts of kinds that have
	// no policy of their own; default DefaultRetryPolicy.
	RetryPolicy RetryPolicy
	// Logger; default the Client's.
	Logger *slog.Logger
}

// RetryPolicy returns how long to wait before the next attempt, given the
// attempt that just failed (1 for the first) and its error.
type RetryPolicy func(attempt int, err error) time.Duration

// DefaultRetryPolicy backs off attempt^4 seconds plus 1s, with ±10% jitter,
// capped at 7 days (2s, 17s, 82s, 4m17s, … 4.5 days after attempt 25; the
// 24 waits of a job with the default 25 attempts add up to about 20 days).
// It ignores err and is safe for concurrent use.
func DefaultRetryPolicy(attempt int, err error) time.Duration {
	return defaultRetryPolicy(attempt, err)
}

// Worker claims and runs jobs of its queues with the registered handlers.
// Register handlers with Handle before Run.
type Worker struct {
	impl *workerImpl
}

// NewWorker returns a Worker over c. It panics if cfg has a negative or
// invalid field (a programming error, found at start-up); queue names are
// validated as for Enqueue.
func NewWorker(c *Client, cfg WorkerConfig) *Worker { return newWorker(c, cfg) }

// HandlerOption configures one handler.
type HandlerOption func(*handlerOptions)

type handlerOptions struct {
	retry   RetryPolicy
	timeout time.Duration
}

// WithRetryPolicy sets the back-off for this kind.
func WithRetryPolicy(p RetryPolicy) HandlerOption { return func(o *handlerOptions) { o.retry = p } }

// WithTimeout sets the default attempt timeout for this kind (a job's own
// Timeout still wins).
func WithTimeout(d time.Duration) HandlerOption { return func(o *handlerOptions) { o.timeout = d } }

// Handle registers h as the handler of jobs of kind T{}.Kind() on w. A
// handler returns nil (completed), an error (retried with back-off until
// attempts run out, then dead), Permanent(err) (dead now), Snooze(d) (run
// again after d, attempt not spent) or Cancel(err) (cancelled). A panic is
// recovered and recorded with its stack as a failed attempt. The context is
// cancelled when the attempt times out, when the lease is lost, and at the
// end of the shutdown grace period. Handle panics if the kind is already
// registered or invalid, or if called after Run started.
func Handle[T JobArgs](w *Worker, h func(ctx context.Context, job *Job[T]) error, opts ...HandlerOption) {
	handle(w, h, opts)
}

// WorkOne claims at most one ready job from the worker's queues, runs it on
// the calling goroutine exactly as Run would (timeout, panic recovery,
// heartbeats, outcome), applies the outcome and returns the job as stored
// afterwards. It returns an error matching ErrNotFound when no job is ready.
// If the claimed job's kind has no handler on w, the job is handed back at
// once (attempt not spent, available again) and WorkOne returns an error
// saying so. If ctx is done while the handler runs, its context is
// cancelled and the job is handed back as at shutdown. WorkOne is for tests
// (see package troikatest), scripts and one-shot processes; it may be
// called many times, but not while Run runs. The first call freezes the
// handlers as Run does.
func (w *Worker) WorkOne(ctx context.Context) (*JobRow, error) { return w.impl.workOne(ctx) }

// Run claims and runs jobs until ctx is done, then stops claiming, waits up
// to ShutdownGrace for in-flight jobs, cancels the rest and hands them back
// at once (not after the lease TTL), flushes acks and returns nil. It
// returns an error if the worker cannot start (no handlers, already
// running) or the store fails. A Worker runs once.
func (w *Worker) Run(ctx context.Context) error { return w.impl.run(ctx) }
