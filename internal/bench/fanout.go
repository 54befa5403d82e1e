package bench

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/troikahq/troika"
)

// Fanout is the message-queue workload: events published to a topic, one
// durable delivery per subscription, drained by one worker.
const Fanout = "fanout"

// The fanout workload's shape. Throughput: Params.Producers publishers
// publish batches of fanoutBatch events for Params.Duration to a topic
// with fanoutSubs subscriptions while one worker per subscription (each of
// Params.Concurrency, as independent subscriber services would run) serves
// its queue; deliveries/s counts deliveries completed in the store from
// the first publish until the last is done. The publishers run in a closed
// loop held to Params.FanoutBacklog deliveries in flight, or paced to
// Params.FanoutRate.
// Latency: then, on a fresh topic with fanoutLatencySubs subscriptions, one
// event every 1/fanoutLatencyRate s for Params.Duration/2, publish →
// handler start.
const (
	fanoutSubs        = 5
	fanoutBatch       = 100
	fanoutLatencySubs = 3
	fanoutLatencyRate = 2000 // events/s
)

// fanoutTracker records handler starts per subscription. subs is not
// changed after newFanoutTracker, so handlers read it without a lock.
type fanoutTracker struct {
	subs map[string]*tracker
}

func newFanoutTracker(names []string, n int) *fanoutTracker {
	ft := &fanoutTracker{subs: map[string]*tracker{}}
	for _, s := range names {
		ft.subs[s] = newTracker(n)
	}
	return ft
}

func (ft *fanoutTracker) get(sub string) *tracker { return ft.subs[sub] }

// check sums lost and duplicate deliveries over the subscriptions for
// events [0, n).
func (ft *fanoutTracker) check(n int64) (lost, dups int) {
	for _, t := range ft.subs {
		l, d := t.check(n)
		lost, dups = lost+l, dups+d
	}
	return lost, dups
}

func (ft *fanoutTracker) latencies() []time.Duration {
	var all []time.Duration
	for _, t := range ft.subs {
		all = append(all, t.latencies()...)
	}
	return all
}

// fanoutSetup subscribes count subscriptions to topic and starts one worker
// per subscription queue whose handler records into a tracker.
func (r *runner) fanoutSetup(ctx context.Context, topic string, count, expect int) (*fanoutTracker, []string, *progress, func() error, <-chan struct{}, error) {
	names := make([]string, count)
	var queues []string
	for i := range names {
		names[i] = fmt.Sprintf("sub%d", i)
		info, err := r.c.CreateSubscription(ctx, troika.Subscription{Topic: topic, Name: names[i]})
		if err != nil {
			return nil, nil, nil, nil, nil, err
		}
		queues = append(queues, info.Queue)
	}
	ft := newFanoutTracker(names, expect)
	handled := newProgress()
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{}) // closed when any worker's Run returns
	var (
		once   sync.Once
		wg     sync.WaitGroup
		errMu  sync.Mutex
		runErr error
	)
	for _, q := range queues {
		w := troika.NewWorker(r.c, troika.WorkerConfig{Queues: map[string]int{q: 1}, Concurrency: r.p.Concurrency, Logger: r.logger})
		troika.Handle(w, func(_ context.Context, j *troika.Job[Payload]) error {
			start := time.Now()
			if t := ft.get(j.Metadata[troika.MetaSubscription]); t != nil {
				t.record(j.Args.Seq, start.Sub(time.Unix(0, j.Args.TS)))
			}
			handled.add()
			return nil
		})
		wg.Go(func() {
			err := w.Run(wctx)
			errMu.Lock()
			if runErr == nil {
				runErr = err
			}
			errMu.Unlock()
			once.Do(func() { close(done) })
		})
	}
	stop := func() error {
		cancel()
		wg.Wait()
		return runErr
	}
	return ft, names, handled, stop, done, nil
}

// undelivered sums the lag of topic's subscriptions.
func (r *runner) undelivered(ctx context.Context, topic string) (int64, error) {
	subs, err := r.c.ListSubscriptions(ctx, topic)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, s := range subs {
		n += s.Lag.Undelivered
	}
	return n, nil
}

// fanout runs the throughput phase, then the latency phase.
func (r *runner) fanout(ctx context.Context) (*Result, error) {
	p := r.p
	const topic = "bench.fanout"
	ft, _, handled, stop, workerDone, err := r.fanoutSetup(ctx, topic, fanoutSubs, 1<<16)
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = stop()
		}
	}()
	if err := sleep(ctx, p.Settle); err != nil {
		return nil, err
	}
	var published, seq atomic.Int64
	s0 := r.snap()
	stopBar := r.show("fanout publish", int64(p.Duration/time.Millisecond), func() int64 { return int64(time.Since(s0.at) / time.Millisecond) })
	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		prodErr error
	)
	var batches atomic.Int64 // paced mode: the next batch's number
	for range p.Producers {
		wg.Go(func() {
			items := make([]troika.EnqueueItem, fanoutBatch)
			windowEnd := time.NewTimer(p.Duration - time.Since(s0.at))
			defer windowEnd.Stop()
			// Closed loop: publish until the window ends. Paced: publish every
			// batch due within the window, however late, so the count is the
			// schedule's and not the machine's.
			for p.FanoutRate > 0 || time.Since(s0.at) < p.Duration {
				if p.FanoutRate > 0 { // open loop: batch k is due at k*batch/rate
					due := time.Duration(float64(batches.Add(1)-1) * fanoutBatch / float64(p.FanoutRate) * float64(time.Second))
					if due >= p.Duration {
						return
					}
					if err := sleep(ctx, due-time.Since(s0.at)); err != nil { // pacing, not synchronisation
						errOnce.Do(func() { prodErr = err })
						return
					}
				}
				if p.FanoutRate == 0 && !r.fanoutRoom(ctx, &seq, handled, windowEnd.C) {
					if err := ctx.Err(); err != nil {
						errOnce.Do(func() { prodErr = err })
					}
					return // the window ended while waiting for room
				}
				ts := time.Now().UnixNano()
				first := seq.Add(fanoutBatch) - fanoutBatch
				for i := range items {
					items[i] = troika.Item(NewPayload(ts, first+int64(i)))
				}
				if _, err := r.c.PublishMany(ctx, topic, items...); err != nil {
					errOnce.Do(func() { prodErr = err })
					return
				}
				published.Add(fanoutBatch)
			}
		})
	}
	wg.Wait()
	s1 := r.snap()
	s1Handled := handled.Load()
	stopBar()
	if prodErr != nil {
		return nil, fmt.Errorf("publish: %w", prodErr)
	}
	n := published.Load()
	want := n * fanoutSubs
	stopBar = r.show("fanout drain", want, handled.Load)
	var lag int64
	waitErr := r.waitUntil(ctx, "fanout drain", workerDone, func() int64 { return handled.Load() - lag }, func() (bool, error) {
		var err error
		lag, err = r.undelivered(ctx, topic)
		return lag == 0 && handled.Load() >= want, err
	})
	s2 := r.snap()
	stopBar()
	stopped = true
	if err := stop(); err != nil && waitErr == nil {
		waitErr = fmt.Errorf("worker: %w", err)
	}
	if waitErr != nil {
		return nil, fmt.Errorf("%w (handled %d of %d deliveries)", waitErr, handled.Load(), want)
	}
	lost, dups := ft.check(n)
	tp50, tp99, _ := Percentiles(ft.latencies())

	lat, err := r.fanoutLatency(ctx)
	if err != nil {
		return nil, err
	}
	total := s2.at.Sub(s0.at)
	res := &Result{
		Jobs: int(want), Seconds: total.Seconds(), JobsPerS: perSecond(want, total),
		LatencyP50Ms: lat.p50, LatencyP99Ms: lat.p99, LatencyMaxMs: lat.max,
		Lost: lost + lat.lost, Duplicates: dups + lat.dups,
		FsyncsPerJob: ratio(s2.syncs-s0.syncs, want),
		CPUUserS:     (s2.user - s0.user).Seconds(),
		CPUSysS:      (s2.sys - s0.sys).Seconds(),
		Extra: map[string]float64{
			"subscriptions":             fanoutSubs,
			"producers":                 float64(p.Producers),
			"publish_batch":             fanoutBatch,
			"concurrency":               float64(p.Concurrency),
			"duration_s":                p.Duration.Seconds(),
			"events":                    float64(n),
			"events_per_s":              perSecond(n, s1.at.Sub(s0.at)),
			"deliveries_per_s":          perSecond(want, total),
			"publish_fsyncs_per_event":  ratio(s1.syncs-s0.syncs, n),
			"throughput_latency_p50_ms": tp50,
			"throughput_latency_p99_ms": tp99,
			"latency_subscriptions":     fanoutLatencySubs,
			"latency_events_per_s":      fanoutLatencyRate,
			"latency_events":            float64(lat.events),
			"latency_deliveries_per_s":  lat.deliveriesPerS,
			"tail_drain_s":              s2.at.Sub(s1.at).Seconds(),
			"fanout_rate":               float64(p.FanoutRate),
			"fanout_backlog":            float64(p.FanoutBacklog),
			"backlog_at_publish_end":    float64(want - s1Handled),
		},
	}
	syncBusy(res.Extra, "", s0, s2)
	return res, nil
}

// fanoutRoom is the closed loop's flow control: it returns true as soon
// as one more batch keeps the deliveries published (seq reserves them) and
// not yet handled within Params.FanoutBacklog, or false if the producing
// window ends (windowEnd) or ctx does first.
func (r *runner) fanoutRoom(ctx context.Context, seq *atomic.Int64, handled *progress, windowEnd <-chan time.Time) bool {
	if r.p.FanoutBacklog == 0 {
		return ctx.Err() == nil
	}
	for {
		need := (seq.Load()+fanoutBatch)*fanoutSubs - int64(r.p.FanoutBacklog)
		if handled.Load() >= need {
			return ctx.Err() == nil
		}
		if !handled.waitFor(ctx, need, windowEnd) {
			return false
		}
	}
}

// progress counts handled deliveries and wakes the goroutines waiting for
// the count to reach a mark: a handler pays one atomic load unless a
// waiter's mark is reached, and a waiter sleeps instead of polling.
type progress struct {
	n    atomic.Int64
	mark atomic.Int64                  // the lowest count a waiter needs; math.MaxInt64: none
	ch   atomic.Pointer[chan struct{}] // closed (and replaced) when mark is reached
}

func newProgress() *progress {
	p := &progress{}
	p.mark.Store(math.MaxInt64)
	ch := make(chan struct{})
	p.ch.Store(&ch)
	return p
}

// Load returns the count.
func (p *progress) Load() int64 { return p.n.Load() }

func (p *progress) add() {
	n := p.n.Add(1)
	if m := p.mark.Load(); n >= m && p.mark.CompareAndSwap(m, math.MaxInt64) {
		next := make(chan struct{})
		close(*p.ch.Swap(&next))
	}
}

// waitFor returns true once the count has reached need (not necessarily
// still there when it returns: the caller checks again), false if ctx or
// stop ends first.
func (p *progress) waitFor(ctx context.Context, need int64, stop <-chan time.Time) bool {
	ch := *p.ch.Load()
	for m := p.mark.Load(); m > need && !p.mark.CompareAndSwap(m, need); m = p.mark.Load() {
	}
	if p.n.Load() >= need { // reached before the mark was set: add may not wake us
		return true
	}
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	case <-stop:
		return false
	}
}

type fanoutLat struct {
	p50, p99, max  float64
	lost, dups     int
	events         int64
	deliveriesPerS float64
}

// fanoutLatency publishes single events at fanoutLatencyRate for
// Duration/2 to a topic with fanoutLatencySubs subscriptions and measures
// publish → handler start.
func (r *runner) fanoutLatency(ctx context.Context) (*fanoutLat, error) {
	const topic = "bench.latency"
	ft, _, handled, stop, workerDone, err := r.fanoutSetup(ctx, topic, fanoutLatencySubs, 1<<14)
	if err != nil {
		return nil, err
	}
	defer func() { _ = stop() }()
	if err := sleep(ctx, r.p.Settle); err != nil {
		return nil, err
	}
	window := max(r.p.Duration/2, time.Second)
	start := time.Now()
	stopBar := r.show("fanout latency", int64(window/time.Millisecond), func() int64 { return int64(time.Since(start) / time.Millisecond) })
	tick := time.NewTicker(time.Second / fanoutLatencyRate)
	var n int64
	for time.Since(start) < window {
		select {
		case <-ctx.Done():
			tick.Stop()
			stopBar()
			return nil, ctx.Err()
		case <-tick.C:
		}
		// Publishing on the ticker's goroutine keeps the rate open-loop
		// only while a publish is faster than the tick; a slower publish
		// delays the next one (the ticker drops ticks) rather than queueing.
		if _, err := r.c.Publish(ctx, topic, NewPayload(time.Now().UnixNano(), n)); err != nil {
			tick.Stop()
			stopBar()
			return nil, fmt.Errorf("publish: %w", err)
		}
		n++
	}
	tick.Stop()
	stopBar()
	want := n * fanoutLatencySubs
	var lag int64
	if err := r.waitUntil(ctx, "fanout latency drain", workerDone, func() int64 { return handled.Load() - lag }, func() (bool, error) {
		var err error
		lag, err = r.undelivered(ctx, topic)
		return lag == 0 && handled.Load() >= want, err
	}); err != nil {
		return nil, err
	}
	total := time.Since(start)
	lost, dups := ft.check(n)
	p50, p99, mx := Percentiles(ft.latencies())
	return &fanoutLat{p50: p50, p99: p99, max: mx, lost: lost, dups: dups, events: n, deliveriesPerS: perSecond(want, total)}, nil
}

// fanoutSummary renders the fanout lines of Result.Summary.
func fanoutSummary(b *strings.Builder, r *Result) {
	x := func(k string) float64 { return r.Extra[k] }
	fmt.Fprintf(b, "  publish    %.0f producers x batches of %.0f for %.0fs: %s events/s, %.3f fsyncs/event, %.0f subscriptions\n",
		x("producers"), x("publish_batch"), x("duration_s"), thousands(x("events_per_s")), x("publish_fsyncs_per_event"), x("subscriptions"))
	fmt.Fprintf(b, "  deliveries %s/s completed (%d deliveries in %.2fs, tail %.2fs, one worker per subscription, concurrency %.0f each)\n",
		thousands(r.JobsPerS), r.Jobs, r.Seconds, x("tail_drain_s"), x("concurrency"))
	fmt.Fprintf(b, "  latency    publish -> start p50 %s, p99 %s, max %s (%.0f events at %.0f/s x %.0f subscriptions)\n",
		msStr(r.LatencyP50Ms), msStr(r.LatencyP99Ms), msStr(r.LatencyMaxMs), x("latency_events"), x("latency_events_per_s"), x("latency_subscriptions"))
}
