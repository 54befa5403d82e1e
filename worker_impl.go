package troika

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/troikahq/troika/internal/engine"
	"github.com/troikahq/troika/store"
)

// Worker defaults.
const (
	defaultConcurrency   = 100
	defaultLeaseTTL      = 30 * time.Second
	defaultJobTimeout    = 30 * time.Minute
	defaultShutdownGrace = 10 * time.Second
	// idlePoll is how long an idle claim loop sleeps without a wake-up
	// before it claims anyway (the slow fallback).
	idlePoll = time.Second
)

// workerImpl is a Worker's state. cfg, queues and log are read-only after
// newWorker; handlers is frozen (read-only) once Run or WorkOne starts.
type workerImpl struct {
	c      *clientImpl
	cfg    WorkerConfig // defaults applied
	queues []store.QueueWeight
	names  []string // queue names, for the subscription
	log    *slog.Logger
	// idlePoll is how long an idle claim loop waits without a wake-up
	// before it claims anyway (tests lengthen it to prove wake-ups).
	idlePoll time.Duration

	mu       sync.Mutex
	handlers map[string]*handlerEntry
	frozen   bool // handlers may no longer change
	busy     bool // a Run or WorkOne is in progress
	ran      bool // Run was called
}

// handlerEntry is one registered handler.
type handlerEntry struct {
	kind    string
	run     func(ctx context.Context, row *store.Job) error
	retry   RetryPolicy // nil: the worker's
	timeout time.Duration
}

func newWorker(c *Client, cfg WorkerConfig) *Worker {
	if c == nil || c.impl == nil {
		panic("troika.NewWorker: nil Client")
	}
	cfg = workerDefaults(cfg, c.impl)
	w := &workerImpl{c: c.impl, cfg: cfg, log: cfg.Logger, idlePoll: idlePoll, handlers: map[string]*handlerEntry{}}
	for _, name := range slices.Sorted(maps.Keys(cfg.Queues)) {
		weight := cfg.Queues[name]
		if r := engine.CheckQueueName(name); r != "" {
			panic(fmt.Sprintf("troika.NewWorker: queue %q: %s", name, r))
		}
		if weight <= 0 {
			panic(fmt.Sprintf("troika.NewWorker: queue %q: weight %d must be positive", name, weight))
		}
		w.queues = append(w.queues, store.QueueWeight{Name: name, Weight: weight})
		w.names = append(w.names, name)
	}
	return &Worker{impl: w}
}

// workerDefaults checks cfg (panicking on negative fields) and applies the
// defaults.
func workerDefaults(cfg WorkerConfig, c *clientImpl) WorkerConfig {
	for name, v := range map[string]int64{
		"Concurrency": int64(cfg.Concurrency), "LeaseTTL": int64(cfg.LeaseTTL), "JobTimeout": int64(cfg.JobTimeout),
		"ShutdownGrace": int64(cfg.ShutdownGrace), "ClaimBatch": int64(cfg.ClaimBatch),
	} {
		if v < 0 {
			panic(fmt.Sprintf("troika.NewWorker: %s is negative (%d)", name, v))
		}
	}
	if len(cfg.Queues) == 0 {
		cfg.Queues = map[string]int{DefaultQueue: 1}
	}
	cfg.Concurrency = cmpOr(cfg.Concurrency, defaultConcurrency)
	cfg.LeaseTTL = cmpOr(cfg.LeaseTTL, defaultLeaseTTL)
	cfg.JobTimeout = cmpOr(cfg.JobTimeout, defaultJobTimeout)
	cfg.ShutdownGrace = cmpOr(cfg.ShutdownGrace, defaultShutdownGrace)
	cfg.ClaimBatch = min(cmpOr(cfg.ClaimBatch, cfg.Concurrency), cfg.Concurrency)
	if cfg.ID == "" {
		cfg.ID = processID()
	}
	if cfg.RetryPolicy == nil {
		cfg.RetryPolicy = DefaultRetryPolicy
	}
	if cfg.Logger == nil {
		cfg.Logger = c.log
	}
	return cfg
}

// cmpOr returns v, or def when v is zero.
func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func handle[T JobArgs](w *Worker, h func(ctx context.Context, job *Job[T]) error, opts []HandlerOption) {
	if w == nil || w.impl == nil || h == nil {
		panic("troika.Handle: nil Worker or handler")
	}
	var zero T
	kind := zero.Kind()
	if r := engine.CheckKind(kind); r != "" {
		panic(fmt.Sprintf("troika.Handle: %T has an invalid kind: %s", zero, r))
	}
	var o handlerOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.timeout < 0 {
		panic(fmt.Sprintf("troika.Handle: kind %q: negative timeout %s", kind, o.timeout))
	}
	w.impl.register(&handlerEntry{kind: kind, retry: o.retry, timeout: o.timeout,
		run: func(ctx context.Context, row *store.Job) error {
			j := &Job[T]{JobRow: row} // decoded in place: one allocation, no copy of T
			if err := json.Unmarshal(row.Args, &j.Args); err != nil {
				return Permanent(fmt.Errorf("cannot decode the args of a %s job into %T: %w", kind, j.Args, err))
			}
			return h(ctx, j)
		}})
}

func (w *workerImpl) register(h *handlerEntry) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.frozen {
		panic(fmt.Sprintf("troika.Handle: kind %q registered after the worker started", h.kind))
	}
	if _, dup := w.handlers[h.kind]; dup {
		panic(fmt.Sprintf("troika.Handle: kind %q is already registered", h.kind))
	}
	w.handlers[h.kind] = h
}

// begin marks a Run (run = true) or WorkOne as in progress and freezes the
// handlers.
func (w *workerImpl) begin(run bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case run && w.ran:
		return errors.New("troika: Worker.Run called twice (a Worker runs once)")
	case w.busy:
		return errors.New("troika: the Worker is already running (Run and WorkOne are exclusive)")
	case len(w.handlers) == 0:
		return errors.New("troika: the Worker has no handlers (register them with Handle before Run)")
	}
	w.frozen, w.busy = true, true
	w.ran = w.ran || run
	return nil
}

func (w *workerImpl) end() {
	w.mu.Lock()
	w.busy = false
	w.mu.Unlock()
}

// policy returns the back-off policy for h (nil: unknown kind).
func (w *workerImpl) policy(h *handlerEntry) RetryPolicy {
	if h != nil && h.retry != nil {
		return h.retry
	}
	return w.cfg.RetryPolicy
}

// timeoutOf returns the attempt timeout of job j run by h.
func (w *workerImpl) timeoutOf(j *store.Job, h *handlerEntry) time.Duration {
	switch {
	case j.Timeout > 0:
		return j.Timeout
	case h != nil && h.timeout > 0:
		return h.timeout
	}
	return w.cfg.JobTimeout
}

func defaultRetryPolicy(attempt int, _ error) time.Duration { return engine.DefaultBackoff(attempt) }
