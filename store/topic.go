package store

import (
	"context"
	"time"
)

// OrderingStore is implemented by a backend that honours
// InsertJob.OrderingKey (FIFO, one at a time per queue and key). The engine
// refuses an ordering key on a store that does not implement it rather than
// dropping the guarantee silently. The conformance group
// storetest.RunOrdering is its executable contract.
type OrderingStore interface {
	// SupportsOrderingKeys reports true; it exists to be asserted.
	SupportsOrderingKeys() bool
}

// TopicStore is the storage seam of the message queue: topics keep events
// for a retention window, and a publish fans out, in the same atomic
// durable write, to one job per matching subscription on that
// subscription's queue. It is a separate interface so that Store stays the
// job seam; both backends implement Store, OrderingStore and TopicStore, and
// the conformance group storetest.RunTopics (part of storetest.RunAll)
// fails a backend that does not.
//
// The general contract of Store applies to every method (concurrency,
// atomicity, durability before return, params never retained, Now zero
// meaning the store's clock, ErrClosed after Close, ErrStoreFailed after a
// write failure, ErrInvalidArgument for malformed params and never a
// panic). Validation of names, sizes and start times is the engine's; the
// store rejects only params it cannot store (empty names, a NUL byte in a
// name).
//
// Deliveries are ordinary jobs: kind and args of the event, the event's
// OrderingKey and Metadata, the subscription's queue and job template, and
// Job.CreatedAt the instant the delivery was made (publish, subscription
// start or replay). Every job semantic applies to them unchanged.
type TopicStore interface {
	// TopicPublish stores p.Events on p.Topic (creating the topic with the
	// default retention when it does not exist) and inserts one delivery
	// job per event and per subscription of the topic whose Kinds match
	// the event's kind, all in one atomic write. It returns one result per
	// event, in order. Publishing to a topic without subscriptions stores
	// the events (replayable later) and delivers to none.
	TopicPublish(ctx context.Context, p *TopicPublishParams) ([]PublishResult, error)

	// TopicList returns every topic, by name, with its retention and the
	// number and age of its retained events.
	TopicList(ctx context.Context, p *TopicListParams) ([]*Topic, error)

	// TopicUpdate creates the topic p.Name or changes its retention, and
	// returns it.
	TopicUpdate(ctx context.Context, p *TopicUpdateParams) (*Topic, error)

	// TopicTrim deletes up to Limit events of p.Topic published before
	// p.Before, oldest first, and returns how many it deleted (trims never
	// touch deliveries: they are jobs with their own retention).
	// ErrNotFound for an unknown topic.
	TopicTrim(ctx context.Context, p *TopicTrimParams) (int, error)

	// SubscriptionCreate creates subscription p.Name on p.Topic (creating
	// the topic when it does not exist) and, in the same atomic write,
	// delivers to it every retained event published at or after p.From
	// that matches its kinds (zero From: none, the subscription starts
	// now). A name already taken on the topic is ErrAlreadyExists and
	// changes nothing. Returns the subscription and how many events it
	// delivered.
	SubscriptionCreate(ctx context.Context, p *SubscriptionCreateParams) (*SubscriptionCreateResult, error)

	// SubscriptionDelete deletes a subscription: later publishes no longer
	// deliver to it; its jobs stay on its queue and run (delete them with
	// JobDelete to drop them). ErrNotFound for an unknown topic or name.
	SubscriptionDelete(ctx context.Context, p *SubscriptionDeleteParams) error

	// SubscriptionList returns the subscriptions of p.Topic (every topic
	// when empty), by topic then name, each with its lag. ErrNotFound for
	// an unknown topic.
	SubscriptionList(ctx context.Context, p *SubscriptionListParams) ([]*Subscription, error)

	// SubscriptionReplay delivers again, atomically, every retained event
	// of p.Topic published at or after p.From that matches the
	// subscription's kinds, as new jobs (the earlier deliveries are not
	// touched), and returns how many it delivered. ErrNotFound for an
	// unknown topic or subscription.
	SubscriptionReplay(ctx context.Context, p *SubscriptionReplayParams) (int, error)
}

// DefaultTopicRetention is how long a topic keeps its events unless its
// Retention says otherwise.
const DefaultTopicRetention = 7 * 24 * time.Hour

// Metadata keys set on every delivery job, so a handler can tell where an
// event came from. They override the event's metadata of the same name.
const (
	MetaTopic        = "troika.topic"
	MetaSubscription = "troika.subscription"
	MetaEvent        = "troika.event" // the event's ID
)

// Event is one event to publish, validated by the engine.
type Event struct {
	Kind        string
	Args        []byte // JSON
	OrderingKey string // copied to every delivery
	Metadata    map[string]string
}

// TopicPublishParams are the params of TopicStore.TopicPublish.
type TopicPublishParams struct {
	Topic  string
	Events []Event
	Now    time.Time
}

// PublishResult is the outcome of publishing one event.
type PublishResult struct {
	ID         ID   // the event's ID
	Deliveries int  // how many subscription jobs it created
	JobIDs     []ID // those jobs, in subscription name order
}

// Topic is a topic as stored, with its retained events' statistics.
type Topic struct {
	Name          string
	Retention     time.Duration // 0: DefaultTopicRetention
	Events        int64         // retained events
	OldestEventAt time.Time     // publish time of the oldest retained event; zero when none
	Subscriptions int
	CreatedAt     time.Time
}

// TopicListParams are the params of TopicStore.TopicList.
type TopicListParams struct {
	Now time.Time
}

// TopicUpdateParams are the params of TopicStore.TopicUpdate.
type TopicUpdateParams struct {
	Name      string
	Retention *time.Duration // nil: keep (DefaultTopicRetention for a new topic)
	Now       time.Time
}

// TopicTrimParams are the params of TopicStore.TopicTrim.
type TopicTrimParams struct {
	Topic  string
	Before time.Time // events published strictly before this go
	Limit  int       // default 10,000
}

// SubscriptionTemplate is the job template of a subscription's deliveries,
// with the engine's defaults applied.
type SubscriptionTemplate struct {
	Queue       string
	Priority    int
	MaxAttempts int
	Timeout     time.Duration
}

// Subscription is a subscription as stored, with its lag.
type Subscription struct {
	Topic     string
	Name      string
	Kinds     []string // delivered event kinds; empty: every kind
	Job       SubscriptionTemplate
	CreatedAt time.Time
	// Lag: the subscription's delivery jobs that have not finished (any
	// state but completed, dead and cancelled), and the creation instant
	// of the oldest of them (zero when there is none). Jobs deleted before
	// finishing are not counted.
	Pending         int64
	OldestPendingAt time.Time
}

// Matches reports whether s delivers events of kind.
func (s *Subscription) Matches(kind string) bool {
	if len(s.Kinds) == 0 {
		return true
	}
	for _, k := range s.Kinds {
		if k == kind {
			return true
		}
	}
	return false
}

// SubscriptionCreateParams are the params of TopicStore.SubscriptionCreate.
type SubscriptionCreateParams struct {
	Topic string
	Name  string
	Kinds []string
	Job   SubscriptionTemplate
	From  time.Time // zero: start now; otherwise deliver retained events published at or after From
	Now   time.Time
}

// SubscriptionCreateResult is the outcome of SubscriptionCreate.
type SubscriptionCreateResult struct {
	Subscription *Subscription
	Delivered    int // retained events delivered at creation
}

// SubscriptionDeleteParams are the params of TopicStore.SubscriptionDelete.
type SubscriptionDeleteParams struct {
	Topic string
	Name  string
}

// SubscriptionListParams are the params of TopicStore.SubscriptionList.
type SubscriptionListParams struct {
	Topic string // "": every topic
	Now   time.Time
}

// SubscriptionReplayParams are the params of TopicStore.SubscriptionReplay.
type SubscriptionReplayParams struct {
	Topic string
	Name  string
	From  time.Time // deliver retained events published at or after From (zero: every retained event)
	Now   time.Time
}
