package remote

import (
	"context"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	v1 "github.com/troikahq/troika/gen/troika/v1"
	"github.com/troikahq/troika/internal/wire"
	"github.com/troikahq/troika/store"
)

// queueFrom converts a wire queue. Settings carry the server's effective
// retention; OldestAvailableAt is derived from the age the server reports.
func queueFrom(q *v1.Queue, now time.Time) (*store.Queue, error) {
	out := &store.Queue{Name: q.GetName(), Counts: make(map[store.JobState]int64, len(store.AllStates))}
	out.Settings.Paused = q.GetPaused()
	var err error
	if out.Settings.CompletedRetention, err = wire.FromDuration("completedRetention", q.GetCompletedRetention()); err != nil {
		return nil, err
	}
	if out.Settings.DeadRetention, err = wire.FromDuration("deadRetention", q.GetDeadRetention()); err != nil {
		return nil, err
	}
	if out.Settings.CancelledRetention, err = wire.FromDuration("cancelledRetention", q.GetCancelledRetention()); err != nil {
		return nil, err
	}
	for _, st := range store.AllStates {
		out.Counts[st] = q.GetCounts()[string(st)]
	}
	if age := q.GetOldestAvailableAgeSeconds(); age > 0 {
		out.OldestAvailableAt = now.Add(-time.Duration(age * float64(time.Second)))
	}
	return out, nil
}

func nowOr(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// QueueList calls QueueService.ListQueues.
func (s *Store) QueueList(ctx context.Context, p *store.QueueListParams) ([]*store.Queue, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	out, err := s.queues.ListQueues(ctx, connect.NewRequest(&v1.ListQueuesRequest{}))
	if err != nil {
		return nil, s.errClosedOr(err)
	}
	now := nowOr(p.Now)
	qs := make([]*store.Queue, 0, len(out.Msg.GetQueues()))
	for _, q := range out.Msg.GetQueues() {
		sq, err := queueFrom(q, now)
		if err != nil {
			return nil, err
		}
		qs = append(qs, sq)
	}
	return qs, nil
}

// QueueGet calls QueueService.GetQueue.
func (s *Store) QueueGet(ctx context.Context, p *store.QueueGetParams) (*store.Queue, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	out, err := s.queues.GetQueue(ctx, connect.NewRequest(&v1.GetQueueRequest{Name: p.Name}))
	if err != nil {
		return nil, s.errClosedOr(err)
	}
	return queueFrom(out.Msg.GetQueue(), nowOr(p.Now))
}

// QueueUpdate calls QueueService.UpdateQueue. MaxLength has no wire field
// yet: setting it is unsupported.
func (s *Store) QueueUpdate(ctx context.Context, p *store.QueueUpdateParams) (*store.Queue, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if p.MaxLength != nil {
		return nil, unsupported("QueueUpdate of MaxLength")
	}
	req := &v1.UpdateQueueRequest{Name: p.Name, Paused: p.Paused}
	if p.CompletedRetention != nil {
		req.CompletedRetention = durationpb.New(*p.CompletedRetention)
	}
	if p.DeadRetention != nil {
		req.DeadRetention = durationpb.New(*p.DeadRetention)
	}
	if p.CancelledRetention != nil {
		req.CancelledRetention = durationpb.New(*p.CancelledRetention)
	}
	out, err := s.queues.UpdateQueue(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, s.errClosedOr(err)
	}
	return queueFrom(out.Msg.GetQueue(), nowOr(p.Now))
}
