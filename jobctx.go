package troika

import (
	"context"
	"sync"
	"time"
)

// jobCtx is the context a handler runs with. It is cancelled explicitly by
// the worker (timeout sweeper, lost lease, shutdown) instead of through a
// parent context and a timer of its own, so that starting a job costs no
// timer, no goroutine and no registration with a parent. Values come from
// the Run context (without its cancellation). The done channel is made
// only if someone asks for it.
//
// It implements AfterFunc so that contexts derived from it with the context
// package register a callback instead of starting a goroutine each.
type jobCtx struct {
	values   context.Context
	deadline time.Time

	mu     sync.Mutex
	done   chan struct{}
	err    error
	afters map[*afterFunc]struct{}
}

type afterFunc struct{ f func() }

// closedChan is the Done channel of contexts cancelled before anyone asked.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (c *jobCtx) Deadline() (time.Time, bool) { return c.deadline, !c.deadline.IsZero() }

func (c *jobCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		if c.err != nil {
			return closedChan
		}
		c.done = make(chan struct{})
	}
	return c.done
}

func (c *jobCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *jobCtx) Value(key any) any { return c.values.Value(key) }

// AfterFunc arranges for f to run in its own goroutine once c is cancelled
// (at once if it already is); stop prevents that if it has not happened.
func (c *jobCtx) AfterFunc(f func()) (stop func() bool) {
	a := &afterFunc{f: f}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	if c.afters == nil {
		c.afters = make(map[*afterFunc]struct{})
	}
	c.afters[a] = struct{}{}
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if _, ok := c.afters[a]; !ok {
			return false
		}
		delete(c.afters, a)
		return true
	}
}

// cancel cancels c with err (context.Canceled or context.DeadlineExceeded);
// later calls do nothing.
func (c *jobCtx) cancel(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	if c.done != nil {
		close(c.done)
	}
	afters := c.afters
	c.afters = nil
	c.mu.Unlock()
	for a := range afters {
		go a.f()
	}
}

var _ context.Context = (*jobCtx)(nil)
