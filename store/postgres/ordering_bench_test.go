package postgres

import (
	"fmt"
	"testing"
	"time"

	"github.com/troikahq/troika/store"
)

// BenchmarkClaimAckOrdered is BenchmarkClaimAck with every job on one of
// 1,000 ordering keys: a claim of 100 finds the heads of 100 lines and
// each ack hands its line on in the same transaction. One op is one job.
func BenchmarkClaimAckOrdered(b *testing.B) {
	s := openTest(b, Options{})
	ctx := b.Context()
	const batch, keys = 100, 1000
	jobs := make([]store.InsertJob, 1000)
	for i := range jobs {
		jobs[i] = store.InsertJob{Kind: "bench", Args: []byte(`{"n":1}`), Queue: "default", Priority: 2, MaxAttempts: 25,
			OrderingKey: fmt.Sprint("key-", i%keys)}
	}
	for n := 0; n < b.N+batch; n += len(jobs) {
		if _, err := s.JobInsertMany(ctx, &store.JobInsertManyParams{Jobs: jobs}); err != nil {
			b.Fatal(err)
		}
	}
	acks := make([]store.JobAck, 0, batch)
	b.ResetTimer()
	for done := 0; done < b.N; {
		got, err := s.JobClaim(ctx, &store.JobClaimParams{Queues: []store.QueueWeight{{Name: "default", Weight: 1}},
			Max: batch, Worker: "bench", LeaseTTL: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		if len(got) == 0 {
			b.Fatalf("nothing claimable after %d of %d jobs: a line was stranded", done, b.N)
		}
		acks = acks[:0]
		for _, j := range got {
			acks = append(acks, store.JobAck{Lease: j.Lease(), Outcome: store.AckComplete})
		}
		if _, err := s.JobAckMany(ctx, &store.JobAckManyParams{Acks: acks}); err != nil {
			b.Fatal(err)
		}
		done += len(got)
	}
}
