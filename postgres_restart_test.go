package troika_test

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/troikahq/troika"
)

// restartLoad is what TestPostgresRestartUnderLoad records: every
// acknowledged enqueue, every handler run and every failed enqueue call.
type restartLoad struct {
	mu        sync.Mutex
	acked     []troika.JobID
	ackedAt   []time.Time
	handled   map[troika.JobID]int
	firstRun  []time.Time // the first run of each job, in run order
	failures  int
	lastError error
	first     map[troika.JobID]time.Time // each job's first run
	dupAt     [][2]time.Time             // each run again: the job's first run, this run
}

// handledIn counts the jobs whose first run fell in [from, to).
func (l *restartLoad) handledIn(from, to time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, at := range l.firstRun {
		if !at.Before(from) && at.Before(to) {
			n++
		}
	}
	return n
}

// TestPostgresRestartUnderLoad crashes the PostgreSQL server
// (pg_ctlcluster stop -m immediate), keeps it down for longer than the
// worker's lease TTL and starts it again (crash recovery) while two
// producers enqueue in a closed loop and a worker works, then checks what
// issue 4 promises: every acknowledged job is handled (lost = 0), nothing
// is left running, the worker rides it out, and throughput comes back
// without restarting the Client or the worker. It cuts off every client of
// the server, so it runs only with TROIKA_PG_RESTART_TEST=1 (.ci/run runs
// it on its own after the suite).
func TestPostgresRestartUnderLoad(t *testing.T) {
	// The server is down for outage, longer than the lease TTL. The TTL
	// (heartbeats every TTL/3) leaves room for the seconds a server just
	// out of crash recovery may stall: with 2 s, a CI run lost leases of
	// jobs claimed 0.8 s after the server was back.
	const outage, leaseTTL = 6 * time.Second, 5 * time.Second
	if os.Getenv("TROIKA_PG_RESTART_TEST") != "1" {
		t.Skip("restarts the PostgreSQL server (cutting off every client of it); set TROIKA_PG_RESTART_TEST=1")
	}
	version := pgVersion(t)
	f := faultSetup(t)
	ctx := t.Context()
	load := &restartLoad{handled: map[troika.JobID]int{}, first: map[troika.JobID]time.Time{}}

	w := troika.NewWorker(f.client, troika.WorkerConfig{Concurrency: 20, LeaseTTL: leaseTTL, Logger: quietLogger()})
	troika.Handle(w, func(ctx context.Context, j *troika.Job[Email]) error {
		now := time.Now()
		load.mu.Lock()
		if load.handled[j.ID] == 0 {
			load.firstRun = append(load.firstRun, now)
			load.first[j.ID] = now
		} else {
			load.dupAt = append(load.dupAt, [2]time.Time{load.first[j.ID], now}) // a run again: when it first ran, and now
		}
		load.handled[j.ID]++
		load.mu.Unlock()
		return nil
	})
	wctx, stopWorker := context.WithCancel(context.Background())
	defer stopWorker()
	runErr := make(chan error, 1)
	go func() { runErr <- w.Run(wctx) }()

	pctx, stopProducers := context.WithCancel(ctx)
	var producers sync.WaitGroup
	for range 2 {
		producers.Go(func() {
			items := make([]troika.EnqueueItem, 10)
			for k := range items {
				items[k] = troika.EnqueueItem{Args: Email{To: "x"}}
			}
			for pctx.Err() == nil {
				res, err := f.client.EnqueueMany(pctx, items...)
				now := time.Now()
				load.mu.Lock()
				if err != nil {
					if pctx.Err() == nil {
						load.failures++ // not acknowledged: may or may not exist
						load.lastError = err
					}
				} else {
					for _, r := range res {
						load.acked = append(load.acked, r.ID)
						load.ackedAt = append(load.ackedAt, now)
					}
				}
				load.mu.Unlock()
			}
		})
	}

	start := time.Now()
	time.Sleep(1500 * time.Millisecond) // a stretch of load before the fault, not synchronisation
	restartAt := time.Now()
	pgctl := func(args ...string) {
		out, err := exec.CommandContext(ctx, "pg_ctlcluster", append([]string{"--skip-systemctl-redirect", version, "main"}, args...)...).CombinedOutput()
		if err != nil {
			stopProducers()
			producers.Wait()
			t.Fatalf("pg_ctlcluster %v: %v: %s", args, err, out)
		}
	}
	// A crash, then the server stays down for longer than the lease TTL (as
	// a slow recovery or a failover would): claims and heartbeats issued
	// before it wait out the outage in the store's retries, and the leases
	// they grant when it ends must still run their full TTL.
	pgctl("stop", "-m", "immediate")
	time.Sleep(outage) // the length of the fault, not synchronisation
	pgctl("start")
	upAt := time.Now()
	time.Sleep(3 * time.Second) // a stretch of load after the restart, not synchronisation
	stopProducers()
	producers.Wait()
	stopAt := time.Now()

	load.mu.Lock()
	acked := slices.Clone(load.acked)
	load.mu.Unlock()
	eventually(t, 120*time.Second, settled(ctx, f.client, &load.mu, acked, load.handled),
		"every acknowledged job handled and nothing left running, available or retryable")
	stopWorker()
	if err := <-runErr; err != nil {
		t.Errorf("Worker.Run returned %v; it must ride out the restart", err)
	}

	load.mu.Lock()
	ackedAfter, firstAckAfter := 0, time.Time{}
	for _, at := range load.ackedAt {
		if at.After(upAt) {
			if ackedAfter == 0 {
				firstAckAfter = at
			}
			ackedAfter++
		}
	}
	dups := 0
	for _, n := range load.handled {
		dups += n - 1
	}
	failures, lastErr := load.failures, load.lastError
	load.mu.Unlock()

	before := float64(load.handledIn(start.Add(500*time.Millisecond), restartAt)) / restartAt.Sub(start.Add(500*time.Millisecond)).Seconds()
	afterFrom := upAt.Add(time.Second)
	after := float64(load.handledIn(afterFrom, stopAt)) / stopAt.Sub(afterFrom).Seconds()
	t.Logf("restart took %s; %d jobs acknowledged (%d after the server was back, the first %s after), %d enqueue calls failed (last: %v), %d duplicate runs",
		upAt.Sub(restartAt).Round(time.Millisecond), len(acked), ackedAfter, firstAckAfter.Sub(upAt).Round(time.Millisecond), failures, lastErr, dups)
	for _, d := range load.dupAt {
		if d[0].After(upAt) {
			t.Errorf("a job first run %s after the server was back ran again %s later: only jobs in flight at the restart may run twice",
				d[0].Sub(upAt).Round(time.Millisecond), d[1].Sub(d[0]).Round(time.Millisecond))
			break
		}
	}
	t.Logf("jobs started per second: %.0f before the restart, %.0f from 1 s after it", before, after)
	if ackedAfter == 0 {
		t.Fatal("no enqueue succeeded after the server came back")
	}
	if after < 0.2*before {
		t.Errorf("throughput did not come back: %.0f jobs/s after the restart against %.0f before", after, before)
	}
}
