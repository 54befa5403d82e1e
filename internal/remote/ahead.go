package remote

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/troikahq/troika/gen/troika/v1"
	"github.com/troikahq/troika/store"
)

// Parked claims: while a worker is subscribed (JobSubscribe, i.e.
// Worker.Run is running), a short claim (the queues ran dry) starts one
// Claim call in the background that waits on the server (up to parkWait)
// for work. What it returns waits in a buffer for the worker's next
// JobClaim, and the worker is woken. Buffered jobs are leased but not yet
// running, so the buffer is bounded (one batch), kept only briefly
// (aheadFresh, then handed back with their attempt given back), and handed
// back when the last subscription ends or the store closes, after the call
// in flight has returned (it is never cancelled: a cancelled call could
// lose the response that leased its jobs). A full claim starts nothing:
// the worker's own claim-ahead (worker_claim.go) already overlaps the next
// batch's claim with the running one, for every backend.
//
// A parked claim returns as soon as a job is ready. Parked claims are short
// so that the end of a subscription can wait for them rather than cancel
// them; the Watch stream still wakes the worker too.

// aheadFresh is how long claimed-ahead jobs wait for the worker before they
// are handed back.
const aheadFresh = 200 * time.Millisecond

// lane is the claim-ahead state of one set of claim parameters.
type lane struct {
	req *v1.ClaimRequest // the worker's last claim, as sent

	buf   []*store.Job
	bufAt time.Time
	timer *time.Timer
	busy  bool // a parked claim is in flight
}

// laneKey identifies claim parameters (queues, weights, worker, TTL).
func laneKey(r *v1.ClaimRequest) string {
	var b strings.Builder
	b.WriteString(r.GetWorkerId())
	b.WriteByte('|')
	b.WriteString(strconv.FormatFloat(r.GetLeaseSeconds(), 'g', -1, 64))
	for _, q := range r.GetQueues() {
		b.WriteByte('|')
		b.WriteString(q)
	}
	keys := make([]string, 0, len(r.GetWeights()))
	for q := range r.GetWeights() {
		keys = append(keys, q)
	}
	sort.Strings(keys)
	for _, q := range keys {
		b.WriteString("|" + q + "=" + strconv.Itoa(int(r.GetWeights()[q])))
	}
	return b.String()
}

// ahead is the Store's claim-ahead state; its mutex guards everything.
type ahead struct {
	mu    sync.Mutex
	lanes map[string]*lane
	subs  map[chan struct{}]struct{} // open subscriptions, woken by claim-ahead results
	calls sync.WaitGroup             // parked claims in flight
}

// take moves up to max fresh buffered jobs of key out of the buffer, and
// reports whether a claim-ahead call is in flight for key.
func (s *Store) take(key string, max int) (jobs []*store.Job, busy bool) {
	a := &s.ahead
	a.mu.Lock()
	defer a.mu.Unlock()
	l := a.lanes[key]
	if l == nil {
		return nil, false
	}
	if len(l.buf) > 0 {
		n := min(max, len(l.buf))
		jobs = append(jobs, l.buf[:n]...)
		l.buf = append(l.buf[:0], l.buf[n:]...)
	}
	return jobs, l.busy
}

// parkWait is how long a parked claim of an idle worker waits on the
// server. It bounds how long the end of a subscription waits for it.
const parkWait = 500 * time.Millisecond

// startAhead parks a claim for req (one that waits up to parkWait on the
// server for work, so an idle worker gets its next job in one round trip
// instead of a Watch wake-up followed by a claim) unless one is in flight,
// the buffer is not empty, or nobody is subscribed.
func (s *Store) startAhead(key string, req *v1.ClaimRequest) {
	a := &s.ahead
	a.mu.Lock()
	if len(a.subs) == 0 || s.closed.Load() {
		a.mu.Unlock()
		return
	}
	if a.lanes == nil {
		a.lanes = map[string]*lane{}
	}
	l := a.lanes[key]
	if l == nil {
		l = &lane{}
		a.lanes[key] = l
	}
	if l.busy || len(l.buf) > 0 {
		a.mu.Unlock()
		return
	}
	r := &v1.ClaimRequest{Queues: req.Queues, Max: req.Max, LeaseSeconds: req.LeaseSeconds, WorkerId: req.WorkerId, Weights: req.Weights,
		WaitSeconds: parkWait.Seconds()}
	l.busy, l.req = true, r
	a.calls.Add(1)
	a.mu.Unlock()

	go func() {
		defer a.calls.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := s.workers.Claim(ctx, connect.NewRequest(r))
		var jobs []*store.Job
		if err == nil {
			jobs, err = claimedJobs(out.Msg)
		}
		a.mu.Lock()
		l.busy = false
		stale := false
		if len(jobs) > 0 {
			if len(a.subs) == 0 || s.closed.Load() {
				stale = true
			} else {
				l.buf, l.bufAt = append(l.buf, jobs...), time.Now()
				if l.timer == nil {
					l.timer = time.AfterFunc(aheadFresh, func() { s.expireAhead(key) })
				} else {
					l.timer.Reset(aheadFresh)
				}
			}
		}
		s.wakeLocked()
		a.mu.Unlock()
		if stale {
			s.handBack(jobs)
		}
		if err != nil {
			s.log.Debug("troika: parked claim failed", "error", err)
		}
	}()
}

// wakeLocked signals every subscription (coalesced). a.mu is held.
func (s *Store) wakeLocked() {
	for ch := range s.ahead.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// expireAhead hands back buffered jobs of key that waited aheadFresh.
func (s *Store) expireAhead(key string) {
	a := &s.ahead
	a.mu.Lock()
	l := a.lanes[key]
	var jobs []*store.Job
	if l != nil && len(l.buf) > 0 && time.Since(l.bufAt) >= aheadFresh {
		jobs, l.buf = l.buf, nil
	}
	a.mu.Unlock()
	s.handBack(jobs)
}

// stopAhead waits for the parked claims in flight and hands back every
// buffered job (the last subscription ended, or Close).
func (s *Store) stopAhead() {
	a := &s.ahead
	a.calls.Wait()
	a.mu.Lock()
	var jobs []*store.Job
	for _, l := range a.lanes {
		if l.timer != nil {
			l.timer.Stop()
		}
		jobs = append(jobs, l.buf...)
		l.buf = nil
	}
	a.mu.Unlock()
	s.handBack(jobs)
}

// handBack snoozes jobs claimed ahead but never given to the worker, with
// no delay: they are available again at once and their attempt is given
// back.
func (s *Store) handBack(jobs []*store.Job) {
	if len(jobs) == 0 {
		return
	}
	req := &v1.SnoozeRequest{Leases: make([]*v1.SnoozeItem, len(jobs))}
	for i, j := range jobs {
		req.Leases[i] = &v1.SnoozeItem{Id: j.ID.String(), LeaseToken: encodeLease(j), Delay: durationOf(0)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.workers.Snooze(ctx, connect.NewRequest(req)); err != nil {
		s.log.Warn("troika: could not hand back jobs claimed ahead; they return when their leases expire", "count", len(jobs), "error", err)
	}
}
