package embedded

import "github.com/troikahq/troika/store"

// readySet holds a bucket's available jobs in claim order (runAt, id). Most
// jobs become available in that order (a fresh insert has runAt = now and
// a new, larger ID), so they go to a FIFO lane: O(1) to add and to take,
// touching memory in order. A job that would sort before the lane's last
// (a retry that came due, a snooze, a job that waited behind its ordering
// key, a clock step back) goes to a heap. The next job is the smaller of
// the two fronts. Guarded by Store.mu like the rest of memory.
//
// A job's heapIdx says where it is: >= 0 its index in the heap, or
// fifoIdx(pos) for position pos of the lane (see ordering.go for the other
// negative values).
type readySet struct {
	heap jobHeap
	// lane[head:] holds the FIFO lane by ascending (runAt, id); removed
	// jobs leave a nil behind, skipped from the front and dropped by
	// compaction. live counts the non-nil entries.
	lane []*job
	head int
	live int
	// lastRunAt, lastID: the key of the lane's last entry when it was
	// added (copied: the job may have left and changed since).
	lastRunAt int64
	lastID    store.ID
}

// fifoIdx is the heapIdx of lane position pos; laneBase is fifoIdx(0).
const laneBase = -3

func fifoIdx(pos int) int32 { return int32(laneBase - pos) }

func lanePos(idx int32) int { return int(laneBase - idx) }

func (r *readySet) len() int { return r.heap.len() + r.live }

// push adds j (not in any heap).
func (r *readySet) push(j *job) {
	if r.live > 0 && (j.runAt < r.lastRunAt || j.runAt == r.lastRunAt && !idLess(&r.lastID, &j.id)) {
		r.heap.push(j)
		return
	}
	if r.live == 0 {
		r.lane, r.head = r.lane[:0], 0
	} else if len(r.lane) == cap(r.lane) {
		r.compact()
	}
	j.heapIdx = fifoIdx(len(r.lane))
	r.lane = append(r.lane, j)
	r.live++
	r.lastRunAt, r.lastID = j.runAt, j.id
}

// remove takes j out; j must be in r.
func (r *readySet) remove(j *job) {
	if j.heapIdx >= 0 {
		r.heap.remove(j)
		return
	}
	pos := lanePos(j.heapIdx)
	if pos < r.head || pos >= len(r.lane) || r.lane[pos] != j {
		panic("embedded: ready lane index out of sync") // an internal invariant, never input-driven
	}
	r.lane[pos] = nil
	j.heapIdx = -1
	r.live--
	if pos == r.head {
		r.skip()
	}
}

// skip moves head past removed entries.
func (r *readySet) skip() {
	for r.head < len(r.lane) && r.lane[r.head] == nil {
		r.head++
	}
}

// compact drops the removed entries before the lane grows (amortised O(1)
// per push: it runs when the slice is full, and keeps at least half free
// only if that many are gone; otherwise append doubles it).
func (r *readySet) compact() {
	if 2*r.live > len(r.lane) {
		return // mostly live: let append grow the slice
	}
	n := 0
	for _, j := range r.lane[r.head:] {
		if j != nil {
			j.heapIdx = fifoIdx(n)
			r.lane[n] = j
			n++
		}
	}
	clear(r.lane[n:])
	r.lane, r.head = r.lane[:n], 0
}

// top returns the next job to claim, or nil.
func (r *readySet) top() *job {
	h := r.heap.top()
	if r.live == 0 {
		return h
	}
	f := r.lane[r.head]
	if h != nil && r.heap.less(h, f) {
		return h
	}
	return f
}

// load appends j without order (the rebuild; init orders them).
func (r *readySet) load(j *job) { r.heap.items = append(r.heap.items, j) }

// init orders what load appended.
func (r *readySet) init() { r.heap.init() }
