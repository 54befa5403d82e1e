package troika

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/troikahq/troika/internal/engine"
	"github.com/troikahq/troika/store"
)

// task is one claimed job in this worker, from claim until its ack is
// flushed (or dropped).
type task struct {
	job     *store.Job // as claimed; handed to the handler
	lease   store.LeaseRef
	h       *handlerEntry // nil: no handler for the kind
	timeout time.Duration
	ctx     jobCtx

	// state decides, once, who settles the attempt: the handler's return,
	// the timeout sweeper, a lost lease or the shutdown hand-back. Only the
	// winner of the compare-and-set from taskRunning queues an ack.
	state atomic.Uint32

	regIdx  int // index in registry.tasks; -1 when not registered
	heapIdx int // index in registry.deadlines; -1 when not in the heap
}

const (
	taskRunning uint32 = iota
	taskDone
	taskTimedOut
	taskLost
	taskHandedBack
)

func (w *workerImpl) newTask(j *store.Job, values context.Context, start time.Time) *task {
	h := w.handlers[j.Kind]
	t := &task{job: j, lease: j.Lease(), h: h, regIdx: -1, heapIdx: -1}
	t.timeout = w.timeoutOf(j, h)
	t.ctx.values = values
	t.ctx.deadline = start.Add(t.timeout)
	return t
}

// settle moves t from running to state; it reports whether this caller won.
func (t *task) settle(state uint32) bool { return t.state.CompareAndSwap(taskRunning, state) }

// attrs are the log attributes of t.
func (t *task) attrs() []any {
	return []any{"job_id", t.job.ID.String(), "kind", t.job.Kind, "queue", t.job.Queue, "attempt", t.lease.Attempt}
}

// errNoHandler is what an attempt of a kind without a handler fails with.
type errNoHandler struct{ kind, worker string }

func (e errNoHandler) Error() string {
	return fmt.Sprintf("no handler for kind %q on worker %s", e.kind, e.worker)
}

// exec runs t's handler on the calling goroutine and, unless the attempt
// was settled otherwise meanwhile, queues its outcome on s's acker.
func (s *session) exec(t *task) {
	err, stack := s.call(t)
	if !t.settle(taskDone) {
		return // timed out, lost or handed back: that path acked (or not)
	}
	s.ack.add(t, s.w.outcome(t, err, stack, s.w.c.now()))
}

// call runs the handler, recovering a panic into an error and its stack.
func (s *session) call(t *task) (err error, stack string) {
	defer func() {
		if r := recover(); r != nil {
			err, stack = fmt.Errorf("panic: %v", r), string(debug.Stack())
		}
	}()
	if t.h == nil {
		return errNoHandler{kind: t.job.Kind, worker: s.w.cfg.ID}, ""
	}
	return t.h.run(&t.ctx, t.job), ""
}

// outcome turns a handler's result into the ack of its attempt, and logs it.
func (w *workerImpl) outcome(t *task, err error, stack string, now time.Time) store.JobAck {
	kind, snooze := classify(err)
	var a store.JobAck
	switch kind {
	case outcomeComplete:
		a = store.JobAck{Lease: t.lease, Outcome: store.AckComplete}
	case outcomeSnooze:
		a = store.JobAck{Lease: t.lease, Outcome: store.AckSnooze, RunAt: now.Add(snooze)}
	case outcomeCancel:
		a = store.JobAck{Lease: t.lease, Outcome: store.AckCancel}
		var c *cancelError
		if errors.As(err, &c) && c.err != nil {
			a.Error = &store.AttemptError{At: now, Attempt: t.lease.Attempt, Message: c.err.Error()}
		}
	case outcomePermanent:
		a = engine.DeadAck(t.job, now, store.AttemptError{Message: err.Error(), Stack: stack})
		a.Lease = t.lease
	default:
		a = w.failAck(t, now, store.AttemptError{Message: err.Error(), Stack: stack}, err)
	}
	w.logOutcome(t, a, err)
	return a
}

// failAck is the ack of a failed attempt: retry with the kind's back-off, or
// dead when attempts are exhausted.
func (w *workerImpl) failAck(t *task, now time.Time, e store.AttemptError, err error) store.JobAck {
	a := engine.FailAck(t.job, now, e, w.policy(t.h)(t.lease.Attempt, err))
	a.Lease = t.lease
	return a
}

// timeoutAck is the ack of an attempt that ran out of time.
func (w *workerImpl) timeoutAck(t *task, now time.Time) store.JobAck {
	err := fmt.Errorf("timeout after %s", t.timeout)
	a := w.failAck(t, now, store.AttemptError{Message: err.Error()}, err)
	w.logOutcome(t, a, err)
	return a
}

func (w *workerImpl) logOutcome(t *task, a store.JobAck, err error) {
	ctx := context.Background()
	switch a.Outcome {
	case store.AckRetry:
		if w.log.Enabled(ctx, slog.LevelWarn) {
			w.log.Warn("troika: job attempt failed; will retry", append(t.attrs(), "error", err, "retry_at", a.RunAt)...)
		}
	case store.AckDead:
		if w.log.Enabled(ctx, slog.LevelError) {
			w.log.Error("troika: job is dead", append(t.attrs(), "error", err)...)
		}
	case store.AckCancel:
		if w.log.Enabled(ctx, slog.LevelInfo) {
			w.log.Info("troika: job cancelled by its handler", append(t.attrs(), "error", err)...)
		}
	default:
		if w.log.Enabled(ctx, slog.LevelDebug) {
			w.log.Debug("troika: job attempt finished", append(t.attrs(), "outcome", a.Outcome)...)
		}
	}
}
