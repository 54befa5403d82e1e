package embedded

import (
	"slices"
	"time"

	"github.com/troikahq/troika/store"
)

// sub is one JobSubscribe subscription.
type sub struct {
	ch     chan struct{}
	queues []string // empty: every queue
}

// subIndex is an immutable snapshot of the subscriptions, replaced (under
// Store.subMu) on every change and read without a lock by notify.
type subIndex struct {
	list    []*sub
	all     []*sub
	byQueue map[string][]*sub
}

func newSubIndex(list []*sub) *subIndex {
	ix := &subIndex{list: list, byQueue: map[string][]*sub{}}
	for _, s := range list {
		if len(s.queues) == 0 {
			ix.all = append(ix.all, s)
			continue
		}
		for _, q := range s.queues {
			ix.byQueue[q] = append(ix.byQueue[q], s)
		}
	}
	return ix
}

// JobSubscribe returns a channel (buffered, capacity 1) that receives a
// value when a job may have become ready in one of p.Queues (all queues
// when empty): an insert of a ready job, a JobRetry, a hand-back or retry
// due now, a resumed queue, a JobPromoteDue, or a scheduled job coming due
// by the store's clock (an internal timer). Sends never block; wake-ups
// coalesce and may be spurious. The cancel function ends the subscription
// and is idempotent. After Close the channel never receives.
func (s *Store) JobSubscribe(p *store.JobSubscribeParams) (<-chan struct{}, func()) {
	sb := &sub{ch: make(chan struct{}, 1)}
	if p != nil {
		sb.queues = slices.Compact(slices.Sorted(slices.Values(p.Queues)))
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return sb.ch, func() {}
	}
	s.subMu.Lock()
	cur := s.subs.Load()
	s.subs.Store(newSubIndex(append(slices.Clip(cur.list), sb)))
	s.subMu.Unlock()
	return sb.ch, func() {
		s.subMu.Lock()
		defer s.subMu.Unlock()
		cur := s.subs.Load()
		if i := slices.Index(cur.list, sb); i >= 0 {
			s.subs.Store(newSubIndex(slices.Delete(slices.Clone(cur.list), i, i+1)))
		}
	}
}

// wakeSet collects the queues a call must wake, without allocating for the
// common case of a few queues.
type wakeSet struct {
	n    int
	arr  [4]*queue
	more []*queue
}

func (w *wakeSet) add(q *queue) {
	for i := range w.n {
		if w.arr[i] == q {
			return
		}
	}
	if w.n < len(w.arr) {
		w.arr[w.n] = q
		w.n++
		return
	}
	if !slices.Contains(w.more, q) {
		w.more = append(w.more, q)
	}
}

// notify wakes the subscribers of the queues in w. It takes no lock and
// never blocks.
func (s *Store) notify(w *wakeSet) {
	if w.n == 0 {
		return
	}
	ix := s.subs.Load()
	if len(ix.list) == 0 {
		return
	}
	for _, sb := range ix.all {
		signal(sb.ch)
	}
	if len(ix.byQueue) == 0 {
		return
	}
	for i := range w.n {
		for _, sb := range ix.byQueue[w.arr[i].name] {
			signal(sb.ch)
		}
	}
	for _, q := range w.more {
		for _, sb := range ix.byQueue[q.name] {
			signal(sb.ch)
		}
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// ---- the wake-up timer

// maxTimerSleep bounds how long the timer sleeps, so a wall-clock step
// (the timer runs on the monotonic clock) is noticed within a second.
const maxTimerSleep = time.Second

// dueBatch bounds how many due entries the timer pops under s.mu at once.
const dueBatch = 10_000

// addDueLocked registers a waiting job with the wake-up timer, re-arming it
// if the job is due sooner than the timer is set for. A job already due by
// the store's clock is not registered; the caller wakes its queue.
func (s *Store) addDueLocked(j *job, clock int64) bool {
	if j.runAt <= clock {
		return false
	}
	s.due.push(j)
	if s.timerAt == 0 || j.runAt < s.timerAt {
		s.timerAt = j.runAt
		signal(s.wakeTimer)
	}
	return true
}

func (s *Store) removeDueLocked(j *job) {
	if j.dueIdx >= 0 {
		s.due.remove(j)
	}
}

// timerLoop wakes the subscribers of queues whose scheduled jobs come due
// by the store's clock. It runs from Open until Close.
func (s *Store) timerLoop() {
	defer close(s.done)
	t := time.NewTimer(maxTimerSleep)
	defer t.Stop()
	for {
		var w wakeSet
		s.mu.Lock()
		now := toNanos(s.now())
		for n := 0; n < dueBatch; n++ {
			j := s.due.top()
			if j == nil || j.runAt > now {
				break
			}
			s.due.pop()
			w.add(j.q)
		}
		sleep := maxTimerSleep
		if j := s.due.top(); j != nil {
			s.timerAt = j.runAt
			if d := j.runAt - now; d < int64(sleep) {
				sleep = time.Duration(max(d, 0))
			}
		} else {
			s.timerAt = 0
		}
		s.mu.Unlock()
		s.notify(&w)
		t.Reset(sleep)
		select {
		case <-s.stop:
			return
		case <-t.C:
		case <-s.wakeTimer:
		}
	}
}
