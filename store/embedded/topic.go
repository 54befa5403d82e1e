package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/troikahq/troika/store"
)

// Topics and subscriptions (store.TopicStore).
//
// Durable layout (the prefixes sort before jobs, so the rebuild knows every
// subscription before it reads the jobs that name one):
//
//	'A' + topic                                   → topic record (JSON)
//	'B' + topic + 0x00 + name                     → subscription record (JSON)
//	'E' + topic + 0x00 + publish time (8 bytes,   → event (binary, sealed)
//	      order-preserving) + event ID (16 bytes)
//
// Events live only in Pebble: memory holds per topic a count and the
// oldest publish time, so a long retention costs disk, not heap. Replay and
// subscription backfill read the topic's key range in publish order under
// Store.mu, which makes them atomic with publishes (an event is delivered
// by the publish or by the replay, never both, never neither). Trims count
// the events they drop and remove them with one range deletion.
//
// A delivery job remembers its subscription (jobExtra.sub, persisted as
// the subscription's ID); each subscription keeps its unfinished
// deliveries in a B-tree by ID, which is its lag: Len is the count and Min
// the oldest. setStateLocked, addJobLocked, deleteJobLocked and the rebuild
// keep it current (trackDelivery, loadDeliveryLocked).
const (
	prefixTopic = 'A'
	prefixSub   = 'B'
	prefixEvent = 'E'

	eventVersion = 1
	topicVersion = 1
	subVersion   = 1
)

// topicIndex is the in-memory state of the message queue. Guarded by
// Store.mu; maps are nil until the first topic.
type topicIndex struct {
	m    map[string]*topic
	byID map[store.ID]*subscription
}

type topic struct {
	name      string
	retention time.Duration
	createdAt int64
	events    int64 // retained events
	oldest    int64 // publish time of the oldest retained event; 0: none
	subs      []*subscription
}

type subscription struct {
	id        store.ID
	t         *topic
	name      string
	kinds     []string
	tmpl      store.SubscriptionTemplate
	createdAt int64
	deleted   bool
	pending   *idTree // unfinished deliveries, by ID
}

func (sub *subscription) matches(kind string) bool {
	return len(sub.kinds) == 0 || slices.Contains(sub.kinds, kind)
}

// trackDelivery keeps a subscription's lag current when delivery j moves
// to state st (called by setStateLocked before it changes j.state).
func trackDelivery(j *job, st uint8) {
	sub := j.x.sub
	if sub.deleted {
		return
	}
	was, will := j.state < stCompleted, st < stCompleted
	switch {
	case was && !will:
		sub.pending.delete(entryByID(j))
	case !was && will:
		sub.pending.insert(entryByID(j))
	}
}

// loadDeliveryLocked links a job read by the rebuild to its subscription.
func (s *Store) loadDeliveryLocked(j *job) {
	if j.x == nil || j.x.subID.IsZero() {
		return
	}
	sub := s.topics.byID[j.x.subID]
	if sub == nil {
		return // a delivery of a deleted subscription
	}
	j.x.sub = sub
	if j.state < stCompleted {
		sub.pending.insert(entryByID(j))
	}
}

// ---- keys and records

func topicEventPrefix(name string) []byte {
	k := make([]byte, 0, len(name)+2+8+16)
	k = append(k, prefixEvent)
	k = append(k, name...)
	return append(k, 0)
}

// topicEventEnd is the exclusive upper bound of a topic's event keys.
func topicEventEnd(name string) []byte {
	k := topicEventPrefix(name)
	k[len(k)-1] = 1
	return k
}

// orderedNanos encodes a signed instant so that bytes sort as instants.
func orderedNanos(n int64) uint64 { return uint64(n) ^ 1<<63 }

func eventKey(name string, at int64, id store.ID) []byte {
	k := topicEventPrefix(name)
	k = binary.BigEndian.AppendUint64(k, orderedNanos(at))
	return append(k, id[:]...)
}

func eventKeyAt(name string, at int64) []byte {
	return binary.BigEndian.AppendUint64(topicEventPrefix(name), orderedNanos(at))
}

// parseEventKey splits an event key into topic, publish time and ID.
func parseEventKey(k []byte) (name string, at int64, id store.ID, err error) {
	i := bytes.IndexByte(k, 0)
	if len(k) == 0 || k[0] != prefixEvent || i < 0 || len(k)-i-1 != 8+16 {
		return "", 0, id, fmt.Errorf("%w: bad event key", errBadRecord)
	}
	at = int64(binary.BigEndian.Uint64(k[i+1:]) ^ 1<<63)
	copy(id[:], k[i+9:])
	return string(k[1:i]), at, id, nil
}

func subKey(topic, name string) []byte {
	k := make([]byte, 0, 2+len(topic)+len(name))
	k = append(k, prefixSub)
	k = append(k, topic...)
	k = append(k, 0)
	return append(k, name...)
}

func appendEvent(b []byte, ev *store.Event) []byte {
	start := len(b)
	b = append(b, eventVersion)
	b = appendString(b, ev.Kind)
	b = appendBytes(b, ev.Args)
	b = appendString(b, ev.OrderingKey)
	b = appendMetadata(b, ev.Metadata)
	return sealValue(b, start)
}

// decodeEvent decodes an event value into caller-owned memory.
func decodeEvent(v []byte) (store.Event, error) {
	body, err := openValue(v, eventVersion)
	if err != nil {
		return store.Event{}, err
	}
	r := reader{b: body}
	ev := store.Event{Kind: r.str("kind")}
	ev.Args = slices.Clone(r.raw("args"))
	ev.OrderingKey = r.str("ordering key")
	if n := r.count("metadata", 2); n > 0 {
		ev.Metadata = make(map[string]string, n)
		for range n {
			k := r.str("metadata key")
			ev.Metadata[k] = r.str("metadata value")
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("trailing bytes")
	}
	return ev, r.err
}

type topicRecord struct {
	Retention int64 `json:"retention"`
	CreatedAt int64 `json:"created_at"`
}

type subRecord struct {
	ID          store.ID `json:"id"`
	Kinds       []string `json:"kinds,omitempty"`
	Queue       string   `json:"queue"`
	Priority    int      `json:"priority"`
	MaxAttempts int      `json:"max_attempts"`
	Timeout     int64    `json:"timeout,omitempty"`
	CreatedAt   int64    `json:"created_at"`
}

func sealJSON(version byte, v any) []byte {
	body, _ := json.Marshal(v) // plain structs of strings and numbers: cannot fail
	b := append([]byte{version}, body...)
	return sealValue(b, 0)
}

func openJSON(v []byte, version byte, out any) error {
	body, err := openValue(v, version)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%w: %v", errBadRecord, err)
	}
	return nil
}

// loadTopicRecordLocked indexes a topic, subscription or event record read
// by the rebuild; maxID rises to cover event IDs.
func (s *Store) loadTopicRecordLocked(key, val []byte, maxID *store.ID) error {
	switch key[0] {
	case prefixTopic:
		var r topicRecord
		if err := openJSON(val, topicVersion, &r); err != nil {
			return err
		}
		t := s.topicMemLocked(string(key[1:]))
		t.retention, t.createdAt = time.Duration(r.Retention), r.CreatedAt
	case prefixSub:
		i := bytes.IndexByte(key, 0)
		if i < 0 {
			return fmt.Errorf("%w: bad subscription key", errBadRecord)
		}
		var r subRecord
		if err := openJSON(val, subVersion, &r); err != nil {
			return err
		}
		t := s.topicMemLocked(string(key[1:i]))
		s.addSubLocked(t, &subscription{
			id: r.ID, t: t, name: string(key[i+1:]), kinds: r.Kinds, createdAt: r.CreatedAt,
			tmpl: store.SubscriptionTemplate{Queue: r.Queue, Priority: r.Priority, MaxAttempts: r.MaxAttempts, Timeout: time.Duration(r.Timeout)},
		})
	case prefixEvent:
		name, at, id, err := parseEventKey(key)
		if err != nil {
			return err
		}
		t := s.topicMemLocked(name)
		if t.events == 0 || at < t.oldest {
			t.oldest = at
		}
		t.events++
		if idLess(maxID, &id) {
			*maxID = id
		}
	}
	return nil
}

// topicMemLocked returns the in-memory topic, creating it (not its record).
func (s *Store) topicMemLocked(name string) *topic {
	if s.topics.m == nil {
		s.topics.m = make(map[string]*topic)
		s.topics.byID = make(map[store.ID]*subscription)
	}
	t := s.topics.m[name]
	if t == nil {
		t = &topic{name: strings.Clone(name)}
		s.topics.m[t.name] = t
	}
	return t
}

// topicLocked returns the topic, creating it durably (in b) if needed.
func (s *Store) topicLocked(b *pebble.Batch, name string, now int64) *topic {
	if t := s.topics.m[name]; t != nil && t.createdAt != 0 {
		return t
	}
	t := s.topicMemLocked(name)
	t.createdAt = now
	_ = b.Set(nameKey(prefixTopic, name), sealJSON(topicVersion, &topicRecord{Retention: int64(t.retention), CreatedAt: now}), nil)
	return t
}

func (s *Store) addSubLocked(t *topic, sub *subscription) {
	sub.pending = newIDTree()
	i, _ := slices.BinarySearchFunc(t.subs, sub.name, func(a *subscription, n string) int { return strings.Compare(a.name, n) })
	t.subs = slices.Insert(t.subs, i, sub)
	s.topics.byID[sub.id] = sub
}

func (s *Store) findSubLocked(topicName, name string) (*topic, *subscription, error) {
	t := s.topics.m[topicName]
	if t == nil || t.createdAt == 0 {
		return nil, nil, fmt.Errorf("topic %q: %w", topicName, store.ErrNotFound)
	}
	for _, sub := range t.subs {
		if sub.name == name {
			return t, sub, nil
		}
	}
	return t, nil, fmt.Errorf("subscription %q on topic %q: %w", name, topicName, store.ErrNotFound)
}

// firstErr returns the first non-nil error.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// checkName rejects names the layout cannot hold.
func checkName(field, name string) error {
	switch {
	case name == "":
		return invalid(field, "must not be empty")
	case strings.IndexByte(name, 0) >= 0:
		return invalid(field, "contains a NUL byte")
	}
	return nil
}

// delivery is the job that delivers ev to sub. Its Metadata is md, the
// event's own metadata in a map the store owns and all the event's
// deliveries share; the store's keys are derived from the jobExtra
// (deliveryMetadata).
func (sub *subscription) delivery(ev *store.Event, md map[string]string) store.InsertJob {
	return store.InsertJob{
		Kind: ev.Kind, Args: ev.Args, Queue: sub.tmpl.Queue, Priority: sub.tmpl.Priority,
		MaxAttempts: sub.tmpl.MaxAttempts, Timeout: sub.tmpl.Timeout,
		OrderingKey: ev.OrderingKey, Metadata: md,
	}
}

// deliveryOf names what a delivery job delivers: the event, to the
// subscription.
type deliveryOf struct {
	sub   *subscription
	event store.ID
}

// deliveryMetadata is a delivery's Metadata as the store.TopicStore
// contract has it: a new map of the event's own metadata and the topic,
// subscription and event ID keys.
func deliveryMetadata(own map[string]string, topic, sub string, event store.ID) map[string]string {
	md := make(map[string]string, len(own)+3)
	maps.Copy(md, own)
	md[store.MetaTopic] = topic
	md[store.MetaSubscription] = sub
	md[store.MetaEvent] = event.String()
	return md
}

// ---- TopicPublish

// TopicPublish stores events and their deliveries in one atomic, durable
// write (see store.TopicStore). An empty topic or kind, or a NUL byte in
// the topic, is ErrInvalidArgument.
func (s *Store) TopicPublish(ctx context.Context, p *store.TopicPublishParams) ([]store.PublishResult, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if err := checkName("topic", p.Topic); err != nil {
		return nil, err
	}
	for i := range p.Events {
		if p.Events[i].Kind == "" {
			return nil, invalid(fmt.Sprintf("events[%d].kind", i), "must not be empty")
		}
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	now, clock := s.clocks(p.Now)
	b := s.db.NewBatch()
	t := s.topicLocked(b, p.Topic, now)
	res := make([]store.PublishResult, len(p.Events))
	// Sized for every subscription matching every event (the common case).
	jobs := make([]store.InsertJob, 0, len(p.Events)*len(t.subs))
	dels := make([]deliveryOf, 0, len(p.Events)*len(t.subs))
	argBytes := 0
	idTime := time.Unix(0, clock)
	for i := range p.Events {
		ev := &p.Events[i]
		id := s.ids.next(idTime)
		s.enc = appendEvent(s.enc[:0], ev)
		_ = b.Set(eventKey(t.name, now, id), s.enc, nil)
		if t.events == 0 || now < t.oldest {
			t.oldest = now
		}
		t.events++
		res[i].ID = id
		own := ev.Metadata
		if len(own) > 0 { // the deliveries share one copy; the caller keeps theirs
			own = maps.Clone(own)
		}
		for _, sub := range t.subs {
			if sub.matches(ev.Kind) {
				jobs = append(jobs, sub.delivery(ev, own))
				dels = append(dels, deliveryOf{sub, id})
				argBytes += len(ev.Args)
				res[i].Deliveries++
			}
		}
	}
	var w wakeSet
	ids := make([]store.ID, len(jobs))
	s.insertDeliveriesLocked(b, &w, jobs, dels, argBytes, now, clock, ids)
	k := 0
	for i := range res {
		if n := res[i].Deliveries; n > 0 {
			res[i].JobIDs = ids[k : k+n : k+n]
			k += n
		}
	}
	if err := s.finish(b, &w); err != nil {
		return nil, err
	}
	return res, nil
}

// ---- topics

func topicView(t *topic) *store.Topic {
	return &store.Topic{
		Name: t.name, Retention: t.retention, Events: t.events, OldestEventAt: fromNanos(t.oldest),
		Subscriptions: len(t.subs), CreatedAt: fromNanos(t.createdAt),
	}
}

// TopicList returns every topic by name (see store.TopicStore).
func (s *Store) TopicList(ctx context.Context, p *store.TopicListParams) ([]*store.Topic, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make([]*store.Topic, 0, len(s.topics.m))
	for _, t := range s.topics.m {
		if t.createdAt != 0 {
			out = append(out, topicView(t))
		}
	}
	slices.SortFunc(out, func(a, b *store.Topic) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// TopicUpdate creates a topic or changes its retention (see
// store.TopicStore). A negative retention is ErrInvalidArgument.
func (s *Store) TopicUpdate(ctx context.Context, p *store.TopicUpdateParams) (*store.Topic, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if err := checkName("name", p.Name); err != nil {
		return nil, err
	}
	if p.Retention != nil && *p.Retention < 0 {
		return nil, invalid("retention", "must not be negative")
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	now, _ := s.clocks(p.Now)
	b := s.db.NewBatch()
	t := s.topicLocked(b, p.Name, now)
	if p.Retention != nil && *p.Retention != t.retention {
		t.retention = *p.Retention
		_ = b.Set(nameKey(prefixTopic, t.name), sealJSON(topicVersion, &topicRecord{Retention: int64(t.retention), CreatedAt: t.createdAt}), nil)
	}
	out := topicView(t)
	if err := s.finish(b, nil); err != nil {
		return nil, err
	}
	return out, nil
}

// TopicTrim deletes up to Limit (default 10,000) events published before
// p.Before, oldest first, with one range deletion (see store.TopicStore).
func (s *Store) TopicTrim(ctx context.Context, p *store.TopicTrimParams) (int, error) {
	if p == nil {
		return 0, invalid("params", "nil")
	}
	if err := checkName("topic", p.Topic); err != nil {
		return 0, err
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 10000
	}
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	t := s.topics.m[p.Topic]
	if t == nil || t.createdAt == 0 {
		s.mu.Unlock()
		return 0, fmt.Errorf("topic %q: %w", p.Topic, store.ErrNotFound)
	}
	lo, end := topicEventPrefix(t.name), topicEventEnd(t.name)
	before := toNanos(p.Before)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: end})
	if err != nil {
		s.mu.Unlock()
		return 0, s.wrapReadErr(err)
	}
	n, boundary, oldest := 0, end, int64(0)
	for ok := it.First(); ok; ok = it.Next() {
		_, at, _, perr := parseEventKey(it.Key())
		if perr != nil {
			_ = it.Close()
			s.mu.Unlock()
			return 0, fmt.Errorf("embedded: %s: record %q: %w: %w", s.dir, keyString(it.Key()), store.ErrCorrupt, perr)
		}
		if at >= before || n == limit {
			boundary, oldest = slices.Clone(it.Key()), at
			break
		}
		n++
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		s.mu.Unlock()
		return 0, s.wrapReadErr(err)
	}
	b := s.db.NewBatch()
	if n > 0 {
		_ = b.DeleteRange(lo, boundary, nil)
		t.events -= int64(n)
		t.oldest = oldest
	}
	if err := s.finish(b, nil); err != nil {
		return 0, err
	}
	return n, nil
}

// ---- subscriptions

// SubscriptionCreate creates a subscription and delivers its backlog in
// one atomic write (see store.TopicStore). An empty name or queue, or a
// template that does not fit, is ErrInvalidArgument.
func (s *Store) SubscriptionCreate(ctx context.Context, p *store.SubscriptionCreateParams) (*store.SubscriptionCreateResult, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if err := firstErr(checkName("topic", p.Topic), checkName("name", p.Name), checkName("queue", p.Job.Queue)); err != nil {
		return nil, err
	}
	if !fitsInt32(p.Job.Priority) || !fitsInt32(p.Job.MaxAttempts) {
		return nil, invalid("job", "priority or max attempts out of range")
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if t := s.topics.m[p.Topic]; t != nil {
		for _, sub := range t.subs {
			if sub.name == p.Name {
				s.mu.Unlock()
				return nil, fmt.Errorf("subscription %q on topic %q: %w", p.Name, p.Topic, store.ErrAlreadyExists)
			}
		}
	}
	now, clock := s.clocks(p.Now)
	b := s.db.NewBatch()
	newTopic := s.topics.m[p.Topic] == nil || s.topics.m[p.Topic].createdAt == 0
	t := s.topicLocked(b, p.Topic, now)
	sub := &subscription{
		id: s.ids.next(time.Unix(0, clock)), t: t, name: strings.Clone(p.Name),
		kinds: slices.Clone(p.Kinds), tmpl: p.Job, createdAt: now,
	}
	s.addSubLocked(t, sub)
	var w wakeSet
	n := 0
	if !p.From.IsZero() {
		var err error
		if n, err = s.deliverRetainedLocked(b, &w, sub, toNanos(p.From), now, clock); err != nil {
			// Nothing was inserted (the scan failed before); undo memory.
			t.subs = slices.DeleteFunc(t.subs, func(x *subscription) bool { return x == sub })
			delete(s.topics.byID, sub.id)
			if newTopic {
				t.createdAt = 0
			}
			_ = b.Close()
			s.mu.Unlock()
			return nil, err
		}
	}
	_ = b.Set(subKey(t.name, sub.name), sealJSON(subVersion, &subRecord{
		ID: sub.id, Kinds: sub.kinds, Queue: sub.tmpl.Queue, Priority: sub.tmpl.Priority,
		MaxAttempts: sub.tmpl.MaxAttempts, Timeout: int64(sub.tmpl.Timeout), CreatedAt: now,
	}), nil)
	out := &store.SubscriptionCreateResult{Subscription: subView(sub), Delivered: n}
	if err := s.finish(b, &w); err != nil {
		return nil, err
	}
	return out, nil
}

// deliverRetainedLocked inserts, in b, a delivery to sub of every retained
// event of its topic published at or after from (0: all), in publish
// order, and returns how many. On error nothing was inserted.
func (s *Store) deliverRetainedLocked(b *pebble.Batch, w *wakeSet, sub *subscription, from, now, clock int64) (int, error) {
	t := sub.t
	lo := topicEventPrefix(t.name)
	if from != 0 {
		lo = eventKeyAt(t.name, from)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: topicEventEnd(t.name)})
	if err != nil {
		return 0, s.wrapReadErr(err)
	}
	var jobs []store.InsertJob
	var dels []deliveryOf
	argBytes := 0
	for ok := it.First(); ok; ok = it.Next() {
		_, _, id, perr := parseEventKey(it.Key())
		val, verr := it.ValueAndErr()
		if verr != nil {
			_ = it.Close()
			return 0, s.wrapReadErr(verr)
		}
		ev, derr := decodeEvent(val)
		if err := errors.Join(perr, derr); err != nil {
			k := keyString(it.Key())
			_ = it.Close()
			return 0, fmt.Errorf("embedded: %s: record %q: %w: %w", s.dir, k, store.ErrCorrupt, err)
		}
		if sub.matches(ev.Kind) {
			jobs = append(jobs, sub.delivery(&ev, ev.Metadata)) // the decoder's map, the store's own
			dels = append(dels, deliveryOf{sub, id})
			argBytes += len(ev.Args)
		}
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return 0, s.wrapReadErr(err)
	}
	s.insertDeliveriesLocked(b, w, jobs, dels, argBytes, now, clock, make([]store.ID, len(jobs)))
	return len(jobs), nil
}

func subView(sub *subscription) *store.Subscription {
	out := &store.Subscription{
		Topic: sub.t.name, Name: sub.name, Kinds: slices.Clip(sub.kinds), Job: sub.tmpl,
		CreatedAt: fromNanos(sub.createdAt),
	}
	if sub.pending != nil {
		out.Pending = int64(sub.pending.len())
		if e, ok := sub.pending.min(); ok {
			out.OldestPendingAt = fromNanos(e.j.createdAt)
		}
	}
	return out
}

// SubscriptionDelete deletes a subscription; its jobs stay (see
// store.TopicStore).
func (s *Store) SubscriptionDelete(ctx context.Context, p *store.SubscriptionDeleteParams) error {
	if p == nil {
		return invalid("params", "nil")
	}
	if err := firstErr(checkName("topic", p.Topic), checkName("name", p.Name)); err != nil {
		return err
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	t, sub, err := s.findSubLocked(p.Topic, p.Name)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	t.subs = slices.DeleteFunc(t.subs, func(x *subscription) bool { return x == sub })
	delete(s.topics.byID, sub.id)
	sub.deleted = true
	sub.pending.clear()
	b := s.db.NewBatch()
	_ = b.Delete(subKey(t.name, sub.name), nil)
	return s.finish(b, nil)
}

// SubscriptionList returns subscriptions with their lag (see
// store.TopicStore).
func (s *Store) SubscriptionList(ctx context.Context, p *store.SubscriptionListParams) ([]*store.Subscription, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var topics []*topic
	if p.Topic != "" {
		t := s.topics.m[p.Topic]
		if t == nil || t.createdAt == 0 {
			return nil, fmt.Errorf("topic %q: %w", p.Topic, store.ErrNotFound)
		}
		topics = []*topic{t}
	} else {
		for _, t := range s.topics.m {
			topics = append(topics, t)
		}
		slices.SortFunc(topics, func(a, b *topic) int { return strings.Compare(a.name, b.name) })
	}
	out := []*store.Subscription{}
	for _, t := range topics {
		for _, sub := range t.subs {
			out = append(out, subView(sub))
		}
	}
	return out, nil
}

// SubscriptionReplay delivers retained events again (see
// store.TopicStore).
func (s *Store) SubscriptionReplay(ctx context.Context, p *store.SubscriptionReplayParams) (int, error) {
	if p == nil {
		return 0, invalid("params", "nil")
	}
	if err := firstErr(checkName("topic", p.Topic), checkName("name", p.Name)); err != nil {
		return 0, err
	}
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	_, sub, err := s.findSubLocked(p.Topic, p.Name)
	if err != nil {
		s.mu.Unlock()
		return 0, err
	}
	now, clock := s.clocks(p.Now)
	b := s.db.NewBatch()
	var w wakeSet
	n, err := s.deliverRetainedLocked(b, &w, sub, toNanos(p.From), now, clock)
	if err != nil {
		_ = b.Close()
		s.mu.Unlock()
		return 0, err
	}
	if err := s.finish(b, &w); err != nil {
		return 0, err
	}
	return n, nil
}

var _ store.TopicStore = (*Store)(nil)
var _ store.OrderingStore = (*Store)(nil)
