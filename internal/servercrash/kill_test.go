package servercrash

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/troikahq/troika"
)

// Seq is the job of the kill test: a sequence number the recorders track.
type Seq struct{ N int64 }

func (Seq) Kind() string { return "crash.seq" }

// recorder tracks acknowledged enqueues and handler runs.
type recorder struct {
	mu    sync.Mutex
	acked map[int64]troika.JobID
	runs  map[int64]int
	done  atomic.Int64 // handler runs
}

func (r *recorder) ack(n int64, id troika.JobID) { r.mu.Lock(); r.acked[n] = id; r.mu.Unlock() }
func (r *recorder) ran(n int64)                  { r.mu.Lock(); r.runs[n]++; r.mu.Unlock(); r.done.Add(1) }

// TestServerKill SIGKILLs a child `troika server` at random points under
// load, restarting it on the same directory and port each time, while this
// process's producers record every acknowledged enqueue and its workers
// (troika.Dial, the SDK's Worker) record every run. At the end every
// acknowledged job must be completed: lost = 0.
func TestServerKill(t *testing.T) {
	t.Parallel()
	kills := 10
	if testing.Short() {
		kills = 3
	}
	dir, addr := t.TempDir(), freeAddr(t)
	url := "http://" + addr
	srv := startServer(t, dir, addr)
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := troika.Dial(ctx, url, troika.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rec := &recorder{acked: map[int64]troika.JobID{}, runs: map[int64]int{}}

	var wg sync.WaitGroup
	var next atomic.Int64
	produce, stopProducing := context.WithCancel(ctx)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for produce.Err() == nil {
				n := next.Add(1)
				res, err := c.Enqueue(ctx, Seq{N: n})
				if err != nil {
					time.Sleep(20 * time.Millisecond) // back-off while the server is down, not synchronisation
					continue
				}
				rec.ack(n, res.ID)
			}
		}()
	}
	w := troika.NewWorker(c, troika.WorkerConfig{Concurrency: 20, LeaseTTL: 5 * time.Second, Logger: quiet})
	troika.Handle(w, func(_ context.Context, j *troika.Job[Seq]) error { rec.ran(j.Args.N); return nil })
	workCtx, stopWorking := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- w.Run(workCtx) }()

	for i := range kills {
		before := rec.done.Load()
		eventually(t, 60*time.Second, func() bool { return rec.done.Load() > before+200 }, "progress in incarnation %d", i+1)
		time.Sleep(time.Duration(rand.IntN(200)) * time.Millisecond) // the random kill point
		if err := srv.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = srv.Wait()
		srv = startServer(t, dir, addr)
	}
	stopProducing()
	wg.Wait()

	// Every acknowledged job completes.
	rec.mu.Lock()
	acked := make(map[int64]troika.JobID, len(rec.acked))
	for n, id := range rec.acked {
		acked[n] = id
	}
	rec.mu.Unlock()
	lost := 0
	eventually(t, 90*time.Second, func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		for n := range acked {
			if rec.runs[n] == 0 {
				return false
			}
		}
		return true
	}, "every acknowledged job runs")
	for n, id := range acked {
		var j *troika.JobRow
		eventually(t, 30*time.Second, func() bool {
			var err error
			j, err = c.GetJob(ctx, id)
			return err == nil && j.State == troika.StateCompleted || errors.Is(err, troika.ErrNotFound)
		}, "job %d (%s) completes", n, id)
		if j == nil || j.State != troika.StateCompleted {
			lost++
		}
	}
	stopWorking()
	if err := <-runErr; err != nil {
		t.Fatalf("worker Run: %v", err)
	}
	dups := 0
	rec.mu.Lock()
	for _, k := range rec.runs {
		if k > 1 {
			dups += k - 1
		}
	}
	rec.mu.Unlock()
	t.Logf("kills=%d acked=%d runs=%d lost=%d duplicate runs=%d", kills, len(acked), rec.done.Load(), lost, dups)
	if lost != 0 {
		t.Fatalf("lost %d acknowledged jobs", lost)
	}
	if len(acked) < kills*200 {
		t.Fatalf("only %d acknowledged enqueues: the test did not exercise the server", len(acked))
	}
	_ = srv.Process.Signal(syscall.SIGTERM)
	if err := srv.Wait(); err != nil {
		t.Fatalf("server did not drain cleanly on SIGTERM: %v", err)
	}
}
