package engine

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/troikahq/troika/store"
)

// Limits of message-queue input. The root package re-exports them.
const (
	MaxOrderingKeyLen = 256 // bytes of printable UTF-8
	MaxTopicNameLen   = 64  // bytes, [a-z0-9._-]
	MaxSubKinds       = 32  // event kinds a subscription may filter on
	// MaxEventMetadataEntries leaves room for the delivery metadata the
	// store adds (store.MetaTopic, MetaSubscription, MetaEvent).
	MaxEventMetadataEntries = MaxMetadataEntries - 3
	// reservedMetaPrefix is the prefix of the metadata keys the store sets
	// on deliveries; events may not set them.
	reservedMetaPrefix = "troika."
)

// buildOrdering sets the ordering key (called by Build).
func (o *JobOptions) buildOrdering(dst *store.InsertJob, index int) error {
	if !o.HasOrderingKey {
		return nil
	}
	if r := CheckOrderingKey(o.OrderingKey); r != "" {
		return invalid(index, "orderingKey", r)
	}
	dst.OrderingKey = o.OrderingKey
	return nil
}

// CheckOrderingKey returns why key is not a valid ordering key (1-256
// bytes of printable UTF-8), or "" if it is.
func CheckOrderingKey(key string) string { return checkLabel(key, MaxOrderingKeyLen) }

// CheckTopicName returns why name is not a valid topic name
// ([a-z0-9._-]{1,64}, as queue names), or "" if it is.
func CheckTopicName(name string) string { return CheckQueueName(name) }

// CheckSubscriptionName returns why name is not a valid subscription name
// ([a-z0-9._-]{1,64}), or "" if it is.
func CheckSubscriptionName(name string) string { return CheckQueueName(name) }

// EventOptions are the options of one published event as the caller gave
// them: the enqueue options that make sense for an event. Queue, priority,
// attempts and timeout come from each subscription instead; run time and
// unique keys do not apply to a publish.
type EventOptions struct {
	JobOptions
}

// BuildEvent validates one event and fills dst. index is the event's
// position in a batch (fields become "events[index].field") or -1. Every
// rejection is a *store.InvalidArgumentError naming the field; dst
// references args and o.Metadata.
func (o *EventOptions) BuildEvent(dst *store.Event, index int, kind string, args []byte, lim Limits) error {
	fail := func(field, reason string) error {
		if index >= 0 {
			field = "events[" + strconv.Itoa(index) + "]." + field
		}
		return &store.InvalidArgumentError{Field: field, Reason: reason}
	}
	if r := checkKind(kind); r != "" {
		return fail("kind", r)
	}
	if len(args) == 0 {
		args = emptyObject
	}
	if r := checkArgs(args, lim.maxPayload(), !lim.ArgsValidJSON); r != "" {
		return fail("args", r)
	}
	switch {
	case o.HasQueue:
		return fail("queue", "an event goes to every subscription's own queue: set the queue on the subscription")
	case o.HasPriority || o.HasMaxAttempts || o.Timeout != 0:
		return fail("options", "priority, attempts and timeout are set on the subscription, not on the event")
	case o.HasDelay || !o.RunAt.IsZero():
		return fail("runAt", "a publish is delivered at once; delay the handler's work with Snooze instead")
	case o.HasUnique:
		return fail("uniqueKey", "not supported on publish")
	case len(o.Tags) > 0:
		return fail("tags", "not supported on publish")
	}
	if len(o.Metadata) > MaxEventMetadataEntries {
		return fail("metadata", fmt.Sprintf("%d entries, over the limit of %d for events", len(o.Metadata), MaxEventMetadataEntries))
	}
	if r := checkMetadata(o.Metadata); r != "" {
		return fail("metadata", r)
	}
	for k := range o.Metadata {
		if strings.HasPrefix(k, reservedMetaPrefix) {
			return fail("metadata", fmt.Sprintf("key %s: the prefix %q is reserved for delivery metadata", quote(k), reservedMetaPrefix))
		}
	}
	*dst = store.Event{Kind: kind, Args: args}
	if o.HasOrderingKey {
		if r := CheckOrderingKey(o.OrderingKey); r != "" {
			return fail("orderingKey", r)
		}
		dst.OrderingKey = o.OrderingKey
	}
	if len(o.Metadata) > 0 {
		dst.Metadata = o.Metadata
	}
	return nil
}

// SubscriptionStart says where a new subscription starts.
type SubscriptionStart struct {
	Earliest bool      // every retained event
	At       time.Time // events published at or after At (zero with !Earliest: now)
}

// Earliest is the From a store is given for "the earliest retained event":
// before every publish time a store can hold.
var Earliest = time.Unix(0, 0).UTC()

// ParseStart parses the wire spelling of a subscription start: "now" (or
// empty), "earliest", or an RFC 3339 time. field names the input in errors.
func ParseStart(s, field string) (SubscriptionStart, error) {
	switch s {
	case "", "now":
		return SubscriptionStart{}, nil
	case "earliest":
		return SubscriptionStart{Earliest: true}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return SubscriptionStart{}, &store.InvalidArgumentError{Field: field, Reason: fmt.Sprintf("%s: want \"now\", \"earliest\" or an RFC 3339 time", quote(s))}
	}
	return SubscriptionStart{At: t}, nil
}

// SubscriptionInput is a subscription as the caller declared it.
type SubscriptionInput struct {
	Topic       string
	Name        string
	Queue       string // "": "<topic>.<name>" when that is a valid queue name
	Kinds       []string
	Priority    int           // 0: DefaultPriority
	MaxAttempts int           // 0: DefaultMaxAttempts
	Timeout     time.Duration // 0: the worker's default
	Start       SubscriptionStart
}

// DefaultSubscriptionQueue is the queue of a subscription that names none:
// "<topic>.<name>", or "" when that is longer than a queue name may be.
func DefaultSubscriptionQueue(topic, name string) string {
	q := topic + "." + name
	if CheckQueueName(q) != "" {
		return ""
	}
	return q
}

// Build validates in and returns the params of store.SubscriptionCreate,
// defaults applied. A start time after now is rejected (it would silently
// behave as "now"). Every rejection is a *store.InvalidArgumentError.
func (in *SubscriptionInput) Build(now time.Time) (*store.SubscriptionCreateParams, error) {
	if r := CheckTopicName(in.Topic); r != "" {
		return nil, &store.InvalidArgumentError{Field: "topic", Reason: r}
	}
	if r := CheckSubscriptionName(in.Name); r != "" {
		return nil, &store.InvalidArgumentError{Field: "name", Reason: r}
	}
	p := &store.SubscriptionCreateParams{
		Topic: in.Topic, Name: in.Name, Now: now,
		Job: store.SubscriptionTemplate{Queue: in.Queue, Priority: DefaultPriority, MaxAttempts: DefaultMaxAttempts, Timeout: in.Timeout},
	}
	if p.Job.Queue == "" {
		if p.Job.Queue = DefaultSubscriptionQueue(in.Topic, in.Name); p.Job.Queue == "" {
			return nil, &store.InvalidArgumentError{Field: "queue", Reason: "required: the default \"<topic>.<name>\" is longer than a queue name may be"}
		}
	} else if r := CheckQueueName(in.Queue); r != "" {
		return nil, &store.InvalidArgumentError{Field: "queue", Reason: r}
	}
	if len(in.Kinds) > MaxSubKinds {
		return nil, &store.InvalidArgumentError{Field: "kinds", Reason: fmt.Sprintf("%d kinds, over the limit of %d", len(in.Kinds), MaxSubKinds)}
	}
	for i, k := range in.Kinds {
		if r := checkKind(k); r != "" {
			return nil, &store.InvalidArgumentError{Field: "kinds[" + strconv.Itoa(i) + "]", Reason: r}
		}
	}
	p.Kinds = in.Kinds
	if in.Priority != 0 {
		if in.Priority < MinPriority || in.Priority > MaxPriority {
			return nil, &store.InvalidArgumentError{Field: "priority", Reason: fmt.Sprintf("%d is outside %d (most urgent) to %d", in.Priority, MinPriority, MaxPriority)}
		}
		p.Job.Priority = in.Priority
	}
	if in.MaxAttempts != 0 {
		if in.MaxAttempts < 1 {
			return nil, &store.InvalidArgumentError{Field: "maxAttempts", Reason: fmt.Sprintf("%d is less than 1", in.MaxAttempts)}
		}
		p.Job.MaxAttempts = in.MaxAttempts
	}
	if in.Timeout < 0 {
		return nil, &store.InvalidArgumentError{Field: "timeout", Reason: fmt.Sprintf("%s is negative", in.Timeout)}
	}
	switch {
	case in.Start.Earliest:
		p.From = Earliest
	case !in.Start.At.IsZero():
		if in.Start.At.After(now) {
			return nil, &store.InvalidArgumentError{Field: "start", Reason: fmt.Sprintf("%s is in the future", in.Start.At.UTC().Format(time.RFC3339))}
		}
		p.From = in.Start.At
		if !p.From.After(Earliest) {
			p.From = Earliest
		}
	}
	return p, nil
}

// CheckReplayFrom validates the start of a replay: zero means every
// retained event; a time after now is rejected.
func CheckReplayFrom(from, now time.Time) error {
	if from.After(now) {
		return &store.InvalidArgumentError{Field: "from", Reason: fmt.Sprintf("%s is in the future", from.UTC().Format(time.RFC3339))}
	}
	return nil
}
