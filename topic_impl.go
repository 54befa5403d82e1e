package troika

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/troikahq/troika/internal/engine"
	"github.com/troikahq/troika/store"
)

// topics returns the store's topic seam, or an error saying the backend
// has none (matching errors.ErrUnsupported).
func (c *clientImpl) topics() (store.TopicStore, error) {
	ts, ok := c.st.(store.TopicStore)
	if !ok {
		return nil, fmt.Errorf("troika: the %T store does not support topics yet: %w", c.st, errors.ErrUnsupported)
	}
	return ts, nil
}

// checkOrdering refuses an ordering key on a store that would not honour
// it (running the job out of order silently would break the promise).
func (c *clientImpl) checkOrdering(key string) error {
	if key == "" {
		return nil
	}
	if _, ok := c.st.(store.OrderingStore); !ok {
		return fmt.Errorf("troika: the %T store does not support ordering keys yet: %w", c.st, errors.ErrUnsupported)
	}
	return nil
}

func checkTopic(topic string) error {
	if r := engine.CheckTopicName(topic); r != "" {
		return &InvalidArgumentError{Field: "topic", Reason: r}
	}
	return nil
}

func checkTopicSub(topic, name string) error {
	if err := checkTopic(topic); err != nil {
		return err
	}
	if r := engine.CheckSubscriptionName(name); r != "" {
		return &InvalidArgumentError{Field: "name", Reason: r}
	}
	return nil
}

// publish builds and stores events; index0 is -1 for a single event (field
// names without a prefix) and 0 for a batch.
func (c *clientImpl) publish(ctx context.Context, topic string, items []EnqueueItem, index0 int) ([]PublishResult, error) {
	if err := checkTopic(topic); err != nil {
		return nil, err
	}
	events := make([]store.Event, len(items))
	for i, it := range items {
		index := i
		if index0 < 0 {
			index = -1
		}
		kind, payload, err := encodeArgs(it.Args)
		if err != nil {
			field := "args"
			if index >= 0 {
				field = "events[" + strconv.Itoa(index) + "].args"
			}
			return nil, &InvalidArgumentError{Field: field, Reason: err.Error()}
		}
		var o engine.EventOptions
		for _, opt := range it.Options {
			if opt != nil {
				opt(&o.JobOptions)
			}
		}
		lim := c.limits
		lim.ArgsValidJSON = true // from json.Marshal, as in build (client_enqueue.go)
		if err := o.BuildEvent(&events[i], index, kind, payload, lim); err != nil {
			return nil, err
		}
		if err := c.checkOrdering(events[i].OrderingKey); err != nil {
			return nil, err
		}
	}
	ts, err := c.topics()
	if err != nil {
		return nil, err
	}
	res, err := ts.TopicPublish(ctx, &store.TopicPublishParams{Topic: topic, Events: events, Now: c.now()})
	if err != nil {
		return nil, err
	}
	if len(res) != len(events) {
		return nil, fmt.Errorf("troika: store returned %d results for %d events", len(res), len(events))
	}
	out := make([]PublishResult, len(res))
	for i, r := range res {
		out[i] = PublishResult{ID: r.ID, Deliveries: r.Deliveries, JobIDs: r.JobIDs}
	}
	return out, nil
}

func (c *clientImpl) createSubscription(ctx context.Context, s Subscription) (*SubscriptionInfo, error) {
	in := engine.SubscriptionInput{
		Topic: s.Topic, Name: s.Name, Queue: s.Queue, Kinds: s.Kinds,
		Priority: s.Priority, MaxAttempts: s.MaxAttempts, Timeout: s.Timeout, Start: s.Start.s,
	}
	now := c.now()
	p, err := in.Build(now)
	if err != nil {
		return nil, err
	}
	ts, err := c.topics()
	if err != nil {
		return nil, err
	}
	res, err := ts.SubscriptionCreate(ctx, p)
	if err != nil {
		return nil, err
	}
	info := subscriptionInfo(res.Subscription, now)
	info.Delivered = res.Delivered
	return info, nil
}

func subscriptionInfo(s *store.Subscription, now time.Time) *SubscriptionInfo {
	info := &SubscriptionInfo{
		Topic: s.Topic, Name: s.Name, Queue: s.Job.Queue, Kinds: s.Kinds, Priority: s.Job.Priority,
		MaxAttempts: s.Job.MaxAttempts, Timeout: s.Job.Timeout, CreatedAt: s.CreatedAt,
		Lag: SubscriptionLag{Undelivered: s.Pending},
	}
	if !s.OldestPendingAt.IsZero() {
		info.Lag.OldestAge = max(now.Sub(s.OldestPendingAt), 0)
	}
	return info
}

func (c *clientImpl) deleteSubscription(ctx context.Context, topic, name string) error {
	if err := checkTopicSub(topic, name); err != nil {
		return err
	}
	ts, err := c.topics()
	if err != nil {
		return err
	}
	return ts.SubscriptionDelete(ctx, &store.SubscriptionDeleteParams{Topic: topic, Name: name})
}

func (c *clientImpl) listTopics(ctx context.Context) ([]*TopicInfo, error) {
	ts, err := c.topics()
	if err != nil {
		return nil, err
	}
	now := c.now()
	topics, err := ts.TopicList(ctx, &store.TopicListParams{Now: now})
	if err != nil {
		return nil, err
	}
	out := make([]*TopicInfo, len(topics))
	for i, t := range topics {
		out[i] = topicInfo(t, now)
	}
	return out, nil
}

func topicInfo(t *store.Topic, now time.Time) *TopicInfo {
	info := &TopicInfo{
		Name: t.Name, Retention: t.Retention, Events: t.Events, Subscriptions: t.Subscriptions, CreatedAt: t.CreatedAt,
	}
	if info.Retention <= 0 {
		info.Retention = DefaultTopicRetention
	}
	if !t.OldestEventAt.IsZero() {
		info.OldestEventAge = max(now.Sub(t.OldestEventAt), 0)
	}
	return info
}

func (c *clientImpl) listSubscriptions(ctx context.Context, topic string) ([]*SubscriptionInfo, error) {
	if topic != "" {
		if err := checkTopic(topic); err != nil {
			return nil, err
		}
	}
	ts, err := c.topics()
	if err != nil {
		return nil, err
	}
	now := c.now()
	subs, err := ts.SubscriptionList(ctx, &store.SubscriptionListParams{Topic: topic, Now: now})
	if err != nil {
		return nil, err
	}
	out := make([]*SubscriptionInfo, len(subs))
	for i, s := range subs {
		out[i] = subscriptionInfo(s, now)
	}
	return out, nil
}

func (c *clientImpl) replaySubscription(ctx context.Context, topic, name string, from time.Time) (int, error) {
	if err := checkTopicSub(topic, name); err != nil {
		return 0, err
	}
	now := c.now()
	if err := engine.CheckReplayFrom(from, now); err != nil {
		return 0, err
	}
	ts, err := c.topics()
	if err != nil {
		return 0, err
	}
	return ts.SubscriptionReplay(ctx, &store.SubscriptionReplayParams{Topic: topic, Name: name, From: from, Now: now})
}

func (c *clientImpl) setTopicRetention(ctx context.Context, topic string, d time.Duration) (*TopicInfo, error) {
	if err := checkTopic(topic); err != nil {
		return nil, err
	}
	ts, err := c.topics()
	if err != nil {
		return nil, err
	}
	d = max(d, 0)
	now := c.now()
	t, err := ts.TopicUpdate(ctx, &store.TopicUpdateParams{Name: topic, Retention: &d, Now: now})
	if err != nil {
		return nil, err
	}
	return topicInfo(t, now), nil
}
