package storetest

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/troikahq/troika/store"
)

// TestSuiteAgainstReference runs the suite against memStore, a deliberately
// simple in-memory reference of the contract (one mutex, linear scans). It
// proves the suite is satisfiable and self-consistent without any real
// backend; it is not a backend and is never used outside this test.
func TestSuiteAgainstReference(t *testing.T) {
	Run(t, func(t *testing.T) store.Store {
		s := newMemStore()
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

type memQueue struct {
	settings  store.QueueSettings
	updatedAt time.Time
}

type memSub struct {
	queues map[string]bool // empty: all
	ch     chan struct{}
}

type memStore struct {
	mu      sync.Mutex
	closed  bool
	jobs    map[store.ID]*store.Job
	queues  map[string]*memQueue
	leaders map[string]*store.Leader
	token   uint64
	subs    map[int]*memSub
	nextSub int
}

var _ store.Store = (*memStore)(nil)

func newMemStore() *memStore {
	return &memStore{
		jobs:    map[store.ID]*store.Job{},
		queues:  map[string]*memQueue{},
		leaders: map[string]*store.Leader{},
		subs:    map[int]*memSub{},
	}
}

func invalid(field, reason string) error {
	return &store.InvalidArgumentError{Field: field, Reason: reason}
}

func clone(j *store.Job) *store.Job {
	c := *j
	c.Args = slices.Clone(j.Args)
	c.Metadata = maps.Clone(j.Metadata)
	c.Tags = slices.Clone(j.Tags)
	c.Errors = slices.Clone(j.Errors)
	c.Result = slices.Clone(j.Result)
	return &c
}

func clearLease(j *store.Job) { j.LeaseHolder, j.LeaseToken, j.LeaseDeadline = "", 0, time.Time{} }

func (m *memStore) begin(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		m.mu.Unlock()
		return err
	}
	return nil
}

func (m *memStore) wake(queue string) {
	for _, s := range m.subs {
		if len(s.queues) == 0 || s.queues[queue] {
			select {
			case s.ch <- struct{}{}:
			default:
			}
		}
	}
}

func (m *memStore) sorted(filter func(*store.Job) bool) []*store.Job {
	var out []*store.Job
	for _, j := range m.jobs {
		if filter(j) {
			out = append(out, j)
		}
	}
	slices.SortFunc(out, func(a, b *store.Job) int { return a.ID.Compare(b.ID) })
	return out
}

func (m *memStore) JobInsertMany(ctx context.Context, p *store.JobInsertManyParams) ([]store.InsertResult, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if err := m.begin(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	for i, in := range p.Jobs {
		if in.Kind == "" {
			return nil, invalid("jobs["+string(rune('0'+i%10))+"].kind", "empty")
		}
	}
	out := make([]store.InsertResult, len(p.Jobs))
	for i, in := range p.Jobs {
		if in.UniqueKey != "" {
			var dup *store.Job
			for _, j := range m.jobs {
				if j.UniqueKey == in.UniqueKey && p.Now.Before(j.UniqueUntil) {
					dup = j
				}
			}
			if dup != nil {
				out[i] = store.InsertResult{Job: clone(dup), Duplicate: true}
				continue
			}
		}
		j := expectInserted(store.NewID(), in, p.Now)
		j = clone(j)
		m.jobs[j.ID] = j
		out[i] = store.InsertResult{Job: clone(j)}
		m.wake(j.Queue)
	}
	return out, nil
}

func ready(j *store.Job, now time.Time) bool {
	return j.State == store.StateAvailable || (j.State.Waiting() && !j.RunAt.After(now))
}

func (m *memStore) JobClaim(ctx context.Context, p *store.JobClaimParams) ([]*store.Job, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if p.LeaseTTL <= 0 {
		return nil, invalid("lease_ttl", "must be > 0")
	}
	sum := 0
	for _, q := range p.Queues {
		if q.Weight <= 0 {
			return nil, invalid("queues.weight", "must be > 0")
		}
		sum += q.Weight
	}
	if err := m.begin(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	if p.Max <= 0 || sum == 0 {
		return []*store.Job{}, nil
	}
	readyIn := make([][]*store.Job, len(p.Queues))
	for i, q := range p.Queues {
		if qr := m.queues[q.Name]; qr != nil && qr.settings.Paused {
			continue
		}
		readyIn[i] = m.sorted(func(j *store.Job) bool { return j.Queue == q.Name && ready(j, p.Now) })
		slices.SortStableFunc(readyIn[i], func(a, b *store.Job) int {
			return cmp.Or(cmp.Compare(a.Priority, b.Priority), a.RunAt.Compare(b.RunAt))
		})
	}
	var out []*store.Job
	take := func(i, n int) {
		for ; n > 0 && len(readyIn[i]) > 0 && len(out) < p.Max; n-- {
			j := readyIn[i][0]
			readyIn[i] = readyIn[i][1:]
			m.token++
			j.State, j.Attempt, j.AttemptedAt = store.StateRunning, j.Attempt+1, p.Now
			j.LeaseHolder, j.LeaseToken, j.LeaseDeadline = p.Worker, m.token, p.Now.Add(p.LeaseTTL)
			out = append(out, clone(j))
		}
	}
	for i, q := range p.Queues {
		take(i, (p.Max*q.Weight+sum-1)/sum)
	}
	for i := range p.Queues {
		take(i, p.Max)
	}
	return out, nil
}

func (m *memStore) lease(ref store.LeaseRef) (*store.Job, error) {
	j := m.jobs[ref.ID]
	if j == nil {
		return nil, store.ErrNotFound
	}
	if j.State != store.StateRunning || j.Attempt != ref.Attempt || j.LeaseToken != ref.Token {
		return nil, store.ErrLeaseLost
	}
	return j, nil
}

func (m *memStore) JobAckMany(ctx context.Context, p *store.JobAckManyParams) ([]error, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if err := m.begin(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	errs := make([]error, len(p.Acks))
	for i, a := range p.Acks {
		if a.Outcome < store.AckComplete || a.Outcome > store.AckSnooze {
			errs[i] = invalid("outcome", "unknown")
			continue
		}
		j, err := m.lease(a.Lease)
		if err != nil {
			errs[i] = err
			continue
		}
		clearLease(j)
		appendErr := func() {
			if a.Error != nil {
				j.Errors = append(slices.Clone(j.Errors), *a.Error)
			}
		}
		switch a.Outcome {
		case store.AckComplete:
			j.State, j.FinishedAt, j.Result = store.StateCompleted, p.Now, slices.Clone(a.Result)
		case store.AckRetry:
			j.State, j.RunAt = store.StateRetryable, a.RunAt
			appendErr()
			m.wake(j.Queue)
		case store.AckDead:
			j.State, j.FinishedAt = store.StateDead, p.Now
			appendErr()
		case store.AckCancel:
			j.State, j.FinishedAt = store.StateCancelled, p.Now
			appendErr()
		case store.AckSnooze:
			j.Attempt--
			j.RunAt = a.RunAt
			j.State = store.StateScheduled
			if !a.RunAt.After(p.Now) {
				j.State = store.StateAvailable
			}
			m.wake(j.Queue)
		}
	}
	return errs, nil
}

func (m *memStore) JobLeaseExtendMany(ctx context.Context, p *store.JobLeaseExtendManyParams) ([]error, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if p.TTL <= 0 {
		return nil, invalid("ttl", "must be > 0")
	}
	if err := m.begin(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	errs := make([]error, len(p.Leases))
	for i, ref := range p.Leases {
		j, err := m.lease(ref)
		if err != nil {
			errs[i] = err
			continue
		}
		j.LeaseDeadline = p.Now.Add(p.TTL)
	}
	return errs, nil
}

func (m *memStore) JobLeaseExpiredList(ctx context.Context, p *store.JobLeaseExpiredListParams) ([]*store.Job, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if err := m.begin(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	limit := p.Limit
	if limit <= 0 {
		limit = 1000
	}
	exp := m.sorted(func(j *store.Job) bool { return j.State == store.StateRunning && j.LeaseDeadline.Before(p.Now) })
	slices.SortStableFunc(exp, func(a, b *store.Job) int { return a.LeaseDeadline.Compare(b.LeaseDeadline) })
	out := []*store.Job{}
	for _, j := range exp[:min(limit, len(exp))] {
		out = append(out, clone(j))
	}
	return out, nil
}

func (m *memStore) JobPromoteDue(ctx context.Context, p *store.JobPromoteDueParams) (int, error) {
	if p == nil {
		return 0, invalid("params", "nil")
	}
	if err := m.begin(ctx); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	limit := p.Limit
	if limit <= 0 {
		limit = 10000
	}
	due := m.sorted(func(j *store.Job) bool { return j.State.Waiting() && !j.RunAt.After(p.Now) })
	slices.SortStableFunc(due, func(a, b *store.Job) int { return a.RunAt.Compare(b.RunAt) })
	due = due[:min(limit, len(due))]
	for _, j := range due {
		j.State = store.StateAvailable
		m.wake(j.Queue)
	}
	return len(due), nil
}

func (m *memStore) JobGet(ctx context.Context, p *store.JobGetParams) (*store.Job, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if err := m.begin(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	j := m.jobs[p.ID]
	if j == nil {
		return nil, store.ErrNotFound
	}
	return clone(j), nil
}

func (m *memStore) JobList(ctx context.Context, p *store.JobListParams) (*store.JobListResult, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if p.State != "" && !p.State.Valid() {
		return nil, invalid("state", "unknown")
	}
	if err := m.begin(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 10000)
	all := m.sorted(func(j *store.Job) bool {
		return (p.Queue == "" || j.Queue == p.Queue) && (p.State == "" || j.State == p.State) &&
			(p.Kind == "" || j.Kind == p.Kind) && (p.Tag == "" || slices.Contains(j.Tags, p.Tag)) &&
			(p.After.IsZero() || (!p.Desc && j.ID.Compare(p.After) > 0) || (p.Desc && j.ID.Compare(p.After) < 0))
	})
	if p.Desc {
		slices.Reverse(all)
	}
	res := &store.JobListResult{}
	for _, j := range all[:min(limit, len(all))] {
		res.Jobs = append(res.Jobs, clone(j))
	}
	if len(all) > limit {
		res.Next = res.Jobs[len(res.Jobs)-1].ID
	}
	return res, nil
}

func (m *memStore) JobCancel(ctx context.Context, p *store.JobCancelParams) (*store.Job, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if err := m.begin(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	j := m.jobs[p.ID]
	if j == nil {
		return nil, store.ErrNotFound
	}
	if j.State.Final() {
		return nil, &store.StateError{ID: j.ID, Op: "cancel", State: j.State}
	}
	clearLease(j)
	j.State, j.FinishedAt = store.StateCancelled, p.Now
	if p.Reason != "" {
		j.Errors = append(slices.Clone(j.Errors), store.AttemptError{At: p.Now, Attempt: j.Attempt, Message: p.Reason})
	}
	return clone(j), nil
}

func (m *memStore) JobRetry(ctx context.Context, p *store.JobRetryParams) ([]*store.Job, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if err := m.begin(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var todo []*store.Job
	if len(p.IDs) > 0 {
		for _, id := range p.IDs {
			j := m.jobs[id]
			if j == nil {
				return nil, store.ErrNotFound
			}
			if j.State != store.StateDead {
				return nil, &store.StateError{ID: id, Op: "retry", State: j.State}
			}
			todo = append(todo, j)
		}
	} else {
		limit := p.Limit
		if limit <= 0 {
			limit = 1000
		}
		todo = m.sorted(func(j *store.Job) bool {
			return j.State == store.StateDead && (p.Queue == "" || j.Queue == p.Queue) && (p.Kind == "" || j.Kind == p.Kind)
		})
		todo = todo[:min(limit, len(todo))]
	}
	out := []*store.Job{}
	for _, j := range todo {
		j.State, j.Attempt, j.FinishedAt, j.RunAt = store.StateAvailable, 0, time.Time{}, p.Now
		out = append(out, clone(j))
		m.wake(j.Queue)
	}
	return out, nil
}

func (m *memStore) JobDelete(ctx context.Context, p *store.JobDeleteParams) (int, error) {
	if p == nil {
		return 0, invalid("params", "nil")
	}
	if len(p.IDs) == 0 && (!p.State.Valid() || p.State == store.StateRunning) {
		return 0, invalid("state", "required, not running")
	}
	if err := m.begin(ctx); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	var todo []*store.Job
	if len(p.IDs) > 0 {
		for _, id := range p.IDs {
			j := m.jobs[id]
			if j == nil {
				return 0, store.ErrNotFound
			}
			if j.State == store.StateRunning {
				return 0, &store.StateError{ID: id, Op: "delete", State: j.State}
			}
			todo = append(todo, j)
		}
	} else {
		limit := p.Limit
		if limit <= 0 {
			limit = 1000
		}
		todo = m.sorted(func(j *store.Job) bool {
			return j.State == p.State && (p.Queue == "" || j.Queue == p.Queue) && (p.Kind == "" || j.Kind == p.Kind) &&
				(p.FinishedBefore.IsZero() || j.FinishedAt.Before(p.FinishedBefore))
		})
		todo = todo[:min(limit, len(todo))]
	}
	for _, j := range todo {
		delete(m.jobs, j.ID)
	}
	return len(todo), nil
}

func (m *memStore) queueLocked(name string, now time.Time) *store.Queue {
	q := &store.Queue{Name: name, Counts: map[store.JobState]int64{}}
	for _, s := range store.AllStates {
		q.Counts[s] = 0
	}
	if qr := m.queues[name]; qr != nil {
		q.Settings, q.UpdatedAt = qr.settings, qr.updatedAt
	}
	for _, j := range m.jobs {
		if j.Queue != name {
			continue
		}
		q.Counts[j.State]++
		if ready(j, now) && (q.OldestAvailableAt.IsZero() || j.RunAt.Before(q.OldestAvailableAt)) {
			q.OldestAvailableAt = j.RunAt
		}
	}
	return q
}

func (m *memStore) QueueList(ctx context.Context, p *store.QueueListParams) ([]*store.Queue, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if err := m.begin(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	names := map[string]bool{}
	for n := range m.queues {
		names[n] = true
	}
	for _, j := range m.jobs {
		names[j.Queue] = true
	}
	var out []*store.Queue
	for _, n := range slices.Sorted(maps.Keys(names)) {
		out = append(out, m.queueLocked(n, p.Now))
	}
	return out, nil
}

func (m *memStore) QueueGet(ctx context.Context, p *store.QueueGetParams) (*store.Queue, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if err := m.begin(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	return m.queueLocked(p.Name, p.Now), nil
}

func (m *memStore) QueueUpdate(ctx context.Context, p *store.QueueUpdateParams) (*store.Queue, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if err := m.begin(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	qr := m.queues[p.Name]
	if qr == nil {
		qr = &memQueue{}
		m.queues[p.Name] = qr
	}
	s := &qr.settings
	if p.Paused != nil {
		if s.Paused && !*p.Paused {
			m.wake(p.Name)
		}
		s.Paused = *p.Paused
	}
	if p.CompletedRetention != nil {
		s.CompletedRetention = *p.CompletedRetention
	}
	if p.DeadRetention != nil {
		s.DeadRetention = *p.DeadRetention
	}
	if p.CancelledRetention != nil {
		s.CancelledRetention = *p.CancelledRetention
	}
	if p.MaxLength != nil {
		s.MaxLength = *p.MaxLength
	}
	qr.updatedAt = p.Now
	return m.queueLocked(p.Name, p.Now), nil
}

func (m *memStore) LeaderAcquire(ctx context.Context, p *store.LeaderAcquireParams) (*store.Leader, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if err := m.begin(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	l := m.leaders[p.Name]
	if l == nil {
		l = &store.Leader{Name: p.Name}
		m.leaders[p.Name] = l
	}
	if l.Holder == "" || l.Holder == p.Holder || !p.Now.Before(l.Expires) {
		if l.Holder != p.Holder {
			l.Epoch++
		}
		l.Holder, l.Expires = p.Holder, p.Now.Add(p.TTL)
	}
	c := *l
	return &c, nil
}

func (m *memStore) LeaderRelease(ctx context.Context, p *store.LeaderReleaseParams) error {
	if p == nil {
		return invalid("params", "nil")
	}
	if err := m.begin(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if l := m.leaders[p.Name]; l != nil && l.Holder == p.Holder {
		l.Holder, l.Expires = "", time.Time{}
	}
	return nil
}

func (m *memStore) JobSubscribe(p *store.JobSubscribeParams) (<-chan struct{}, func()) {
	s := &memSub{queues: map[string]bool{}, ch: make(chan struct{}, 1)}
	if p != nil {
		for _, q := range p.Queues {
			s.queues[q] = true
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	id := m.nextSub
	m.nextSub++
	m.subs[id] = s
	return s.ch, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(m.subs, id)
	}
}

func (m *memStore) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}
