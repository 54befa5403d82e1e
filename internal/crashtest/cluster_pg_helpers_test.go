package crashtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/troikahq/troika"
	"github.com/troikahq/troika/server"
	"github.com/troikahq/troika/store/postgres"
)

// The children of TestClusterPostgres: this test binary re-executed with
// these variables.
const (
	envClusterChild  = "TROIKA_CLUSTER_PG_CHILD" // "server" or "worker"
	envClusterURL    = "TROIKA_CLUSTER_PG_URL"   // PostgreSQL URL
	envClusterSchema = "TROIKA_CLUSTER_PG_SCHEMA"
	envClusterAddr   = "TROIKA_CLUSTER_PG_ADDR"   // server: listen address
	envClusterTarget = "TROIKA_CLUSTER_PG_TARGET" // worker: server URL, or "postgres"
	envClusterName   = "TROIKA_CLUSTER_PG_NAME"   // worker: its name in the run log
	envClusterRuns   = "TROIKA_CLUSTER_PG_RUNS"   // worker: its run log

	clusterSweep       = 200 * time.Millisecond // servers' maintenance interval (leader TTL 5s)
	clusterConcurrency = 10                     // per worker process
	clusterLeaseTTL    = 3 * time.Second
	clusterKind        = "cluster.job"
)

type clusterJob struct {
	Seq int64 `json:"seq"`
}

func (clusterJob) Kind() string { return clusterKind }

// clusterRescue is the servers' and workers' RescueRetryPolicy: a job cut
// off by a kill comes back at once instead of after the default back-off
// (minutes by its fourth attempt), so the drain ends in seconds.
func clusterRescue(int, error) time.Duration { return 20 * time.Millisecond }

// TestClusterPGChild is the body of a server or worker process when the
// test binary is re-executed by TestClusterPostgres; run directly it has
// nothing to do.
func TestClusterPGChild(t *testing.T) {
	switch os.Getenv(envClusterChild) {
	case "server":
		os.Exit(clusterServer())
	case "worker":
		os.Exit(clusterWorker())
	}
	t.Skip("the server and worker processes of TestClusterPostgres")
}

// clusterServer is `troika server --postgres URL --postgres-schema S` as
// server.Run runs it (validate, open the store, serve, drain on SIGTERM),
// with one difference: its Client gets clusterRescue as RescueRetryPolicy,
// which the server's Config does not expose. It prints "ready" once it
// listens.
func clusterServer() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := server.Defaults()
	cfg.Addr, cfg.SweepInterval = os.Getenv(envClusterAddr), clusterSweep
	cfg.Postgres, cfg.PostgresSchema = os.Getenv(envClusterURL), os.Getenv(envClusterSchema)
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "config:", err)
		return 2
	}
	pool, err := pgxpool.New(ctx, cfg.Postgres)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pool:", err)
		return 1
	}
	defer pool.Close()
	st, err := postgres.Open(ctx, pool, postgres.Options{Logger: log, Schema: cfg.PostgresSchema})
	if err != nil {
		fmt.Fprintln(os.Stderr, "store:", err)
		return 1
	}
	c, err := troika.OpenStore(ctx, st, troika.Config{Logger: log, SweepInterval: cfg.SweepInterval, RescueRetryPolicy: clusterRescue})
	if err != nil {
		_ = st.Close()
		fmt.Fprintln(os.Stderr, "client:", err)
		return 1
	}
	srv, err := server.New(server.Options{Config: cfg, Store: st, Client: c, Logger: log})
	if err != nil {
		_ = c.Close()
		fmt.Fprintln(os.Stderr, "server:", err)
		return 1
	}
	if err := server.RunGroup(ctx, log, clientService{c}, readyService{srv}); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		return 1
	}
	return 0
}

// clientService closes the server's Client (maintenance, then the store)
// when the run group stops, as server.Run's backend service does.
type clientService struct{ c *troika.Client }

func (clientService) Name() string                 { return "store" }
func (clientService) Start(context.Context) error  { return nil }
func (s clientService) Stop(context.Context) error { return s.c.Close() }

// readyService starts the API and says "ready" on stdout.
type readyService struct{ *server.Server }

func (r readyService) Start(ctx context.Context) error {
	if err := r.Server.Start(ctx); err != nil {
		return err
	}
	fmt.Println("ready")
	return nil
}

// clusterWorker runs an SDK Worker over one server (troika.Dial) or over
// PostgreSQL directly (maintenance off: the servers run it), and appends a
// line per handler run to its run log: R <name> <seq> <attempt>
// <start unix ns> <ok>. The outcome is decided before the line is written
// (one in 20 first or second attempts fails), so the line is the record of
// the run whatever happens after it. It runs until SIGTERM; a Run error
// before that (the worker gave up) exits 1.
func clusterWorker() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	name, target := os.Getenv(envClusterName), os.Getenv(envClusterTarget)
	var c *troika.Client
	var err error
	if target == "postgres" {
		c, err = troika.OpenPostgresURL(ctx, os.Getenv(envClusterURL),
			troika.Config{Logger: log, DisableMaintenance: true, RescueRetryPolicy: clusterRescue},
			troika.PostgresSchema(os.Getenv(envClusterSchema)))
	} else {
		c, err = troika.Dial(ctx, target, troika.WithLogger(log))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 1
	}
	defer c.Close()
	runs := mustAppend(os.Getenv(envClusterRuns))
	defer runs.Close()
	w := troika.NewWorker(c, troika.WorkerConfig{
		Queues:      map[string]int{"default": 3, "low": 1},
		Concurrency: clusterConcurrency,
		LeaseTTL:    clusterLeaseTTL,
		ID:          name + "-" + strconv.Itoa(os.Getpid()),
	})
	troika.Handle(w, func(ctx context.Context, j *troika.Job[clusterJob]) error {
		fail := j.Attempt < 3 && rand.IntN(20) == 0
		fmt.Fprintf(runs, "R %s %d %d %d %t\n", name, j.Args.Seq, j.Attempt, time.Now().UnixNano(), !fail)
		// Simulated work: mostly 0-2 ms, one run in 20 takes 100-500 ms, so
		// a kill finds jobs running that must heartbeat and ack across it.
		d := time.Duration(rand.IntN(3)) * time.Millisecond
		if rand.IntN(20) == 0 {
			d = time.Duration(100+rand.IntN(401)) * time.Millisecond
		}
		time.Sleep(d)
		if fail {
			return fmt.Errorf("injected failure")
		}
		return nil
	}, troika.WithRetryPolicy(func(int, error) time.Duration { return 5 * time.Millisecond }))
	fmt.Println("ready")
	if err := w.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "worker run:", err)
		return 1
	}
	if ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "worker run returned before SIGTERM")
		return 1
	}
	return 0
}

// startClusterChild starts the test binary as a child of kind with env,
// logging its output to logPath, and waits (up to 60 s) for it to print
// "ready". The returned process is killed at cleanup if still running.
func startClusterChild(t *testing.T, kind, logPath string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestClusterPGChild$")
	cmd.Env = append(os.Environ(), append(env, envClusterChild+"="+kind)...)
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", kind, err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := false
		for sc.Scan() {
			if !ok && sc.Text() == "ready" {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case ok := <-ready:
		if !ok {
			_ = cmd.Wait()
			b, _ := os.ReadFile(logPath)
			t.Fatalf("%s exited before it was ready (%v):\n%s", kind, cmd.ProcessState, b)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("%s not ready within 60s; log in %s", kind, logPath)
	}
	return cmd
}

// clusterRun is one handler run from a worker's run log.
type clusterRun struct {
	worker  string
	attempt int
	start   time.Time
	ok      bool
}

// readClusterRuns reads the run logs in dir (every runs-*.log) by seq.
func readClusterRuns(t *testing.T, dir string) map[int64][]clusterRun {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "runs-*.log"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no run logs in %s (%v)", dir, err)
	}
	out := map[int64][]clusterRun{}
	for _, p := range paths {
		eachLine(t, p, func(f []string) {
			if len(f) != 6 || f[0] != "R" {
				t.Errorf("%s: malformed run line %q", p, strings.Join(f, " "))
				return
			}
			seq, err1 := strconv.ParseInt(f[2], 10, 64)
			attempt, err2 := strconv.Atoi(f[3])
			ns, err3 := strconv.ParseInt(f[4], 10, 64)
			ok, err4 := strconv.ParseBool(f[5])
			if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
				t.Errorf("%s: malformed run line %q", p, strings.Join(f, " "))
				return
			}
			out[seq] = append(out[seq], clusterRun{worker: f[1], attempt: attempt, start: time.Unix(0, ns), ok: ok})
		})
	}
	return out
}

// installLeaderHistory creates schema.leader_history and a trigger that
// appends every version of every leaders row to it, with the time of the
// write (now(): the writing transaction's start, which is no later than
// the row's write).
func installLeaderHistory(t *testing.T, pool *pgxpool.Pool, schema string) {
	t.Helper()
	s := pgx.Identifier{schema}.Sanitize()
	_, err := pool.Exec(t.Context(), `
CREATE TABLE `+s+`.leader_history (
    id      bigserial   PRIMARY KEY,
    name    text        NOT NULL,
    holder  text        NOT NULL,
    epoch   bigint      NOT NULL,
    expires timestamptz NOT NULL,
    at      timestamptz NOT NULL
);
CREATE FUNCTION `+s+`.leader_history_append() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO `+s+`.leader_history (name, holder, epoch, expires, at)
    VALUES (NEW.name, NEW.holder, NEW.epoch, NEW.expires, now());
    RETURN NULL;
END $$;
CREATE TRIGGER leader_history AFTER INSERT OR UPDATE ON `+s+`.leaders
    FOR EACH ROW EXECUTE FUNCTION `+s+`.leader_history_append();`)
	if err != nil {
		t.Fatalf("install the leader history trigger: %v", err)
	}
}

// leaderRow is one version of a leaders row.
type leaderRow struct {
	holder      string
	epoch       int64
	expires, at time.Time
}

// readLeaderHistory returns the history of the maintenance lease in write
// order (the row lock orders the writes of one row, and the trigger takes
// the id under it).
func readLeaderHistory(t *testing.T, pool *pgxpool.Pool, schema string) []leaderRow {
	t.Helper()
	rows, err := pool.Query(t.Context(), "SELECT holder, epoch, expires, at FROM "+pgx.Identifier{schema}.Sanitize()+
		".leader_history WHERE name = 'troika.maintenance' ORDER BY id")
	if err != nil {
		t.Fatalf("read the leader history: %v", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (leaderRow, error) {
		var l leaderRow
		err := r.Scan(&l.holder, &l.epoch, &l.expires, &l.at)
		return l, err
	})
	if err != nil {
		t.Fatalf("read the leader history: %v", err)
	}
	return out
}

// leaderReport is what the leader history shows.
type leaderReport struct {
	stints   int           // terms of one holder
	changes  int           // holder changes (stints - 1)
	maxGap   time.Duration // longest time with no valid lease between two terms
	problems []string      // violations of the election's promises
}

// checkLeaderHistory checks the maintenance lease's history: the epoch
// never goes down, stays the same while one holder renews (or releases),
// and goes up whenever a new holder takes the lease; and no term overlaps
// another: a term runs from its first write to the last expiry its holder
// wrote (or its release), and the next term starts no earlier.
func checkLeaderHistory(h []leaderRow) leaderReport {
	var r leaderReport
	bad := func(format string, a ...any) {
		if len(r.problems) < 10 {
			r.problems = append(r.problems, fmt.Sprintf(format, a...))
		}
	}
	type term struct {
		holder     string
		epoch      int64
		start, end time.Time
	}
	var terms []term
	for i, row := range h {
		if i > 0 {
			prev := h[i-1]
			switch {
			case row.holder == prev.holder || row.holder == "":
				if row.epoch != prev.epoch {
					bad("row %d: epoch %d -> %d without a new holder (%q -> %q)", i, prev.epoch, row.epoch, prev.holder, row.holder)
				}
			case row.epoch <= prev.epoch:
				bad("row %d: holder %q -> %q but epoch %d -> %d", i, prev.holder, row.holder, prev.epoch, row.epoch)
			}
		}
		if row.holder == "" { // a release ends the term at once
			if n := len(terms); n > 0 && terms[n-1].end.After(row.at) {
				terms[n-1].end = row.at
			}
			continue
		}
		if n := len(terms); n > 0 && terms[n-1].holder == row.holder && terms[n-1].epoch == row.epoch {
			terms[n-1].end = row.expires // a renewal
			continue
		}
		terms = append(terms, term{holder: row.holder, epoch: row.epoch, start: row.at, end: row.expires})
	}
	var latest time.Time // the latest end of the terms so far
	for i, tm := range terms {
		if i > 0 {
			if tm.start.Before(latest) {
				bad("term of %q (epoch %d) starts at %s, before the previous lease ended at %s (overlap %s)",
					tm.holder, tm.epoch, tm.start.Format(time.RFC3339Nano), latest.Format(time.RFC3339Nano), latest.Sub(tm.start))
			} else if gap := tm.start.Sub(latest); gap > r.maxGap {
				r.maxGap = gap
			}
		}
		if tm.end.After(latest) {
			latest = tm.end
		}
	}
	r.stints = len(terms)
	r.changes = max(len(terms)-1, 0)
	return r
}

// TestClusterChecks shows that the cluster test's checks fail on the
// faults they look for (the live run, when healthy, produces none).
func TestClusterChecks(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	row := func(holder string, epoch int64, atMs, expiresMs int) leaderRow {
		return leaderRow{holder: holder, epoch: epoch, at: at(atMs), expires: at(expiresMs)}
	}
	t.Run("leader history", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name     string
			h        []leaderRow
			changes  int
			problems bool
		}{
			{"renewals, takeover after expiry, release, retake", []leaderRow{
				row("a", 1, 0, 5000), row("a", 1, 1000, 6000), row("b", 2, 6100, 11100),
				row("", 2, 7000, 0), row("a", 3, 7000, 12000)}, 2, false},
			{"takeover before the lease expired", []leaderRow{
				row("a", 1, 0, 5000), row("b", 2, 4000, 9000)}, 1, true},
			{"new holder without a new epoch", []leaderRow{
				row("a", 1, 0, 5000), row("b", 1, 6000, 11000)}, 1, true},
			{"renewal that changes the epoch", []leaderRow{
				row("a", 1, 0, 5000), row("a", 2, 1000, 6000)}, 1, true},
			{"epoch going down", []leaderRow{
				row("a", 5, 0, 5000), row("b", 4, 6000, 11000)}, 1, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				r := checkLeaderHistory(tc.h)
				if got := len(r.problems) != 0; got != tc.problems || r.changes != tc.changes {
					t.Fatalf("changes %d problems %v, want changes %d problems %t", r.changes, r.problems, tc.changes, tc.problems)
				}
			})
		}
	})
	t.Run("jobs", func(t *testing.T) {
		t.Parallel()
		kills := []clusterKill{{node: 0, at: at(10_000), ready: at(10_800)}}
		ok := func(worker string, ms int) clusterRun {
			return clusterRun{worker: worker, attempt: 1, start: at(ms), ok: true}
		}
		id1, id2 := troika.JobID{1}, troika.JobID{2}
		acked := map[int64]troika.JobID{1: id1}
		done := map[int64]clusterStored{1: {id1, troika.StateCompleted}}
		for _, tc := range []struct {
			name                             string
			acked                            map[int64]troika.JobID
			states                           map[int64]clusterStored
			runs                             map[int64][]clusterRun
			lost, stuck, inflightDup, badDup int
		}{
			{"clean", acked, map[int64]clusterStored{1: {id1, troika.StateCompleted}, 2: {id2, troika.StateCompleted}},
				map[int64][]clusterRun{1: {{worker: "w1", start: at(1), ok: false}, ok("w1", 2)}, 2: {ok("w3", 5)}}, 0, 0, 0, 0},
			{"acked but not stored", acked, map[int64]clusterStored{}, map[int64][]clusterRun{}, 2, 0, 0, 0},
			{"acked as another job", acked, map[int64]clusterStored{1: {id2, troika.StateCompleted}},
				map[int64][]clusterRun{1: {ok("w1", 2)}}, 1, 0, 0, 0},
			{"stuck running", acked, map[int64]clusterStored{1: {id1, troika.StateRunning}, 2: {id2, troika.StateRunning}},
				map[int64][]clusterRun{1: {ok("w1", 2)}}, 0, 3, 0, 0},
			{"duplicate in flight at a kill of its node", acked, done,
				map[int64][]clusterRun{1: {ok("w1", 9_500), ok("w3", 14_000)}}, 0, 0, 1, 0},
			{"duplicate on the other node", acked, done,
				map[int64][]clusterRun{1: {ok("w2", 9_500), ok("w3", 14_000)}}, 0, 0, 0, 1},
			{"duplicate on the direct worker", acked, done,
				map[int64][]clusterRun{1: {ok("w3", 9_500), ok("w1", 14_000)}}, 0, 0, 0, 1},
			{"duplicate long before the kill", acked, done,
				map[int64][]clusterRun{1: {ok("w1", 2_000), ok("w1", 3_000)}}, 0, 0, 0, 1},
			{"rerun before the kill", acked, done,
				map[int64][]clusterRun{1: {ok("w1", 9_500), ok("w1", 9_800)}}, 0, 0, 0, 1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				r := checkCluster(tc.acked, tc.states, tc.runs, kills)
				if r.lost != tc.lost || r.stuck != tc.stuck || r.inflightDup != tc.inflightDup || r.badDup != tc.badDup {
					t.Fatalf("lost %d stuck %d in-flight %d bad %d, want %d %d %d %d (%v)", r.lost, r.stuck, r.inflightDup, r.badDup,
						tc.lost, tc.stuck, tc.inflightDup, tc.badDup, r.examples)
				}
			})
		}
	})
}
