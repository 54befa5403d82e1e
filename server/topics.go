package server

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	v1 "github.com/troikahq/troika/gen/troika/v1"
	"github.com/troikahq/troika/internal/engine"
	"github.com/troikahq/troika/internal/wire"
	"github.com/troikahq/troika/store"
)

// topicService implements troika.v1.TopicService with the engine's
// validation over the server's store, exactly as the Go SDK does.
type topicService struct{ s *Server }

// topics returns the store's topic seam.
func (s *Server) topics() (store.TopicStore, error) {
	ts, ok := s.st.(store.TopicStore)
	if !ok {
		return nil, connect.NewError(connect.CodeUnimplemented, fmt.Errorf("troika: the server's %T store does not support topics: %w", s.st, errors.ErrUnsupported))
	}
	return ts, nil
}

func checkTopic(topic string) error {
	if r := engine.CheckTopicName(topic); r != "" {
		return invalid("topic", r)
	}
	return nil
}

func checkTopicSub(topic, name string) error {
	if err := checkTopic(topic); err != nil {
		return err
	}
	if r := engine.CheckSubscriptionName(name); r != "" {
		return invalid("name", r)
	}
	return nil
}

// event is the wire fields of one event.
type event struct {
	kind, orderingKey string
	args              *structpb.Value
	argsJSON          []byte
	metadata          map[string]string
}

// publish validates events (index0 -1 for Publish's single event) and
// stores them on topic atomically.
func (t *topicService) publish(ctx context.Context, topic string, evs []event, index0 int) (*connect.Response[v1.PublishManyResponse], error) {
	if err := checkTopic(topic); err != nil {
		return nil, err
	}
	if n := len(evs); n > t.s.cfg.MaxBatch {
		return nil, invalid("events", fmt.Sprintf("%d events, over the limit of %d per call", n, t.s.cfg.MaxBatch))
	}
	resp := &v1.PublishManyResponse{Results: []*v1.PublishResponse{}}
	if len(evs) == 0 {
		return connect.NewResponse(resp), nil
	}
	out := make([]store.Event, len(evs))
	for i, e := range evs {
		index, field := i, "events["+strconv.Itoa(i)+"].args"
		if index0 < 0 {
			index, field = -1, "args"
		}
		args, err := wire.Raw(field, e.args, e.argsJSON)
		if err != nil {
			return nil, toConnect(err)
		}
		o := engine.EventOptions{JobOptions: engine.JobOptions{
			OrderingKey: e.orderingKey, HasOrderingKey: e.orderingKey != "", Metadata: e.metadata,
		}}
		if err := o.BuildEvent(&out[i], index, e.kind, args, engine.Limits{}); err != nil {
			return nil, toConnect(err)
		}
	}
	ts, err := t.s.topics()
	if err != nil {
		return nil, err
	}
	res, err := ts.TopicPublish(context.WithoutCancel(ctx), &store.TopicPublishParams{Topic: topic, Events: out, Now: t.s.now()})
	if err != nil {
		return nil, toConnect(err)
	}
	if len(res) != len(out) {
		return nil, connect.NewError(connect.CodeInternal, fmt.Errorf("troika: store returned %d results for %d events", len(res), len(out)))
	}
	for _, r := range res {
		pr := &v1.PublishResponse{Id: r.ID.String(), Deliveries: int32(r.Deliveries), JobIds: make([]string, len(r.JobIDs))}
		for k, id := range r.JobIDs {
			pr.JobIds[k] = id.String()
		}
		resp.Results = append(resp.Results, pr)
	}
	return connect.NewResponse(resp), nil
}

func (t *topicService) Publish(ctx context.Context, req *connect.Request[v1.PublishRequest]) (*connect.Response[v1.PublishResponse], error) {
	m := req.Msg
	res, err := t.publish(ctx, m.GetTopic(), []event{{kind: m.GetKind(), orderingKey: m.GetOrderingKey(), args: m.GetArgs(), argsJSON: m.ArgsJson, metadata: m.GetMetadata()}}, -1)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(res.Msg.Results[0]), nil
}

func (t *topicService) PublishMany(ctx context.Context, req *connect.Request[v1.PublishManyRequest]) (*connect.Response[v1.PublishManyResponse], error) {
	evs := make([]event, len(req.Msg.GetEvents()))
	for i, e := range req.Msg.GetEvents() {
		if e == nil {
			return nil, invalid("events["+strconv.Itoa(i)+"]", "null")
		}
		evs[i] = event{kind: e.GetKind(), orderingKey: e.GetOrderingKey(), args: e.GetArgs(), argsJSON: e.ArgsJson, metadata: e.GetMetadata()}
	}
	return t.publish(ctx, req.Msg.GetTopic(), evs, 0)
}

func (t *topicService) ListTopics(ctx context.Context, _ *connect.Request[v1.ListTopicsRequest]) (*connect.Response[v1.ListTopicsResponse], error) {
	ts, err := t.s.topics()
	if err != nil {
		return nil, err
	}
	now := t.s.now()
	list, err := ts.TopicList(ctx, &store.TopicListParams{Now: now})
	if err != nil {
		return nil, toConnect(err)
	}
	resp := &v1.ListTopicsResponse{Topics: make([]*v1.Topic, len(list))}
	for i, tp := range list {
		resp.Topics[i] = wire.Topic(tp, now)
	}
	return connect.NewResponse(resp), nil
}

func (t *topicService) UpdateTopic(ctx context.Context, req *connect.Request[v1.UpdateTopicRequest]) (*connect.Response[v1.UpdateTopicResponse], error) {
	if r := engine.CheckTopicName(req.Msg.GetName()); r != "" {
		return nil, invalid("name", r)
	}
	p := &store.TopicUpdateParams{Name: req.Msg.GetName(), Now: t.s.now()}
	if req.Msg.GetRetention() != nil {
		d, err := wire.FromDuration("retention", req.Msg.GetRetention())
		if err != nil {
			return nil, toConnect(err)
		}
		if d < 0 {
			return nil, invalid("retention", fmt.Sprintf("%s is negative (0s restores the default)", d))
		}
		p.Retention = &d
	}
	ts, err := t.s.topics()
	if err != nil {
		return nil, err
	}
	tp, err := ts.TopicUpdate(context.WithoutCancel(ctx), p)
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&v1.UpdateTopicResponse{Topic: wire.Topic(tp, p.Now)}), nil
}

func (t *topicService) CreateSubscription(ctx context.Context, req *connect.Request[v1.CreateSubscriptionRequest]) (*connect.Response[v1.CreateSubscriptionResponse], error) {
	m := req.Msg
	start, err := engine.ParseStart(m.GetStart(), "start")
	if err != nil {
		return nil, toConnect(err)
	}
	timeout, err := wire.FromDuration("timeout", m.GetTimeout())
	if err != nil {
		return nil, toConnect(err)
	}
	in := engine.SubscriptionInput{
		Topic: m.GetTopic(), Name: m.GetName(), Queue: m.GetQueue(), Kinds: m.GetKinds(),
		Priority: int(m.GetPriority()), MaxAttempts: int(m.GetMaxAttempts()), Timeout: timeout, Start: start,
	}
	now := t.s.now()
	p, err := in.Build(now)
	if err != nil {
		return nil, toConnect(err)
	}
	ts, err := t.s.topics()
	if err != nil {
		return nil, err
	}
	res, err := ts.SubscriptionCreate(context.WithoutCancel(ctx), p)
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&v1.CreateSubscriptionResponse{Subscription: wire.Subscription(res.Subscription, now), Delivered: int32(res.Delivered)}), nil
}

func (t *topicService) DeleteSubscription(ctx context.Context, req *connect.Request[v1.DeleteSubscriptionRequest]) (*connect.Response[v1.DeleteSubscriptionResponse], error) {
	if err := checkTopicSub(req.Msg.GetTopic(), req.Msg.GetName()); err != nil {
		return nil, err
	}
	ts, err := t.s.topics()
	if err != nil {
		return nil, err
	}
	if err := ts.SubscriptionDelete(context.WithoutCancel(ctx), &store.SubscriptionDeleteParams{Topic: req.Msg.GetTopic(), Name: req.Msg.GetName()}); err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&v1.DeleteSubscriptionResponse{}), nil
}

func (t *topicService) ListSubscriptions(ctx context.Context, req *connect.Request[v1.ListSubscriptionsRequest]) (*connect.Response[v1.ListSubscriptionsResponse], error) {
	topic := req.Msg.GetTopic()
	if topic != "" {
		if err := checkTopic(topic); err != nil {
			return nil, err
		}
	}
	ts, err := t.s.topics()
	if err != nil {
		return nil, err
	}
	now := t.s.now()
	subs, err := ts.SubscriptionList(ctx, &store.SubscriptionListParams{Topic: topic, Now: now})
	if err != nil {
		return nil, toConnect(err)
	}
	resp := &v1.ListSubscriptionsResponse{Subscriptions: make([]*v1.Subscription, len(subs))}
	for i, s := range subs {
		resp.Subscriptions[i] = wire.Subscription(s, now)
	}
	return connect.NewResponse(resp), nil
}

func (t *topicService) ReplaySubscription(ctx context.Context, req *connect.Request[v1.ReplaySubscriptionRequest]) (*connect.Response[v1.ReplaySubscriptionResponse], error) {
	m := req.Msg
	if err := checkTopicSub(m.GetTopic(), m.GetName()); err != nil {
		return nil, err
	}
	if err := checkTime(m.GetFrom()); err != nil {
		return nil, invalid("from", err.Error())
	}
	now := t.s.now()
	from := wire.FromTime(m.GetFrom())
	if err := engine.CheckReplayFrom(from, now); err != nil {
		return nil, toConnect(err)
	}
	ts, err := t.s.topics()
	if err != nil {
		return nil, err
	}
	n, err := ts.SubscriptionReplay(context.WithoutCancel(ctx), &store.SubscriptionReplayParams{Topic: m.GetTopic(), Name: m.GetName(), From: from, Now: now})
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&v1.ReplaySubscriptionResponse{Delivered: int32(n)}), nil
}
