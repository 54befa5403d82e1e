package embedded

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/troikahq/troika/store"
)

// What the conformance suite cannot check: ordering-key lines and
// subscription state are rebuilt from disk on open.

func keyed(key string) store.InsertJob {
	j := newJob("ordered", 2)
	j.OrderingKey = key
	return j
}

func claimAll(t *testing.T, st *Store, now time.Time) []*store.Job {
	t.Helper()
	jobs, err := st.JobClaim(context.Background(), &store.JobClaimParams{
		Queues: []store.QueueWeight{{Name: "default", Weight: 1}}, Max: 100, Worker: "w", LeaseTTL: time.Minute, Now: now})
	if err != nil {
		t.Fatalf("JobClaim: %v", err)
	}
	return jobs
}

func ack(t *testing.T, st *Store, now time.Time, acks ...store.JobAck) {
	t.Helper()
	errs, err := st.JobAckMany(context.Background(), &store.JobAckManyParams{Acks: acks, Now: now})
	if err != nil {
		t.Fatalf("JobAckMany: %v", err)
	}
	for i, e := range errs {
		if e != nil {
			t.Fatalf("ack %d: %v", i, e)
		}
	}
}

func ids(jobs []*store.Job) []store.ID {
	out := make([]store.ID, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

func TestOrderingSurvivesReopen(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// prepare leaves the first job of line "a" in some state and
		// returns what the first claim after reopen must return.
		prepare func(t *testing.T, st *Store, a, b []store.ID) []store.ID
		expire  bool
	}{
		{"Untouched", func(t *testing.T, st *Store, a, b []store.ID) []store.ID {
			return []store.ID{a[0], b[0]}
		}, false},
		{"HeadCompleted", func(t *testing.T, st *Store, a, b []store.ID) []store.ID {
			jobs := claimAll(t, st, t0)
			ack(t, st, t0, store.JobAck{Lease: jobs[0].Lease(), Outcome: store.AckComplete})
			return []store.ID{a[1]} // b[0] is still running
		}, false},
		{"HeadRetrying", func(t *testing.T, st *Store, a, b []store.ID) []store.ID {
			jobs := claimAll(t, st, t0)
			ack(t, st, t0, store.JobAck{Lease: jobs[0].Lease(), Outcome: store.AckRetry, RunAt: t0},
				store.JobAck{Lease: jobs[1].Lease(), Outcome: store.AckComplete})
			return []store.ID{a[0], b[1]}
		}, false},
		{"HeadRunningLeaseExpiredOnOpen", func(t *testing.T, st *Store, a, b []store.ID) []store.ID {
			claimAll(t, st, t0)
			return nil // both heads still running: nothing else may start
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bu := setup(t, Options{ExpireLeasesOnOpen: tc.expire})
			var jobs []store.InsertJob
			for range 3 {
				jobs = append(jobs, keyed("a"), keyed("b"))
			}
			res := insert(t, bu.st, jobs...)
			var a, b []store.ID
			for i, r := range res {
				if i%2 == 0 {
					a = append(a, r.Job.ID)
				} else {
					b = append(b, r.Job.ID)
				}
			}
			want := tc.prepare(t, bu.st, a, b)
			bu.reopen()
			got := ids(claimAll(t, bu.st, t0.Add(time.Second)))
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("first claim after reopen: %v, want %v", got, want)
			}
			// And the lines keep going in order after the reopen.
			if len(want) > 0 && want[0] == a[0] {
				bu.reopen()
				j, err := bu.st.JobGet(context.Background(), &store.JobGetParams{ID: a[0]})
				if err != nil || j.State != store.StateRunning || j.OrderingKey != "a" {
					t.Fatalf("a[0] after second reopen: %+v, %v", j, err)
				}
			}
		})
	}
}

func TestTopicsSurviveReopen(t *testing.T) {
	t.Parallel()
	bu := setup(t, Options{})
	ctx := context.Background()
	if _, err := bu.st.SubscriptionCreate(ctx, &store.SubscriptionCreateParams{Topic: "t", Name: "s", Now: t0,
		Job: store.SubscriptionTemplate{Queue: "q", Priority: 2, MaxAttempts: 3}}); err != nil {
		t.Fatal(err)
	}
	var evs []store.Event
	for i := range 5 {
		evs = append(evs, store.Event{Kind: "k", Args: []byte(fmt.Sprint(i)), OrderingKey: "o"})
	}
	res, err := bu.st.TopicPublish(ctx, &store.TopicPublishParams{Topic: "t", Events: evs, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := bu.st.TopicTrim(ctx, &store.TopicTrimParams{Topic: "t", Before: t0.Add(time.Nanosecond), Limit: 2}); err != nil || n != 2 {
		t.Fatalf("TopicTrim: %d, %v", n, err)
	}
	bu.reopen()
	topics, err := bu.st.TopicList(ctx, &store.TopicListParams{})
	if err != nil || len(topics) != 1 || topics[0].Events != 3 || topics[0].Subscriptions != 1 || !topics[0].CreatedAt.Equal(t0) {
		t.Fatalf("topics after reopen: %+v, %v", topics, err)
	}
	subs, err := bu.st.SubscriptionList(ctx, &store.SubscriptionListParams{Topic: "t"})
	if err != nil || len(subs) != 1 || subs[0].Pending != 5 || subs[0].Job.Queue != "q" || subs[0].Job.MaxAttempts != 3 {
		t.Fatalf("subscriptions after reopen: %+v, %v", subs, err)
	}
	// New IDs still sort after the events' (they share one sequence).
	res2, err := bu.st.TopicPublish(ctx, &store.TopicPublishParams{Topic: "t", Events: evs[:1], Now: t0})
	if err != nil || res2[0].ID.Compare(res[4].JobIDs[0]) <= 0 {
		t.Fatalf("publish after reopen: %v, %v", res2, err)
	}
	jobs, err := bu.st.JobClaim(ctx, &store.JobClaimParams{Queues: []store.QueueWeight{{Name: "q", Weight: 1}}, Max: 10, Worker: "w", LeaseTTL: time.Minute, Now: t0})
	if err != nil || len(jobs) != 1 || jobs[0].ID != res[0].JobIDs[0] {
		t.Fatalf("claim after reopen: %v, %v; want only the first delivery (one ordering key)", ids(jobs), err)
	}
	wantMeta := func(j *store.Job, event store.ID) {
		t.Helper()
		want := map[string]string{store.MetaTopic: "t", store.MetaSubscription: "s", store.MetaEvent: event.String()}
		if !maps.Equal(j.Metadata, want) {
			t.Errorf("delivery metadata %v, want %v", j.Metadata, want)
		}
	}
	wantMeta(jobs[0], res[0].ID)
	if n, err := bu.st.SubscriptionReplay(ctx, &store.SubscriptionReplayParams{Topic: "t", Name: "s"}); err != nil || n != 4 {
		t.Fatalf("replay after reopen: %d, %v; want the 3 retained and the new one", n, err)
	}
	if err := bu.st.SubscriptionDelete(ctx, &store.SubscriptionDeleteParams{Topic: "t", Name: "s"}); err != nil {
		t.Fatal(err)
	}
	bu.reopen()
	subs, err = bu.st.SubscriptionList(ctx, &store.SubscriptionListParams{})
	if err != nil || len(subs) != 0 {
		t.Fatalf("subscriptions after delete and reopen: %+v, %v", subs, err)
	}
	// A deleted subscription's deliveries keep their names and event.
	j, err := bu.st.JobGet(ctx, &store.JobGetParams{ID: res[1].JobIDs[0]})
	if err != nil {
		t.Fatal(err)
	}
	wantMeta(j, res[1].ID)
}
