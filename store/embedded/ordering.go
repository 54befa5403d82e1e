package embedded

import "slices"

// Ordering keys (store.InsertJob.OrderingKey).
//
// Every unfinished job with an ordering key is in the line of (its queue,
// its key). The line's holder is the one job of the line that is in the
// heaps of its state (ready, waiting, or the lease heap while running);
// the others wait in ID order (their enqueue order) in no heap at all, with
// heapIdx = blockedIdx. Claims therefore never see a blocked job and never
// scan past one: the cost of ordering is paid once per job, when it joins
// the line and when its predecessor hands the key over.
//
// The holder keeps the key until it is final (completed, dead, cancelled)
// or deleted: a retrying or snoozed holder holds the line (the head-of-line
// trade-off documented in docs/topics.md). Then the next job in line
// becomes the holder and is attached to the heaps of its state (and its
// queue woken). A line with no job left is dropped, so memory follows the
// number of keys with unfinished work.
//
// The line is not stored: the rebuild derives it from the jobs (see
// loadLineLocked and pickHoldersLocked). The holder after a reopen is the
// line's running job if any, else its first job that has started an
// attempt, else its first job. That is the holder before the crash except
// when a dead job was retried into the middle of a line whose holder had
// not started yet; then the two swap turns, and still never run at once.

// blockedIdx is the heapIdx of a job waiting in its line behind the holder.
const blockedIdx = -2

// keyLine is the line of unfinished jobs of one (queue, ordering key).
// Guarded by Store.mu.
type keyLine struct {
	holder  *job   // in the heaps of its state; nil only during the rebuild
	waiting []*job // behind the holder, ascending ID
}

func (j *job) orderingKey() string {
	if j.x == nil {
		return ""
	}
	return j.x.orderingKey
}

func cmpJobID(a, b *job) int { return a.id.Compare(b.id) }

// admitLocked puts j (unfinished, not in any heap) in its line. It returns
// true when j holds the key, or has none: the caller attaches j to the
// heaps of its state. It returns false when j waits behind the holder.
func (s *Store) admitLocked(j *job) bool {
	k := j.orderingKey()
	if k == "" {
		return true
	}
	q := j.q
	if q.lines == nil {
		q.lines = make(map[string]*keyLine)
	}
	l := q.lines[k]
	if l == nil {
		q.lines[k] = &keyLine{holder: j}
		return true
	}
	if l.holder == nil {
		l.holder = j
		return true
	}
	// Usually at the end (IDs increase); a retried dead job rejoins at its
	// enqueue position behind the current holder.
	i, _ := slices.BinarySearchFunc(l.waiting, j, cmpJobID)
	l.waiting = slices.Insert(l.waiting, i, j)
	j.heapIdx = blockedIdx
	return false
}

// leaveLineLocked takes j out of its line because it became final or is
// being deleted (the caller has already detached it from the heaps). A
// waiting job just leaves its place; the holder hands the key to the next
// job in line, which is attached to the heaps of its state, its queue
// recorded in w. A job without a key is left alone.
func (s *Store) leaveLineLocked(j *job, now, clock int64, w *wakeSet) {
	k := j.orderingKey()
	if k == "" {
		return
	}
	l := j.q.lines[k]
	if l == nil {
		return
	}
	if l.holder != j {
		if i, ok := slices.BinarySearchFunc(l.waiting, j, cmpJobID); ok && l.waiting[i] == j {
			l.waiting = slices.Delete(l.waiting, i, i+1)
		}
		if j.heapIdx == blockedIdx {
			j.heapIdx = -1
		}
		return
	}
	if len(l.waiting) == 0 {
		delete(j.q.lines, k)
		return
	}
	next := l.waiting[0]
	l.waiting[0] = nil
	l.waiting = l.waiting[1:]
	l.holder = next
	next.heapIdx = -1
	s.attachLocked(next, now, clock, w)
}

// loadLineLocked is the rebuild's part of admitLocked: it appends an
// unfinished job with a key to its line's waiting list (jobs are read in ID
// order) and reports whether the caller must keep it out of the heaps (it
// is not running: pickHoldersLocked decides later). Running jobs stay in
// the lease heap.
func (s *Store) loadLineLocked(j *job) bool {
	k := j.orderingKey()
	if k == "" || j.state >= stCompleted {
		return false
	}
	q := j.q
	if q.lines == nil {
		q.lines = make(map[string]*keyLine)
	}
	l := q.lines[k]
	if l == nil {
		l = &keyLine{}
		q.lines[k] = l
	}
	l.waiting = append(l.waiting, j)
	if j.state == stRunning {
		return false
	}
	j.heapIdx = blockedIdx
	return true
}

// pickHoldersLocked ends the rebuild of the lines: each line's holder is
// its running job, else its first job that has started an attempt, else
// its first job; a holder that is not running is appended to the
// (unordered, initialised afterwards) heaps of its state. It runs before
// the rebuild heapifies.
func (s *Store) pickHoldersLocked() {
	for _, q := range s.queues {
		for _, l := range q.lines {
			h := slices.IndexFunc(l.waiting, func(j *job) bool { return j.state == stRunning })
			if h < 0 {
				h = max(0, slices.IndexFunc(l.waiting, func(j *job) bool { return j.attempt > 0 }))
			}
			l.holder = l.waiting[h]
			l.waiting = slices.Delete(l.waiting, h, h+1)
			// More than one running job in a line cannot happen; if the
			// data says so, the extra ones keep their leases and leave
			// the line (they are in the lease heap, not blocked).
			l.waiting = slices.DeleteFunc(l.waiting, func(j *job) bool { return j.state == stRunning })
			if j := l.holder; j.state != stRunning {
				j.heapIdx = -1
				s.loadHeapsLocked(j)
			}
		}
	}
}

// loadHeapsLocked appends an available or waiting job to the unordered
// heaps of the rebuild.
func (s *Store) loadHeapsLocked(j *job) {
	switch {
	case j.state == stAvailable:
		j.q.bucket(j.prio).ready.load(j)
	case waiting(j.state):
		h := &j.q.bucket(j.prio).wait
		h.items = append(h.items, j)
		s.due.items = append(s.due.items, j)
	}
}

// SupportsOrderingKeys reports true: the embedded store honours
// InsertJob.OrderingKey (store.OrderingStore).
func (s *Store) SupportsOrderingKeys() bool { return true }
