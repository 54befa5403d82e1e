package troika

import (
	"context"
	"math/rand/v2"
	"slices"
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

// maxClaimsInFlight bounds the claims a claim loop has outstanding at once
// (one when Concurrency is 1, see claimLoop).
// A second claim lets slots freed while the first waits for its commit
// (an fsync on embedded, a round trip on the others) be filled by a claim
// that shares that commit or the next one, instead of idling until the
// first returns.
const maxClaimsInFlight = 2

// aheadBatches is how many ClaimBatches a worker may hold leased beyond its
// free slots while its queues have a backlog. Two kept the WAL's fsyncs
// fuller than one in the embedded drain (120k against 102k jobs/s, fsyncs
// per job 0.012 against 0.016, interleaved runs).
const aheadBatches = 2

// aheadPause is how long a worker does not claim ahead after claimed-ahead
// jobs had to be handed back.
const aheadPause = 5 * time.Second

// aheadFresh is how long claimed-ahead jobs may wait for a free slot before
// they are handed back (available again, attempt not spent); at most a
// quarter of the lease TTL.
const aheadFresh = 200 * time.Millisecond

// claimResult is what one claim goroutine hands back to the claim loop.
type claimResult struct {
	jobs []*store.Job
	err  error
	max  int    // the slots it reserved
	gen  uint64 // the loop's wake generation when it was issued
}

// claimLoop claims jobs while there are free slots and ready jobs, and
// otherwise sleeps until a wake-up from the store, a freed slot, the idle
// poll or the end of ctx. Claims run on their own goroutines, at most
// maxClaimsInFlight at once, each reserving the slots it may fill.
//
// Claim-ahead: while the queues have a backlog (the last claim came back
// full), the loop may hold up to aheadBatches x ClaimBatch leased jobs
// beyond its free slots, so that the next batches' claims and their commits
// overlap the running one instead of following it. Handlers never run more than Concurrency at
// once: claimed-ahead jobs wait in a buffer, start as slots free up, and are
// handed back (attempt not spent) if they waited aheadFresh (after which
// the loop does not claim ahead for aheadPause) or the loop stops. It returns nil when ctx is done (after every claim in flight has
// returned) and the store's error when the store is closed or failed.
func (w *workerImpl) claimLoop(ctx context.Context, s *session, p *pool, wake <-chan struct{}) error {
	idle := time.NewTimer(w.idlePoll)
	defer idle.Stop()
	order := make([]store.QueueWeight, len(w.queues))
	claimCtx := context.WithoutCancel(ctx) // a claim is never cut in half
	results := make(chan claimResult, maxClaimsInFlight)
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	var (
		ts                []*task
		buf               []*store.Job // claimed ahead, not started; oldest first
		bufAt             time.Time    // when buf's oldest job was claimed
		reserved, pending int
		// gen counts wake-ups; a claim that comes back short marks the
		// queues starved only if no wake-up came after it was issued.
		gen     uint64
		starved bool
		backlog bool // the last claim came back full
		// noAheadUntil: no claiming ahead before this (after a hand-back).
		noAheadUntil time.Time
		errDelay     time.Duration // back-off after a failed claim
		holding      bool          // waiting out errDelay before the next claim
		failure      error
	)
	minNext := max(1, w.cfg.ClaimBatch/4) // the least a second claim is worth
	// Two claims in flight may be served by the store in either order, so a
	// worker that runs one job at a time keeps to one: its jobs then start
	// exactly in claim order (priority, run_at, FIFO).
	inFlight := maxClaimsInFlight
	if w.cfg.Concurrency == 1 {
		inFlight = 1
	}
	fresh := min(aheadFresh, w.cfg.LeaseTTL/4) // well inside the lease claimed-ahead jobs hold
	stopping := false                          // ctx is done: claimed jobs are handed back, not started
	issue := func(n int) {
		reserved += n
		pending++
		params := &store.JobClaimParams{Worker: w.cfg.ID, LeaseTTL: w.cfg.LeaseTTL, Max: n,
			Queues: slices.Clone(weightedOrder(order, w.queues)), Now: w.c.now()}
		g := gen
		go func() {
			jobs, err := w.c.st.JobClaim(claimCtx, params)
			results <- claimResult{jobs: jobs, err: err, max: n, gen: g}
		}()
	}
	// dispatch starts buffered jobs while handler slots are free.
	dispatch := func() {
		if k := min(len(buf), w.cfg.Concurrency-int(p.inflight.Load())); k > 0 {
			ts = w.start(s, p, buf[:k], ts[:0])
			clear(buf[:k])
			buf = buf[k:] // bufAt stays: the rest were claimed no earlier
		}
		if len(buf) == 0 {
			buf = buf[:0:0]
		}
	}
	// collect applies one claim's result; it reports a fatal store error.
	collect := func(r claimResult) error {
		reserved -= r.max
		pending--
		switch {
		case fatal(r.err):
			s.fail(r.err)
			return r.err
		case r.err != nil:
			errDelay = min(max(2*errDelay, 10*time.Millisecond), time.Second)
			w.log.Warn("troika: claim failed", "worker", w.cfg.ID, "error", r.err, "retry_in", errDelay)
			if !holding {
				holding = true
				retry.Reset(errDelay)
			}
			return nil
		}
		errDelay = 0
		if len(buf) == 0 {
			bufAt = time.Now()
		}
		buf = append(buf, r.jobs...)
		if !stopping {
			dispatch()
		}
		backlog = len(r.jobs) == r.max
		if !backlog && r.gen == gen {
			starved = true
		}
		return nil
	}
	for ctx.Err() == nil && failure == nil {
		dispatch()
		if len(buf) > 0 && time.Since(bufAt) >= fresh {
			w.handBackAhead(s, buf) // slots stayed busy: let other workers have them
			buf, backlog = nil, false
			// Slow handlers: claiming ahead again at once would only churn
			// leases (claim, wait, hand back).
			noAheadUntil = time.Now().Add(aheadPause)
		}
		ahead := 0
		if backlog && !starved && !time.Now().Before(noAheadUntil) {
			ahead = aheadBatches * w.cfg.ClaimBatch
		}
		room := w.cfg.Concurrency + ahead - int(p.inflight.Load()) - reserved - len(buf)
		if room > 0 && !starved && !holding && pending < inFlight && (pending == 0 || room >= minNext) {
			issue(min(room, w.cfg.ClaimBatch))
			continue
		}
		idle.Reset(w.idlePoll)
		if len(buf) > 0 {
			idle.Reset(max(fresh-time.Since(bufAt), time.Millisecond))
		}
		select {
		case <-ctx.Done():
		case <-s.failCh:
			failure = s.fatalErr()
		case r := <-results:
			failure = collect(r)
		case <-wake:
			gen++
			starved = false
		case <-p.freed:
		case <-idle.C:
			starved = false
		case <-retry.C:
			holding = false
		}
	}
	stopping = true
	for pending > 0 { // every claim in flight comes back; its jobs are handed back
		r := <-results
		if err := collect(r); err != nil && failure == nil {
			failure = err
		}
	}
	if len(buf) > 0 {
		w.handBackAhead(s, buf)
	}
	return failure
}

// handBackAhead hands claimed-ahead jobs that never started back to the
// store through the acker: available at once, attempt not spent.
func (w *workerImpl) handBackAhead(s *session, jobs []*store.Job) {
	now := w.c.now()
	start := time.Now()
	for _, j := range jobs {
		t := w.newTask(j, s.values, start)
		if t.settle(taskHandedBack) {
			s.ack.add(t, store.JobAck{Lease: t.lease, Outcome: store.AckSnooze, RunAt: now})
		}
	}
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
