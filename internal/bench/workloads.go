package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/troikahq/troika"
)

// pollEvery is how often completion is polled from the store, as in the
// peer harness.
const pollEvery = 2 * time.Millisecond

// runner runs workloads against one open Client.
type runner struct {
	c        *troika.Client
	p        Params
	progress ProgressFunc
	logger   *slog.Logger
}

// show starts a progress display if one is configured.
func (r *runner) show(phase string, total int64, done func() int64) func() {
	if r.progress == nil {
		return func() {}
	}
	return r.progress(phase, total, done)
}

// snapshot is the process and store counters at one instant.
type snapshot struct {
	at        time.Time
	syncs     int64
	syncTime  time.Duration // store's time inside WAL syncs (embedded)
	user, sys time.Duration
}

func (r *runner) snap() snapshot {
	u, s := cpuTimes()
	st := r.c.Stats().Store
	return snapshot{at: time.Now(), syncs: st.Syncs, syncTime: st.SyncTime, user: u, sys: s}
}

// syncBusy adds to extra, when the store measures sync time, the fraction
// of the wall time between a and b the WAL spent in fsyncs and the mean
// fsync, under prefix.
func syncBusy(extra map[string]float64, prefix string, a, b snapshot) {
	d := b.syncTime - a.syncTime
	if d <= 0 {
		return
	}
	extra[prefix+"fsync_busy"] = d.Seconds() / b.at.Sub(a.at).Seconds()
	if n := b.syncs - a.syncs; n > 0 {
		extra[prefix+"fsync_mean_us"] = float64(d.Microseconds()) / float64(n)
	}
}

// completed returns how many jobs of the default queue the store reports
// completed.
func (r *runner) completed(ctx context.Context) (int64, error) {
	q, err := r.c.QueueStats(ctx, troika.DefaultQueue)
	if err != nil {
		return 0, err
	}
	return q.Counts[troika.StateCompleted], nil
}

// worker starts a Worker with the given concurrency (0: the SDK default)
// and handler. stop cancels it and waits for Run to return.
func (r *runner) worker(ctx context.Context, concurrency int, h func(context.Context, *troika.Job[Payload]) error) (stop func() error, done <-chan struct{}) {
	w := troika.NewWorker(r.c, troika.WorkerConfig{Concurrency: concurrency, Logger: r.logger})
	troika.Handle(w, h)
	wctx, cancel := context.WithCancel(ctx)
	ch := make(chan struct{})
	var runErr error
	go func() {
		defer close(ch)
		runErr = w.Run(wctx)
	}()
	return func() error {
		cancel()
		<-ch
		return runErr
	}, ch
}

// waitUntil polls cond every pollEvery until it is true. It fails after
// p.Timeout, when progress() has not changed for p.StallTimeout, when the
// worker ends (workerDone closed) or when ctx is done.
func (r *runner) waitUntil(ctx context.Context, what string, workerDone <-chan struct{}, progress func() int64, cond func() (bool, error)) error {
	start := time.Now()
	last, lastChange := progress(), start
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		now := time.Now()
		if v := progress(); v != last {
			last, lastChange = v, now
		}
		switch {
		case now.Sub(start) > r.p.Timeout:
			return fmt.Errorf("%s: timed out after %s", what, r.p.Timeout)
		case now.Sub(lastChange) > r.p.StallTimeout:
			return fmt.Errorf("%s: no progress for %s", what, r.p.StallTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-workerDone:
			return fmt.Errorf("%s: the worker stopped", what)
		case <-t.C:
		}
	}
}

// sleep pauses for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// tracker records handler starts: latencies and how often each sequence
// number was seen.
type tracker struct {
	mu   sync.Mutex
	lat  []time.Duration
	seen []int32 // by sequence number; grown as needed
	bad  int     // sequence numbers out of range (never expected)
}

func newTracker(n int) *tracker {
	return &tracker{lat: make([]time.Duration, 0, n), seen: make([]int32, n)}
}

// record notes one handler start for seq with latency d.
func (t *tracker) record(seq int64, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lat = append(t.lat, d)
	if seq < 0 || seq > 1<<31 {
		t.bad++
		return
	}
	if int(seq) >= len(t.seen) {
		t.seen = append(t.seen, make([]int32, int(seq)+1-len(t.seen)+len(t.seen)/2)...)
	}
	t.seen[seq]++
}

// check counts sequence numbers in [0, n) never seen (lost) and extra
// sightings (duplicates); sightings at or beyond n count as duplicates too.
func (t *tracker) check(n int64) (lost, dups int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, c := range t.seen {
		switch {
		case int64(i) >= n:
			dups += int(c)
		case c == 0:
			lost++
		case c > 1:
			dups += int(c - 1)
		}
	}
	if int64(len(t.seen)) < n {
		lost += int(n - int64(len(t.seen)))
	}
	return lost, dups + t.bad
}

func (t *tracker) latencies() []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]time.Duration(nil), t.lat...)
}

// drain inserts Jobs jobs in batches, then times a Worker draining them.
func (r *runner) drain(ctx context.Context) (*Result, error) {
	p := r.p
	n := p.Jobs
	tr := newTracker(n)
	var (
		inserted, handled atomic.Int64
		lastStart         atomic.Int64
	)

	// Phase 1: bulk insert. Each batch's payloads carry the time just
	// before its EnqueueMany call.
	s0 := r.snap()
	stopBar := r.show("insert", int64(n), inserted.Load)
	items := make([]troika.EnqueueItem, 0, p.Batch)
	for i := 0; i < n; i += p.Batch {
		items = items[:0]
		ts := time.Now().UnixNano()
		for k := i; k < min(i+p.Batch, n); k++ {
			items = append(items, troika.Item(NewPayload(ts, int64(k))))
		}
		if _, err := r.c.EnqueueMany(ctx, items...); err != nil {
			stopBar()
			return nil, fmt.Errorf("insert batch at %d: %w", i, err)
		}
		inserted.Add(int64(len(items)))
	}
	s1 := r.snap()
	stopBar()

	// Phase 2: drain.
	done0, err := r.completed(ctx)
	if err != nil {
		return nil, err
	}
	s2 := r.snap()
	stop, workerDone := r.worker(ctx, p.Concurrency, func(_ context.Context, j *troika.Job[Payload]) error {
		start := time.Now()
		lastStart.Store(start.UnixNano())
		tr.record(j.Args.Seq, start.Sub(time.Unix(0, j.Args.TS)))
		handled.Add(1)
		return nil
	})
	stopBar = r.show("drain", int64(n), handled.Load)
	var (
		doneN     int64
		lastCheck time.Time
	)
	waitErr := r.waitUntil(ctx, "drain", workerDone, func() int64 { return handled.Load() + doneN }, func() (bool, error) {
		// Until every job has been handed to the handler, ask the store
		// only every 50 ms; then poll it every 2 ms for the last acks.
		if handled.Load() < int64(n) && time.Since(lastCheck) < 50*time.Millisecond {
			return false, nil
		}
		lastCheck = time.Now()
		c, err := r.completed(ctx)
		doneN = c - done0
		return doneN >= int64(n), err
	})
	s3 := r.snap()
	stopBar()
	if err := stop(); err != nil && waitErr == nil {
		waitErr = fmt.Errorf("worker: %w", err)
	}
	if waitErr != nil {
		return nil, fmt.Errorf("%w (handled %d of %d, completed %d)", waitErr, handled.Load(), n, doneN)
	}

	lost, dups := tr.check(int64(n))
	p50, p99, mx := Percentiles(tr.latencies())
	insertDur, drainDur := s1.at.Sub(s0.at), s3.at.Sub(s2.at)
	res := &Result{
		Jobs: n, Seconds: drainDur.Seconds(), JobsPerS: perSecond(int64(n), drainDur),
		LatencyP50Ms: p50, LatencyP99Ms: p99, LatencyMaxMs: mx,
		Lost: lost, Duplicates: dups,
		FsyncsPerJob: ratio(s3.syncs-s2.syncs+s1.syncs-s0.syncs, int64(n)),
		CPUUserS:     (s3.user - s2.user + s1.user - s0.user).Seconds(),
		CPUSysS:      (s3.sys - s2.sys + s1.sys - s0.sys).Seconds(),
		Extra: map[string]float64{
			"batch":                 float64(p.Batch),
			"concurrency":           float64(p.Concurrency),
			"insert_seconds":        insertDur.Seconds(),
			"insert_jobs_per_s":     perSecond(int64(n), insertDur),
			"insert_fsyncs_per_job": ratio(s1.syncs-s0.syncs, int64(n)),
			"drain_fsyncs_per_job":  ratio(s3.syncs-s2.syncs, int64(n)),
			"handler_jobs_per_s":    perSecond(int64(n), time.Duration(lastStart.Load()-s2.at.UnixNano())),
			"completed_in_store":    float64(doneN),
			"insert_cpu_s":          (s1.user - s0.user + s1.sys - s0.sys).Seconds(),
			"drain_cpu_s":           (s3.user - s2.user + s3.sys - s2.sys).Seconds(),
		},
	}
	syncBusy(res.Extra, "drain_", s2, s3)
	return res, nil
}

// steady runs Producers closed-loop single-Enqueue producers for Duration
// while a Worker runs, then waits for the tail.
func (r *runner) steady(ctx context.Context) (*Result, error) {
	p := r.p
	tr := newTracker(1 << 16)
	var handled, inserted, seq atomic.Int64
	stop, workerDone := r.worker(ctx, p.Concurrency, func(_ context.Context, j *troika.Job[Payload]) error {
		start := time.Now()
		tr.record(j.Args.Seq, start.Sub(time.Unix(0, j.Args.TS)))
		handled.Add(1)
		return nil
	})
	stopped := false
	defer func() {
		if !stopped {
			_ = stop()
		}
	}()
	if err := sleep(ctx, p.Settle); err != nil {
		return nil, err
	}
	done0, err := r.completed(ctx)
	if err != nil {
		return nil, err
	}

	s0 := r.snap()
	stopBar := r.show("steady", int64(p.Duration/time.Millisecond), func() int64 { return int64(time.Since(s0.at) / time.Millisecond) })
	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		prodErr error
	)
	for range p.Producers {
		wg.Go(func() {
			for time.Since(s0.at) < p.Duration {
				pl := NewPayload(time.Now().UnixNano(), seq.Add(1)-1)
				if _, err := r.c.Enqueue(ctx, pl); err != nil {
					errOnce.Do(func() { prodErr = err })
					return
				}
				inserted.Add(1)
			}
		})
	}
	wg.Wait()
	s1 := r.snap()
	stopBar()
	window := s1.at.Sub(s0.at)
	done1, err := r.completed(ctx)
	if err != nil {
		return nil, err
	}
	handledAtEnd := handled.Load()
	if prodErr != nil {
		return nil, fmt.Errorf("producer: %w", prodErr)
	}
	ins := inserted.Load()

	// The tail: every job inserted in the window must run and complete.
	tailStart := time.Now()
	stopBar = r.show("tail", ins, handled.Load)
	err = r.waitUntil(ctx, "tail", workerDone, handled.Load, func() (bool, error) { return handled.Load() >= ins, nil })
	var doneN int64
	if err == nil {
		err = r.waitUntil(ctx, "tail completions", workerDone, func() int64 { return doneN }, func() (bool, error) {
			c, err := r.completed(ctx)
			doneN = c - done0
			return doneN >= ins, err
		})
	}
	tail := time.Since(tailStart)
	stopBar()
	stopped = true
	if serr := stop(); serr != nil && err == nil {
		err = fmt.Errorf("worker: %w", serr)
	}
	if err != nil {
		return nil, fmt.Errorf("%w (handled %d of %d)", err, handled.Load(), ins)
	}

	lost, dups := tr.check(ins)
	lat := tr.latencies()
	p50, p99, mx := Percentiles(lat)
	completedInWindow := done1 - done0
	res := &Result{
		Jobs: int(ins), Seconds: window.Seconds(), JobsPerS: perSecond(completedInWindow, window),
		LatencyP50Ms: p50, LatencyP99Ms: p99, LatencyMaxMs: mx,
		Lost: lost, Duplicates: dups,
		FsyncsPerJob: ratio(s1.syncs-s0.syncs, ins),
		CPUUserS:     (s1.user - s0.user).Seconds(),
		CPUSysS:      (s1.sys - s0.sys).Seconds(),
		Extra: map[string]float64{
			"producers":           float64(p.Producers),
			"concurrency":         float64(p.Concurrency),
			"duration_s":          p.Duration.Seconds(),
			"completed_per_s":     perSecond(completedInWindow, window),
			"handled_per_s":       perSecond(handledAtEnd, window),
			"inserted_per_s":      perSecond(ins, window),
			"backlog_at_end":      float64(ins - completedInWindow),
			"tail_drain_s":        tail.Seconds(),
			"latency_sample_size": float64(len(lat)),
		},
	}
	syncBusy(res.Extra, "", s0, s1)
	return res, nil
}

// idleStart is one handler start seen by the idle workload.
type idleStart struct {
	seq int64
	lat time.Duration
}

// idle enqueues IdleJobs jobs one at a time after a random pause each, and
// measures enqueue → handler start.
func (r *runner) idle(ctx context.Context) (*Result, error) {
	p := r.p
	tr := newTracker(p.IdleJobs)
	started := make(chan idleStart, p.IdleJobs+16)
	stop, workerDone := r.worker(ctx, p.IdleConcurrency, func(_ context.Context, j *troika.Job[Payload]) error {
		now := time.Now()
		d := now.Sub(time.Unix(0, j.Args.TS))
		tr.record(j.Args.Seq, d)
		select {
		case started <- idleStart{j.Args.Seq, d}:
		default: // only duplicates can overflow; tracker counts them
		}
		return nil
	})
	stopped := false
	defer func() {
		if !stopped {
			_ = stop()
		}
	}()
	if err := sleep(ctx, p.Settle); err != nil {
		return nil, err
	}

	var (
		lats, inserts []time.Duration
		count         atomic.Int64
	)
	s0 := r.snap()
	stopBar := r.show("idle", int64(p.IdleJobs), count.Load)
	defer stopBar()
	for i := range p.IdleJobs {
		gap := p.IdleGapMin
		if p.IdleGapMax > p.IdleGapMin {
			gap += rand.N(p.IdleGapMax - p.IdleGapMin)
		}
		if err := sleep(ctx, gap); err != nil {
			return nil, err
		}
		t := time.Now()
		if _, err := r.c.Enqueue(ctx, NewPayload(t.UnixNano(), int64(i))); err != nil {
			return nil, fmt.Errorf("enqueue: %w", err)
		}
		inserts = append(inserts, time.Since(t))
		timeout := time.NewTimer(min(p.Timeout, 30*time.Second))
	wait:
		for {
			select {
			case s := <-started:
				if s.seq == int64(i) {
					lats = append(lats, s.lat)
					break wait
				} // an earlier job run again: a duplicate, counted by tr
			case <-timeout.C:
				return nil, fmt.Errorf("job %d not started within %s", i, min(p.Timeout, 30*time.Second))
			case <-workerDone:
				return nil, errors.New("the worker stopped")
			case <-ctx.Done():
				timeout.Stop()
				return nil, ctx.Err()
			}
		}
		timeout.Stop()
		count.Add(1)
	}
	s1 := r.snap()
	stopped = true
	if err := stop(); err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	lost, dups := tr.check(int64(p.IdleJobs))
	p50, p99, mx := Percentiles(lats)
	i50, i99, _ := Percentiles(inserts)
	elapsed := s1.at.Sub(s0.at)
	return &Result{
		Jobs: p.IdleJobs, Seconds: elapsed.Seconds(), JobsPerS: perSecond(int64(p.IdleJobs), elapsed),
		LatencyP50Ms: p50, LatencyP99Ms: p99, LatencyMaxMs: mx,
		Lost: lost, Duplicates: dups,
		FsyncsPerJob: ratio(s1.syncs-s0.syncs, int64(p.IdleJobs)),
		CPUUserS:     (s1.user - s0.user).Seconds(),
		CPUSysS:      (s1.sys - s0.sys).Seconds(),
		Extra: map[string]float64{
			"concurrency":       float64(p.IdleConcurrency),
			"idle_gap_min_ms":   ms(p.IdleGapMin),
			"idle_gap_max_ms":   ms(p.IdleGapMax),
			"latency_mean_ms":   Mean(lats),
			"insert_one_p50_ms": i50,
			"insert_one_p99_ms": i99,
		},
	}, nil
}
