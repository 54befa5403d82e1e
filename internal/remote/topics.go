package remote

import (
	"context"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	v1 "github.com/troikahq/troika/gen/troika/v1"
	"github.com/troikahq/troika/internal/engine"
	"github.com/troikahq/troika/internal/wire"
	"github.com/troikahq/troika/store"
)

var (
	_ store.TopicStore    = (*Store)(nil)
	_ store.OrderingStore = (*Store)(nil)
)

// SupportsOrderingKeys reports true: the server's store honours ordering
// keys (both backends do), and Enqueue and Publish carry them.
func (s *Store) SupportsOrderingKeys() bool { return true }

// TopicPublish calls TopicService.PublishMany (Publish for one event).
func (s *Store) TopicPublish(ctx context.Context, p *store.TopicPublishParams) ([]store.PublishResult, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	var results []*v1.PublishResponse
	if len(p.Events) == 1 {
		e := &p.Events[0]
		req := &v1.PublishRequest{Topic: p.Topic, Kind: e.Kind, OrderingKey: e.OrderingKey, Metadata: e.Metadata}
		if err := s.setArgs(e.Args, &req.Args, &req.ArgsJson); err != nil {
			return nil, err
		}
		out, err := s.topicsC.Publish(ctx, connect.NewRequest(req))
		if err != nil {
			return nil, s.errClosedOr(err)
		}
		results = []*v1.PublishResponse{out.Msg}
	} else {
		req := &v1.PublishManyRequest{Topic: p.Topic, Events: make([]*v1.PublishEvent, len(p.Events))}
		for i := range p.Events {
			e := &p.Events[i]
			pe := &v1.PublishEvent{Kind: e.Kind, OrderingKey: e.OrderingKey, Metadata: e.Metadata}
			if err := s.setArgs(e.Args, &pe.Args, &pe.ArgsJson); err != nil {
				return nil, err
			}
			req.Events[i] = pe
		}
		out, err := s.topicsC.PublishMany(ctx, connect.NewRequest(req))
		if err != nil {
			return nil, s.errClosedOr(err)
		}
		results = out.Msg.GetResults()
	}
	res := make([]store.PublishResult, len(results))
	for i, r := range results {
		id, err := store.ParseID(r.GetId())
		if err != nil {
			return nil, fmt.Errorf("troika: server returned event id %q: %w", r.GetId(), err)
		}
		res[i] = store.PublishResult{ID: id, Deliveries: int(r.GetDeliveries()), JobIDs: make([]store.ID, len(r.GetJobIds()))}
		for k, j := range r.GetJobIds() {
			if res[i].JobIDs[k], err = store.ParseID(j); err != nil {
				return nil, fmt.Errorf("troika: server returned job id %q: %w", j, err)
			}
		}
	}
	return res, nil
}

// TopicList calls TopicService.ListTopics.
func (s *Store) TopicList(ctx context.Context, _ *store.TopicListParams) ([]*store.Topic, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	out, err := s.topicsC.ListTopics(ctx, connect.NewRequest(&v1.ListTopicsRequest{}))
	if err != nil {
		return nil, s.errClosedOr(err)
	}
	list := make([]*store.Topic, 0, len(out.Msg.GetTopics()))
	for _, p := range out.Msg.GetTopics() {
		t, err := wire.FromTopic(p)
		if err != nil {
			return nil, err
		}
		list = append(list, t)
	}
	return list, nil
}

// TopicUpdate calls TopicService.UpdateTopic.
func (s *Store) TopicUpdate(ctx context.Context, p *store.TopicUpdateParams) (*store.Topic, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	req := &v1.UpdateTopicRequest{Name: p.Name}
	if p.Retention != nil {
		req.Retention = durationpb.New(*p.Retention) // "0s" restores the default
	}
	out, err := s.topicsC.UpdateTopic(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, s.errClosedOr(err)
	}
	return wire.FromTopic(out.Msg.GetTopic())
}

// TopicTrim is unsupported: the server's maintenance trims topics.
func (s *Store) TopicTrim(context.Context, *store.TopicTrimParams) (int, error) {
	return 0, unsupported("TopicTrim")
}

// SubscriptionCreate calls TopicService.CreateSubscription. The start is
// sent as "now", "earliest" or the RFC 3339 time p.From; the server checks
// it against its own clock.
func (s *Store) SubscriptionCreate(ctx context.Context, p *store.SubscriptionCreateParams) (*store.SubscriptionCreateResult, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	req := &v1.CreateSubscriptionRequest{
		Topic: p.Topic, Name: p.Name, Queue: p.Job.Queue, Kinds: p.Kinds, Start: "now",
		Priority: int32(p.Job.Priority), MaxAttempts: int32(p.Job.MaxAttempts), Timeout: wire.Duration(p.Job.Timeout),
	}
	switch {
	case p.From.IsZero():
	case !p.From.After(engine.Earliest):
		req.Start = "earliest"
	default:
		req.Start = p.From.UTC().Format(time.RFC3339Nano)
	}
	out, err := s.topicsC.CreateSubscription(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, s.errClosedOr(err)
	}
	sub, err := wire.FromSubscription(out.Msg.GetSubscription())
	if err != nil {
		return nil, err
	}
	return &store.SubscriptionCreateResult{Subscription: sub, Delivered: int(out.Msg.GetDelivered())}, nil
}

// SubscriptionDelete calls TopicService.DeleteSubscription.
func (s *Store) SubscriptionDelete(ctx context.Context, p *store.SubscriptionDeleteParams) error {
	if err := s.check(); err != nil {
		return err
	}
	_, err := s.topicsC.DeleteSubscription(ctx, connect.NewRequest(&v1.DeleteSubscriptionRequest{Topic: p.Topic, Name: p.Name}))
	return s.errClosedOr(err)
}

// SubscriptionList calls TopicService.ListSubscriptions.
func (s *Store) SubscriptionList(ctx context.Context, p *store.SubscriptionListParams) ([]*store.Subscription, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	out, err := s.topicsC.ListSubscriptions(ctx, connect.NewRequest(&v1.ListSubscriptionsRequest{Topic: p.Topic}))
	if err != nil {
		return nil, s.errClosedOr(err)
	}
	list := make([]*store.Subscription, 0, len(out.Msg.GetSubscriptions()))
	for _, w := range out.Msg.GetSubscriptions() {
		sub, err := wire.FromSubscription(w)
		if err != nil {
			return nil, err
		}
		list = append(list, sub)
	}
	return list, nil
}

// SubscriptionReplay calls TopicService.ReplaySubscription.
func (s *Store) SubscriptionReplay(ctx context.Context, p *store.SubscriptionReplayParams) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	out, err := s.topicsC.ReplaySubscription(ctx, connect.NewRequest(&v1.ReplaySubscriptionRequest{Topic: p.Topic, Name: p.Name, From: wire.Time(p.From)}))
	if err != nil {
		return 0, s.errClosedOr(err)
	}
	return int(out.Msg.GetDelivered()), nil
}

// setArgs sets an event's args for the wire: a Value with the JSON codec,
// raw bytes otherwise.
func (s *Store) setArgs(args []byte, v **structpb.Value, raw *[]byte) error {
	if s.json {
		val, err := wire.Value("args", args)
		if err != nil {
			return err
		}
		*v = val
		return nil
	}
	*raw = args
	if *raw == nil {
		*raw = []byte{}
	}
	return nil
}
