package troika

import (
	"context"
	"fmt"
	"time"

	"github.com/troikahq/troika/store"
)

func (w *workerImpl) workOne(ctx context.Context) (*JobRow, error) {
	if err := w.begin(false); err != nil {
		return nil, err
	}
	defer w.end()
	order := make([]store.QueueWeight, len(w.queues))
	jobs, err := w.c.st.JobClaim(context.WithoutCancel(ctx), &store.JobClaimParams{
		Queues: weightedOrder(order, w.queues), Max: 1, Worker: w.cfg.ID, LeaseTTL: w.cfg.LeaseTTL, Now: w.c.now()})
	if err != nil {
		return nil, err
	}
	if len(jobs) == 0 {
		return nil, fmt.Errorf("troika: no job ready in queues %v: %w", w.names, ErrNotFound)
	}
	s := w.startSession(context.WithoutCancel(ctx))
	t := w.newTask(jobs[0], s.values, time.Now())
	s.reg.add([]*task{t})
	if t.h == nil {
		s.handBack()
		if err := w.stopSession(s); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("troika: the next ready job %s in queue %q is of kind %q, which has no handler on this worker; it was handed back",
			t.job.ID, t.job.Queue, t.job.Kind)
	}
	cancelled := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { defer close(cancelled); s.handBack() })
	s.exec(t)
	if !stop() {
		<-cancelled // the hand-back ran (or is running): let it finish
	}
	if err := w.stopSession(s); err != nil {
		return nil, err
	}
	return w.c.st.JobGet(context.WithoutCancel(ctx), &store.JobGetParams{ID: t.job.ID})
}

// stopSession flushes the session's acks and stops it.
func (w *workerImpl) stopSession(s *session) error {
	s.ack.wait()
	return s.stop()
}
