package troika

import (
	"container/heap"
	"sync"
	"time"
)

// registry holds the tasks of a session whose lease the worker keeps
// (heartbeats), from claim until their ack is flushed, and a min-heap of
// their attempt deadlines for the timeout sweeper. One mutex guards both;
// it is taken once per claimed batch, once per ack flush, once per
// heartbeat and once per timer expiry, never per job.
type registry struct {
	mu        sync.Mutex
	tasks     []*task
	deadlines deadlineHeap
	timer     *time.Timer // fires at armed (or never when armed is zero)
	armed     time.Time
}

func newRegistry() *registry {
	r := &registry{timer: time.NewTimer(time.Hour)}
	r.timer.Stop()
	return r
}

// add registers ts and their deadlines.
func (r *registry) add(ts []*task) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range ts {
		t.regIdx = len(r.tasks)
		r.tasks = append(r.tasks, t)
		heap.Push(&r.deadlines, t)
	}
	r.armLocked()
}

// remove unregisters ts; tasks not registered are skipped.
func (r *registry) remove(ts []*task) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range ts {
		r.removeLocked(t)
	}
}

func (r *registry) removeLocked(t *task) {
	if i := t.regIdx; i >= 0 {
		last := len(r.tasks) - 1
		r.tasks[i] = r.tasks[last]
		r.tasks[i].regIdx = i
		r.tasks[last] = nil
		r.tasks = r.tasks[:last]
		t.regIdx = -1
	}
	if t.heapIdx >= 0 {
		heap.Remove(&r.deadlines, t.heapIdx)
	}
}

// snapshot appends every registered task to dst.
func (r *registry) snapshot(dst []*task) []*task {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append(dst, r.tasks...)
}

// len returns how many tasks are registered.
func (r *registry) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.tasks)
}

// expired removes from the heap and returns the tasks whose deadline is not
// after now, and re-arms the timer for the next deadline.
func (r *registry) expired(now time.Time) []*task {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*task
	for len(r.deadlines) > 0 && !r.deadlines[0].ctx.deadline.After(now) {
		out = append(out, heap.Pop(&r.deadlines).(*task))
	}
	r.armed = time.Time{}
	r.armLocked()
	return out
}

// armLocked sets the timer for the earliest deadline if it is not set for
// that instant or earlier already.
func (r *registry) armLocked() {
	if len(r.deadlines) == 0 {
		return
	}
	next := r.deadlines[0].ctx.deadline
	if !r.armed.IsZero() && !next.Before(r.armed) {
		return
	}
	r.armed = next
	r.timer.Reset(time.Until(next))
}

// stop stops the timer.
func (r *registry) stop() { r.timer.Stop() }

// deadlineHeap orders tasks by attempt deadline (container/heap).
type deadlineHeap []*task

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].ctx.deadline.Before(h[j].ctx.deadline) }
func (h deadlineHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx, h[j].heapIdx = i, j
}
func (h *deadlineHeap) Push(x any) {
	t := x.(*task)
	t.heapIdx = len(*h)
	*h = append(*h, t)
}
func (h *deadlineHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.heapIdx = -1
	return t
}
