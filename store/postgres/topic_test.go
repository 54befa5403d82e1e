package postgres

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/troikahq/troika/store"
)

// A backlog longer than one page (backfillPage) is delivered whole, in
// publish order, filtered by kind, within the creating transaction; the
// retained-event count follows publishes and trims.
func TestTopicBacklogAcrossPages(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	ctx := t.Context()
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 2*backfillPage + 500
	var want []string // event ids of kind "a", in publish order
	for start := 0; start < n; start += 500 {
		evs := make([]store.Event, 500)
		for i := range evs {
			kind := "a"
			if (start+i)%2 == 1 {
				kind = "b"
			}
			evs[i] = store.Event{Kind: kind, Args: []byte(fmt.Sprint(start + i)), OrderingKey: fmt.Sprint("k", (start+i)%3)}
		}
		res, err := s.TopicPublish(ctx, &store.TopicPublishParams{Topic: "t", Events: evs, Now: base.Add(time.Duration(start) * time.Second)})
		if err != nil {
			t.Fatalf("TopicPublish: %v", err)
		}
		for i, r := range res {
			if evs[i].Kind == "a" {
				want = append(want, r.ID.String())
			}
		}
	}
	cr, err := s.SubscriptionCreate(ctx, &store.SubscriptionCreateParams{Topic: "t", Name: "s", Kinds: []string{"a"}, From: base,
		Now: base.Add(time.Hour), Job: store.SubscriptionTemplate{Queue: "q", Priority: 2, MaxAttempts: 3}})
	if err != nil {
		t.Fatalf("SubscriptionCreate: %v", err)
	}
	if cr.Delivered != len(want) {
		t.Fatalf("delivered %d, want %d", cr.Delivered, len(want))
	}
	var got []string
	var after store.ID
	for {
		page, err := s.JobList(ctx, &store.JobListParams{Queue: "q", After: after, Limit: 1000})
		if err != nil {
			t.Fatalf("JobList: %v", err)
		}
		for _, j := range page.Jobs {
			got = append(got, j.Metadata[store.MetaEvent])
		}
		if page.Next.IsZero() {
			break
		}
		after = page.Next
	}
	if len(got) != len(want) {
		t.Fatalf("queue has %d deliveries, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("delivery #%d is event %s, want %s (publish order)", i, got[i], want[i])
		}
	}
	subs, err := s.SubscriptionList(ctx, &store.SubscriptionListParams{Topic: "t"})
	if err != nil || len(subs) != 1 || subs[0].Pending != int64(len(want)) || !subs[0].OldestPendingAt.Equal(base.Add(time.Hour)) {
		t.Fatalf("SubscriptionList: %+v, %v", subs, err)
	}
	// Trims count, and enough of them fold the count deltas.
	trimmed := 0
	for i := range 80 {
		k, err := s.TopicTrim(ctx, &store.TopicTrimParams{Topic: "t", Before: base.Add(time.Duration(n) * time.Second), Limit: 10})
		if err != nil {
			t.Fatalf("TopicTrim #%d: %v", i, err)
		}
		trimmed += k
	}
	topics, err := s.TopicList(ctx, &store.TopicListParams{})
	if err != nil || len(topics) != 1 {
		t.Fatalf("TopicList: %v, %v", topics, err)
	}
	if topics[0].Events != int64(n-trimmed) || trimmed != 800 {
		t.Errorf("after trimming %d: %d events retained, want %d", trimmed, topics[0].Events, n-trimmed)
	}
	var rows int
	if err := s.Pool().QueryRow(ctx, "SELECT count(*) FROM "+s.Schema()+".topic_event_counts").Scan(&rows); err != nil || rows > 2 {
		t.Errorf("count delta rows after folds: %d, %v; want them folded", rows, err)
	}
}

// TopicPublishTx: the events and deliveries exist iff the caller's
// transaction commits; a rejected publish leaves the transaction usable.
func TestTopicPublishTx(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	ctx := t.Context()
	if _, err := s.SubscriptionCreate(ctx, &store.SubscriptionCreateParams{Topic: "t", Name: "s",
		Job: store.SubscriptionTemplate{Queue: "q", Priority: 2, MaxAttempts: 3}}); err != nil {
		t.Fatal(err)
	}
	publish := func(commit bool) {
		t.Helper()
		tx, err := s.Pool().Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		if _, err := s.TopicPublishTx(ctx, tx, &store.TopicPublishParams{Topic: "t", Events: []store.Event{{Kind: "k", Args: []byte(`1`), Metadata: map[string]string{"m": "a\x00b"}}}}); !errors.Is(err, store.ErrInvalidArgument) {
			t.Fatalf("TopicPublishTx with a NUL in metadata: %v, want ErrInvalidArgument", err)
		}
		res, err := s.TopicPublishTx(ctx, tx, &store.TopicPublishParams{Topic: "t", Events: []store.Event{{Kind: "k", Args: []byte(`1`)}}})
		if err != nil || len(res) != 1 || res[0].Deliveries != 1 {
			t.Fatalf("TopicPublishTx after a rejected one: %+v, %v", res, err)
		}
		if commit {
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	count := func() (events int64, jobs int) {
		t.Helper()
		ts, err := s.TopicList(ctx, &store.TopicListParams{})
		if err != nil || len(ts) != 1 {
			t.Fatalf("TopicList: %v, %v", ts, err)
		}
		l, err := s.JobList(ctx, &store.JobListParams{Queue: "q"})
		if err != nil {
			t.Fatal(err)
		}
		return ts[0].Events, len(l.Jobs)
	}
	publish(false)
	if e, j := count(); e != 0 || j != 0 {
		t.Errorf("after rollback: %d events, %d jobs; want none", e, j)
	}
	publish(true)
	if e, j := count(); e != 1 || j != 1 {
		t.Errorf("after commit: %d events, %d jobs; want 1 and 1", e, j)
	}
}
