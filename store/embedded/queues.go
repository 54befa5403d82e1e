package embedded

import (
	"context"
	"slices"
	"strings"

	"github.com/troikahq/troika/store"
)

// queueViewLocked is q's settings and counts, with OldestAvailableAt at now.
func queueViewLocked(q *queue, now int64) *store.Queue {
	v := q.view()
	if t, ok := q.oldestReady(now); ok {
		v.OldestAvailableAt = fromNanos(t)
	}
	return v
}

// QueueList returns every queue that has jobs or settings, by name.
func (s *Store) QueueList(ctx context.Context, p *store.QueueListParams) ([]*store.Queue, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	now, _ := s.clocks(p.Now)
	out := []*store.Queue{}
	for _, q := range s.queues {
		if q.live() {
			out = append(out, queueViewLocked(q, now))
		}
	}
	slices.SortFunc(out, func(a, b *store.Queue) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// QueueGet returns one queue; an unknown queue reads with zero settings and
// zero counts. An empty Name is ErrInvalidArgument.
func (s *Store) QueueGet(ctx context.Context, p *store.QueueGetParams) (*store.Queue, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if p.Name == "" {
		return nil, invalid("name", "must not be empty")
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	now, _ := s.clocks(p.Now)
	q := s.queues[p.Name]
	if q == nil {
		return (&queue{name: p.Name}).view(), nil
	}
	return queueViewLocked(q, now), nil
}

// QueueUpdate changes a queue's settings durably (nil fields unchanged),
// sets UpdatedAt = Now and returns the queue. Resuming a paused queue wakes
// its subscribers. An empty Name is ErrInvalidArgument.
func (s *Store) QueueUpdate(ctx context.Context, p *store.QueueUpdateParams) (*store.Queue, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if p.Name == "" {
		return nil, invalid("name", "must not be empty")
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	now, _ := s.clocks(p.Now)
	q := s.queueLocked(p.Name)
	var w wakeSet
	if p.Paused != nil {
		if q.settings.Paused && !*p.Paused {
			w.add(q)
		}
		q.settings.Paused = *p.Paused
	}
	if p.CompletedRetention != nil {
		q.settings.CompletedRetention = *p.CompletedRetention
	}
	if p.DeadRetention != nil {
		q.settings.DeadRetention = *p.DeadRetention
	}
	if p.CancelledRetention != nil {
		q.settings.CancelledRetention = *p.CancelledRetention
	}
	if p.MaxLength != nil {
		q.settings.MaxLength = *p.MaxLength
	}
	q.hasSettings = true
	q.updatedAt = now
	b := s.db.NewBatch()
	s.enc = appendQueue(s.enc[:0], q)
	_ = b.Set(nameKey(prefixQueue, q.name), s.enc, nil)
	out := queueViewLocked(q, now)
	if err := s.finish(b, &w); err != nil {
		return nil, err
	}
	return out, nil
}

// LeaderAcquire takes or renews the named leader lease for Holder (see
// store.Store); the row is written durably when Holder gets it. An empty
// Name or Holder, or TTL ≤ 0, is ErrInvalidArgument.
func (s *Store) LeaderAcquire(ctx context.Context, p *store.LeaderAcquireParams) (*store.Leader, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	switch {
	case p.Name == "":
		return nil, invalid("name", "must not be empty")
	case p.Holder == "":
		return nil, invalid("holder", "must not be empty")
	case p.TTL <= 0:
		return nil, invalid("ttl", "must be > 0")
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	now, _ := s.clocks(p.Now)
	cur := s.leaders[p.Name]
	if cur == nil {
		cur = &store.Leader{Name: p.Name}
	}
	if cur.Holder != "" && cur.Holder != p.Holder && now < toNanos(cur.Expires) {
		out := *cur
		s.mu.Unlock()
		return &out, nil
	}
	next := *cur
	if next.Holder != p.Holder {
		next.Epoch++
	}
	next.Holder = p.Holder
	next.Expires = fromNanos(addDur(now, p.TTL))
	s.leaders[p.Name] = &next
	b := s.db.NewBatch()
	s.enc = appendLeader(s.enc[:0], &next)
	_ = b.Set(nameKey(prefixLeader, p.Name), s.enc, nil)
	out := next
	if err := s.finish(b, nil); err != nil {
		return nil, err
	}
	return &out, nil
}

// LeaderRelease frees the named lease if Holder holds it (durably);
// otherwise it does nothing. An empty Name or Holder is
// ErrInvalidArgument.
func (s *Store) LeaderRelease(ctx context.Context, p *store.LeaderReleaseParams) error {
	if p == nil {
		return invalid("params", "nil")
	}
	if p.Name == "" || p.Holder == "" {
		return invalid("name", "name and holder must not be empty")
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	cur := s.leaders[p.Name]
	if cur == nil || cur.Holder != p.Holder {
		s.mu.Unlock()
		return nil
	}
	next := *cur
	next.Holder, next.Expires = "", fromNanos(0)
	s.leaders[p.Name] = &next
	b := s.db.NewBatch()
	s.enc = appendLeader(s.enc[:0], &next)
	_ = b.Set(nameKey(prefixLeader, p.Name), s.enc, nil)
	return s.finish(b, nil)
}
