package embedded

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/troikahq/troika/store"
)

// BenchmarkQueuedMemory measures what a large backlog costs: it inserts
// TROIKA_BENCH_QUEUED jobs (default 1,000,000) with 200-byte args in
// batches of 1,000, then reports the heap and the process RSS per queued job
// and how long Open takes to rebuild memory from that store. Run it with
//
//	go test -run '^$' -bench QueuedMemory -benchtime 1x ./store/embedded
func BenchmarkQueuedMemory(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("TROIKA_BENCH_QUEUED"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1000 {
			b.Fatalf("TROIKA_BENCH_QUEUED=%q: want an integer >= 1000", s)
		}
		n = v
	}
	args := []byte(`{"payload":"` + strings.Repeat("x", 200-len(`{"payload":""}`)) + `"}`)
	if len(args) != 200 {
		b.Fatalf("args are %d bytes", len(args))
	}
	for range b.N {
		dir := b.TempDir()
		st, err := Open(dir, Options{Logger: quietLogger()})
		if err != nil {
			b.Fatal(err)
		}
		heap0, rss0 := memNow()
		batch := make([]store.InsertJob, 1000)
		for i := range batch {
			batch[i] = store.InsertJob{Kind: "bench.memory", Args: args, Queue: "default", Priority: 1 + i%4, MaxAttempts: 25}
		}
		start := time.Now()
		for i := 0; i < n; i += len(batch) {
			if _, err := st.JobInsertMany(context.Background(), &store.JobInsertManyParams{Jobs: batch}); err != nil {
				b.Fatal(err)
			}
		}
		insertSecs := time.Since(start).Seconds()
		heap1, rss1 := memNow()
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		runtime.GC()

		start = time.Now()
		st, err = Open(dir, Options{Logger: quietLogger()})
		if err != nil {
			b.Fatal(err)
		}
		reopen := time.Since(start)
		heap2, rss2 := memNow()
		q, err := st.QueueGet(context.Background(), &store.QueueGetParams{Name: "default"})
		if err != nil || q.Counts[store.StateAvailable] != int64(n) {
			b.Fatalf("after reopen: %v available, err %v; want %d", q.Counts[store.StateAvailable], err, n)
		}
		_ = st.Close()

		b.ReportMetric(float64(n)/insertSecs, "inserts/s")
		b.ReportMetric(float64(heap1-heap0)/float64(n), "heap-B/job")
		b.ReportMetric(float64(rss1-rss0)/float64(n), "rss-B/job")
		b.ReportMetric(float64(rss1)/(1<<20), "rss-MiB")
		b.ReportMetric(reopen.Seconds(), "reopen-s")
		b.ReportMetric(float64(heap2-heap0)/float64(n), "reopened-heap-B/job")
		b.ReportMetric(float64(rss2)/(1<<20), "reopened-rss-MiB")
	}
}

// memNow returns the live heap after a GC and the process's resident set.
func memNow() (heap, rss int64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse), rssBytes()
}

// rssBytes reads the resident set size from /proc (0 where there is none).
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, res int64
	if _, err := fmt.Sscan(string(b), &size, &res); err != nil {
		return 0
	}
	return res * int64(os.Getpagesize())
}

// openBench opens a store for a benchmark in a fresh directory, with
// opts and a quiet logger, closed when the benchmark ends.
func openBench(b *testing.B, opts Options) *Store {
	b.Helper()
	opts.Logger = quietLogger()
	st, err := Open(b.TempDir(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	return st
}

// BenchmarkInsertClaimAck is the store's hot path per job, batched as a
// worker does: insert 100, claim 100, complete 100, on an in-memory
// filesystem (the store's CPU, no fsync), with no backlog or behind one of
// 200,000 queued jobs (each claim then takes the oldest, the way a worker
// behind a burst does). It reports the process CPU per job.
//
//	go test -run '^$' -bench InsertClaimAck ./store/embedded
func BenchmarkInsertClaimAck(b *testing.B) {
	for _, backlog := range []int{0, 200_000} {
		b.Run(fmt.Sprintf("backlog=%d", backlog), func(b *testing.B) {
			benchInsertClaimAck(b, backlog)
		})
	}
}

func benchInsertClaimAck(b *testing.B, backlog int) {
	st := openBench(b, Options{FS: vfs.NewMem()})
	ctx := context.Background()
	const batch = 100
	jobs := make([]store.InsertJob, batch)
	for i := range jobs {
		jobs[i] = store.InsertJob{Kind: "bench", Args: []byte(`{"ts":1,"seq":2,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`), Queue: "default", Priority: 2, MaxAttempts: 25}
	}
	for range backlog / batch {
		if _, err := st.JobInsertMany(ctx, &store.JobInsertManyParams{Jobs: jobs}); err != nil {
			b.Fatal(err)
		}
	}
	acks := make([]store.JobAck, 0, batch)
	b.ResetTimer()
	cpu0 := cpuNow()
	for i := 0; i < b.N; i += batch {
		if _, err := st.JobInsertMany(ctx, &store.JobInsertManyParams{Jobs: jobs}); err != nil {
			b.Fatal(err)
		}
		got, err := st.JobClaim(ctx, &store.JobClaimParams{Queues: []store.QueueWeight{{Name: "default", Weight: 1}}, Max: batch, Worker: "w", LeaseTTL: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		acks = acks[:0]
		for _, j := range got {
			acks = append(acks, store.JobAck{Lease: j.Lease(), Outcome: store.AckComplete})
		}
		if _, err := st.JobAckMany(ctx, &store.JobAckManyParams{Acks: acks}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuNow()-cpu0).Nanoseconds())/1e3/float64(b.N), "cpu-µs/job")
}

// BenchmarkInsertOneParallel is the store's share of the steady workload:
// 8 goroutines each inserting one job per call, every call durable, so
// group commit is what makes them scale. The sub-benchmarks compare, in
// one run, the gather step off and at its default (Options.SyncGather)
// and fixed Options.MinSyncInterval delays.
func BenchmarkInsertOneParallel(b *testing.B) {
	variants := []struct {
		name string
		opts Options
	}{
		{"gather=off", Options{SyncGather: -1}},
		{"gather=default", Options{}},
		{"min-sync=50µs", Options{MinSyncInterval: 50 * time.Microsecond}},
		{"min-sync=100µs", Options{MinSyncInterval: 100 * time.Microsecond}},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			st := openBench(b, v.opts)
			ctx := context.Background()
			job := []store.InsertJob{{Kind: "bench", Args: []byte(`{"ts":1,"seq":2,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`), Queue: "default", Priority: 2, MaxAttempts: 25}}
			before := st.Stats()
			b.SetParallelism(4) // 4 x GOMAXPROCS(2) = 8 producers, as in the steady workload
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := st.JobInsertMany(ctx, &store.JobInsertManyParams{Jobs: job}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			s := st.Stats()
			b.ReportMetric(float64(s.Syncs-before.Syncs)/float64(b.N), "fsyncs/op")
		})
	}
}

// BenchmarkRetentionPassKept is the retention pass on a store that keeps
// 200,000 completed jobs none of which is past retention yet (the usual
// state of a busy queue with 24 h retention): one JobDelete with
// FinishedBefore per op, holding the store's mutex while it runs.
func BenchmarkRetentionPassKept(b *testing.B) {
	st := openBench(b, Options{})
	ctx := context.Background()
	const total, batch = 200_000, 1000
	jobs := make([]store.InsertJob, batch)
	for i := range jobs {
		jobs[i] = store.InsertJob{Kind: "bench", Args: []byte(`{}`), Queue: "default", Priority: 2, MaxAttempts: 25}
	}
	acks := make([]store.JobAck, 0, batch)
	for range total / batch {
		if _, err := st.JobInsertMany(ctx, &store.JobInsertManyParams{Jobs: jobs, Now: t0}); err != nil {
			b.Fatal(err)
		}
		got, err := st.JobClaim(ctx, &store.JobClaimParams{Queues: []store.QueueWeight{{Name: "default", Weight: 1}}, Max: batch, Worker: "w", LeaseTTL: time.Hour, Now: t0})
		if err != nil {
			b.Fatal(err)
		}
		acks = acks[:0]
		for _, j := range got {
			acks = append(acks, store.JobAck{Lease: j.Lease(), Outcome: store.AckComplete})
		}
		if _, err := st.JobAckMany(ctx, &store.JobAckManyParams{Acks: acks, Now: t0.Add(time.Minute)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		n, err := st.JobDelete(ctx, &store.JobDeleteParams{State: store.StateCompleted, Queue: "default", FinishedBefore: t0, Limit: 1000})
		if err != nil || n != 0 {
			b.Fatalf("JobDelete: (%d, %v), want (0, nil)", n, err)
		}
	}
}
