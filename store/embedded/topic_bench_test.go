package embedded

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/troikahq/troika/store"
)

// BenchmarkFanoutPath measures the store's share of one delivery: publish
// batches of 100 events to a topic with 5 subscriptions, then claim and
// complete every delivery in batches of 100 per queue, on one goroutine.
// It reports deliveries/s of store time and the process CPU per delivery;
// with fs=mem (an in-memory filesystem) that is the store's own CPU, with
// no fsync in it.
//
//	go test -run '^$' -bench FanoutPath ./store/embedded
func BenchmarkFanoutPath(b *testing.B) {
	for _, fs := range []string{"disk", "mem"} {
		b.Run("fs="+fs, func(b *testing.B) {
			var opts Options
			if fs == "mem" {
				opts.FS = vfs.NewMem()
			}
			benchFanoutPath(b, openBench(b, opts))
		})
	}
}

func benchFanoutPath(b *testing.B, st *Store) {
	ctx := context.Background()
	const subs, batch = 5, 100
	queues := make([]store.QueueWeight, subs)
	for i := range subs {
		q := fmt.Sprintf("q%d", i)
		queues[i] = store.QueueWeight{Name: q, Weight: 1}
		if _, err := st.SubscriptionCreate(ctx, &store.SubscriptionCreateParams{Topic: "t", Name: fmt.Sprint("s", i),
			Job: store.SubscriptionTemplate{Queue: q, Priority: 2, MaxAttempts: 25}}); err != nil {
			b.Fatal(err)
		}
	}
	events := make([]store.Event, batch)
	for i := range events {
		events[i] = store.Event{Kind: "bench", Args: []byte(`{"ts":1764612345678901234,"seq":123456,"pad":"xxxxxxxxxxxxxxxxxxxx"}`)}
	}
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuNow()
	for range b.N {
		if _, err := st.TopicPublish(ctx, &store.TopicPublishParams{Topic: "t", Events: events}); err != nil {
			b.Fatal(err)
		}
		for _, q := range queues {
			jobs, err := st.JobClaim(ctx, &store.JobClaimParams{Queues: []store.QueueWeight{q}, Max: batch, Worker: "w", LeaseTTL: time.Minute})
			if err != nil || len(jobs) != batch {
				b.Fatalf("claim: %d, %v", len(jobs), err)
			}
			acks := make([]store.JobAck, len(jobs))
			for i, j := range jobs {
				acks[i] = store.JobAck{Lease: j.Lease(), Outcome: store.AckComplete}
			}
			if _, err := st.JobAckMany(ctx, &store.JobAckManyParams{Acks: acks}); err != nil {
				b.Fatal(err)
			}
		}
	}
	n := float64(b.N * batch * subs)
	b.ReportMetric(n/time.Since(start).Seconds(), "deliveries/s")
	b.ReportMetric(float64((cpuNow()-cpu0).Nanoseconds())/1e3/n, "cpu-µs/delivery")
}
