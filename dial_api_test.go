package troika_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/troikahq/troika"
)

// A Dial'd Client manages schedules over the API and the server fires them.
func TestDialSchedules(t *testing.T) {
	t.Parallel()
	b := setupRemote(t)
	res, err := b.client.UpsertSchedule(b.ctx, troika.Schedule{
		ID: "tick", Spec: "@every 1m", Args: Email{To: "ops"}, Overlap: troika.OverlapSkipIfRunning,
		Options: []troika.EnqueueOption{troika.Queue("ticks"), troika.Tags("cron")},
	})
	if err != nil || !res.Created || !res.Changed || len(res.Schedule.NextFireTimes) != 5 || res.Schedule.Job.Queue != "ticks" {
		t.Fatalf("upsert = %+v, %v", res, err)
	}
	again, err := b.client.UpsertSchedule(b.ctx, troika.Schedule{
		ID: "tick", Spec: "@every 1m", Args: Email{To: "ops"}, Overlap: troika.OverlapSkipIfRunning,
		Options: []troika.EnqueueOption{troika.Queue("ticks"), troika.Tags("cron")},
	})
	if err != nil || again.Created || again.Changed {
		t.Fatalf("idempotent upsert = %+v, %v", again, err)
	}
	_, err = b.client.UpsertSchedule(b.ctx, troika.Schedule{ID: "bad", Spec: "@every 1m", Args: Email{}, Misfire: "later"})
	var inv *troika.InvalidArgumentError
	if !errors.As(err, &inv) || inv.Field != "schedule.misfirePolicy" {
		t.Fatalf("bad policy: %v", err)
	}
	t.Run("the server fires it", func(t *testing.T) {
		b.clock.Advance(61 * time.Second)
		var fired *troika.ScheduleInfo
		eventually(t, 10*time.Second, func() bool {
			fired, err = b.client.GetSchedule(b.ctx, "tick")
			return err == nil && len(fired.Fires) == 1
		}, "the schedule fired")
		f := fired.Fires[0]
		if f.Outcome != troika.FireEnqueued {
			t.Fatalf("fire = %+v", f)
		}
		if j := b.get(t, f.JobID); j.Queue != "ticks" || j.Kind != "test.email" {
			t.Fatalf("fired job = %+v", j)
		}
	})
	t.Run("pause, resume, trigger, reconcile, delete", func(t *testing.T) {
		if s, err := b.client.PauseSchedule(b.ctx, "tick"); err != nil || !s.Paused || len(s.NextFireTimes) != 0 {
			t.Fatalf("pause = %+v, %v", s, err)
		}
		if s, err := b.client.ResumeSchedule(b.ctx, "tick"); err != nil || s.Paused || len(s.NextFireTimes) != 5 {
			t.Fatalf("resume = %+v, %v", s, err)
		}
		tr, err := b.client.TriggerSchedule(b.ctx, "tick")
		if err != nil || tr.State != troika.StateAvailable {
			t.Fatalf("trigger = %+v, %v", tr, err)
		}
		if j := b.get(t, tr.ID); j.Queue != "ticks" {
			t.Fatalf("triggered job = %+v", j)
		}
		rec, err := b.client.ReconcileSchedules(b.ctx, []troika.Schedule{{ID: "daily", Spec: "@daily", Args: Email{}}}, true)
		if err != nil || len(rec.Created) != 1 || len(rec.Deleted) != 1 || rec.Deleted[0] != "tick" {
			t.Fatalf("reconcile = %+v, %v", rec, err)
		}
		list, err := b.client.ListSchedules(b.ctx, troika.ScheduleListParams{Next: 3})
		if err != nil || len(list) != 1 || list[0].ID != "daily" || len(list[0].NextFireTimes) != 3 {
			t.Fatalf("list = %+v, %v", list, err)
		}
		if err := b.client.DeleteSchedule(b.ctx, "daily"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.client.TriggerSchedule(b.ctx, "daily"); !errors.Is(err, troika.ErrNotFound) {
			t.Fatalf("trigger deleted: %v", err)
		}
	})
}

// A Dial'd Client publishes to a topic with two subscriptions and a remote
// Worker works both deliveries; ordering keys travel with them.
func TestDialTopics(t *testing.T) {
	t.Parallel()
	b := setupRemote(t)
	b.subscribe(t, troika.Subscription{Topic: "orders", Name: "billing"})
	b.subscribe(t, troika.Subscription{Topic: "orders", Name: "shipping", Queue: "ship"})
	if _, err := b.client.CreateSubscription(b.ctx, troika.Subscription{Topic: "orders", Name: "shipping"}); !errors.Is(err, troika.ErrAlreadyExists) {
		t.Fatalf("duplicate subscription: %v", err)
	}
	type got struct{ sub, key string }
	ch := make(chan got, 10)
	w := b.worker(func(c *troika.WorkerConfig) { c.Queues = map[string]int{"orders.billing": 1, "ship": 1} })
	troika.Handle(w, func(ctx context.Context, j *troika.Job[OrderPlaced]) error {
		ch <- got{j.Metadata[troika.MetaSubscription], j.OrderingKey}
		return nil
	})
	run(t, w)
	res := b.publish(t, "orders", OrderPlaced{Order: 7}, troika.OrderingKey("cust-7"))
	if res.Deliveries != 2 || len(res.JobIDs) != 2 {
		t.Fatalf("publish = %+v", res)
	}
	subs := map[string]bool{}
	for range 2 {
		g := recv(t, ch, "deliveries")
		if g.key != "cust-7" {
			t.Errorf("delivery %+v lost its ordering key", g)
		}
		subs[g.sub] = true
	}
	if !subs["billing"] || !subs["shipping"] {
		t.Fatalf("deliveries reached %v", subs)
	}
	for _, id := range res.JobIDs {
		b.waitState(t, id, troika.StateCompleted)
	}
	if lag := b.lag(t, "orders", "billing"); lag.Undelivered != 0 {
		t.Fatalf("lag after work = %+v", lag)
	}
	many, err := b.client.PublishMany(b.ctx, "orders", troika.Item(OrderPlaced{Order: 8}), troika.Item(OrderPlaced{Order: 9}))
	if err != nil || len(many) != 2 || many[1].Deliveries != 2 {
		t.Fatalf("publish many = %+v, %v", many, err)
	}
	for range 4 {
		recv(t, ch, "batch deliveries")
	}
	topics, err := b.client.ListTopics(b.ctx)
	if err != nil || len(topics) != 1 || topics[0].Events != 3 || topics[0].Subscriptions != 2 {
		t.Fatalf("topics = %+v, %v", topics, err)
	}
	if ti, err := b.client.SetTopicRetention(b.ctx, "orders", time.Hour); err != nil || ti.Retention != time.Hour {
		t.Fatalf("retention = %+v, %v", ti, err)
	}
	if err := b.client.DeleteSubscription(b.ctx, "orders", "shipping"); err != nil {
		t.Fatal(err)
	}
	n, err := b.client.ReplaySubscription(b.ctx, "orders", "billing", time.Time{})
	if err != nil || n != 3 {
		t.Fatalf("replay = %d, %v", n, err)
	}
	for range 3 {
		if g := recv(t, ch, "replayed deliveries"); g.sub != "billing" {
			t.Fatalf("replay reached %+v", g)
		}
	}
	late, err := b.client.CreateSubscription(b.ctx, troika.Subscription{Topic: "orders", Name: "audit", Start: troika.StartEarliest()})
	if err != nil || late.Delivered != 3 || late.Queue != "orders.audit" {
		t.Fatalf("earliest subscription = %+v, %v", late, err)
	}
	if _, err := b.client.Enqueue(b.ctx, Email{}, troika.OrderingKey("k")); err != nil {
		t.Fatalf("enqueue with an ordering key over the API: %v", err)
	}
}

// The JSON codec (WithJSON) carries schedule templates and event args as
// JSON values instead of raw bytes: the same calls work.
func TestDialSchedulesAndTopicsJSON(t *testing.T) {
	t.Parallel()
	b := setupRemote(t)
	c, err := troika.Dial(b.ctx, b.url, troika.WithJSON(), troika.WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	args := troika.RawArgs{KindName: "raw.kind", JSON: []byte(`{"list":[1,"two",null],"n":1.5}`)}
	res, err := c.UpsertSchedule(b.ctx, troika.Schedule{ID: "json", Spec: "@daily", Args: args})
	if err != nil || !res.Created {
		t.Fatalf("upsert = %+v, %v", res, err)
	}
	again, err := c.UpsertSchedule(b.ctx, troika.Schedule{ID: "json", Spec: "@daily", Args: args})
	if err != nil || again.Changed {
		t.Fatalf("upsert again = %+v, %v (a JSON round trip changed the definition)", again, err)
	}
	tr, err := c.TriggerSchedule(b.ctx, "json")
	if err != nil {
		t.Fatal(err)
	}
	if j := b.get(t, tr.ID); j.Kind != "raw.kind" || string(j.Args) != `{"list":[1,"two",null],"n":1.5}` {
		t.Fatalf("triggered job = %s %s", j.Kind, j.Args)
	}
	if _, err := c.CreateSubscription(b.ctx, troika.Subscription{Topic: "t", Name: "s"}); err != nil {
		t.Fatal(err)
	}
	many, err := c.PublishMany(b.ctx, "t", troika.Item(args), troika.Item(args, troika.OrderingKey("k")))
	if err != nil || len(many) != 2 || many[0].Deliveries != 1 {
		t.Fatalf("publish = %+v, %v", many, err)
	}
	if j := b.get(t, many[1].JobIDs[0]); j.OrderingKey != "k" || string(j.Args) != `{"list":[1,"two",null],"n":1.5}` {
		t.Fatalf("delivery = %+v", j)
	}
}
