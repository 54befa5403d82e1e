package crashtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/troikahq/troika"
)

// The multi-node scheduler test on PostgreSQL: three real processes share
// one schema and run maintenance (so the scheduler fires on the leader
// only); the leader is killed with SIGKILL every 10-20 s and restarted; at
// the end the jobs table must hold exactly one job per (schedule, instant)
// for every instant of the run.

const (
	envCronChild  = "TROIKA_CRON_PG_CHILD" // set in the child processes
	envCronURL    = "TROIKA_CRON_PG_URL"
	envCronSchema = "TROIKA_CRON_PG_SCHEMA"

	cronNodes     = 3
	cronSchedules = 50
	cronKind      = "cron.tick"
	misfireGrace  = 30 * time.Second // the engine's default (DefaultMisfireGrace)
)

type cronTick struct {
	N int `json:"n"`
}

func (cronTick) Kind() string { return cronKind }

// cronSet is the 50 every-second schedules, default policies (run_once,
// allow), as every node declares them.
func cronSet() []troika.Schedule {
	out := make([]troika.Schedule, cronSchedules)
	for i := range out {
		out[i] = troika.Schedule{ID: fmt.Sprintf("cron/%02d", i), Spec: "* * * * * *", Args: cronTick{N: i}}
	}
	return out
}

func cronPGURL() string {
	if u := os.Getenv("TROIKA_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// TestCronPGChild is the body of a node when the test binary is re-executed
// by TestCronPostgresMultiNode; run directly it has nothing to do.
func TestCronPGChild(t *testing.T) {
	if os.Getenv(envCronChild) == "" {
		t.Skip("the node process of TestCronPostgresMultiNode")
	}
	os.Exit(cronChild())
}

// cronChild opens the shared schema with maintenance on, declares the
// schedules as a service replica does on start, and runs until SIGTERM.
func cronChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	c, err := troika.OpenPostgresURL(ctx, os.Getenv(envCronURL), troika.Config{},
		troika.PostgresSchema(os.Getenv(envCronSchema)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 1
	}
	defer c.Close()
	if _, err := c.ReconcileSchedules(ctx, cronSet(), false); err != nil {
		fmt.Fprintln(os.Stderr, "reconcile:", err)
		return 1
	}
	<-ctx.Done()
	return 0
}

// TestCronPostgresMultiNode is the multi-node scheduler test (see above).
// TROIKA_CRON_PG_SECONDS sets how long it runs (default 45). It is not
// parallel: its four processes load both cores for the whole run, and run
// beside TestCrash they pushed that test's drain past its deadline (2 of 3
// runs; none alone).
func TestCronPostgresMultiNode(t *testing.T) {
	seconds := 45
	if s := os.Getenv("TROIKA_CRON_PG_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 10 {
			t.Fatalf("TROIKA_CRON_PG_SECONDS=%q: want an integer >= 10", s)
		}
		seconds = n
	}
	url, schema := cronPGURL(), cronSchema(t)
	ctx := t.Context()
	pool := cronPool(t, url)
	admin, err := troika.OpenPostgresURL(ctx, url, troika.Config{DisableMaintenance: true}, troika.PostgresSchema(schema))
	if err != nil {
		t.Fatalf("open the admin client: %v", err)
	}
	defer admin.Close()
	if _, err := admin.ReconcileSchedules(ctx, cronSet(), false); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	created := time.Now() // every instant after this must fire exactly once

	// A worker elsewhere (here, in the parent) runs the fired jobs and
	// records how late each instant's first run started.
	var startsMu sync.Mutex
	starts := map[string]time.Duration{}
	w := troika.NewWorker(admin, troika.WorkerConfig{Concurrency: 50, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	troika.Handle(w, func(ctx context.Context, j *troika.Job[cronTick]) error {
		lag := time.Since(j.RunAt)
		startsMu.Lock()
		if _, ok := starts[j.UniqueKey]; !ok {
			starts[j.UniqueKey] = lag
		}
		startsMu.Unlock()
		return nil
	})
	wctx, stopWorker := context.WithCancel(ctx)
	werr := make(chan error, 1)
	go func() { werr <- w.Run(wctx) }()
	defer func() {
		stopWorker()
		if err := <-werr; err != nil {
			t.Errorf("worker: %v", err)
		}
	}()

	logs := t.TempDir()
	nodes := make([]*exec.Cmd, cronNodes)
	started := 0
	start := func(slot int) {
		started++
		nodes[slot] = startCronNode(t, url, schema, filepath.Join(logs, fmt.Sprintf("node-%d.log", started)))
	}
	for i := range nodes {
		start(i)
	}

	// Kill the leader every 10-20 s and restart it.
	var kills []string
	runEnd := created.Add(time.Duration(seconds) * time.Second)
	for {
		wait := time.Duration(10+mrand.IntN(11)) * time.Second
		// The last kill leaves time for the takeover (a 5 s lease, a sweep)
		// before the run ends, so the epoch check below counts it.
		if time.Now().Add(wait + 8*time.Second).After(runEnd) {
			break
		}
		time.Sleep(wait) // the pace of the kills, not synchronisation
		slot, holder := cronLeader(t, pool, schema, nodes)
		if err := nodes[slot].Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("kill the leader %s: %v", holder, err)
		}
		_ = nodes[slot].Wait()
		if !killedBySignal(nodes[slot]) {
			t.Fatalf("leader %s exited on its own (%v); logs in %s", holder, nodes[slot].ProcessState, logs)
		}
		kills = append(kills, fmt.Sprintf("%s at +%.1fs", holder, time.Since(created).Seconds()))
		start(slot)
	}
	time.Sleep(time.Until(runEnd)) // the rest of the run
	end := time.Now().Truncate(time.Second)

	// The last instant of the run fires within the takeover time at worst.
	want := cronInstants(created, end)
	var jobs []*troika.JobRow
	pollUntil(t, misfireGrace, func() bool {
		jobs = listCronJobs(t, admin)
		return len(cronCheck(jobs, want, end).missing) == 0
	})
	for _, n := range nodes {
		_ = n.Process.Signal(syscall.SIGTERM)
	}
	for _, n := range nodes {
		_ = n.Wait()
	}
	jobs = listCronJobs(t, admin)
	r := cronCheck(jobs, want, end)
	var epoch int64
	if err := pool.QueryRow(ctx, "SELECT epoch FROM "+pgx.Identifier{schema}.Sanitize()+".leaders WHERE name = 'troika.maintenance'").Scan(&epoch); err != nil {
		t.Fatalf("read the leader row: %v", err)
	}
	t.Logf("%ds, %d nodes, %d schedules every second, %d leader kills (%s), leader epoch %d", seconds, cronNodes, cronSchedules,
		len(kills), strings.Join(kills, ", "), epoch)
	startsMu.Lock()
	var startLags []time.Duration
	for _, j := range jobs {
		if _, at, ok := parseFireKey(j.UniqueKey); ok && !at.Before(want[0]) && !at.After(end) {
			if d, ok := starts[j.UniqueKey]; ok {
				startLags = append(startLags, d)
			}
		}
	}
	startsMu.Unlock()
	slices.Sort(startLags)
	t.Logf("instants expected %d, jobs %d: duplicate fires %d, missed instants %d, early %d", len(want)*cronSchedules, len(jobs),
		r.duplicates, len(r.missing), r.early)
	t.Logf("fire lag (job created_at - instant, when the firer planned it) p50 %s p99 %s max %s",
		quantile(r.lags, 0.50), quantile(r.lags, 0.99), quantile(r.lags, 1))
	t.Logf("start lag (handler start - instant, %d of the run's instants ran) p50 %s p99 %s max %s", len(startLags),
		quantile(startLags, 0.50), quantile(startLags, 0.99), quantile(startLags, 1))
	if r.duplicates != 0 || len(r.missing) != 0 || r.early != 0 || r.foreign != 0 {
		t.Fatalf("duplicate fires %d, missed instants %d (first: %v), jobs before their instant %d, unexpected jobs %d; node logs in %s",
			r.duplicates, len(r.missing), r.missing[:min(len(r.missing), 5)], r.early, r.foreign, logs)
	}
	if len(kills) == 0 || epoch < int64(len(kills))+1 {
		t.Fatalf("the run did not exercise failover: %d kills, leader epoch %d", len(kills), epoch)
	}
	// With run_once and a 30s grace, a takeover within the grace misses
	// nothing; a lag near the grace would mean the failover is too slow.
	if worst := quantile(r.lags, 1); worst >= misfireGrace {
		t.Errorf("fire lag reached %s, not under the misfire grace %s", worst, misfireGrace)
	}
}

type cronReport struct {
	duplicates int      // jobs beyond the first of one (schedule, instant)
	missing    []string // expected (schedule, instant) without a job
	early      int      // jobs whose run_at is before their instant
	foreign    int      // jobs that do not name a schedule instant
	lags       []time.Duration
}

// quantile returns the q quantile of sorted (0 when empty), to the
// millisecond.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := min(int(q*float64(len(sorted))), len(sorted)-1)
	return sorted[i].Round(time.Millisecond)
}

// cronCheck counts, from the jobs, the duplicates and the missing instants
// of want (the whole seconds of the run) for every schedule.
func cronCheck(jobs []*troika.JobRow, want []time.Time, end time.Time) cronReport {
	var r cronReport
	seen := map[string]int{}
	for _, j := range jobs {
		id, instant, ok := parseFireKey(j.UniqueKey)
		if !ok {
			r.foreign++
			continue
		}
		k := id + "@" + instant.Format(time.RFC3339)
		seen[k]++
		if seen[k] > 1 {
			r.duplicates++
		}
		if j.RunAt.Before(instant) {
			r.early++
		}
		if !instant.After(end) && !instant.Before(want[0]) {
			r.lags = append(r.lags, j.CreatedAt.Sub(instant))
		}
	}
	for _, sc := range cronSet() {
		for _, at := range want {
			if k := sc.ID + "@" + at.Format(time.RFC3339); seen[k] == 0 {
				r.missing = append(r.missing, k)
			}
		}
	}
	slices.Sort(r.lags)
	return r
}

// parseFireKey reads troika:schedule:<id>:<instant RFC 3339>.
func parseFireKey(key string) (string, time.Time, bool) {
	rest, ok := strings.CutPrefix(key, "troika:schedule:")
	if !ok {
		return "", time.Time{}, false
	}
	// The instant is the last 20 bytes (2006-01-02T15:04:05Z, no fraction
	// for whole seconds); ids contain ':' freely.
	if len(rest) < 22 || rest[len(rest)-21] != ':' {
		return "", time.Time{}, false
	}
	at, err := time.Parse(time.RFC3339, rest[len(rest)-20:])
	if err != nil {
		return "", time.Time{}, false
	}
	return rest[:len(rest)-21], at, true
}

// cronInstants are the whole seconds in (after, end].
func cronInstants(after, end time.Time) []time.Time {
	var out []time.Time
	for at := after.Truncate(time.Second).Add(time.Second); !at.After(end); at = at.Add(time.Second) {
		out = append(out, at.UTC())
	}
	return out
}

func listCronJobs(t *testing.T, c *troika.Client) []*troika.JobRow {
	t.Helper()
	var out []*troika.JobRow
	p := troika.ListParams{Kind: cronKind, Limit: 10_000}
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

// cronLeader waits for a live node to hold an unexpired maintenance lease
// and returns its slot and holder. The holder is hostname-pid-random.
func cronLeader(t *testing.T, pool *pgxpool.Pool, schema string, nodes []*exec.Cmd) (int, string) {
	t.Helper()
	slot, holder := -1, ""
	pollUntil(t, 30*time.Second, func() bool {
		var live bool
		err := pool.QueryRow(t.Context(), "SELECT holder, expires > now() FROM "+pgx.Identifier{schema}.Sanitize()+
			".leaders WHERE name = 'troika.maintenance'").Scan(&holder, &live)
		if err != nil || !live {
			return false
		}
		f := strings.Split(holder, "-")
		if len(f) < 3 {
			return false
		}
		pid, err := strconv.Atoi(f[len(f)-2])
		if err != nil {
			return false
		}
		slot = slices.IndexFunc(nodes, func(c *exec.Cmd) bool { return c.Process.Pid == pid && c.ProcessState == nil })
		return slot >= 0
	})
	return slot, holder
}

func startCronNode(t *testing.T, url, schema, logPath string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCronPGChild$")
	cmd.Env = append(os.Environ(), envCronChild+"=1", envCronURL+"="+url, envCronSchema+"="+schema)
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("start a node: %v", err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

// cronPool connects to the test database, skipping the test when it is
// unreachable (failing it when CI=true).
func cronPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, url)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		if pool != nil {
			pool.Close()
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s is unreachable (CI=true, so this fails): %v", url, err)
		}
		t.Skipf("PostgreSQL at %s is unreachable: %v", url, err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// cronSchema returns a fresh schema name, dropped at cleanup.
func cronSchema(t *testing.T) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "cron_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		pool, err := pgxpool.New(ctx, cronPGURL())
		if err != nil {
			return
		}
		defer pool.Close()
		if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop test schema %s: %v", name, err)
		}
	})
	return name
}

// pollUntil calls cond every 200ms until it holds, failing the test after
// timeout.
func pollUntil(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not reached within %s", timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
