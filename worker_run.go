package troika

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/troikahq/troika/store"
)

// pool runs handlers: Concurrency goroutines started once per Run, fed by
// the claim loop through work. inflight counts tasks handed to the pool
// whose handler has not returned; freed is signalled (coalesced) whenever
// one returns.
type pool struct {
	work     chan *task
	inflight atomic.Int64
	freed    chan struct{}
	wg       sync.WaitGroup
}

func startPool(s *session, n int) *pool {
	p := &pool{work: make(chan *task, n), freed: make(chan struct{}, 1)}
	p.wg.Add(n)
	for range n {
		go func() {
			defer p.wg.Done()
			for t := range p.work {
				s.exec(t)
				p.release()
			}
		}()
	}
	return p
}

func (p *pool) release() {
	p.inflight.Add(-1)
	select {
	case p.freed <- struct{}{}:
	default:
	}
}

func (w *workerImpl) run(ctx context.Context) error {
	if err := w.begin(true); err != nil {
		return err
	}
	defer w.end()
	wake, unsubscribe := w.c.st.JobSubscribe(&store.JobSubscribeParams{Queues: w.names})
	defer unsubscribe()
	s := w.startSession(context.WithoutCancel(ctx))
	p := startPool(s, w.cfg.Concurrency)
	w.log.Info("troika: worker started", "worker", w.cfg.ID, "queues", w.names, "concurrency", w.cfg.Concurrency)
	claimErr := w.claimLoop(ctx, s, p, wake)
	w.drain(s, p)
	err := s.stop()
	w.log.Info("troika: worker stopped", "worker", w.cfg.ID, "error", err)
	if claimErr != nil {
		return claimErr
	}
	return err
}

// start registers claimed jobs and hands them to the pool.
func (w *workerImpl) start(s *session, p *pool, jobs []*store.Job, ts []*task) []*task {
	if len(jobs) == 0 {
		return ts
	}
	now := time.Now()
	for _, j := range jobs {
		ts = append(ts, w.newTask(j, s.values, now))
	}
	s.reg.add(ts)
	p.inflight.Add(int64(len(ts)))
	for _, t := range ts {
		p.work <- t // never blocks: the buffer holds Concurrency tasks
	}
	clear(ts)
	return ts
}

// drain waits up to ShutdownGrace for running handlers, hands back what is
// still running, makes the hand-backs durable, and waits for every handler
// goroutine to return.
func (w *workerImpl) drain(s *session, p *pool) {
	if p.inflight.Load() > 0 {
		grace := time.NewTimer(w.cfg.ShutdownGrace)
		defer grace.Stop()
	wait:
		for p.inflight.Load() > 0 {
			select {
			case <-p.freed:
			case <-grace.C:
				break wait
			case <-s.failCh:
				break wait
			}
		}
	}
	if n := s.handBack(); n > 0 {
		w.log.Info("troika: shutdown grace over; handed back unfinished jobs", "worker", w.cfg.ID, "count", n)
	}
	s.ack.wait()
	close(p.work)
	w.waitHandlers(p)
}

// waitHandlers waits for the pool's goroutines, logging handlers that
// ignore their cancelled context every 10s.
func (w *workerImpl) waitHandlers(p *pool) {
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			w.log.Warn("troika: waiting for handlers that ignore their cancelled context", "worker", w.cfg.ID, "count", p.inflight.Load())
		}
	}
}

// weightedOrder fills dst with the queues of src in weighted random order:
// each position is drawn with probability proportional to weight among the
// queues not placed yet. The store shares a claim out by weight and gives
// what is left to the queues in this order.
func weightedOrder(dst, src []store.QueueWeight) []store.QueueWeight {
	copy(dst, src)
	if len(dst) < 2 {
		return dst
	}
	total := 0
	for _, q := range dst {
		total += q.Weight
	}
	for i := range len(dst) - 1 {
		r := rand.IntN(total)
		k := i
		for ; r >= dst[k].Weight; k++ {
			r -= dst[k].Weight
		}
		dst[i], dst[k] = dst[k], dst[i]
		total -= dst[i].Weight
	}
	return dst
}
