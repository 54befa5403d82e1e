package postgres

import (
	"testing"
	"time"

	"github.com/troikahq/troika/store"
)

// BenchmarkClaimAck measures the store's hot path: claim a batch of 100
// and complete it with one JobAckMany, from a backlog inserted up front.
// One op is one job.
func BenchmarkClaimAck(b *testing.B) {
	s := openTest(b, Options{})
	ctx := b.Context()
	const batch = 100
	jobs := make([]store.InsertJob, 1000)
	for i := range jobs {
		jobs[i] = store.InsertJob{Kind: "bench", Args: []byte(`{"n":1}`), Queue: "default", Priority: 2, MaxAttempts: 25}
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

// BenchmarkInsert measures JobInsertMany in batches of 1,000; one op is
// one job.
func BenchmarkInsert(b *testing.B) {
	s := openTest(b, Options{})
	jobs := make([]store.InsertJob, 1000)
	for i := range jobs {
		jobs[i] = store.InsertJob{Kind: "bench", Args: []byte(`{"n":1}`), Queue: "default", Priority: 2, MaxAttempts: 25}
	}
	b.ResetTimer()
	for n := 0; n < b.N; n += len(jobs) {
		if _, err := s.JobInsertMany(b.Context(), &store.JobInsertManyParams{Jobs: jobs}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInsertOne measures JobInsertMany of a single plain job (the
// shape of every single Enqueue: one durable autocommit statement).
func BenchmarkInsertOne(b *testing.B) {
	s := openTest(b, Options{})
	jobs := []store.InsertJob{{Kind: "bench", Args: []byte(`{"n":1}`), Queue: "default", Priority: 2, MaxAttempts: 25}}
	for b.Loop() {
		if _, err := s.JobInsertMany(b.Context(), &store.JobInsertManyParams{Jobs: jobs}); err != nil {
			b.Fatal(err)
		}
	}
}
