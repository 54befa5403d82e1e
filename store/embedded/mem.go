package embedded

import (
	"encoding/binary"
	"slices"

	"github.com/troikahq/troika/store"
)

// State indexes: the position of each state in store.AllStates.
const (
	stScheduled uint8 = iota
	stAvailable
	stRunning
	stRetryable
	stCompleted
	stDead
	stCancelled
	numStates = iota
)

var stateNames = [numStates]store.JobState{
	store.StateScheduled, store.StateAvailable, store.StateRunning, store.StateRetryable,
	store.StateCompleted, store.StateDead, store.StateCancelled,
}

func stateIndex(s store.JobState) (uint8, bool) {
	for i, n := range stateNames {
		if n == s {
			return uint8(i), true
		}
	}
	return 0, false
}

func waiting(st uint8) bool { return st == stScheduled || st == stRetryable }

// job is the in-memory form of one job: compact (times as Unix nanoseconds,
// interned strings, the rarely used fields behind x) because a million of
// them live in memory. Fields are guarded by Store.mu.
type job struct {
	id          store.ID
	q           *queue
	kind        string // interned
	args        []byte // shared with snapshots; never modified in place
	leaseHolder string // interned; set only while running
	x           *jobExtra

	runAt, createdAt, attemptedAt, finishedAt int64
	leaseDeadline, timeout                    int64
	leaseToken                                uint64

	prio, attempt, maxAttempts int32
	// heapIdx is the job's position in the one heap it belongs to by state:
	// its bucket's ready heap (available), wait heap (scheduled, retryable)
	// or the lease heap (running); -1 for final states.
	heapIdx int32
	// dueIdx is the job's position in the wake-up timer heap, -1 if absent.
	dueIdx int32
	state  uint8
}

// jobExtra holds the fields most jobs do not use. Slices and maps are shared
// with snapshots and replaced, never modified in place.
type jobExtra struct {
	uniqueKey   string
	uniqueUntil int64
	// metadata: the job's own; for a delivery (event set) the event's own,
	// shared by all its deliveries, and snapshots add the store's keys
	// (deliveryMetadata).
	metadata map[string]string
	tags     []string
	errors   []store.AttemptError
	result   []byte
	// orderingKey: the job's place in its queue's FIFO line (ordering.go).
	orderingKey string
	// sub: the subscription the job is a delivery of, nil for plain jobs
	// and for deliveries of a deleted subscription (topic.go).
	sub *subscription
	// subID: the subscription ID read from disk, kept when it names no
	// live subscription (deleted); sub.id wins when sub is set.
	subID store.ID
	// event: the ID of the event a delivery delivers, and the delivery's
	// topic and subscription names (kept past a subscription's deletion);
	// zero and empty for plain jobs and for deliveries stored before
	// job record version 2, whose metadata holds the store's keys itself.
	event              store.ID
	topicName, subName string
}

// delivered reports whether x is a delivery whose snapshots derive the
// store's metadata keys.
func (x *jobExtra) delivered() bool { return x != nil && !x.event.IsZero() }

func (j *job) extra() *jobExtra {
	if j.x == nil {
		j.x = &jobExtra{}
	}
	return j.x
}

func (j *job) uniqueKey() string {
	if j.x == nil {
		return ""
	}
	return j.x.uniqueKey
}

// appendError records an attempt error without touching the backing array
// that earlier snapshots share.
func (j *job) appendError(e store.AttemptError) {
	x := j.extra()
	x.errors = append(slices.Clip(x.errors), e)
}

func (j *job) clearLease() {
	j.leaseHolder, j.leaseToken, j.leaseDeadline = "", 0, 0
}

// snapshot fills out with a caller-owned copy of j (slices and maps shared,
// as the store.Job contract allows).
func (j *job) snapshot(out *store.Job) {
	j.snapshotShallow(out)
	if x := j.x; x.delivered() {
		out.Metadata = deliveryMetadata(x.metadata, x.topicName, x.subName, x.event)
	}
}

// snapshotShallow is snapshot without a delivery's metadata map: a
// delivery's out.Metadata is the event's own map, for the caller to pass
// to deliveryMetadata (JobClaim does that after releasing Store.mu).
func (j *job) snapshotShallow(out *store.Job) {
	*out = store.Job{
		ID:            j.id,
		Kind:          j.kind,
		Args:          j.args,
		Queue:         j.q.name,
		Priority:      int(j.prio),
		State:         stateNames[j.state],
		RunAt:         fromNanos(j.runAt),
		Attempt:       int(j.attempt),
		MaxAttempts:   int(j.maxAttempts),
		Timeout:       durationOf(j.timeout),
		CreatedAt:     fromNanos(j.createdAt),
		AttemptedAt:   fromNanos(j.attemptedAt),
		FinishedAt:    fromNanos(j.finishedAt),
		LeaseHolder:   j.leaseHolder,
		LeaseToken:    j.leaseToken,
		LeaseDeadline: fromNanos(j.leaseDeadline),
	}
	if x := j.x; x != nil {
		out.UniqueKey = x.uniqueKey
		out.UniqueUntil = fromNanos(x.uniqueUntil)
		out.OrderingKey = x.orderingKey
		out.Metadata = x.metadata
		out.Tags = slices.Clip(x.tags)
		out.Errors = slices.Clip(x.errors)
		out.Result = slices.Clip(x.result)
	}
	out.Args = slices.Clip(out.Args)
}

func (j *job) snap() *store.Job {
	out := new(store.Job)
	j.snapshot(out)
	return out
}

// idLess orders IDs bytewise (their time order).
func idLess(a, b *store.ID) bool {
	a0, b0 := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(b[:8])
	if a0 != b0 {
		return a0 < b0
	}
	return binary.BigEndian.Uint64(a[8:]) < binary.BigEndian.Uint64(b[8:])
}

// Heap orders.
const (
	byRunAt    uint8 = iota // (runAt, id): ready and wait heaps, timer heap
	byDeadline              // (leaseDeadline, id): lease heap
)

// jobHeap is a binary min-heap of jobs with the position kept in the job
// (job.heapIdx, or job.dueIdx for the timer heap) so that removing a job
// from the middle is O(log n).
type jobHeap struct {
	items []*job
	order uint8
	due   bool // uses job.dueIdx instead of job.heapIdx
}

func (h *jobHeap) less(a, b *job) bool {
	if h.order == byDeadline {
		if a.leaseDeadline != b.leaseDeadline {
			return a.leaseDeadline < b.leaseDeadline
		}
	} else if a.runAt != b.runAt {
		return a.runAt < b.runAt
	}
	return idLess(&a.id, &b.id)
}

func (h *jobHeap) setIdx(j *job, i int) {
	if h.due {
		j.dueIdx = int32(i)
	} else {
		j.heapIdx = int32(i)
	}
}

func (h *jobHeap) idx(j *job) int {
	if h.due {
		return int(j.dueIdx)
	}
	return int(j.heapIdx)
}

func (h *jobHeap) len() int { return len(h.items) }

func (h *jobHeap) top() *job {
	if len(h.items) == 0 {
		return nil
	}
	return h.items[0]
}

func (h *jobHeap) push(j *job) {
	h.items = append(h.items, j)
	n := len(h.items) - 1
	h.setIdx(j, n)
	h.up(n)
}

// remove takes j out of the heap; j must be in it.
func (h *jobHeap) remove(j *job) {
	i := h.idx(j)
	n := len(h.items) - 1
	if i < 0 || i > n || h.items[i] != j {
		panic("embedded: heap index out of sync") // an internal invariant, never input-driven
	}
	if i != n {
		h.swap(i, n)
	}
	h.items[n] = nil
	h.items = h.items[:n]
	h.setIdx(j, -1)
	if i != n {
		if !h.down(i) {
			h.up(i)
		}
	}
}

func (h *jobHeap) pop() *job {
	j := h.items[0]
	h.remove(j)
	return j
}

// fix restores order after j's key changed.
func (h *jobHeap) fix(j *job) {
	i := h.idx(j)
	if !h.down(i) {
		h.up(i)
	}
}

// init heapifies items appended without order (used by the rebuild).
func (h *jobHeap) init() {
	for i, j := range h.items {
		h.setIdx(j, i)
	}
	for i := len(h.items)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *jobHeap) swap(i, k int) {
	h.items[i], h.items[k] = h.items[k], h.items[i]
	h.setIdx(h.items[i], i)
	h.setIdx(h.items[k], k)
}

func (h *jobHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(h.items[i], h.items[p]) {
			break
		}
		h.swap(i, p)
		i = p
	}
}

func (h *jobHeap) down(i0 int) bool {
	i, n := i0, len(h.items)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && h.less(h.items[r], h.items[l]) {
			m = r
		}
		if !h.less(h.items[m], h.items[i]) {
			break
		}
		h.swap(i, m)
		i = m
	}
	return i > i0
}

// smallest returns, in order, up to limit jobs of the heap for which ok
// holds, stopping at the first that fails (ok must be monotone in the heap
// order). It walks the heap best-first and changes nothing.
func (h *jobHeap) smallest(limit int, ok func(*job) bool) []*job {
	var out []*job
	if len(h.items) == 0 || limit <= 0 {
		return out
	}
	// frontier is a small min-heap of positions in h.items.
	frontier := []int{0}
	lessPos := func(a, b int) bool { return h.less(h.items[a], h.items[b]) }
	for len(frontier) > 0 && len(out) < limit {
		// pop the best position
		best := frontier[0]
		last := len(frontier) - 1
		frontier[0] = frontier[last]
		frontier = frontier[:last]
		siftDownPos(frontier, 0, lessPos)
		j := h.items[best]
		if !ok(j) {
			break
		}
		out = append(out, j)
		for _, c := range [2]int{2*best + 1, 2*best + 2} {
			if c < len(h.items) {
				frontier = append(frontier, c)
				siftUpPos(frontier, len(frontier)-1, lessPos)
			}
		}
	}
	return out
}

func siftUpPos(f []int, i int, less func(a, b int) bool) {
	for i > 0 {
		p := (i - 1) / 2
		if !less(f[i], f[p]) {
			return
		}
		f[i], f[p] = f[p], f[i]
		i = p
	}
}

func siftDownPos(f []int, i int, less func(a, b int) bool) {
	n := len(f)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && less(f[r], f[l]) {
			m = r
		}
		if !less(f[m], f[i]) {
			return
		}
		f[i], f[m] = f[m], f[i]
		i = m
	}
}

// queue is the in-memory state of one queue: settings, counts, and its
// ready and waiting jobs in one bucket per priority.
type queue struct {
	name        string
	settings    store.QueueSettings
	hasSettings bool
	updatedAt   int64
	counts      [numStates]int64
	// buckets, by ascending priority. Within a bucket both heaps are ordered
	// by (runAt, id), so the claim order (priority, runAt, id) is the bucket
	// order, then the smaller of the two heap tops (the wait top only when
	// due).
	buckets []*bucket
	// lines: the FIFO line of each ordering key with unfinished jobs
	// (ordering.go); nil until the first ordered job.
	lines map[string]*keyLine
	// finished holds the queue's jobs in each final state (completed, dead,
	// cancelled: index state-stCompleted) ordered by (finishedAt, id), so
	// retention finds what is past its time without scanning what is not;
	// nil until the first such job. A job's finishedAt must not change
	// while it is in one of them.
	finished [numStates - stCompleted]*finTree
}

// finishedTree returns q's tree of jobs in final state st, creating it.
func (q *queue) finishedTree(st uint8) *finTree {
	t := q.finished[st-stCompleted]
	if t == nil {
		t = newFinTree()
		q.finished[st-stCompleted] = t
	}
	return t
}

type bucket struct {
	prio  int32
	ready readySet // available
	wait  jobHeap  // scheduled and retryable
}

func (q *queue) bucket(prio int32) *bucket {
	i, found := slices.BinarySearchFunc(q.buckets, prio, func(b *bucket, p int32) int {
		switch {
		case b.prio < p:
			return -1
		case b.prio > p:
			return 1
		}
		return 0
	})
	if found {
		return q.buckets[i]
	}
	b := &bucket{prio: prio}
	q.buckets = slices.Insert(q.buckets, i, b)
	return b
}

// next returns the next job to claim from b at now, and whether it is
// due in the wait heap (else it is ready).
func (b *bucket) next(now int64) (j *job, waiting bool) {
	r, w := b.ready.top(), b.wait.top()
	if w != nil && w.runAt > now {
		w = nil
	}
	if w != nil && (r == nil || b.wait.less(w, r)) {
		return w, true
	}
	return r, false
}

// oldestReady returns the smallest RunAt of a ready job, and whether any.
func (q *queue) oldestReady(now int64) (int64, bool) {
	var best int64
	found := false
	for _, b := range q.buckets {
		if r := b.ready.top(); r != nil && (!found || r.runAt < best) {
			best, found = r.runAt, true
		}
		if w := b.wait.top(); w != nil && w.runAt <= now && (!found || w.runAt < best) {
			best, found = w.runAt, true
		}
	}
	return best, found
}

func (q *queue) live() bool {
	if q.hasSettings {
		return true
	}
	for _, c := range q.counts {
		if c != 0 {
			return true
		}
	}
	return false
}

func (q *queue) view() *store.Queue {
	out := &store.Queue{
		Name:      q.name,
		Settings:  q.settings,
		Counts:    make(map[store.JobState]int64, numStates),
		UpdatedAt: fromNanos(q.updatedAt),
	}
	for i, n := range stateNames {
		out.Counts[n] = q.counts[i]
	}
	return out
}
