package server

import (
	"context"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/troikahq/troika"
	v1 "github.com/troikahq/troika/gen/troika/v1"
	"github.com/troikahq/troika/internal/wire"
)

// queueService implements troika.v1.QueueService.
type queueService struct{ s *Server }

func queueOut(q *troika.QueueInfo) *v1.Queue {
	out := &v1.Queue{
		Name: q.Name, Paused: q.Paused, Counts: make(map[string]int64, len(q.Counts)),
		OldestAvailableAgeSeconds: q.OldestAvailableAge.Seconds(),
		CompletedRetention:        wire.Duration(q.CompletedRetention),
		DeadRetention:             wire.Duration(q.DeadRetention),
		CancelledRetention:        wire.Duration(q.CancelledRetention),
	}
	for st, n := range q.Counts {
		out.Counts[string(st)] = n
	}
	return out
}

func (q *queueService) ListQueues(ctx context.Context, _ *connect.Request[v1.ListQueuesRequest]) (*connect.Response[v1.ListQueuesResponse], error) {
	qs, err := q.s.client.ListQueues(ctx)
	if err != nil {
		return nil, toConnect(err)
	}
	resp := &v1.ListQueuesResponse{Queues: make([]*v1.Queue, len(qs))}
	for i, info := range qs {
		resp.Queues[i] = queueOut(info)
	}
	return connect.NewResponse(resp), nil
}

func (q *queueService) GetQueue(ctx context.Context, req *connect.Request[v1.GetQueueRequest]) (*connect.Response[v1.GetQueueResponse], error) {
	info, err := q.s.client.QueueStats(ctx, req.Msg.GetName())
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&v1.GetQueueResponse{Queue: queueOut(info)}), nil
}

func (q *queueService) update(ctx context.Context, name string, u troika.QueueUpdate) (*v1.Queue, error) {
	info, err := q.s.client.UpdateQueue(context.WithoutCancel(ctx), name, u)
	if err != nil {
		return nil, toConnect(err)
	}
	return queueOut(info), nil
}

func (q *queueService) PauseQueue(ctx context.Context, req *connect.Request[v1.PauseQueueRequest]) (*connect.Response[v1.PauseQueueResponse], error) {
	paused := true
	out, err := q.update(ctx, req.Msg.GetName(), troika.QueueUpdate{Paused: &paused})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.PauseQueueResponse{Queue: out}), nil
}

func (q *queueService) ResumeQueue(ctx context.Context, req *connect.Request[v1.ResumeQueueRequest]) (*connect.Response[v1.ResumeQueueResponse], error) {
	paused := false
	out, err := q.update(ctx, req.Msg.GetName(), troika.QueueUpdate{Paused: &paused})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.ResumeQueueResponse{Queue: out}), nil
}

func (q *queueService) UpdateQueue(ctx context.Context, req *connect.Request[v1.UpdateQueueRequest]) (*connect.Response[v1.UpdateQueueResponse], error) {
	m := req.Msg
	u := troika.QueueUpdate{Paused: m.Paused}
	var err error
	if u.CompletedRetention, err = optDuration("completedRetention", m.GetCompletedRetention()); err != nil {
		return nil, toConnect(err)
	}
	if u.DeadRetention, err = optDuration("deadRetention", m.GetDeadRetention()); err != nil {
		return nil, toConnect(err)
	}
	if u.CancelledRetention, err = optDuration("cancelledRetention", m.GetCancelledRetention()); err != nil {
		return nil, toConnect(err)
	}
	out, err := q.update(ctx, m.GetName(), u)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.UpdateQueueResponse{Queue: out}), nil
}

// optDuration converts an optional wire duration to a settings pointer.
func optDuration(field string, d *durationpb.Duration) (*time.Duration, error) {
	if d == nil {
		return nil, nil
	}
	v, err := wire.FromDuration(field, d)
	if err != nil {
		return nil, err
	}
	return &v, nil
}
