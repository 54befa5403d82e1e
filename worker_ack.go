package troika

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/troikahq/troika/store"
)

// acker collects the acks of a session and flushes them with one
// JobAckMany per batch on its own goroutine: as soon as a flush finishes it
// starts the next with whatever accumulated meanwhile (natural batching
// under load, immediate when idle).
type acker struct {
	s *session

	mu      sync.Mutex
	pending []pendingAck
	spare   []pendingAck  // the other buffer, swapped with pending
	busy    bool          // a flush is in progress
	flushed chan struct{} // closed and replaced after every flush
	signal  chan struct{}

	// Used by the flushing goroutine only.
	acks  []store.JobAck
	tasks []*task
}

type pendingAck struct {
	t   *task
	ack store.JobAck
}

func newAcker(s *session) *acker {
	return &acker{s: s, signal: make(chan struct{}, 1), flushed: make(chan struct{})}
}

// add queues the ack of t; it never blocks on the store.
func (a *acker) add(t *task, ack store.JobAck) {
	a.mu.Lock()
	a.pending = append(a.pending, pendingAck{t, ack})
	a.mu.Unlock()
	select {
	case a.signal <- struct{}{}:
	default:
	}
}

// loop flushes until stop is closed, then flushes what is left.
func (a *acker) loop(stop <-chan struct{}) {
	for {
		select {
		case <-a.signal:
			a.flush()
		case <-stop:
			for a.flush() {
			}
			return
		}
	}
}

// wait blocks until every ack queued before the call has been flushed (or
// dropped after a failure). The loop must be running.
func (a *acker) wait() {
	for {
		a.mu.Lock()
		idle, ch := len(a.pending) == 0 && !a.busy, a.flushed
		a.mu.Unlock()
		if idle {
			return
		}
		<-ch
	}
}

// flush writes the pending acks; it reports whether there were any.
func (a *acker) flush() bool {
	a.mu.Lock()
	batch := a.pending
	a.pending, a.spare = a.spare[:0], nil
	a.busy = len(batch) > 0
	a.mu.Unlock()
	if len(batch) == 0 {
		a.finish(batch)
		return false
	}
	a.acks, a.tasks = a.acks[:0], a.tasks[:0]
	for _, p := range batch {
		a.acks = append(a.acks, p.ack)
		a.tasks = append(a.tasks, p.t)
	}
	errs, err := a.write()
	a.s.reg.remove(a.tasks)
	clear(a.tasks)
	if err != nil {
		a.s.w.log.Error("troika: acks lost: the attempts will be rescued when their leases expire",
			"count", len(batch), "error", err)
	}
	for i, p := range batch {
		if i < len(errs) && errs[i] != nil {
			a.s.w.log.Warn("troika: ack refused (the job was rescued, cancelled or deleted meanwhile)",
				append(p.t.attrs(), "error", errs[i])...)
		}
	}
	clear(batch)
	a.finish(batch)
	return true
}

// finish returns batch's buffer for reuse and tells waiters a flush ended.
func (a *acker) finish(batch []pendingAck) {
	a.mu.Lock()
	a.spare, a.busy = batch[:0], false
	close(a.flushed)
	a.flushed = make(chan struct{})
	a.mu.Unlock()
}

// write calls JobAckMany, retrying failures of the whole call for a while
// unless the store is closed or failed (which ends the session).
func (a *acker) write() ([]error, error) {
	ctx := context.WithoutCancel(a.s.values)
	backoff := 10 * time.Millisecond
	for try := 0; ; try++ {
		errs, err := a.s.w.c.st.JobAckMany(ctx, &store.JobAckManyParams{Acks: a.acks, Now: a.s.w.c.now()})
		if err == nil {
			return errs, nil
		}
		if fatal(err) || try == 5 {
			a.s.fail(err)
			return nil, err
		}
		time.Sleep(backoff) // a retry of a failed store call, not synchronisation
		backoff *= 2
	}
}

// fatal reports whether err means the store will not serve again.
func fatal(err error) bool {
	return errors.Is(err, store.ErrClosed) || errors.Is(err, store.ErrStoreFailed)
}
