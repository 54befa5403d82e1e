package troika_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/troikahq/troika"
)

// OrderPlaced is the event of these tests.
type OrderPlaced struct {
	Order int    `json:"order"`
	Pad   string `json:"pad,omitempty"`
}

func (OrderPlaced) Kind() string { return "order.placed" }

// OrderShipped is a second event kind, for kind filters.
type OrderShipped struct {
	Order int `json:"order"`
}

func (OrderShipped) Kind() string { return "order.shipped" }

func (b *bundle) subscribe(t *testing.T, s troika.Subscription) *troika.SubscriptionInfo {
	t.Helper()
	info, err := b.client.CreateSubscription(b.ctx, s)
	if err != nil {
		t.Fatalf("CreateSubscription(%s/%s): %v", s.Topic, s.Name, err)
	}
	return info
}

func (b *bundle) publish(t *testing.T, topic string, args troika.JobArgs, opts ...troika.EnqueueOption) *troika.PublishResult {
	t.Helper()
	res, err := b.client.Publish(b.ctx, topic, args, opts...)
	if err != nil {
		t.Fatalf("Publish(%s): %v", topic, err)
	}
	return res
}

func (b *bundle) lag(t *testing.T, topic, name string) troika.SubscriptionLag {
	t.Helper()
	subs, err := b.client.ListSubscriptions(b.ctx, topic)
	if err != nil {
		t.Fatalf("ListSubscriptions(%s): %v", topic, err)
	}
	for _, s := range subs {
		if s.Name == name {
			return s.Lag
		}
	}
	t.Fatalf("subscription %s/%s not listed", topic, name)
	return troika.SubscriptionLag{}
}

// A subscriber is a Worker on the subscription's queue: each subscription
// gets its own copy of every event it takes, with the delivery metadata.
func TestPublishFansOutToWorkers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.subscribe(t, troika.Subscription{Topic: "orders", Name: "billing"})
	b.subscribe(t, troika.Subscription{Topic: "orders", Name: "shipping", Queue: "ship", Kinds: []string{"order.shipped"}})
	type got struct {
		sub, event string
		order      int
	}
	ch := make(chan got, 10)
	w := b.worker(func(c *troika.WorkerConfig) { c.Queues = map[string]int{"orders.billing": 1, "ship": 1} })
	troika.Handle(w, func(ctx context.Context, j *troika.Job[OrderPlaced]) error {
		ch <- got{j.Metadata[troika.MetaSubscription], j.Metadata[troika.MetaEvent], j.Args.Order}
		return nil
	})
	troika.Handle(w, func(ctx context.Context, j *troika.Job[OrderShipped]) error {
		ch <- got{j.Metadata[troika.MetaSubscription], j.Metadata[troika.MetaEvent], j.Args.Order}
		return nil
	})
	run(t, w)
	placed := b.publish(t, "orders", OrderPlaced{Order: 1}, troika.Metadata(map[string]string{"traceparent": "00-abc"}))
	if placed.Deliveries != 1 || len(placed.JobIDs) != 1 {
		t.Fatalf("order.placed: %+v, want 1 delivery (shipping takes only order.shipped)", placed)
	}
	if g := recv(t, ch, "billing delivery"); g != (got{"billing", placed.ID.String(), 1}) {
		t.Errorf("billing got %+v", g)
	}
	if j := b.waitState(t, placed.JobIDs[0], troika.StateCompleted); j.Metadata["traceparent"] != "00-abc" || j.Queue != "orders.billing" {
		t.Errorf("delivery job: %+v", j)
	}
	shipped := b.publish(t, "orders", OrderShipped{Order: 1})
	if shipped.Deliveries != 2 {
		t.Fatalf("order.shipped: %d deliveries, want 2 (billing takes every kind)", shipped.Deliveries)
	}
	subs := map[string]bool{}
	for range 2 {
		g := recv(t, ch, "order.shipped deliveries")
		if g.event != shipped.ID.String() {
			t.Errorf("got %+v, want event %s", g, shipped.ID)
		}
		subs[g.sub] = true
	}
	if !subs["billing"] || !subs["shipping"] {
		t.Errorf("order.shipped reached %v, want billing and shipping", subs)
	}
}

func TestPublishWithoutSubscriptionsThenSubscribeFromEarliest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var ids []troika.EventID
	res, err := b.client.PublishMany(b.ctx, "audit", troika.Item(OrderPlaced{Order: 1}), troika.Item(OrderPlaced{Order: 2}))
	if err != nil {
		t.Fatalf("PublishMany: %v", err)
	}
	for _, r := range res {
		if r.Deliveries != 0 {
			t.Fatalf("publish without subscriptions: %+v, want 0 deliveries", r)
		}
		ids = append(ids, r.ID)
	}
	topics, err := b.client.ListTopics(b.ctx)
	if err != nil || len(topics) != 1 || topics[0].Events != 2 || topics[0].Retention != troika.DefaultTopicRetention {
		t.Fatalf("ListTopics: %+v, %v", topics, err)
	}
	now := b.subscribe(t, troika.Subscription{Topic: "audit", Name: "now"})
	early := b.subscribe(t, troika.Subscription{Topic: "audit", Name: "early", Start: troika.StartEarliest()})
	if now.Delivered != 0 || early.Delivered != 2 || early.Lag.Undelivered != 2 || early.Queue != "audit.early" {
		t.Fatalf("start now delivered %d; start earliest %+v", now.Delivered, early)
	}
	n, err := b.client.ReplaySubscription(b.ctx, "audit", "now", time.Time{})
	if err != nil || n != 2 {
		t.Fatalf("ReplaySubscription: %d, %v; want 2", n, err)
	}
	page, err := b.client.ListJobs(b.ctx, troika.ListParams{Queue: "audit.now"})
	if err != nil || len(page.Jobs) != 2 || page.Jobs[0].Metadata[troika.MetaEvent] != ids[0].String() {
		t.Fatalf("replayed jobs: %+v, %v", page, err)
	}
}

func TestSubscriptionLag(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.subscribe(t, troika.Subscription{Topic: "t", Name: "s"})
	b.publish(t, "t", OrderPlaced{Order: 1})
	b.clock.Advance(time.Minute)
	b.publish(t, "t", OrderPlaced{Order: 2})
	if lag := b.lag(t, "t", "s"); lag.Undelivered != 2 || lag.OldestAge != time.Minute {
		t.Fatalf("lag: %+v, want 2 undelivered, oldest 1m", lag)
	}
	w := b.worker(func(c *troika.WorkerConfig) { c.Queues = map[string]int{"t.s": 1} })
	troika.Handle(w, func(ctx context.Context, j *troika.Job[OrderPlaced]) error { return nil })
	run(t, w)
	eventually(t, 10*time.Second, func() bool { return b.lag(t, "t", "s").Undelivered == 0 }, "lag drains to 0")
	if lag := b.lag(t, "t", "s"); lag.OldestAge != 0 {
		t.Errorf("drained lag: %+v", lag)
	}
}

// Jobs with one ordering key run one at a time in enqueue order, even with
// a concurrent worker and failing attempts; other keys run alongside.
func TestOrderingKeyWithWorker(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const keys, perKey = 4, 12
	var mu sync.Mutex
	running := map[string]bool{}
	seen := map[string][]int{}
	failed := map[int]bool{}
	var errs []string
	w := b.worker(func(c *troika.WorkerConfig) { c.Concurrency = 8 })
	troika.Handle(w, func(ctx context.Context, j *troika.Job[Seq]) error {
		mu.Lock()
		if running[j.OrderingKey] {
			errs = append(errs, fmt.Sprintf("key %s: job %d started while another runs", j.OrderingKey, j.Args.N))
		}
		running[j.OrderingKey] = true
		if s := seen[j.OrderingKey]; j.Attempt == 1 && len(s) > 0 && s[len(s)-1] > j.Args.N {
			errs = append(errs, fmt.Sprintf("key %s: job %d after %d", j.OrderingKey, j.Args.N, s[len(s)-1]))
		}
		if j.Attempt == 1 {
			seen[j.OrderingKey] = append(seen[j.OrderingKey], j.Args.N)
		}
		fail := j.Args.N%5 == 0 && !failed[j.Args.N]
		failed[j.Args.N] = true
		mu.Unlock()
		defer func() { mu.Lock(); running[j.OrderingKey] = false; mu.Unlock() }()
		if fail {
			return errBoom // retried at once (policy below); holds the key meanwhile
		}
		return nil
	}, troika.WithRetryPolicy(func(int, error) time.Duration { return 0 }))
	var items []troika.EnqueueItem
	for i := range perKey {
		for k := range keys {
			items = append(items, troika.Item(Seq{N: i*keys + k}, troika.OrderingKey(fmt.Sprintf("acct-%d", k))))
		}
	}
	res, err := b.client.EnqueueMany(b.ctx, items...)
	if err != nil {
		t.Fatalf("EnqueueMany: %v", err)
	}
	run(t, w)
	for _, r := range res {
		b.waitState(t, r.ID, troika.StateCompleted)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, e := range errs {
		t.Error(e)
	}
	for k := range keys {
		if got := len(seen[fmt.Sprintf("acct-%d", k)]); got != perKey {
			t.Errorf("key acct-%d: %d jobs started, want %d", k, got, perKey)
		}
	}
}

// Seq is a job carrying a sequence number.
type Seq struct {
	N int `json:"n"`
}

func (Seq) Kind() string { return "test.seq" }

func TestTopicBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *troika.Config) { c.MaxPayloadBytes = 1024 })
	b.subscribe(t, troika.Subscription{Topic: "t", Name: "s"})
	invalid := func(field string) func(error) bool {
		return func(err error) bool {
			var ie *troika.InvalidArgumentError
			return errors.As(err, &ie) && ie.Field == field && errors.Is(err, troika.ErrInvalidArgument)
		}
	}
	is := func(target error) func(error) bool { return func(err error) bool { return errors.Is(err, target) } }
	cases := []struct {
		name string
		call func() error
		ok   func(error) bool
	}{
		{"UnknownTopicReplay", func() error { _, err := b.client.ReplaySubscription(b.ctx, "nope", "s", time.Time{}); return err }, is(troika.ErrNotFound)},
		{"UnknownSubscriptionReplay", func() error { _, err := b.client.ReplaySubscription(b.ctx, "t", "nope", time.Time{}); return err }, is(troika.ErrNotFound)},
		{"UnknownSubscriptionDelete", func() error { return b.client.DeleteSubscription(b.ctx, "t", "nope") }, is(troika.ErrNotFound)},
		{"UnknownTopicList", func() error { _, err := b.client.ListSubscriptions(b.ctx, "nope"); return err }, is(troika.ErrNotFound)},
		{"NameTaken", func() error {
			_, err := b.client.CreateSubscription(b.ctx, troika.Subscription{Topic: "t", Name: "s", Start: troika.StartEarliest()})
			return err
		}, is(troika.ErrAlreadyExists)},
		{"FutureStart", func() error {
			_, err := b.client.CreateSubscription(b.ctx, troika.Subscription{Topic: "t", Name: "s2", Start: troika.StartAt(b.clock.Now().Add(time.Hour))})
			return err
		}, invalid("start")},
		{"FutureReplay", func() error {
			_, err := b.client.ReplaySubscription(b.ctx, "t", "s", b.clock.Now().Add(time.Hour))
			return err
		}, invalid("from")},
		{"EventTooBig", func() error {
			_, err := b.client.Publish(b.ctx, "t", OrderPlaced{Pad: strings.Repeat("x", 2000)})
			return err
		}, invalid("args")},
		{"EventTooBigInBatch", func() error {
			_, err := b.client.PublishMany(b.ctx, "t", troika.Item(OrderPlaced{}), troika.Item(OrderPlaced{Pad: strings.Repeat("x", 2000)}))
			return err
		}, invalid("events[1].args")},
		{"BadOrderingKey", func() error {
			_, err := b.client.Publish(b.ctx, "t", OrderPlaced{}, troika.OrderingKey(""))
			return err
		}, invalid("orderingKey")},
		{"BadOrderingKeyOnJob", func() error {
			_, err := b.client.Enqueue(b.ctx, OrderPlaced{}, troika.OrderingKey("a\x00b"))
			return err
		}, invalid("orderingKey")},
		{"QueueOnEvent", func() error { _, err := b.client.Publish(b.ctx, "t", OrderPlaced{}, troika.Queue("x")); return err }, invalid("queue")},
		{"BadTopic", func() error { _, err := b.client.Publish(b.ctx, "Bad Topic", OrderPlaced{}); return err }, invalid("topic")},
		{"BadSubscriptionName", func() error {
			_, err := b.client.CreateSubscription(b.ctx, troika.Subscription{Topic: "t", Name: "Bad!"})
			return err
		}, invalid("name")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !tc.ok(err) {
				t.Fatalf("got %v", err)
			}
		})
	}
	topics, err := b.client.ListTopics(b.ctx)
	if err != nil || len(topics) != 1 || topics[0].Events != 0 || topics[0].Subscriptions != 1 {
		t.Errorf("after bad input: %+v, %v; want topic t untouched", topics, err)
	}
	page, err := b.client.ListJobs(b.ctx, troika.ListParams{})
	if err != nil || len(page.Jobs) != 0 {
		t.Errorf("after bad input: %d jobs, %v; want none", len(page.Jobs), err)
	}
}

func TestTopicRetentionTrims(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if info, err := b.client.SetTopicRetention(b.ctx, "t", time.Hour); err != nil || info.Retention != time.Hour {
		t.Fatalf("SetTopicRetention: %+v, %v", info, err)
	}
	b.subscribe(t, troika.Subscription{Topic: "t", Name: "s"})
	old := b.publish(t, "t", OrderPlaced{Order: 1})
	b.clock.Advance(2 * time.Hour)
	b.publish(t, "t", OrderPlaced{Order: 2})
	eventually(t, 10*time.Second, func() bool { return b.client.TopicStats().EventsTrimmed == 1 }, "one event trimmed")
	topics, err := b.client.ListTopics(b.ctx)
	if err != nil || len(topics) != 1 || topics[0].Events != 1 || topics[0].OldestEventAge != 0 {
		t.Fatalf("ListTopics after trim: %+v, %v", topics, err)
	}
	// The trim dropped the event, not its delivery.
	b.get(t, old.JobIDs[0])
	if n, err := b.client.ReplaySubscription(b.ctx, "t", "s", time.Time{}); err != nil || n != 1 {
		t.Errorf("replay after trim: %d, %v; want only the retained event", n, err)
	}
}
