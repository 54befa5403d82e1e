package crashtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/troikahq/troika"
)

// The cluster kill test on PostgreSQL (issue 4): two server nodes and three
// worker processes share one schema; producers in this process enqueue
// through the servers; one node is killed with SIGKILL every 3-6 s and
// restarted on its port. At the end: every acknowledged enqueue completed
// (lost = 0), nothing is left running, every duplicate run is of a job in
// flight at a kill of its worker's node, and the leader row's history shows
// one leader at a time with increasing epochs.

// clusterWorkers are the worker processes: two over the API (one per node,
// so every kill cuts a worker off) and one on PostgreSQL directly (no kill
// touches it, so it must never run a job twice).
var clusterWorkers = []struct {
	name string
	node int // index of the server it dials; -1: PostgreSQL directly
}{{"w1", 0}, {"w2", 1}, {"w3", -1}}

// clusterKill is one SIGKILL of a server node and its restart.
type clusterKill struct {
	node      int
	at, ready time.Time
	held      time.Duration // how long the node was kept down before its restart
}

// TestClusterPostgres is the cluster kill test (see above).
// TROIKA_CLUSTER_PG_SECONDS sets how long the load runs (default 40). It is
// not parallel, for the same reason as TestCronPostgresMultiNode: its six
// processes load both cores.
func TestClusterPostgres(t *testing.T) {
	seconds := 40
	if s := os.Getenv("TROIKA_CLUSTER_PG_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 10 {
			t.Fatalf("TROIKA_CLUSTER_PG_SECONDS=%q: want an integer >= 10", s)
		}
		seconds = n
	}
	url := cronPGURL()
	pool := cronPool(t, url)
	schema := cronSchema(t)
	ctx := t.Context()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	// The admin client migrates the schema; it runs no maintenance, so the
	// leader is always one of the servers.
	admin, err := troika.OpenPostgresURL(ctx, url, troika.Config{DisableMaintenance: true, Logger: quiet}, troika.PostgresSchema(schema))
	if err != nil {
		t.Fatalf("open the admin client (migrate): %v", err)
	}
	defer admin.Close()
	installLeaderHistory(t, pool, schema)

	logs := t.TempDir()
	addrs := []string{freeLoopback(t), freeLoopback(t)}
	nodes := make([]*exec.Cmd, len(addrs))
	incarnation := 0
	startNode := func(i int) {
		incarnation++
		nodes[i] = startClusterChild(t, "server", filepath.Join(logs, fmt.Sprintf("server-%d-%d.log", i, incarnation)),
			envClusterURL+"="+url, envClusterSchema+"="+schema, envClusterAddr+"="+addrs[i])
	}
	for i := range nodes {
		startNode(i)
	}
	workers := make([]*exec.Cmd, len(clusterWorkers))
	for i, w := range clusterWorkers {
		target := "postgres"
		if w.node >= 0 {
			target = "http://" + addrs[w.node]
		}
		workers[i] = startClusterChild(t, "worker", filepath.Join(logs, "worker-"+w.name+".log"),
			envClusterURL+"="+url, envClusterSchema+"="+schema, envClusterTarget+"="+target,
			envClusterName+"="+w.name, envClusterRuns+"="+filepath.Join(logs, "runs-"+w.name+".log"))
	}

	clients := make([]*troika.Client, len(addrs))
	for i, a := range addrs {
		c, err := troika.Dial(ctx, "http://"+a, troika.WithLogger(quiet))
		if err != nil {
			t.Fatalf("dial node %d: %v", i, err)
		}
		defer c.Close()
		clients[i] = c
	}
	prod := startClusterProducers(ctx, clients)

	// Kill a node every 3-6 s, alternating, and restart it on its port
	// (after a pause, one time in three).
	var kills []clusterKill
	runEnd := time.Now().Add(time.Duration(seconds) * time.Second)
	for {
		wait := time.Duration(3000+mrand.IntN(3001)) * time.Millisecond
		if time.Now().Add(wait).After(runEnd) {
			break
		}
		time.Sleep(wait) // the pace of the kills, not synchronisation
		i := len(kills) % len(nodes)
		k := clusterKill{node: i, at: time.Now()}
		if err := nodes[i].Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("kill node %d: %v", i, err)
		}
		_ = nodes[i].Wait()
		if !killedBySignal(nodes[i]) {
			t.Fatalf("node %d exited on its own (%v); logs in %s", i, nodes[i].ProcessState, logs)
		}
		if mrand.IntN(3) == 0 {
			// Sometimes the node stays down 2-5 s, mostly past its worker's
			// lease TTL (3 s): the jobs that worker held are rescued by the
			// other node and run again, and its acks (retried across the
			// outage) are refused.
			k.held = time.Duration(2000+mrand.IntN(3001)) * time.Millisecond
			time.Sleep(k.held) // the length of the outage, not synchronisation
		}
		startNode(i)
		k.ready = time.Now()
		kills = append(kills, k)
		before := prod.acked()
		eventually(t, 30*time.Second, func() bool { return prod.acked() > before+100 }, "no enqueues acknowledged after kill %d", len(kills))
	}
	time.Sleep(time.Until(runEnd)) // the rest of the run's load
	acked := prod.stop()

	// Drain: the workers finish every job (rescued ones included).
	pollUntil(t, 90*time.Second, func() bool { return pendingJobs(t, admin) == 0 })
	for i, w := range workers {
		_ = w.Process.Signal(syscall.SIGTERM)
		if err := w.Wait(); err != nil {
			t.Errorf("worker %s: %v (it must survive the kills and drain on SIGTERM); log in %s", clusterWorkers[i].name, err, logs)
		}
	}
	for i, n := range nodes {
		_ = n.Process.Signal(syscall.SIGTERM)
		if err := n.Wait(); err != nil {
			t.Errorf("node %d did not drain cleanly on SIGTERM: %v; logs in %s", i, err, logs)
		}
	}

	states := clusterStates(t, admin)
	runs := readClusterRuns(t, logs)
	rep := checkCluster(acked, states, runs, kills)
	history := readLeaderHistory(t, pool, schema)
	lh := checkLeaderHistory(history)
	var final leaderRow
	if err := pool.QueryRow(ctx, "SELECT holder, epoch, expires FROM "+pgx.Identifier{schema}.Sanitize()+
		".leaders WHERE name = 'troika.maintenance'").Scan(&final.holder, &final.epoch, &final.expires); err != nil {
		t.Fatalf("read the leader row: %v", err)
	}
	if n := len(history); n == 0 || history[n-1].holder != final.holder || history[n-1].epoch != final.epoch || !history[n-1].expires.Equal(final.expires) {
		t.Errorf("the leader history does not end at the leader row %+v: the trigger missed writes", final)
	}
	t.Logf("%ds, %d nodes, %d workers, %d kills: acked=%d (failed enqueue calls %d, retried jobs found stored %d) stored=%d runs=%d completed=%d lost=%d stuck=%d in-flight duplicates=%d bad duplicates=%d rescued attempts that never ran=%d",
		seconds, len(nodes), len(workers), len(kills), len(acked), prod.failed.Load(), prod.deduped.Load(), len(states), rep.runs, rep.completed, rep.lost, rep.stuck,
		rep.inflightDup, rep.badDup, rep.unrun)
	var restarts []time.Duration
	held := 0
	for _, k := range kills {
		restarts = append(restarts, k.ready.Sub(k.at)-k.held)
		if k.held > 0 {
			held++
		}
	}
	slices.Sort(restarts)
	t.Logf("restart (SIGKILL to ready, less the pause) p50 %s max %s; %d of %d kills kept the node down 2-5 s first",
		quantile(restarts, 0.5), quantile(restarts, 1), held, len(kills))
	t.Logf("leader history: %d terms, %d leader changes, longest wait from a lease's expiry to the next takeover %s",
		lh.stints, lh.changes, lh.maxGap.Round(time.Millisecond))
	if rep.lost != 0 || rep.stuck != 0 || rep.badDup != 0 {
		t.Errorf("lost=%d stuck=%d bad duplicates=%d; examples: %v; logs in %s", rep.lost, rep.stuck, rep.badDup, rep.examples, logs)
	}
	// A kill strands at most the jobs its node's worker held: those running
	// (Concurrency), the batch the remote worker had prefetched (at most
	// another Concurrency: see internal/remote/ahead.go) and those whose
	// acks were queued or in the flush the kill cut (another Concurrency:
	// its claims fail once the node is gone).
	if bound := len(kills) * 3 * clusterConcurrency; rep.inflightDup > bound {
		t.Errorf("%d duplicate runs for %d kills exceeds the in-flight bound %d", rep.inflightDup, len(kills), bound)
	}
	if len(lh.problems) != 0 {
		t.Errorf("leader history violates one leader at a time: %v", lh.problems)
	}
	// A live node polls the lease every sweep, so a lease that ran out is
	// taken within a few sweeps (the other node is up whenever one is down).
	if lh.maxGap > 10*clusterSweep {
		t.Errorf("a lease stayed free %s after it expired (sweep %s): the takeover is too slow", lh.maxGap, clusterSweep)
	}
	if len(kills) < 2 || lh.changes == 0 {
		t.Errorf("the run did not exercise failover: %d kills, %d leader changes", len(kills), lh.changes)
	}
	if len(acked) < 200*max(len(kills), 1) {
		t.Errorf("only %d acknowledged enqueues for %d kills: the run did not load the cluster", len(acked), len(kills))
	}
}

// clusterProducers enqueue through the nodes and record what was acked.
type clusterProducers struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	next    atomic.Int64
	failed  atomic.Int64 // failed calls
	deduped atomic.Int64 // jobs a retry found already stored
	mu      sync.Mutex
	acks    map[int64]troika.JobID
}

// startClusterProducers starts four producers, two starting on each node,
// each enqueueing a batch of 1-10 jobs every 50 ms. Every job has the unique
// key cluster:<seq>, so a batch whose call failed is sent again, unchanged,
// to the other node: if the failed call had committed, the retry returns
// the stored jobs (Duplicate) instead of storing them twice.
func startClusterProducers(ctx context.Context, clients []*troika.Client) *clusterProducers {
	ctx, cancel := context.WithCancel(ctx)
	p := &clusterProducers{cancel: cancel, acks: map[int64]troika.JobID{}}
	queues := []string{"default", "low"}
	for g := range 4 {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			node := g % len(clients)
			tick := time.NewTicker(50 * time.Millisecond) // the offered load
			defer tick.Stop()
			var items []troika.EnqueueItem
			var seqs []int64
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				if items == nil {
					n := 1 + mrand.IntN(10)
					items, seqs = make([]troika.EnqueueItem, n), make([]int64, n)
					for i := range items {
						seqs[i] = p.next.Add(1)
						items[i] = troika.Item(clusterJob{Seq: seqs[i]}, troika.Queue(queues[mrand.IntN(2)]),
							troika.Priority(1+mrand.IntN(4)), troika.Unique(fmt.Sprintf("cluster:%d", seqs[i]), time.Hour))
					}
				}
				res, err := clients[node].EnqueueMany(ctx, items...)
				if err != nil {
					p.failed.Add(1)
					node = (node + 1) % len(clients)
					continue // the same batch, to the other node
				}
				p.mu.Lock()
				for i, s := range seqs {
					p.acks[s] = res[i].ID
					if res[i].Duplicate {
						p.deduped.Add(1)
					}
				}
				p.mu.Unlock()
				items, seqs = nil, nil
			}
		}()
	}
	return p
}

func (p *clusterProducers) acked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acks)
}

// stop stops the producers and returns the acknowledged jobs by seq.
func (p *clusterProducers) stop() map[int64]troika.JobID {
	p.cancel()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acks
}

// pendingJobs counts the jobs not finished yet, from the queue counts.
func pendingJobs(t *testing.T, c *troika.Client) int64 {
	t.Helper()
	qs, err := c.ListQueues(t.Context())
	if err != nil {
		t.Fatalf("list queues: %v", err)
	}
	var n int64
	for _, q := range qs {
		for _, s := range []troika.JobState{troika.StateAvailable, troika.StateScheduled, troika.StateRetryable, troika.StateRunning} {
			n += q.Counts[s]
		}
	}
	return n
}

// clusterStored is a stored job of the test.
type clusterStored struct {
	id    troika.JobID
	state troika.JobState
}

// clusterStates maps each stored job's seq to its id and state, through
// the SDK; a seq stored twice is an error (the unique key failed).
func clusterStates(t *testing.T, c *troika.Client) map[int64]clusterStored {
	t.Helper()
	out := map[int64]clusterStored{}
	for _, j := range listCluster(t, c) {
		var a clusterJob
		if err := json.Unmarshal(j.Args, &a); err != nil {
			t.Fatalf("job %s: args %q: %v", j.ID, j.Args, err)
		}
		if _, dup := out[a.Seq]; dup {
			t.Errorf("seq %d is stored twice: a retried enqueue was not deduplicated", a.Seq)
		}
		out[a.Seq] = clusterStored{j.ID, j.State}
	}
	return out
}

func listCluster(t *testing.T, c *troika.Client) []*troika.JobRow {
	t.Helper()
	var out []*troika.JobRow
	p := troika.ListParams{Kind: clusterKind, Limit: 10_000}
	for {
		page, err := c.ListJobs(t.Context(), p)
		if err != nil {
			t.Fatalf("list jobs: %v", err)
		}
		out = append(out, page.Jobs...)
		if page.Next.IsZero() {
			return out
		}
		p.Cursor = page.Next
	}
}

type clusterReport struct {
	runs, completed, lost, stuck, inflightDup, badDup int
	// unrun counts attempts that were claimed but never started a handler:
	// the claim's reply died with a node, the lease expired and the job
	// was rescued (the attempt counts).
	unrun    int
	examples []string
}

// checkCluster compares the acknowledged enqueues, the stored states and
// the run logs. A successful run followed by another successful run of the
// same job is a duplicate; it is explained (in flight at a kill) when its
// worker dials a node that was killed at most a lease TTL after the run
// started (the ack, the heartbeats or the claim's reply died with the node)
// and before the next run started. Anything else is a bad duplicate.
func checkCluster(acked map[int64]troika.JobID, states map[int64]clusterStored, runs map[int64][]clusterRun, kills []clusterKill) clusterReport {
	var r clusterReport
	note := func(format string, a ...any) {
		if len(r.examples) < 10 {
			r.examples = append(r.examples, fmt.Sprintf(format, a...))
		}
	}
	for seq, id := range acked {
		st, ok := states[seq]
		switch {
		case !ok:
			r.lost++
			note("seq %d acknowledged but not stored", seq)
		case st.id != id:
			r.lost++
			note("seq %d acknowledged as job %s but stored as %s", seq, id, st.id)
		case st.state != troika.StateCompleted:
			r.stuck++
			note("seq %d is %s after the drain", seq, st.state)
		}
		if !slices.ContainsFunc(runs[seq], func(x clusterRun) bool { return x.ok }) {
			r.lost++
			note("seq %d acknowledged but no run succeeded", seq)
		}
	}
	for seq, st := range states {
		switch st.state {
		case troika.StateCompleted:
			r.completed++
		case troika.StateRunning:
			r.stuck++
			note("seq %d stuck running", seq)
		}
	}
	node := map[string]int{}
	for _, w := range clusterWorkers {
		node[w.name] = w.node
	}
	for seq, rs := range runs {
		r.runs += len(rs)
		var oks []clusterRun
		attempts := map[int]bool{}
		last := 0
		for _, x := range rs {
			if x.ok {
				oks = append(oks, x)
			}
			attempts[x.attempt] = true
			last = max(last, x.attempt)
		}
		r.unrun += last - len(attempts)
		slices.SortFunc(oks, func(a, b clusterRun) int { return a.start.Compare(b.start) })
		for i := 0; i+1 < len(oks); i++ {
			first, next := oks[i], oks[i+1]
			explained := slices.ContainsFunc(kills, func(k clusterKill) bool {
				return k.node == node[first.worker] && !k.at.Before(first.start.Add(-time.Second)) &&
					!k.at.After(first.start.Add(clusterLeaseTTL)) && k.at.Before(next.start)
			})
			if explained {
				r.inflightDup++
			} else {
				r.badDup++
				note("seq %d succeeded twice without a kill of its worker's node in between (%s attempt %d at %s, %s attempt %d at %s)",
					seq, first.worker, first.attempt, first.start.Format(time.StampMilli), next.worker, next.attempt, next.start.Format(time.StampMilli))
			}
		}
	}
	return r
}

// freeLoopback returns a loopback address with a free port.
func freeLoopback(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}
