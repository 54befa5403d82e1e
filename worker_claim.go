package troika

import (
	"context"
	"slices"
	"time"

	"github.com/troikahq/troika/store"
)

// Claim-loop tuning. Figures: docs/performance.md ("What changed on 1
// December"), from interleaved `troika bench --workload drain` runs.
const (
	// maxClaimsInFlight bounds the claims a claim loop has outstanding at
	// once (one when Concurrency is 1, see newClaimer). A second claim lets
	// slots freed while the first waits for its commit (an fsync on
	// embedded, a round trip elsewhere) be filled by a claim that shares
	// that commit or the next.
	maxClaimsInFlight = 2
	// aheadBatches is how many ClaimBatches a worker may hold leased beyond
	// its free slots while its queues have a backlog; two kept the embedded
	// WAL's fsyncs fuller than one (120k against 102k jobs/s drained).
	aheadBatches = 2
	// aheadFresh is how long claimed-ahead jobs may wait for a free slot
	// before they are handed back (available again, attempt not spent); at
	// most a quarter of the lease TTL.
	aheadFresh = 200 * time.Millisecond
	// aheadPause is how long a worker does not claim ahead after
	// claimed-ahead jobs had to be handed back (slow handlers).
	aheadPause = 5 * time.Second
)

// claimResult is what one claim goroutine hands back to the claim loop.
type claimResult struct {
	jobs []*store.Job
	err  error
	max  int    // the slots it reserved
	gen  uint64 // the loop's wake generation when it was issued
}

// claimer is the state of one claim loop. It is used by the claimLoop
// goroutine only; claim calls run on their own goroutines and report on
// results.
type claimer struct {
	w       *workerImpl
	s       *session
	p       *pool
	ctx     context.Context // claims are never cut in half: no cancellation
	results chan claimResult
	retry   *time.Timer // ends the back-off after a failed claim

	inFlight int           // claims allowed in flight
	minNext  int           // the least a second claim in flight is worth
	fresh    time.Duration // how long claimed-ahead jobs may wait

	order    []store.QueueWeight
	ts       []*task
	buf      []*store.Job // claimed ahead, not started; oldest first
	bufAt    time.Time    // when buf's oldest job was claimed
	reserved int          // slots reserved by claims in flight
	pending  int          // claims in flight
	// gen counts wake-ups; a claim that comes back short marks the queues
	// starved only if no wake-up came after it was issued.
	gen          uint64
	starved      bool
	backlog      bool      // the last claim came back full
	noAheadUntil time.Time // no claiming ahead before this
	errDelay     time.Duration
	holding      bool // waiting out errDelay before the next claim
	stopping     bool // ctx is done: claimed jobs are handed back, not started
}

func newClaimer(ctx context.Context, w *workerImpl, s *session, p *pool) *claimer {
	c := &claimer{w: w, s: s, p: p, ctx: context.WithoutCancel(ctx),
		results: make(chan claimResult, maxClaimsInFlight), retry: time.NewTimer(time.Hour),
		inFlight: maxClaimsInFlight, minNext: max(1, w.cfg.ClaimBatch/4),
		fresh: min(aheadFresh, w.cfg.LeaseTTL/4), order: make([]store.QueueWeight, len(w.queues))}
	c.retry.Stop()
	if w.cfg.Concurrency == 1 {
		// Two claims in flight may be served in either order; with one slot
		// the jobs then start exactly in claim order (priority, run_at, FIFO).
		c.inFlight = 1
	}
	return c
}

// claimLoop claims jobs while there are free slots and ready jobs, and
// otherwise sleeps until a wake-up from the store, a freed slot, the idle
// poll or the end of ctx. Claims run on their own goroutines, at most
// maxClaimsInFlight at once, each reserving the slots it may fill.
//
// Claim-ahead: while the queues have a backlog (the last claim came back
// full), the loop may hold up to aheadBatches x ClaimBatch leased jobs
// beyond its free slots, so that the next claims and their commits overlap
// the running batch instead of following it. Handlers never run more than
// Concurrency at once: claimed-ahead jobs wait in a buffer, start as slots
// free up, and are handed back (attempt not spent) if they waited
// aheadFresh (then the loop does not claim ahead for aheadPause) or the
// loop stops. It returns nil when ctx is done (after every claim in flight
// has returned) and the store's error when the store is closed or failed.
func (w *workerImpl) claimLoop(ctx context.Context, s *session, p *pool, wake <-chan struct{}) error {
	c := newClaimer(ctx, w, s, p)
	defer c.retry.Stop()
	idle := time.NewTimer(w.idlePoll)
	defer idle.Stop()
	var failure error
	for ctx.Err() == nil && failure == nil {
		c.dispatch()
		c.expire()
		if n := c.next(); n > 0 {
			c.issue(n)
			continue
		}
		idle.Reset(w.idlePoll)
		if len(c.buf) > 0 {
			idle.Reset(max(c.fresh-time.Since(c.bufAt), time.Millisecond))
		}
		select {
		case <-ctx.Done():
		case <-s.failCh:
			failure = s.fatalErr()
		case r := <-c.results:
			failure = c.collect(r)
		case <-wake:
			c.gen++
			c.starved = false
		case <-p.freed:
		case <-idle.C:
			c.starved = false
		case <-c.retry.C:
			c.holding = false
		}
	}
	c.stopping = true
	for c.pending > 0 { // every claim in flight comes back; its jobs are handed back
		if err := c.collect(<-c.results); err != nil && failure == nil {
			failure = err
		}
	}
	c.handBack()
	return failure
}

// next returns how many jobs the next claim should ask for, or 0 when no
// claim should be issued now.
func (c *claimer) next() int {
	if c.starved || c.holding || c.pending >= c.inFlight {
		return 0
	}
	ahead := 0
	if c.backlog && !time.Now().Before(c.noAheadUntil) {
		ahead = aheadBatches * c.w.cfg.ClaimBatch
	}
	room := c.w.cfg.Concurrency + ahead - int(c.p.inflight.Load()) - c.reserved - len(c.buf)
	if room <= 0 || (c.pending > 0 && room < c.minNext) {
		return 0
	}
	return min(room, c.w.cfg.ClaimBatch)
}

// issue starts a claim of up to n jobs on its own goroutine.
func (c *claimer) issue(n int) {
	c.reserved += n
	c.pending++
	w := c.w
	params := &store.JobClaimParams{Worker: w.cfg.ID, LeaseTTL: w.cfg.LeaseTTL, Max: n,
		Queues: slices.Clone(weightedOrder(c.order, w.queues)), Now: w.c.now()}
	gen := c.gen
	go func() {
		jobs, err := w.c.st.JobClaim(c.ctx, params)
		c.results <- claimResult{jobs: jobs, err: err, max: n, gen: gen}
	}()
}

// collect applies one claim's result; it returns a fatal store error.
func (c *claimer) collect(r claimResult) error {
	c.reserved -= r.max
	c.pending--
	switch {
	case fatal(r.err):
		c.s.fail(r.err)
		return r.err
	case r.err != nil:
		c.errDelay = min(max(2*c.errDelay, 10*time.Millisecond), time.Second)
		c.w.log.Warn("troika: claim failed", "worker", c.w.cfg.ID, "error", r.err, "retry_in", c.errDelay)
		if !c.holding {
			c.holding = true
			c.retry.Reset(c.errDelay)
		}
		return nil
	}
	c.errDelay = 0
	if len(c.buf) == 0 {
		c.bufAt = time.Now()
	}
	c.buf = append(c.buf, r.jobs...)
	if !c.stopping {
		c.dispatch()
	}
	c.backlog = len(r.jobs) == r.max
	if !c.backlog && r.gen == c.gen {
		c.starved = true
	}
	return nil
}

// dispatch starts buffered jobs while handler slots are free.
func (c *claimer) dispatch() {
	if k := min(len(c.buf), c.w.cfg.Concurrency-int(c.p.inflight.Load())); k > 0 {
		c.ts = c.w.start(c.s, c.p, c.buf[:k], c.ts[:0])
		clear(c.buf[:k])
		c.buf = c.buf[k:] // bufAt stays: the rest were claimed no earlier
	}
	if len(c.buf) == 0 {
		c.buf = nil
	}
}

// expire hands the buffer back once its oldest job waited fresh: the slots
// stayed busy, so other workers should have those jobs; and claiming ahead
// again at once would only churn leases.
func (c *claimer) expire() {
	if len(c.buf) > 0 && time.Since(c.bufAt) >= c.fresh {
		c.handBack()
		c.backlog = false
		c.noAheadUntil = time.Now().Add(aheadPause)
	}
}

// handBack hands the claimed-ahead jobs that never started back to the
// store through the acker: available at once, attempt not spent.
func (c *claimer) handBack() {
	now, start := c.w.c.now(), time.Now()
	for _, j := range c.buf {
		t := c.w.newTask(j, c.s.values, start)
		if t.settle(taskHandedBack) {
			c.s.ack.add(t, handBackAck(t, now))
		}
	}
	c.buf = nil
}
