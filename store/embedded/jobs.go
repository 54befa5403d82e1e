package embedded

import (
	"container/heap"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/troikahq/troika/store"
)

// ---- index maintenance (all *Locked helpers expect s.mu held)

// setStateLocked moves j to state st in the counts and the per-state
// indexes. Heaps are the caller's business (detachLocked / attachLocked).
// Set finishedAt before moving j into a final state and clear it only after
// moving j out of one (queue.finished is keyed by it).
func (s *Store) setStateLocked(j *job, st uint8) {
	if j.state == st {
		return
	}
	if j.x != nil && j.x.sub != nil {
		trackDelivery(j, st) // subscription lag (topic.go)
	}
	s.unindexLocked(j)
	j.state = st
	s.indexLocked(j)
}

// indexLocked adds j to the per-state indexes and counts of its state.
func (s *Store) indexLocked(j *job) {
	if j.state == stRunning {
		s.running[j.id] = j // byState[stRunning] stays empty (runningTreeLocked)
	} else {
		s.byState[j.state].insert(entryByID(j))
	}
	j.q.counts[j.state]++
	if j.state >= stCompleted {
		j.q.finishedTree(j.state).insert(entryByFinished(j))
	}
}

// unindexLocked removes j from the per-state indexes and counts of its
// state.
func (s *Store) unindexLocked(j *job) {
	if j.state == stRunning {
		delete(s.running, j.id)
	} else {
		s.byState[j.state].delete(entryByID(j))
	}
	j.q.counts[j.state]--
	if j.state >= stCompleted {
		if t := j.q.finished[j.state-stCompleted]; t != nil {
			t.delete(entryByFinished(j))
		}
	}
}

// detachLocked removes j from the heaps its state puts it in.
func (s *Store) detachLocked(j *job) {
	if j.heapIdx == blockedIdx {
		return // waiting in its ordering-key line: in no heap (ordering.go)
	}
	switch {
	case j.state == stAvailable:
		j.q.bucket(j.prio).ready.remove(j)
	case waiting(j.state):
		j.q.bucket(j.prio).wait.remove(j)
		s.removeDueLocked(j)
	case j.state == stRunning:
		s.leases.remove(j)
	}
}

// attachLocked adds j to the heaps of its state and records in w the queue
// to wake when j is ready at now (the params' clock) or clock (the store's).
func (s *Store) attachLocked(j *job, now, clock int64, w *wakeSet) {
	switch {
	case j.state == stAvailable:
		j.q.bucket(j.prio).ready.push(j)
		w.add(j.q)
	case waiting(j.state):
		j.q.bucket(j.prio).wait.push(j)
		if !s.addDueLocked(j, clock) || j.runAt <= now {
			w.add(j.q)
		}
	case j.state == stRunning:
		s.leases.push(j)
	}
}

// jobLocked returns the job with id, or nil: a running job from the
// running map, any other from the per-state indexes.
func (s *Store) jobLocked(id store.ID) *job {
	if j := s.running[id]; j != nil {
		return j
	}
	k := idKey(id)
	for _, t := range s.byState {
		if e, ok := t.get(k); ok {
			return e.j
		}
	}
	return nil
}

// runningTreeLocked returns the running jobs in a new tree by ID, for
// listing: they live in the running map only (a job is claimed and acked
// once each, a list of running jobs is rare, and their number is the
// workers' concurrency).
func (s *Store) runningTreeLocked() *idTree {
	t := newIDTree()
	for _, j := range s.running {
		t.insert(entryByID(j))
	}
	return t
}

// addJobLocked indexes a new job (state set, not yet in any index).
func (s *Store) addJobLocked(j *job, now, clock int64, w *wakeSet) {
	s.indexLocked(j)
	if k := j.uniqueKey(); k != "" {
		s.uniq[k] = j
	}
	if j.x != nil && j.x.sub != nil {
		j.x.sub.pending.insert(entryByID(j)) // subscription lag (topic.go)
	}
	if s.admitLocked(j) { // false: waits behind its ordering key (ordering.go)
		s.attachLocked(j, now, clock, w)
	}
}

// deleteJobLocked removes j from memory and adds its deletion to b. An
// unfinished job leaves its ordering-key line and subscription lag; the
// job that takes its key over is woken through w (clock: the store's).
func (s *Store) deleteJobLocked(b *pebble.Batch, j *job, clock int64, w *wakeSet) {
	s.detachLocked(j)
	if j.state < stCompleted {
		s.leaveLineLocked(j, clock, clock, w)
		if j.x != nil && j.x.sub != nil {
			j.x.sub.pending.delete(entryByID(j))
		}
	}
	s.unindexLocked(j)
	if k := j.uniqueKey(); k != "" && s.uniq[k] == j {
		delete(s.uniq, k)
	}
	var key [17]byte
	_ = b.Delete(jobKey(&key, j.id), nil)
}

// putJobLocked adds j's record to b.
func (s *Store) putJobLocked(b *pebble.Batch, j *job) {
	s.enc = appendJob(s.enc[:0], j)
	var key [17]byte
	_ = b.Set(jobKey(&key, j.id), s.enc, nil)
}

// clocks returns the params' instant (the store's clock when zero) and the
// store's clock, in nanoseconds.
func (s *Store) clocks(t time.Time) (now, clock int64) {
	clock = toNanos(s.now())
	if t.IsZero() {
		return clock, clock
	}
	return toNanos(t), clock
}

// finish commits b: apply under s.mu (which it releases), wake w's
// subscribers, and wait for the shared fsync.
func (s *Store) finish(b *pebble.Batch, w *wakeSet) error {
	committed, err := s.applyLocked(b)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if w != nil {
		s.notify(w)
	}
	if !committed {
		return nil
	}
	return s.syncWait(b)
}

func fitsInt32(v int) bool { return v >= math.MinInt32 && v <= math.MaxInt32 }

func notFound(id store.ID) error { return fmt.Errorf("job %s: %w", id, store.ErrNotFound) }

// ---- JobInsertMany

// JobInsertMany inserts p.Jobs atomically and durably (see store.Store).
// IDs are UUIDv7s that increase across calls. An empty Kind, or a Priority
// or MaxAttempts outside int32, is ErrInvalidArgument and inserts nothing.
func (s *Store) JobInsertMany(ctx context.Context, p *store.JobInsertManyParams) ([]store.InsertResult, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	argBytes := 0
	for i := range p.Jobs {
		in := &p.Jobs[i]
		switch {
		case in.Kind == "":
			return nil, invalid(fmt.Sprintf("jobs[%d].kind", i), "must not be empty")
		case !fitsInt32(in.Priority):
			return nil, invalid(fmt.Sprintf("jobs[%d].priority", i), "out of range")
		case !fitsInt32(in.MaxAttempts):
			return nil, invalid(fmt.Sprintf("jobs[%d].max_attempts", i), "out of range")
		}
		argBytes += len(in.Args)
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	now, clock := s.clocks(p.Now)
	b := s.db.NewBatch()
	var w wakeSet
	res := s.insertJobsLocked(b, &w, p.Jobs, argBytes, now, clock)
	if err := s.finish(b, &w); err != nil {
		return nil, err
	}
	return res, nil
}

// insertJobsLocked inserts jobs (validated as JobInsertMany does) into
// memory and adds their records to b, recording wake-ups in w; argBytes is
// the total size of their args. The caller holds s.mu and commits b with
// finish. ScheduleFire shares it, so a fired job is inserted exactly as an
// enqueued one.
func (s *Store) insertJobsLocked(b *pebble.Batch, w *wakeSet, jobs []store.InsertJob, argBytes int, now, clock int64) []store.InsertResult {
	return s.insertDeliveriesLocked(b, w, jobs, nil, argBytes, now, clock, nil)
}

// insertDeliveriesLocked is insertJobsLocked where dels, when not nil,
// names the subscription and event each job is a delivery of (topic.go);
// a delivery's Metadata is the event's own, shared, never modified. With
// ids not nil (len(jobs) long) it stores each job's ID there (the
// existing job's for a duplicate) and returns nil instead of snapshots:
// publishing needs only the IDs, and a snapshot per delivery is a copy of
// the whole job made with the store mutex held.
func (s *Store) insertDeliveriesLocked(b *pebble.Batch, w *wakeSet, jobs []store.InsertJob, dels []deliveryOf, argBytes int, now, clock int64, ids []store.ID) []store.InsertResult {
	n := len(jobs)
	var res []store.InsertResult
	var snaps []store.Job
	if ids == nil {
		res = make([]store.InsertResult, n)
		snaps = make([]store.Job, n)
	}
	// One allocation for the jobs and one for their args (they live and die
	// together in the common case; see doc.go on memory).
	slab := make([]job, 0, n)
	argSlab := make([]byte, 0, argBytes)
	var xSlab []jobExtra // the jobExtras of the jobs that need one, made when the first does
	idTime := time.Unix(0, clock)
	for i := range jobs {
		in := &jobs[i]
		if in.UniqueKey != "" {
			if ex := s.uniq[in.UniqueKey]; ex != nil && now < ex.x.uniqueUntil {
				if ids != nil {
					ids[i] = ex.id
					continue
				}
				ex.snapshot(&snaps[i])
				res[i] = store.InsertResult{Job: &snaps[i], Duplicate: true}
				continue
			}
		}
		slab = append(slab, job{})
		j := &slab[len(slab)-1]
		j.id = s.ids.next(idTime)
		j.q = s.queueLocked(in.Queue)
		j.kind = s.strs.str(in.Kind)
		if in.Args != nil {
			start := len(argSlab)
			argSlab = append(argSlab, in.Args...)
			j.args = argSlab[start:len(argSlab):len(argSlab)]
		}
		j.prio = int32(in.Priority)
		j.maxAttempts = int32(in.MaxAttempts)
		j.timeout = int64(in.Timeout)
		j.createdAt = now
		j.runAt = now
		if !in.RunAt.IsZero() {
			j.runAt = toNanos(in.RunAt)
		}
		j.state = stAvailable
		if j.runAt > now {
			j.state = stScheduled
		}
		j.heapIdx, j.dueIdx = -1, -1
		var del deliveryOf
		if dels != nil {
			del = dels[i]
		}
		if in.UniqueKey != "" || len(in.Metadata) > 0 || len(in.Tags) > 0 || in.OrderingKey != "" || del.sub != nil {
			if xSlab == nil {
				xSlab = make([]jobExtra, 0, n-i)
			}
			xSlab = append(xSlab, jobExtra{uniqueKey: in.UniqueKey, uniqueUntil: toNanos(in.UniqueUntil),
				orderingKey: in.OrderingKey, sub: del.sub, event: del.event})
			j.x = &xSlab[len(xSlab)-1]
			switch {
			case del.sub != nil:
				j.x.topicName, j.x.subName = del.sub.t.name, del.sub.name
				j.x.metadata = in.Metadata // the event's, shared by its deliveries (topic.go)
			case len(in.Metadata) > 0:
				j.x.metadata = maps.Clone(in.Metadata)
			}
			if len(in.Tags) > 0 {
				j.x.tags = slices.Clone(in.Tags)
			}
		}
		s.addJobLocked(j, now, clock, w)
		s.putJobLocked(b, j)
		if ids != nil {
			ids[i] = j.id
			continue
		}
		j.snapshot(&snaps[i])
		res[i] = store.InsertResult{Job: &snaps[i]}
	}
	return res
}

// ---- JobClaim

// JobClaim leases up to p.Max ready jobs (see store.Store and
// store.JobClaimParams for order and weights). Due scheduled and retryable
// jobs are claimed directly. LeaseTTL ≤ 0 or a Weight ≤ 0 is
// ErrInvalidArgument; Max ≤ 0 or no queues claims nothing. Lease tokens are
// unique across restarts (an epoch bumped on every open, in the top bits).
func (s *Store) JobClaim(ctx context.Context, p *store.JobClaimParams) ([]*store.Job, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if p.LeaseTTL <= 0 {
		return nil, invalid("lease_ttl", "must be > 0")
	}
	sum := 0
	for i, q := range p.Queues {
		if q.Weight <= 0 {
			return nil, invalid(fmt.Sprintf("queues[%d].weight", i), "must be > 0")
		}
		if sum > math.MaxInt-q.Weight {
			sum = math.MaxInt
		} else {
			sum += q.Weight
		}
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if p.Max <= 0 || len(p.Queues) == 0 {
		s.mu.Unlock()
		return []*store.Job{}, nil
	}
	now, _ := s.clocks(p.Now)
	deadline := addDur(now, p.LeaseTTL)
	holder := s.strs.str(p.Worker)
	var picked []*job
	b := s.db.NewBatch()
	take := func(q *queue, n int) {
		for ; n > 0 && len(picked) < p.Max; n-- {
			j := s.nextReadyLocked(q, now)
			if j == nil {
				return
			}
			s.setStateLocked(j, stRunning)
			j.attempt++
			j.attemptedAt = now
			j.leaseHolder = holder
			j.leaseToken = s.nextTokenLocked(b)
			j.leaseDeadline = deadline
			s.leases.push(j)
			picked = append(picked, j)
		}
	}
	qs := make([]*queue, len(p.Queues))
	for i, qw := range p.Queues {
		if q := s.queues[qw.Name]; q != nil && !q.settings.Paused {
			qs[i] = q
		}
	}
	for i, qw := range p.Queues {
		if qs[i] != nil {
			take(qs[i], share(p.Max, qw.Weight, sum))
		}
	}
	for i := range p.Queues {
		if qs[i] != nil && len(picked) < p.Max {
			take(qs[i], p.Max-len(picked))
		}
	}
	out := make([]*store.Job, len(picked))
	snaps := make([]store.Job, len(picked))
	var dels []*jobExtra // the deliveries' metadata is built outside the mutex
	for i, j := range picked {
		s.putJobLocked(b, j)
		j.snapshotShallow(&snaps[i])
		out[i] = &snaps[i]
		if j.x.delivered() {
			if dels == nil {
				dels = make([]*jobExtra, len(picked))
			}
			dels[i] = j.x
		}
	}
	if err := s.finish(b, nil); err != nil {
		return nil, err
	}
	for i, x := range dels {
		if x != nil { // event and names never change once set: no lock needed
			snaps[i].Metadata = deliveryMetadata(snaps[i].Metadata, x.topicName, x.subName, x.event)
		}
	}
	return out, nil
}

// share is ceil(max*weight/sum) without overflow.
func share(max, weight, sum int) int {
	if weight > 0 && max > math.MaxInt/weight {
		return int(math.Min(math.Ceil(float64(max)*float64(weight)/float64(sum)), float64(max)))
	}
	return (max*weight + sum - 1) / sum
}

// nextReadyLocked takes the next job to claim from q at now out of its
// heap (and the timer heap), or returns nil.
func (s *Store) nextReadyLocked(q *queue, now int64) *job {
	for _, bk := range q.buckets {
		j, waiting := bk.next(now)
		switch {
		case j == nil:
			continue
		case waiting:
			bk.wait.remove(j)
		default:
			bk.ready.remove(j)
		}
		s.removeDueLocked(j)
		return j
	}
	return nil
}

// nextTokenLocked returns a fresh lease token; if the per-open counter
// runs out it moves to a new epoch, recorded in b.
func (s *Store) nextTokenLocked(b *pebble.Batch) uint64 {
	s.tokenSeq++
	if s.tokenSeq >= 1<<tokenSeqBits {
		s.tokenSeq = 1
		s.epoch++
		if s.epoch >= 1<<(64-tokenSeqBits) {
			s.epoch = 1
		}
		_ = b.Set(nameKey(prefixMeta, metaTokenEpoch), appendMetaUint(nil, s.epoch), nil)
	}
	return s.epoch<<tokenSeqBits | s.tokenSeq
}

// ---- JobAckMany, JobLeaseExtendMany

// leaseLocked returns the job a lease names if the lease is current.
func (s *Store) leaseLocked(ref store.LeaseRef) (*job, error) {
	j := s.running[ref.ID]
	if j == nil {
		if s.jobLocked(ref.ID) == nil {
			return nil, notFound(ref.ID)
		}
		return nil, store.ErrLeaseLost
	}
	if j.state != stRunning || int(j.attempt) != ref.Attempt || j.leaseToken != ref.Token {
		return nil, store.ErrLeaseLost
	}
	return j, nil
}

// JobAckMany applies the outcomes of leased attempts, each a compare-and-set
// on (running, Attempt, Token) (see store.Store). A zero RunAt for AckRetry
// or AckSnooze means Now. An undefined Outcome fails its item with
// ErrInvalidArgument.
func (s *Store) JobAckMany(ctx context.Context, p *store.JobAckManyParams) ([]error, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	now, clock := s.clocks(p.Now)
	errs := make([]error, len(p.Acks))
	b := s.db.NewBatch()
	var w wakeSet
	for i := range p.Acks {
		a := &p.Acks[i]
		if a.Outcome < store.AckComplete || a.Outcome > store.AckSnooze {
			errs[i] = invalid(fmt.Sprintf("acks[%d].outcome", i), fmt.Sprintf("unknown outcome %d", a.Outcome))
			continue
		}
		j, err := s.leaseLocked(a.Lease)
		if err != nil {
			errs[i] = err
			continue
		}
		s.leases.remove(j)
		j.clearLease()
		runAt := now
		if !a.RunAt.IsZero() {
			runAt = toNanos(a.RunAt)
		}
		switch a.Outcome {
		case store.AckComplete:
			j.finishedAt = now
			if a.Result != nil || j.x != nil {
				j.extra().result = slices.Clone(a.Result)
			}
			s.setStateLocked(j, stCompleted)
		case store.AckRetry:
			if a.Error != nil {
				j.appendError(*a.Error)
			}
			j.runAt = runAt
			s.setStateLocked(j, stRetryable)
		case store.AckDead:
			if a.Error != nil {
				j.appendError(*a.Error)
			}
			j.finishedAt = now
			s.setStateLocked(j, stDead)
		case store.AckCancel:
			if a.Error != nil {
				j.appendError(*a.Error)
			}
			j.finishedAt = now
			s.setStateLocked(j, stCancelled)
		case store.AckSnooze:
			j.attempt--
			j.runAt = runAt
			if runAt <= now {
				s.setStateLocked(j, stAvailable)
			} else {
				s.setStateLocked(j, stScheduled)
			}
		}
		s.attachLocked(j, now, clock, &w)
		if j.state >= stCompleted {
			s.leaveLineLocked(j, now, clock, &w) // hand the ordering key on
		}
		s.putJobLocked(b, j)
	}
	if err := s.finish(b, &w); err != nil {
		return nil, err
	}
	return errs, nil
}

// JobLeaseExtendMany moves current leases' deadlines to Now + TTL (see
// store.Store). TTL ≤ 0 is ErrInvalidArgument for the whole call.
func (s *Store) JobLeaseExtendMany(ctx context.Context, p *store.JobLeaseExtendManyParams) ([]error, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if p.TTL <= 0 {
		return nil, invalid("ttl", "must be > 0")
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	now, _ := s.clocks(p.Now)
	deadline := addDur(now, p.TTL)
	errs := make([]error, len(p.Leases))
	b := s.db.NewBatch()
	for i, ref := range p.Leases {
		j, err := s.leaseLocked(ref)
		if err != nil {
			errs[i] = err
			continue
		}
		j.leaseDeadline = deadline
		s.leases.fix(j)
		s.putJobLocked(b, j)
	}
	if err := s.finish(b, nil); err != nil {
		return nil, err
	}
	return errs, nil
}

// JobLeaseExpiredList returns up to Limit (default 1,000) running jobs
// whose lease deadline is before Now, oldest deadline first; it changes
// nothing.
func (s *Store) JobLeaseExpiredList(ctx context.Context, p *store.JobLeaseExpiredListParams) ([]*store.Job, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	now, _ := s.clocks(p.Now)
	limit := p.Limit
	if limit <= 0 {
		limit = 1000
	}
	exp := s.leases.smallest(limit, func(j *job) bool { return j.leaseDeadline < now })
	return snapshots(exp), nil
}

func snapshots(js []*job) []*store.Job {
	out := make([]*store.Job, len(js))
	snaps := make([]store.Job, len(js))
	for i, j := range js {
		j.snapshot(&snaps[i])
		out[i] = &snaps[i]
	}
	return out
}

// ---- JobPromoteDue

// bucketHeap orders buckets by the top of their wait heaps, to promote due
// jobs across queues in RunAt order.
type bucketHeap []*bucket

func (h bucketHeap) Len() int           { return len(h) }
func (h bucketHeap) Less(i, k int) bool { return h[i].wait.less(h[i].wait.top(), h[k].wait.top()) }
func (h bucketHeap) Swap(i, k int)      { h[i], h[k] = h[k], h[i] }
func (h *bucketHeap) Push(x any)        { *h = append(*h, x.(*bucket)) }
func (h *bucketHeap) Pop() any {
	old := *h
	b := old[len(old)-1]
	*h = old[:len(old)-1]
	return b
}

// JobPromoteDue moves up to Limit (default 10,000) scheduled and retryable
// jobs with RunAt ≤ Now to available, earliest RunAt first, durably, and
// wakes their queues' subscribers.
func (s *Store) JobPromoteDue(ctx context.Context, p *store.JobPromoteDueParams) (int, error) {
	if p == nil {
		return 0, invalid("params", "nil")
	}
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	now, clock := s.clocks(p.Now)
	limit := p.Limit
	if limit <= 0 {
		limit = 10000
	}
	var bh bucketHeap
	for _, q := range s.queues {
		for _, bk := range q.buckets {
			if t := bk.wait.top(); t != nil && t.runAt <= now {
				bh = append(bh, bk)
			}
		}
	}
	heap.Init(&bh)
	b := s.db.NewBatch()
	var w wakeSet
	n := 0
	for n < limit && len(bh) > 0 {
		bk := bh[0]
		j := bk.wait.top()
		bk.wait.remove(j)
		s.removeDueLocked(j)
		s.setStateLocked(j, stAvailable)
		s.attachLocked(j, now, clock, &w)
		s.putJobLocked(b, j)
		n++
		if t := bk.wait.top(); t != nil && t.runAt <= now {
			heap.Fix(&bh, 0)
		} else {
			heap.Pop(&bh)
		}
	}
	if err := s.finish(b, &w); err != nil {
		return 0, err
	}
	return n, nil
}

// ---- reads

// JobGet returns a snapshot of one job, or ErrNotFound.
func (s *Store) JobGet(ctx context.Context, p *store.JobGetParams) (*store.Job, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	j := s.jobLocked(p.ID)
	if j == nil {
		return nil, notFound(p.ID)
	}
	return j.snap(), nil
}

// JobList returns a page of jobs matching every non-empty filter in ID
// order (see store.Store). With a State it walks only that state's index;
// without, it merges the per-state indexes. An unknown State is
// ErrInvalidArgument.
func (s *Store) JobList(ctx context.Context, p *store.JobListParams) (*store.JobListResult, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	var st uint8
	if p.State != "" {
		var ok bool
		if st, ok = stateIndex(p.State); !ok {
			return nil, invalid("state", fmt.Sprintf("unknown state %q", p.State))
		}
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 10000)
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	match := func(j *job) bool {
		if p.Queue != "" && j.q.name != p.Queue || p.Kind != "" && j.kind != p.Kind {
			return false
		}
		return p.Tag == "" || j.x != nil && slices.Contains(j.x.tags, p.Tag)
	}
	var found []*job
	if p.State != "" {
		found = s.scanLocked(st, p.After, p.Desc, limit+1, match, nil)
	} else {
		for i := range numStates {
			found = s.scanLocked(uint8(i), p.After, p.Desc, limit+1, match, found)
		}
		slices.SortFunc(found, func(a, b *job) int {
			c := a.id.Compare(b.id)
			if p.Desc {
				return -c
			}
			return c
		})
	}
	res := &store.JobListResult{}
	if len(found) > limit {
		found = found[:limit]
		res.Next = found[limit-1].id
	}
	res.Jobs = snapshots(found)
	return res, nil
}

// scanLocked appends to out up to max jobs of state st matching match,
// strictly after the cursor (in the direction of desc).
func (s *Store) scanLocked(st uint8, after store.ID, desc bool, max int, match func(*job) bool, out []*job) []*job {
	n := 0
	visit := func(e idEntry) bool {
		j := e.j
		if j.id == after {
			return true
		}
		if match(j) {
			out = append(out, j)
			n++
		}
		return n < max
	}
	t := s.byState[st]
	if st == stRunning {
		t = s.runningTreeLocked()
	}
	var from *idEntry
	if !after.IsZero() {
		pivot := idKey(after)
		from = &pivot
	}
	if desc {
		t.descend(from, visit)
	} else {
		t.ascend(from, visit)
	}
	return out
}

// finishedBeforeLocked returns up to limit jobs in final state st finished
// before before, of queueName (all queues when empty) and kind (any when
// empty), each queue's oldest first.
func (s *Store) finishedBeforeLocked(st uint8, queueName, kind string, before int64, limit int) []*job {
	var out []*job
	visit := func(q *queue) {
		t := q.finished[st-stCompleted]
		if t == nil {
			return
		}
		t.ascend(nil, func(e finEntry) bool {
			j := e.j
			if j.finishedAt >= before {
				return false
			}
			if kind == "" || j.kind == kind {
				out = append(out, j)
			}
			return len(out) < limit
		})
	}
	if queueName != "" {
		if q := s.queues[queueName]; q != nil {
			visit(q)
		}
		return out
	}
	for _, q := range s.queues {
		if len(out) >= limit {
			break
		}
		visit(q)
	}
	return out
}

// ---- operator actions

// JobCancel cancels one job that is not final (see store.Store); a running
// job's lease is revoked. FinishedAt = Now; a non-empty Reason is recorded
// as an AttemptError for the current attempt.
func (s *Store) JobCancel(ctx context.Context, p *store.JobCancelParams) (*store.Job, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	j := s.jobLocked(p.ID)
	if j == nil {
		s.mu.Unlock()
		return nil, notFound(p.ID)
	}
	if j.state >= stCompleted {
		s.mu.Unlock()
		return nil, &store.StateError{ID: j.id, Op: "cancel", State: stateNames[j.state]}
	}
	now, clock := s.clocks(p.Now)
	s.detachLocked(j)
	j.clearLease()
	if p.Reason != "" {
		j.appendError(store.AttemptError{At: fromNanos(now), Attempt: int(j.attempt), Message: p.Reason})
	}
	j.finishedAt = now
	s.setStateLocked(j, stCancelled)
	var w wakeSet
	s.leaveLineLocked(j, now, clock, &w) // hand the ordering key on
	b := s.db.NewBatch()
	s.putJobLocked(b, j)
	out := j.snap()
	if err := s.finish(b, &w); err != nil {
		return nil, err
	}
	return out, nil
}

// selectLocked resolves IDs (deduplicated, in the given order) for an
// all-or-nothing operation: every id must exist and pass ok, else the
// error for the first that does not.
func (s *Store) selectLocked(ids []store.ID, op string, ok func(*job) bool) ([]*job, error) {
	out := make([]*job, 0, len(ids))
	seen := make(map[store.ID]struct{}, len(ids))
	for _, id := range ids {
		if _, dup := seen[id]; dup {
			continue
		}
		seen[id] = struct{}{}
		j := s.jobLocked(id)
		if j == nil {
			return nil, notFound(id)
		}
		if !ok(j) {
			return nil, &store.StateError{ID: id, Op: op, State: stateNames[j.state]}
		}
		out = append(out, j)
	}
	return out, nil
}

// JobRetry makes dead jobs available again (see store.Store): Attempt 0,
// FinishedAt cleared, RunAt = Now, Errors kept. Without IDs it takes up to
// Limit (default 1,000) dead jobs matching Queue and Kind, oldest ID first.
func (s *Store) JobRetry(ctx context.Context, p *store.JobRetryParams) ([]*store.Job, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	var todo []*job
	if len(p.IDs) > 0 {
		var err error
		if todo, err = s.selectLocked(p.IDs, "retry", func(j *job) bool { return j.state == stDead }); err != nil {
			s.mu.Unlock()
			return nil, err
		}
	} else {
		limit := p.Limit
		if limit <= 0 {
			limit = 1000
		}
		todo = s.scanLocked(stDead, store.ID{}, false, limit, func(j *job) bool {
			return (p.Queue == "" || j.q.name == p.Queue) && (p.Kind == "" || j.kind == p.Kind)
		}, nil)
	}
	now, clock := s.clocks(p.Now)
	b := s.db.NewBatch()
	var w wakeSet
	for _, j := range todo {
		j.attempt = 0
		j.runAt = now
		s.setStateLocked(j, stAvailable)
		j.finishedAt = 0      // after leaving the dead index, which is keyed by it
		if s.admitLocked(j) { // false: rejoins its ordering key's line
			s.attachLocked(j, now, clock, &w)
		}
		s.putJobLocked(b, j)
	}
	out := snapshots(todo)
	if err := s.finish(b, &w); err != nil {
		return nil, err
	}
	return out, nil
}

// JobDelete deletes jobs that are not running (see store.Store), freeing
// their unique keys. Without IDs, State is required and must not be
// running (ErrInvalidArgument otherwise); Limit defaults to 1,000; jobs go
// oldest ID first, or, with FinishedBefore and a final State, queue by
// queue oldest FinishedAt first. That retention case visits only the jobs it
// deletes (and those of other kinds when Kind is set), however many newer
// finished jobs are kept.
func (s *Store) JobDelete(ctx context.Context, p *store.JobDeleteParams) (int, error) {
	if p == nil {
		return 0, invalid("params", "nil")
	}
	var st uint8
	if len(p.IDs) == 0 {
		var ok bool
		st, ok = stateIndex(p.State)
		if !ok || st == stRunning {
			return 0, invalid("state", "required without ids, and must not be running")
		}
	}
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	var todo []*job
	if len(p.IDs) > 0 {
		var err error
		if todo, err = s.selectLocked(p.IDs, "delete", func(j *job) bool { return j.state != stRunning }); err != nil {
			s.mu.Unlock()
			return 0, err
		}
	} else {
		limit := p.Limit
		if limit <= 0 {
			limit = 1000
		}
		if before := toNanos(p.FinishedBefore); before != 0 && st >= stCompleted {
			todo = s.finishedBeforeLocked(st, p.Queue, p.Kind, before, limit)
		} else {
			todo = s.scanLocked(st, store.ID{}, false, limit, func(j *job) bool {
				return (p.Queue == "" || j.q.name == p.Queue) && (p.Kind == "" || j.kind == p.Kind)
			}, nil)
		}
	}
	b := s.db.NewBatch()
	var w wakeSet
	_, clock := s.clocks(time.Time{})
	for _, j := range todo {
		s.deleteJobLocked(b, j, clock, &w)
	}
	if err := s.finish(b, &w); err != nil {
		return 0, err
	}
	return len(todo), nil
}
