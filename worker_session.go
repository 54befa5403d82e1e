package troika

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/troikahq/troika/store"
)

// session is the machinery of one Run or WorkOne: the registry of leased
// tasks, the acker, the heartbeat and the timeout sweeper, each on one
// goroutine. Lifecycle: startSession starts the goroutines; stop (once,
// after every handler has returned) stops them, the acker last with a
// final flush, and waits for them.
type session struct {
	w      *workerImpl
	values context.Context // handler context values (no cancellation)
	reg    *registry
	ack    *acker

	stopCh chan struct{}
	wg     sync.WaitGroup

	errOnce sync.Once
	err     error         // the first fatal store error, set before failCh closes
	failCh  chan struct{} // closed on the first fatal store error
}

func (w *workerImpl) startSession(values context.Context) *session {
	s := &session{w: w, values: values, reg: newRegistry(), stopCh: make(chan struct{}), failCh: make(chan struct{})}
	s.ack = newAcker(s)
	s.wg.Add(3)
	go func() { defer s.wg.Done(); s.ack.loop(s.stopCh) }()
	go func() { defer s.wg.Done(); s.heartbeatLoop() }()
	go func() { defer s.wg.Done(); s.sweepLoop() }()
	return s
}

// stop stops the session's goroutines after a final ack flush and returns
// the first fatal store error seen.
func (s *session) stop() error {
	close(s.stopCh)
	s.wg.Wait()
	s.reg.stop()
	return s.fatalErr()
}

// fail records a fatal store error (the first one wins) and closes failCh.
func (s *session) fail(err error) {
	s.errOnce.Do(func() {
		s.err = err
		close(s.failCh)
	})
}

// fatalErr returns the fatal store error, or nil.
func (s *session) fatalErr() error {
	select {
	case <-s.failCh:
		return s.err
	default:
		return nil
	}
}

// heartbeatLoop extends every registered lease every LeaseTTL/3 with one
// JobLeaseExtendMany; a lease that is no longer current ends its attempt.
func (s *session) heartbeatLoop() {
	tick := time.NewTicker(max(s.w.cfg.LeaseTTL/3, time.Millisecond))
	defer tick.Stop()
	var ts []*task
	var refs []store.LeaseRef
	for {
		select {
		case <-s.stopCh:
			return
		case <-tick.C:
		}
		ts = s.reg.snapshot(ts[:0])
		if len(ts) == 0 {
			continue
		}
		refs = refs[:0]
		for _, t := range ts {
			refs = append(refs, t.lease)
		}
		errs, err := s.w.c.st.JobLeaseExtendMany(context.WithoutCancel(s.values), &store.JobLeaseExtendManyParams{
			Leases: refs, TTL: s.w.cfg.LeaseTTL, Now: s.w.c.now()})
		if err != nil {
			if fatal(err) {
				s.fail(err)
			}
			s.w.log.Warn("troika: heartbeat failed", "leases", len(refs), "error", err)
			continue
		}
		s.leasesLost(ts, errs)
		clear(ts)
	}
}

// leasesLost ends the attempts whose heartbeat came back ErrLeaseLost or
// ErrNotFound: the job was rescued, cancelled or deleted. Their handlers'
// contexts are cancelled and their acks will not be sent.
func (s *session) leasesLost(ts []*task, errs []error) {
	var lost []*task
	for i, t := range ts {
		if i >= len(errs) || errs[i] == nil {
			continue
		}
		if !errors.Is(errs[i], store.ErrLeaseLost) && !errors.Is(errs[i], store.ErrNotFound) {
			s.w.log.Warn("troika: heartbeat refused", append(t.attrs(), "error", errs[i])...)
			continue
		}
		if t.settle(taskLost) {
			s.w.log.Warn("troika: lease lost; cancelling the handler (the job was rescued or cancelled)", t.attrs()...)
			t.ctx.cancel(context.Canceled)
			lost = append(lost, t)
		}
	}
	s.reg.remove(lost)
}

// sweepLoop fails the attempts whose timeout passed: it acks them at once
// (retry or dead) and cancels their handlers' contexts. A handler that
// ignores its context keeps its slot until it returns.
func (s *session) sweepLoop() {
	for {
		select {
		case <-s.stopCh:
			return
		case <-s.reg.timer.C:
		}
		for _, t := range s.reg.expired(time.Now()) {
			if t.settle(taskTimedOut) {
				s.ack.add(t, s.w.timeoutAck(t, s.w.c.now()))
				t.ctx.cancel(context.DeadlineExceeded)
			}
		}
	}
}

// handBack ends every attempt still running: its handler's context is
// cancelled and the job is handed back (available at once, attempt not
// spent). It returns how many it handed back.
func (s *session) handBack() int {
	now := s.w.c.now()
	n := 0
	for _, t := range s.reg.snapshot(nil) {
		if t.settle(taskHandedBack) {
			s.ack.add(t, handBackAck(t, now))
			t.ctx.cancel(context.Canceled)
			s.w.log.Info("troika: handed back an unfinished job at shutdown", t.attrs()...)
			n++
		}
	}
	return n
}

// handBackAck is the ack that ends t's attempt without spending it: the job
// is available again at now.
func handBackAck(t *task, now time.Time) store.JobAck {
	return store.JobAck{Lease: t.lease, Outcome: store.AckSnooze, RunAt: now}
}
