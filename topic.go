package troika

import (
	"context"
	"time"

	"github.com/troikahq/troika/internal/engine"
	"github.com/troikahq/troika/store"
)

// The message queue: a publish to a topic is stored once and fans out, in
// the same atomic durable write, to one job per subscription on that
// subscription's queue. A subscriber is just a Worker serving the
// subscription's queue with a handler for the event kind: events are jobs,
// with every job semantic (retries, dead letters, ordering keys, limits,
// metrics). See docs/topics.md.

// ErrAlreadyExists: the subscription name is already taken on the topic;
// nothing was changed.
var ErrAlreadyExists = store.ErrAlreadyExists

// Limits of message-queue input.
const (
	MaxTopicNameLen         = engine.MaxTopicNameLen         // 64 bytes, [a-z0-9._-], as queue names
	MaxSubscriptionKinds    = engine.MaxSubKinds             // event kinds one subscription may filter on
	MaxEventMetadataEntries = engine.MaxEventMetadataEntries // leaves room for the delivery metadata
	DefaultTopicRetention   = store.DefaultTopicRetention    // 7 days
)

// Metadata keys set on every delivery job (read them with Job.Metadata).
const (
	MetaTopic        = store.MetaTopic        // "troika.topic"
	MetaSubscription = store.MetaSubscription // "troika.subscription"
	MetaEvent        = store.MetaEvent        // "troika.event": the event's ID, for idempotent handlers
)

// EventID identifies a published event: a UUIDv7 from the same sequence
// as job IDs.
type EventID = store.ID

// PublishResult is the outcome of publishing one event.
type PublishResult struct {
	ID         EventID
	Deliveries int     // jobs created: one per subscription that takes the event's kind (0 is fine)
	JobIDs     []JobID // those jobs, in subscription name order
}

// Publish stores one event on topic and, in the same atomic durable write,
// creates one job per matching subscription of the topic. args gives the
// event's kind and payload, as for Enqueue. The options that apply to an
// event are OrderingKey (copied to every delivery: each subscription runs
// the key's events in order, one at a time) and Metadata; queue, priority,
// attempts and timeout come from each subscription, and the others are
// rejected. The topic is created by its first publish or subscription;
// publishing to a topic without subscriptions stores the event (it can be
// replayed to a later subscription) and reports 0 deliveries. Invalid
// input is an *InvalidArgumentError naming the field; nothing is stored.
// It returns once the write is durable.
func (c *Client) Publish(ctx context.Context, topic string, args JobArgs, opts ...EnqueueOption) (*PublishResult, error) {
	res, err := c.impl.publish(ctx, topic, []EnqueueItem{{Args: args, Options: opts}}, -1)
	if err != nil {
		return nil, err
	}
	return &res[0], nil
}

// PublishMany publishes events on topic atomically (all or nothing; fields
// of rejected input are named "events[i].field") and returns one result
// per event, in order.
func (c *Client) PublishMany(ctx context.Context, topic string, items ...EnqueueItem) ([]PublishResult, error) {
	if len(items) == 0 {
		return []PublishResult{}, nil
	}
	return c.impl.publish(ctx, topic, items, 0)
}

// SubscriptionStart says where a new subscription starts: StartNow (the
// zero value), StartEarliest or StartAt.
type SubscriptionStart struct{ s engine.SubscriptionStart }

// StartNow starts a subscription with the next event published.
func StartNow() SubscriptionStart { return SubscriptionStart{} }

// StartEarliest starts a subscription with the earliest event its topic
// still retains.
func StartEarliest() SubscriptionStart {
	return SubscriptionStart{engine.SubscriptionStart{Earliest: true}}
}

// StartAt starts a subscription with the retained events published at or
// after t; t must not be in the future.
func StartAt(t time.Time) SubscriptionStart {
	return SubscriptionStart{engine.SubscriptionStart{At: t}}
}

// ParseSubscriptionStart parses the wire and CLI spelling of a start:
// "now" (or empty), "earliest", or an RFC 3339 time.
func ParseSubscriptionStart(s string) (SubscriptionStart, error) {
	st, err := engine.ParseStart(s, "start")
	return SubscriptionStart{st}, err
}

// Subscription declares a subscription: an independent consumer group of
// a topic, whose deliveries are jobs on Queue.
type Subscription struct {
	Topic string
	Name  string // [a-z0-9._-]{1,64}, unique per topic
	// Queue the deliveries go to; default "<topic>.<name>". A queue
	// dedicated to the subscription keeps its limits and pauses separate.
	Queue string
	// Kinds filters the delivered event kinds; empty: every kind.
	Kinds       []string
	Priority    int           // deliveries' priority; 0: DefaultPriority
	MaxAttempts int           // deliveries' attempts; 0: DefaultMaxAttempts
	Timeout     time.Duration // deliveries' attempt timeout; 0: the worker's default
	Start       SubscriptionStart
}

// SubscriptionLag is how far a subscription is behind.
type SubscriptionLag struct {
	// Undelivered counts the subscription's delivery jobs that have not
	// finished: scheduled, available, running or retryable (completed,
	// dead and cancelled ones are done; deleted ones are gone).
	Undelivered int64
	// OldestAge is how long ago the oldest of them was created (by a
	// publish, the subscription's start or a replay); 0 when none.
	OldestAge time.Duration
}

// SubscriptionInfo is a subscription as stored, with its lag.
type SubscriptionInfo struct {
	Topic       string
	Name        string
	Queue       string
	Kinds       []string
	Priority    int
	MaxAttempts int
	Timeout     time.Duration
	CreatedAt   time.Time
	Lag         SubscriptionLag
	// Delivered is set by CreateSubscription: the retained events the
	// start delivered at once.
	Delivered int
}

// TopicInfo is a topic with its retained events.
type TopicInfo struct {
	Name           string
	Retention      time.Duration // effective: DefaultTopicRetention unless set
	Events         int64         // retained events
	OldestEventAge time.Duration // age of the oldest retained event; 0 when none
	Subscriptions  int
	CreatedAt      time.Time
}

// CreateSubscription creates a subscription and, in the same atomic write,
// delivers the retained events its Start selects. A name already taken on
// the topic is ErrAlreadyExists; a start time in the future and other bad
// input an *InvalidArgumentError; nothing is changed then. The topic is
// created if it does not exist yet (subscribing before the first publish
// is the usual order).
func (c *Client) CreateSubscription(ctx context.Context, s Subscription) (*SubscriptionInfo, error) {
	return c.impl.createSubscription(ctx, s)
}

// DeleteSubscription deletes a subscription: later publishes no longer
// deliver to it. Its jobs stay on its queue and still run (purge them with
// the job operations if they should not). ErrNotFound for an unknown topic
// or subscription.
func (c *Client) DeleteSubscription(ctx context.Context, topic, name string) error {
	return c.impl.deleteSubscription(ctx, topic, name)
}

// ListTopics returns every topic, by name.
func (c *Client) ListTopics(ctx context.Context) ([]*TopicInfo, error) { return c.impl.listTopics(ctx) }

// ListSubscriptions returns the subscriptions of topic (every topic when
// empty), by topic and name, with their lag. ErrNotFound for an unknown
// topic.
func (c *Client) ListSubscriptions(ctx context.Context, topic string) ([]*SubscriptionInfo, error) {
	return c.impl.listSubscriptions(ctx, topic)
}

// ReplaySubscription delivers again, as new jobs, every retained event of
// the topic published at or after from (zero: every retained event) that
// the subscription takes, in one atomic write, and returns how many. The
// earlier deliveries are not touched. A from in the future is an
// *InvalidArgumentError; ErrNotFound for an unknown topic or subscription.
func (c *Client) ReplaySubscription(ctx context.Context, topic, name string, from time.Time) (int, error) {
	return c.impl.replaySubscription(ctx, topic, name, from)
}

// SetTopicRetention sets how long topic keeps its events (creating the
// topic if needed); d <= 0 restores DefaultTopicRetention. Events past
// retention are trimmed by the maintenance leader, every trim counted in
// TopicStats.
func (c *Client) SetTopicRetention(ctx context.Context, topic string, d time.Duration) (*TopicInfo, error) {
	return c.impl.setTopicRetention(ctx, topic, d)
}

// TopicStats are the message queue's cumulative counters since the Client
// was opened.
type TopicStats struct {
	// EventsTrimmed counts events this process's maintenance deleted
	// because they were past their topic's retention.
	EventsTrimmed int64
}

// TopicStats returns the message queue's counters.
func (c *Client) TopicStats() TopicStats {
	return TopicStats{EventsTrimmed: c.impl.counters.EventsTrimmed.Load()}
}
