package wire

import (
	"fmt"
	"time"

	v1 "github.com/troikahq/troika/gen/troika/v1"
	"github.com/troikahq/troika/store"
)

// age is how long before now t was, in seconds (0 for the zero time).
func age(t, now time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return max(now.Sub(t), 0).Seconds()
}

// Topic converts a stored topic to its wire form (retention effective;
// ages counted from now).
func Topic(t *store.Topic, now time.Time) *v1.Topic {
	ret := t.Retention
	if ret <= 0 {
		ret = store.DefaultTopicRetention
	}
	return &v1.Topic{
		Name: t.Name, Retention: Duration(ret), Events: t.Events, OldestEventAt: Time(t.OldestEventAt),
		OldestEventAgeSeconds: age(t.OldestEventAt, now), Subscriptions: int32(t.Subscriptions), CreatedAt: Time(t.CreatedAt),
	}
}

// FromTopic converts a wire topic back to the store's record.
func FromTopic(p *v1.Topic) (*store.Topic, error) {
	if p == nil {
		return nil, fmt.Errorf("troika: server returned no topic")
	}
	ret, err := FromDuration("retention", p.GetRetention())
	if err != nil {
		return nil, err
	}
	return &store.Topic{
		Name: p.GetName(), Retention: ret, Events: p.GetEvents(), OldestEventAt: FromTime(p.GetOldestEventAt()),
		Subscriptions: int(p.GetSubscriptions()), CreatedAt: FromTime(p.GetCreatedAt()),
	}, nil
}

// Subscription converts a stored subscription and its lag to its wire form.
func Subscription(s *store.Subscription, now time.Time) *v1.Subscription {
	return &v1.Subscription{
		Topic: s.Topic, Name: s.Name, Queue: s.Job.Queue, Kinds: s.Kinds, Priority: int32(s.Job.Priority),
		MaxAttempts: int32(s.Job.MaxAttempts), Timeout: Duration(s.Job.Timeout), CreatedAt: Time(s.CreatedAt),
		Lag: &v1.SubscriptionLag{Undelivered: s.Pending, OldestPendingAt: Time(s.OldestPendingAt), OldestAgeSeconds: age(s.OldestPendingAt, now)},
	}
}

// FromSubscription converts a wire subscription back to the store's record.
func FromSubscription(p *v1.Subscription) (*store.Subscription, error) {
	if p == nil {
		return nil, fmt.Errorf("troika: server returned no subscription")
	}
	timeout, err := FromDuration("timeout", p.GetTimeout())
	if err != nil {
		return nil, err
	}
	return &store.Subscription{
		Topic: p.GetTopic(), Name: p.GetName(), Kinds: p.GetKinds(),
		Job:       store.SubscriptionTemplate{Queue: p.GetQueue(), Priority: int(p.GetPriority()), MaxAttempts: int(p.GetMaxAttempts()), Timeout: timeout},
		CreatedAt: FromTime(p.GetCreatedAt()), Pending: p.GetLag().GetUndelivered(), OldestPendingAt: FromTime(p.GetLag().GetOldestPendingAt()),
	}, nil
}
