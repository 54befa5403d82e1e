package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/troikahq/troika/store"
)

// RunTopics runs the topic group of the suite (store.TopicStore) against a
// backend. open is as for Run. A backend whose store does not implement
// store.TopicStore (and store.OrderingStore: deliveries carry ordering keys)
// fails the group: the message queue cannot be forgotten silently. RunAll
// includes it.
func RunTopics(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	if open == nil {
		t.Fatal("storetest.RunTopics: open is nil")
	}
	t.Run("Topic", func(t *testing.T) {
		for _, tc := range topicTests() {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tc.run(setupTopics(t, open))
			})
		}
	})
}

// topicHarness is a harness whose store implements store.TopicStore.
type topicHarness struct {
	*harness
	ts store.TopicStore
}

func setupTopics(t *testing.T, open func(t *testing.T) store.Store) *topicHarness {
	t.Helper()
	h := setup(t, open)
	ts, ok := h.s.(store.TopicStore)
	if !ok {
		t.Fatalf("the store (%T) does not implement store.TopicStore: every backend must store topics (see store/topic.go)", h.s)
	}
	if _, ok := h.s.(store.OrderingStore); !ok {
		t.Fatalf("the store (%T) implements store.TopicStore but not store.OrderingStore", h.s)
	}
	return &topicHarness{harness: h, ts: ts}
}

type topicTest struct {
	name string
	run  func(h *topicHarness)
}

func topicTests() []topicTest {
	return []topicTest{
		{"PublishFansOutInOneWrite", testTopicFanOut},
		{"PublishWithoutSubscriptionsIsStored", testTopicNoSubs},
		{"StartNowSkipsTheBacklog", testTopicStartNow},
		{"StartFromATime", testTopicStartFrom},
		{"ReplayFromEarliestDeliversEachEventOnce", testTopicReplayEarliest},
		{"CreateFromEarliestRacingPublishesIsExactlyOnce", testTopicCreateRace},
		{"NameTakenIsAlreadyExists", testTopicNameTaken},
		{"UnknownTopicOrSubscription", testTopicUnknown},
		{"LagCountsUnfinishedDeliveries", testTopicLag},
		{"DeleteStopsDeliveries", testTopicDelete},
		{"TrimDropsOldEventsAndCounts", testTopicTrim},
		{"RetentionUpdate", testTopicRetention},
		{"OrderingKeyPerSubscription", testTopicOrdering},
		{"BadParamsChangeNothing", testTopicBadParams},
	}
}

func (h *topicHarness) subscribe(now time.Time, topic, name, queue string, from time.Time, kinds ...string) *store.SubscriptionCreateResult {
	h.t.Helper()
	res, err := h.ts.SubscriptionCreate(h.ctx, &store.SubscriptionCreateParams{
		Topic: topic, Name: name, Kinds: kinds, From: from, Now: now,
		Job: store.SubscriptionTemplate{Queue: queue, Priority: 2, MaxAttempts: 3},
	})
	if err != nil {
		h.t.Fatalf("SubscriptionCreate(%s/%s): %v", topic, name, err)
	}
	if res.Subscription == nil || res.Subscription.Name != name || res.Subscription.Topic != topic {
		h.t.Fatalf("SubscriptionCreate(%s/%s): got %+v", topic, name, res.Subscription)
	}
	return res
}

func ev(kind string, args string) store.Event {
	return store.Event{Kind: kind, Args: []byte(args)}
}

func (h *topicHarness) publish(now time.Time, topic string, events ...store.Event) []store.PublishResult {
	h.t.Helper()
	res, err := h.ts.TopicPublish(h.ctx, &store.TopicPublishParams{Topic: topic, Events: events, Now: now})
	if err != nil {
		h.t.Fatalf("TopicPublish(%s): %v", topic, err)
	}
	if len(res) != len(events) {
		h.t.Fatalf("TopicPublish: %d results for %d events", len(res), len(events))
	}
	for i, r := range res {
		if r.ID.IsZero() || len(r.JobIDs) != r.Deliveries {
			h.t.Fatalf("TopicPublish result %d: %+v", i, r)
		}
	}
	return res
}

func (h *topicHarness) subs(topic string) []*store.Subscription {
	h.t.Helper()
	out, err := h.ts.SubscriptionList(h.ctx, &store.SubscriptionListParams{Topic: topic})
	if err != nil {
		h.t.Fatalf("SubscriptionList(%q): %v", topic, err)
	}
	return out
}

func (h *topicHarness) sub(topic, name string) *store.Subscription {
	h.t.Helper()
	for _, s := range h.subs(topic) {
		if s.Name == name {
			return s
		}
	}
	h.t.Fatalf("subscription %s/%s not listed", topic, name)
	return nil
}

func (h *topicHarness) topic(name string) *store.Topic {
	h.t.Helper()
	ts, err := h.ts.TopicList(h.ctx, &store.TopicListParams{})
	if err != nil {
		h.t.Fatalf("TopicList: %v", err)
	}
	for _, t := range ts {
		if t.Name == name {
			return t
		}
	}
	h.t.Fatalf("topic %s not listed", name)
	return nil
}

// queueJobs lists every job of a queue, oldest first.
func (h *topicHarness) queueJobs(queue string) []*store.Job {
	h.t.Helper()
	return h.listAll(store.JobListParams{Queue: queue})
}

// eventIDs returns the troika.event metadata of jobs, in order.
func eventIDs(jobs []*store.Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.Metadata[store.MetaEvent]
	}
	return out
}

func testTopicFanOut(h *topicHarness) {
	h.subscribe(at(0), "orders", "billing", "billing", time.Time{})
	h.subscribe(at(0), "orders", "shipping", "shipping", time.Time{}, "order.paid")
	e1 := store.Event{Kind: "order.created", Args: []byte(`{"id":1}`), OrderingKey: "o-1", Metadata: map[string]string{"traceparent": "00-x"}}
	res := h.publish(at(time.Second), "orders", e1, ev("order.paid", `{"id":1}`))
	if res[0].Deliveries != 1 || res[1].Deliveries != 2 {
		h.t.Fatalf("deliveries %d and %d, want 1 (billing only: shipping filters kinds) and 2", res[0].Deliveries, res[1].Deliveries)
	}
	billing := h.queueJobs("billing")
	if len(billing) != 2 {
		h.t.Fatalf("billing queue has %d jobs, want 2", len(billing))
	}
	j := billing[0]
	if j.ID != res[0].JobIDs[0] || j.Kind != "order.created" || string(j.Args) != `{"id":1}` || j.OrderingKey != "o-1" ||
		j.Priority != 2 || j.MaxAttempts != 3 || j.State != store.StateAvailable || !j.CreatedAt.Equal(at(time.Second)) {
		h.t.Errorf("delivery job: %+v", j)
	}
	want := map[string]string{"traceparent": "00-x", store.MetaTopic: "orders", store.MetaSubscription: "billing", store.MetaEvent: res[0].ID.String()}
	for k, v := range want {
		if j.Metadata[k] != v {
			h.t.Errorf("delivery metadata %s = %q, want %q (all: %v)", k, j.Metadata[k], v, j.Metadata)
		}
	}
	ship := h.queueJobs("shipping")
	if len(ship) != 1 || ship[0].Kind != "order.paid" || ship[0].Metadata[store.MetaEvent] != res[1].ID.String() {
		h.t.Errorf("shipping queue: %v", ship)
	}
	if tp := h.topic("orders"); tp.Events != 2 || tp.Subscriptions != 2 || !tp.OldestEventAt.Equal(at(time.Second)) {
		h.t.Errorf("topic: %+v", tp)
	}
}

func testTopicNoSubs(h *topicHarness) {
	res := h.publish(at(0), "audit", ev("user.login", `{}`))
	if res[0].Deliveries != 0 || len(res[0].JobIDs) != 0 {
		h.t.Fatalf("publish without subscriptions: %+v, want 0 deliveries", res[0])
	}
	if tp := h.topic("audit"); tp.Events != 1 || tp.Subscriptions != 0 {
		h.t.Errorf("topic after publish: %+v", tp)
	}
	cr := h.subscribe(at(time.Second), "audit", "late", "late", base)
	if cr.Delivered != 1 {
		h.t.Errorf("subscription from earliest delivered %d, want 1", cr.Delivered)
	}
	if jobs := h.queueJobs("late"); len(jobs) != 1 || jobs[0].Metadata[store.MetaEvent] != res[0].ID.String() {
		h.t.Errorf("late queue: %v", jobs)
	}
}

func testTopicStartNow(h *topicHarness) {
	h.publish(at(0), "t", ev("k", `1`), ev("k", `2`))
	if cr := h.subscribe(at(time.Second), "t", "s", "q", time.Time{}); cr.Delivered != 0 {
		h.t.Errorf("start now delivered %d, want 0", cr.Delivered)
	}
	h.wantNoClaim(at(time.Second), "q")
	h.publish(at(2*time.Second), "t", ev("k", `3`))
	if jobs := h.queueJobs("q"); len(jobs) != 1 || string(jobs[0].Args) != `3` {
		h.t.Errorf("after start now: %v", jobs)
	}
}

func testTopicStartFrom(h *topicHarness) {
	for i := range 4 {
		h.publish(at(time.Duration(i)*time.Minute), "t", ev("k", fmt.Sprint(i)))
	}
	cr := h.subscribe(at(time.Hour), "t", "s", "q", at(2*time.Minute))
	if cr.Delivered != 2 {
		h.t.Fatalf("from minute 2 delivered %d, want 2", cr.Delivered)
	}
	jobs := h.queueJobs("q")
	if len(jobs) != 2 || string(jobs[0].Args) != `2` || string(jobs[1].Args) != `3` {
		h.t.Errorf("deliveries from minute 2 (in publish order): %v", jobs)
	}
	if s := h.sub("t", "s"); s.Pending != 2 || !s.OldestPendingAt.Equal(at(time.Hour)) {
		h.t.Errorf("lag after start: %d pending, oldest %s", s.Pending, fmtTime(s.OldestPendingAt))
	}
}

func testTopicReplayEarliest(h *topicHarness) {
	const n = 50
	h.subscribe(at(0), "t", "s", "q", time.Time{})
	var published []string
	for i := range n {
		res := h.publish(at(time.Duration(i)*time.Second), "t", ev("k", fmt.Sprint(i)))
		published = append(published, res[0].ID.String())
	}
	for _, j := range h.claim(at(time.Hour), n, "q") {
		h.mustAck(at(time.Hour), completeAck(j, ""))
	}
	n2, err := h.ts.SubscriptionReplay(h.ctx, &store.SubscriptionReplayParams{Topic: "t", Name: "s", Now: at(2 * time.Hour)})
	if err != nil || n2 != n {
		h.t.Fatalf("SubscriptionReplay(earliest): %d, %v; want %d", n2, err, n)
	}
	var replayed []*store.Job
	for _, j := range h.queueJobs("q") {
		if j.State == store.StateAvailable {
			replayed = append(replayed, j)
		}
	}
	if got := eventIDs(replayed); !slices.Equal(got, published) {
		h.t.Errorf("replay delivered %d events %v\nwant each of %d once, in publish order %v", len(got), got, len(published), published)
	}
	n3, err := h.ts.SubscriptionReplay(h.ctx, &store.SubscriptionReplayParams{Topic: "t", Name: "s", From: at(40 * time.Second), Now: at(2 * time.Hour)})
	if err != nil || n3 != 10 {
		h.t.Errorf("SubscriptionReplay(from 40s): %d, %v; want 10", n3, err)
	}
}

// Publishes racing a subscription created from the earliest event: each
// event reaches the new subscription exactly once (by the backfill or by
// the publish, never both, never neither).
func testTopicCreateRace(h *topicHarness) {
	const n = 300
	h.publish(at(0), "t", ev("k", `0`))
	var wg sync.WaitGroup
	ids := make(chan string, n)
	wg.Go(func() {
		for i := 1; i < n; i++ {
			res, err := h.ts.TopicPublish(h.ctx, &store.TopicPublishParams{Topic: "t", Events: []store.Event{ev("k", fmt.Sprint(i))}, Now: at(time.Second)})
			if err != nil {
				h.t.Errorf("TopicPublish: %v", err)
				return
			}
			ids <- res[0].ID.String()
		}
	})
	wg.Go(func() {
		if _, err := h.ts.SubscriptionCreate(h.ctx, &store.SubscriptionCreateParams{Topic: "t", Name: "s", From: base, Now: at(time.Second),
			Job: store.SubscriptionTemplate{Queue: "q", Priority: 2, MaxAttempts: 3}}); err != nil {
			h.t.Errorf("SubscriptionCreate: %v", err)
		}
	})
	wg.Wait()
	close(ids)
	count := map[string]int{}
	for _, id := range eventIDs(h.queueJobs("q")) {
		count[id]++
	}
	if len(count) != n {
		h.t.Errorf("new subscription got %d distinct events, want %d", len(count), n)
	}
	for id, c := range count {
		if c != 1 {
			h.t.Errorf("event %s delivered %d times, want once", id, c)
		}
	}
}

func testTopicNameTaken(h *topicHarness) {
	h.publish(at(0), "t", ev("k", `1`))
	h.subscribe(at(0), "t", "s", "q", time.Time{})
	_, err := h.ts.SubscriptionCreate(h.ctx, &store.SubscriptionCreateParams{Topic: "t", Name: "s", From: base,
		Job: store.SubscriptionTemplate{Queue: "other", Priority: 2, MaxAttempts: 3}})
	if !errors.Is(err, store.ErrAlreadyExists) {
		h.t.Fatalf("second SubscriptionCreate: %v, want ErrAlreadyExists", err)
	}
	if jobs := h.queueJobs("other"); len(jobs) != 0 {
		h.t.Errorf("a refused subscription delivered %d jobs", len(jobs))
	}
	if s := h.sub("t", "s"); s.Job.Queue != "q" {
		h.t.Errorf("the first subscription changed: %+v", s)
	}
	// The same name on another topic is another subscription.
	h.subscribe(at(0), "u", "s", "q2", time.Time{})
}

func testTopicUnknown(h *topicHarness) {
	h.subscribe(at(0), "t", "s", "q", time.Time{})
	wantNF := func(what string, err error) {
		h.t.Helper()
		if !errors.Is(err, store.ErrNotFound) {
			h.t.Errorf("%s: %v, want ErrNotFound", what, err)
		}
	}
	wantNF("delete unknown topic", h.ts.SubscriptionDelete(h.ctx, &store.SubscriptionDeleteParams{Topic: "nope", Name: "s"}))
	wantNF("delete unknown name", h.ts.SubscriptionDelete(h.ctx, &store.SubscriptionDeleteParams{Topic: "t", Name: "nope"}))
	_, err := h.ts.SubscriptionReplay(h.ctx, &store.SubscriptionReplayParams{Topic: "nope", Name: "s"})
	wantNF("replay unknown topic", err)
	_, err = h.ts.SubscriptionReplay(h.ctx, &store.SubscriptionReplayParams{Topic: "t", Name: "nope"})
	wantNF("replay unknown name", err)
	_, err = h.ts.SubscriptionList(h.ctx, &store.SubscriptionListParams{Topic: "nope"})
	wantNF("list unknown topic", err)
	_, err = h.ts.TopicTrim(h.ctx, &store.TopicTrimParams{Topic: "nope", Before: at(time.Hour)})
	wantNF("trim unknown topic", err)
}

func testTopicLag(h *topicHarness) {
	h.subscribe(at(0), "t", "s", "q", time.Time{})
	h.publish(at(time.Second), "t", ev("k", `1`))
	h.publish(at(2*time.Second), "t", ev("k", `2`), ev("k", `3`))
	if s := h.sub("t", "s"); s.Pending != 3 || !s.OldestPendingAt.Equal(at(time.Second)) {
		h.t.Fatalf("lag after 3 publishes: %d pending, oldest %s; want 3 and +1s", s.Pending, fmtTime(s.OldestPendingAt))
	}
	now := at(time.Minute)
	jobs := h.claim(now, 3, "q")
	h.mustAck(now, completeAck(jobs[0], ""), retryAck(jobs[1], now, now, "again"), deadAck(jobs[2], now, "poison"))
	if s := h.sub("t", "s"); s.Pending != 1 || !s.OldestPendingAt.Equal(at(2*time.Second)) {
		h.t.Errorf("lag after complete/retry/dead: %d pending, oldest %s; want 1 (the retrying one) and +2s", s.Pending, fmtTime(s.OldestPendingAt))
	}
	if _, err := h.s.JobRetry(h.ctx, &store.JobRetryParams{IDs: []store.ID{jobs[2].ID}, Now: now}); err != nil {
		h.t.Fatalf("JobRetry: %v", err)
	}
	if s := h.sub("t", "s"); s.Pending != 2 {
		h.t.Errorf("lag after retrying the dead delivery: %d, want 2", s.Pending)
	}
	if _, err := h.s.JobCancel(h.ctx, &store.JobCancelParams{ID: jobs[1].ID, Now: now}); err != nil {
		h.t.Fatalf("JobCancel: %v", err)
	}
	if n, err := h.s.JobDelete(h.ctx, &store.JobDeleteParams{IDs: []store.ID{jobs[2].ID}}); err != nil || n != 1 {
		h.t.Fatalf("JobDelete: %d, %v", n, err)
	}
	if s := h.sub("t", "s"); s.Pending != 0 || !s.OldestPendingAt.IsZero() {
		h.t.Errorf("lag when all finished or deleted: %d pending, oldest %s; want 0 and zero", s.Pending, fmtTime(s.OldestPendingAt))
	}
}

func testTopicDelete(h *topicHarness) {
	h.subscribe(at(0), "t", "a", "qa", time.Time{})
	h.subscribe(at(0), "t", "b", "qb", time.Time{})
	h.publish(at(time.Second), "t", ev("k", `1`))
	if err := h.ts.SubscriptionDelete(h.ctx, &store.SubscriptionDeleteParams{Topic: "t", Name: "a"}); err != nil {
		h.t.Fatalf("SubscriptionDelete: %v", err)
	}
	res := h.publish(at(2*time.Second), "t", ev("k", `2`))
	if res[0].Deliveries != 1 {
		h.t.Errorf("after delete: %d deliveries, want 1", res[0].Deliveries)
	}
	if jobs := h.queueJobs("qa"); len(jobs) != 1 || string(jobs[0].Args) != `1` {
		h.t.Errorf("deleted subscription's queue: %v, want its one earlier job kept", jobs)
	} else if md := jobs[0].Metadata; md[store.MetaTopic] != "t" || md[store.MetaSubscription] != "a" || md[store.MetaEvent] == "" {
		h.t.Errorf("deleted subscription's delivery lost its metadata: %v", md)
	}
	if got := h.subs("t"); len(got) != 1 || got[0].Name != "b" {
		h.t.Errorf("subscriptions after delete: %v", got)
	}
	// The name is free again; the new subscription starts fresh.
	if cr := h.subscribe(at(3*time.Second), "t", "a", "qa", time.Time{}); cr.Subscription.Pending != 0 {
		h.t.Errorf("recreated subscription inherited lag %d", cr.Subscription.Pending)
	}
}

func testTopicTrim(h *topicHarness) {
	h.subscribe(at(0), "t", "s", "q", time.Time{})
	for i := range 10 {
		h.publish(at(time.Duration(i)*time.Minute), "t", ev("k", fmt.Sprint(i)))
	}
	n, err := h.ts.TopicTrim(h.ctx, &store.TopicTrimParams{Topic: "t", Before: at(4 * time.Minute), Limit: 3})
	if err != nil || n != 3 {
		h.t.Fatalf("TopicTrim(limit 3): %d, %v", n, err)
	}
	n, err = h.ts.TopicTrim(h.ctx, &store.TopicTrimParams{Topic: "t", Before: at(4 * time.Minute)})
	if err != nil || n != 1 {
		h.t.Fatalf("TopicTrim(rest before 4m): %d, %v; want 1", n, err)
	}
	if tp := h.topic("t"); tp.Events != 6 || !tp.OldestEventAt.Equal(at(4*time.Minute)) {
		h.t.Errorf("after trims: %+v; want 6 events, oldest at +4m", tp)
	}
	if jobs := h.queueJobs("q"); len(jobs) != 10 {
		h.t.Errorf("trims removed deliveries: %d jobs left, want 10", len(jobs))
	}
	replayed, err := h.ts.SubscriptionReplay(h.ctx, &store.SubscriptionReplayParams{Topic: "t", Name: "s", Now: at(time.Hour)})
	if err != nil || replayed != 6 {
		h.t.Errorf("replay after trim: %d, %v; want the 6 retained", replayed, err)
	}
}

func testTopicRetention(h *topicHarness) {
	d := 48 * time.Hour
	tp, err := h.ts.TopicUpdate(h.ctx, &store.TopicUpdateParams{Name: "t", Retention: &d, Now: at(0)})
	if err != nil || tp.Retention != d {
		h.t.Fatalf("TopicUpdate: %+v, %v", tp, err)
	}
	h.publish(at(time.Second), "t", ev("k", `1`))
	if got := h.topic("t"); got.Retention != d || !got.CreatedAt.Equal(at(0)) {
		h.t.Errorf("topic: %+v", got)
	}
	neg := -time.Second
	if _, err := h.ts.TopicUpdate(h.ctx, &store.TopicUpdateParams{Name: "t", Retention: &neg}); !errors.Is(err, store.ErrInvalidArgument) {
		h.t.Errorf("negative retention: %v, want ErrInvalidArgument", err)
	}
}

// Deliveries carry the event's ordering key: each subscription runs a
// key's events one at a time, independently of the other subscriptions.
func testTopicOrdering(h *topicHarness) {
	h.subscribe(at(0), "t", "a", "qa", time.Time{})
	h.subscribe(at(0), "t", "b", "qb", time.Time{})
	e := func(i int) store.Event {
		return store.Event{Kind: "k", Args: []byte(fmt.Sprint(i)), OrderingKey: "acct-1"}
	}
	res := h.publish(at(0), "t", e(1), e(2))
	now := at(time.Second)
	ja := h.claimID(now, "qa", res[0].JobIDs[0])
	h.wantNoClaim(now, "qa")
	jb := h.claimID(now, "qb", res[0].JobIDs[1])
	h.mustAck(now, completeAck(ja, ""))
	h.claimID(now, "qa", res[1].JobIDs[0])
	h.wantNoClaim(now, "qb")
	h.mustAck(now, completeAck(jb, ""))
	h.claimID(now, "qb", res[1].JobIDs[1])
}

func testTopicBadParams(h *topicHarness) {
	wantInvalid := func(what string, err error) {
		h.t.Helper()
		if !errors.Is(err, store.ErrInvalidArgument) {
			h.t.Errorf("%s: %v, want ErrInvalidArgument", what, err)
		}
	}
	_, err := h.ts.TopicPublish(h.ctx, &store.TopicPublishParams{Topic: "", Events: []store.Event{ev("k", `1`)}})
	wantInvalid("publish to an empty topic", err)
	_, err = h.ts.TopicPublish(h.ctx, &store.TopicPublishParams{Topic: "t", Events: []store.Event{ev("k", `1`), ev("", `2`)}})
	wantInvalid("publish an event without kind", err)
	_, err = h.ts.TopicPublish(h.ctx, nil)
	wantInvalid("nil params", err)
	_, err = h.ts.SubscriptionCreate(h.ctx, &store.SubscriptionCreateParams{Topic: "t", Name: "s"})
	wantInvalid("subscription without queue", err)
	_, err = h.ts.SubscriptionCreate(h.ctx, &store.SubscriptionCreateParams{Topic: "t\x00x", Name: "s", Job: store.SubscriptionTemplate{Queue: "q"}})
	wantInvalid("topic with NUL", err)
	ts, err := h.ts.TopicList(h.ctx, &store.TopicListParams{})
	if err != nil || len(ts) != 0 {
		h.t.Errorf("after refused calls: topics %v, %v; want none", ts, err)
	}
	if jobs := h.listAll(store.JobListParams{}); len(jobs) != 0 {
		h.t.Errorf("after refused calls: %d jobs, want none", len(jobs))
	}
}
