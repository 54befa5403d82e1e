package troika_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/troikahq/troika"
	"github.com/troikahq/troika/store/postgres"
)

func pgURL() string {
	if u := os.Getenv("TROIKA_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// pgTestPool returns a pool for one test (closed at cleanup); it skips the
// test when PostgreSQL is unreachable, and fails it with CI=true.
func pgTestPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cfg, err := pgxpool.ParseConfig(pgURL())
	if err != nil {
		t.Fatalf("TROIKA_TEST_POSTGRES_URL: %v", err)
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		if err = pool.Ping(ctx); err != nil {
			pool.Close()
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s is unreachable (CI=true, so this fails): %v", pgURL(), err)
		}
		t.Skipf("PostgreSQL at %s is unreachable: %v", pgURL(), err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// pgBundle is a Client on PostgreSQL in a fresh schema (dropped at
// cleanup) and the schema's name.
type pgBundle struct {
	*bundle
	pool   *pgxpool.Pool
	schema string
}

func pgSetup(t *testing.T) *pgBundle {
	t.Helper()
	pool := pgTestPool(t)
	var r [6]byte
	_, _ = rand.Read(r[:])
	schema := "tx_" + hex.EncodeToString(r[:])
	t.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	b := &bundle{ctx: t.Context(), clock: newTestClock()}
	c, err := troika.OpenPostgres(b.ctx, pool, troika.Config{Now: b.clock.Now, Logger: quietLogger(), SweepInterval: 10 * time.Millisecond},
		troika.PostgresSchema(schema))
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	b.client = c
	if _, err := pool.Exec(b.ctx, "CREATE TABLE "+schema+".orders (id text PRIMARY KEY)"); err != nil {
		t.Fatalf("create orders: %v", err)
	}
	return &pgBundle{bundle: b, pool: pool, schema: schema}
}

// inTx runs f in a transaction and commits it (or rolls it back when
// rollback is set).
func (b *pgBundle) inTx(t *testing.T, rollback bool, f func(tx pgx.Tx)) {
	t.Helper()
	tx, err := b.pool.Begin(b.ctx)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	f(tx)
	if rollback {
		err = tx.Rollback(b.ctx)
	} else {
		err = tx.Commit(b.ctx)
	}
	if err != nil {
		t.Fatalf("end of transaction: %v", err)
	}
}

func (b *pgBundle) order(t *testing.T, tx pgx.Tx, id string) {
	t.Helper()
	if _, err := tx.Exec(b.ctx, "INSERT INTO "+b.schema+".orders (id) VALUES ($1)", id); err != nil {
		t.Fatalf("insert order: %v", err)
	}
}

func TestEnqueueTx(t *testing.T) {
	t.Parallel()
	t.Run("RolledBackLeavesNoJob", func(t *testing.T) {
		t.Parallel()
		b := pgSetup(t)
		var id troika.JobID
		b.inTx(t, true, func(tx pgx.Tx) {
			b.order(t, tx, "o-1")
			res, err := b.client.EnqueueTx(b.ctx, tx, Email{To: "a@example.com"})
			if err != nil {
				t.Fatalf("EnqueueTx: %v", err)
			}
			id = res.ID
		})
		if _, err := b.client.GetJob(b.ctx, id); !errors.Is(err, troika.ErrNotFound) {
			t.Errorf("GetJob after rollback: %v, want ErrNotFound", err)
		}
		page, err := b.client.ListJobs(b.ctx, troika.ListParams{})
		if err != nil || len(page.Jobs) != 0 {
			t.Errorf("ListJobs after rollback: %d jobs, %v; want none", len(page.Jobs), err)
		}
	})
	t.Run("InvisibleUntilCommitThenWorked", func(t *testing.T) {
		t.Parallel()
		b := pgSetup(t)
		w := b.worker()
		got := make(chan *troika.Job[Email], 1)
		troika.Handle(w, func(ctx context.Context, j *troika.Job[Email]) error { got <- j; return nil })
		run(t, w)
		var id troika.JobID
		b.inTx(t, false, func(tx pgx.Tx) {
			b.order(t, tx, "o-2")
			res, err := b.client.EnqueueTx(b.ctx, tx, Email{To: "b@example.com"}, troika.Queue(troika.DefaultQueue))
			if err != nil {
				t.Fatalf("EnqueueTx: %v", err)
			}
			if res.State != troika.StateAvailable || res.Duplicate {
				t.Errorf("EnqueueTx result %+v, want a new available job", res)
			}
			id = res.ID
			if _, err := b.client.GetJob(b.ctx, id); !errors.Is(err, troika.ErrNotFound) {
				t.Errorf("GetJob before commit: %v, want ErrNotFound (the job is visible only once the transaction commits)", err)
			}
		})
		j := recv(t, got, "handler call for the committed job")
		if j.ID != id || j.Args.To != "b@example.com" {
			t.Errorf("worker ran %s %+v, want %s", j.ID, j.Args, id)
		}
		b.waitState(t, id, troika.StateCompleted)
	})
	t.Run("ManyAtomicWithTheTransaction", func(t *testing.T) {
		t.Parallel()
		b := pgSetup(t)
		var ids []troika.JobID
		b.inTx(t, false, func(tx pgx.Tx) {
			b.order(t, tx, "o-3")
			res, err := b.client.EnqueueManyTx(b.ctx, tx,
				troika.EnqueueItem{Args: Email{To: "x"}},
				troika.EnqueueItem{Args: Email{To: "y"}, Options: []troika.EnqueueOption{troika.Delay(time.Hour)}})
			if err != nil {
				t.Fatalf("EnqueueManyTx: %v", err)
			}
			if res[0].State != troika.StateAvailable || res[1].State != troika.StateScheduled {
				t.Errorf("states %s, %s; want available, scheduled", res[0].State, res[1].State)
			}
			ids = []troika.JobID{res[0].ID, res[1].ID}
		})
		for _, id := range ids {
			b.get(t, id)
		}
	})
	t.Run("InvalidItemEnqueuesNothingAndKeepsTheTransaction", func(t *testing.T) {
		t.Parallel()
		b := pgSetup(t)
		b.inTx(t, false, func(tx pgx.Tx) {
			_, err := b.client.EnqueueManyTx(b.ctx, tx,
				troika.EnqueueItem{Args: Email{To: "x"}},
				troika.EnqueueItem{Args: Email{To: "y"}, Options: []troika.EnqueueOption{troika.Queue("Bad Queue")}})
			var ia *troika.InvalidArgumentError
			if !errors.As(err, &ia) || ia.Field != "jobs[1].queue" {
				t.Errorf("EnqueueManyTx with a bad queue: %v, want an InvalidArgumentError for jobs[1].queue", err)
			}
			b.order(t, tx, "o-4") // the transaction still works
		})
		page, err := b.client.ListJobs(b.ctx, troika.ListParams{})
		if err != nil || len(page.Jobs) != 0 {
			t.Errorf("ListJobs: %d jobs, %v; want none", len(page.Jobs), err)
		}
		var n int
		if err := b.pool.QueryRow(b.ctx, "SELECT count(*) FROM "+b.schema+".orders").Scan(&n); err != nil || n != 1 {
			t.Errorf("orders: %d, %v; want the one committed row", n, err)
		}
	})
	t.Run("UniqueKeyInTransaction", func(t *testing.T) {
		t.Parallel()
		b := pgSetup(t)
		b.inTx(t, false, func(tx pgx.Tx) {
			first, err := b.client.EnqueueTx(b.ctx, tx, Email{To: "u"}, troika.Unique("welcome:u", time.Hour))
			if err != nil {
				t.Fatalf("EnqueueTx: %v", err)
			}
			second, err := b.client.EnqueueTx(b.ctx, tx, Email{To: "u"}, troika.Unique("welcome:u", time.Hour))
			if err != nil || !second.Duplicate || second.ID != first.ID {
				t.Errorf("second EnqueueTx with the key: %+v, %v; want a duplicate of %s", second, err, first.ID)
			}
		})
		res, err := b.client.Enqueue(b.ctx, Email{To: "u"}, troika.Unique("welcome:u", time.Hour))
		if err != nil || !res.Duplicate {
			t.Errorf("Enqueue after the commit: %+v, %v; want a duplicate", res, err)
		}
	})
	t.Run("NotPostgres", func(t *testing.T) {
		t.Parallel()
		b := setup(t) // embedded
		if _, err := b.client.EnqueueTx(b.ctx, nil, Email{}); !errors.Is(err, troika.ErrNotPostgres) {
			t.Errorf("EnqueueTx on an embedded client: %v, want ErrNotPostgres", err)
		}
		if _, err := b.client.EnqueueManyTx(b.ctx, nil); !errors.Is(err, troika.ErrNotPostgres) {
			t.Errorf("EnqueueManyTx on an embedded client: %v, want ErrNotPostgres", err)
		}
	})
}

func TestOpenPostgres(t *testing.T) {
	t.Parallel()
	t.Run("BadSchemaName", func(t *testing.T) {
		t.Parallel()
		pool := pgTestPool(t)
		for _, name := range []string{"Bad", "1x", "x;drop", "pg_x", "a-b"} {
			_, err := troika.OpenPostgres(t.Context(), pool, troika.Config{Logger: quietLogger()}, troika.PostgresSchema(name))
			var ia *troika.InvalidArgumentError
			if !errors.As(err, &ia) || ia.Field != "schema" {
				t.Errorf("schema %q: %v, want an InvalidArgumentError for schema", name, err)
			}
		}
	})
	t.Run("BadURL", func(t *testing.T) {
		t.Parallel()
		_, err := troika.OpenPostgresURL(t.Context(), "postgres://%zz", troika.Config{})
		if !errors.Is(err, troika.ErrInvalidArgument) {
			t.Errorf("OpenPostgresURL with a malformed URL: %v, want ErrInvalidArgument", err)
		}
	})
	t.Run("URLOwnsItsPool", func(t *testing.T) {
		t.Parallel()
		pool := pgTestPool(t)
		var r [6]byte
		_, _ = rand.Read(r[:])
		schema := "url_" + hex.EncodeToString(r[:])
		t.Cleanup(func() { _, _ = pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE") })
		c, err := troika.OpenPostgresURL(t.Context(), pgURL(), troika.Config{Logger: quietLogger()}, troika.PostgresSchema(schema))
		if err != nil {
			t.Fatalf("OpenPostgresURL: %v", err)
		}
		res, err := c.Enqueue(t.Context(), Email{To: "z"})
		if err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if _, err := c.GetJob(t.Context(), res.ID); !errors.Is(err, troika.ErrClosed) {
			t.Errorf("GetJob after Close: %v, want ErrClosed", err)
		}
	})
}

// faultBundle is a Client whose connections carry a unique
// application_name, so that a test can kill exactly them.
type faultBundle struct {
	client *troika.Client
	admin  *pgxpool.Pool // the test's own connections, never killed
	app    string
	schema string
}

func faultSetup(t *testing.T) *faultBundle {
	t.Helper()
	admin := pgTestPool(t)
	var r [6]byte
	_, _ = rand.Read(r[:])
	tag := hex.EncodeToString(r[:])
	f := &faultBundle{admin: admin, app: "troika-fault-" + tag, schema: "fault_" + tag}
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+f.schema+" CASCADE") })
	cfg, err := pgxpool.ParseConfig(pgURL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 6
	cfg.ConnConfig.RuntimeParams["application_name"] = f.app
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	c, err := troika.OpenPostgres(t.Context(), pool, troika.Config{Logger: quietLogger(), SweepInterval: 50 * time.Millisecond},
		troika.PostgresSchema(f.schema))
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	f.client = c
	return f
}

// killConnections terminates every backend of the Client and returns how
// many it killed.
func (f *faultBundle) killConnections(ctx context.Context) (int, error) {
	var n int
	err := f.admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1 AND pid <> pg_backend_pid()`, f.app).Scan(&n)
	return n, err
}

// settled returns a condition for eventually: every job in acked has run
// (handled is read under mu) and the default queue has nothing running,
// available or retryable.
func settled(ctx context.Context, c *troika.Client, mu *sync.Mutex, acked []troika.JobID, handled map[troika.JobID]int) func() bool {
	return func() bool {
		q, err := c.QueueStats(ctx, troika.DefaultQueue)
		if err != nil {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		for _, id := range acked {
			if handled[id] == 0 {
				return false
			}
		}
		return q.Counts[troika.StateRunning] == 0 && q.Counts[troika.StateAvailable] == 0 && q.Counts[troika.StateRetryable] == 0
	}
}

// chaosRun enqueues jobs while a worker runs and fault() strikes, then
// checks that every acknowledged enqueue was handled, nothing is left
// running, and the worker survived.
func chaosRun(t *testing.T, f *faultBundle, fault func(ctx context.Context) error) {
	t.Helper()
	ctx := t.Context()
	var mu sync.Mutex
	handled := map[troika.JobID]int{}
	w := troika.NewWorker(f.client, troika.WorkerConfig{Concurrency: 20, LeaseTTL: 2 * time.Second, Logger: quietLogger()})
	troika.Handle(w, func(ctx context.Context, j *troika.Job[Email]) error {
		mu.Lock()
		handled[j.ID]++
		mu.Unlock()
		return nil
	})
	wctx, stopWorker := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- w.Run(wctx) }()

	const batches, per = 40, 25
	var acked []troika.JobID
	enqErrs := 0
	faultDone := make(chan error, 1)
	go func() { faultDone <- fault(ctx) }()
	for i := range batches {
		items := make([]troika.EnqueueItem, per)
		for k := range items {
			items[k] = troika.EnqueueItem{Args: Email{To: "x"}}
		}
		res, err := f.client.EnqueueMany(ctx, items...)
		if err != nil {
			enqErrs++ // not acknowledged: may or may not exist
			continue
		}
		for _, r := range res {
			acked = append(acked, r.ID)
		}
		if i%4 == 0 {
			time.Sleep(20 * time.Millisecond) // pace the producer across the faults, not synchronisation
		}
	}
	if err := <-faultDone; err != nil {
		t.Fatalf("fault: %v", err)
	}
	eventually(t, 60*time.Second, settled(ctx, f.client, &mu, acked, handled), "every acknowledged job handled and nothing left running")
	stopWorker()
	if err := <-runErr; err != nil {
		t.Errorf("Worker.Run returned %v; it must ride out the faults", err)
	}
	mu.Lock()
	defer mu.Unlock()
	dups := 0
	for _, n := range handled {
		dups += n - 1
	}
	t.Logf("%d jobs acknowledged, %d enqueue calls failed, %d handled, %d duplicate runs", len(acked), enqErrs, len(handled), dups)
}

func TestPostgresFaults(t *testing.T) {
	t.Parallel()
	t.Run("TerminatedBackends", func(t *testing.T) {
		t.Parallel()
		f := faultSetup(t)
		chaosRun(t, f, func(ctx context.Context) error {
			killed := 0
			for range 8 {
				n, err := f.killConnections(ctx)
				if err != nil {
					return err
				}
				killed += n
				time.Sleep(150 * time.Millisecond) // spread the kills over the run, not synchronisation
			}
			if killed == 0 {
				return errors.New("no backend of the client was found to kill")
			}
			return nil
		})
	})
	t.Run("DownGivesRetryableError", func(t *testing.T) {
		t.Parallel()
		pool, err := pgxpool.New(t.Context(), "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=1")
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		start := time.Now()
		_, err = troika.OpenPostgres(t.Context(), pool, troika.Config{Logger: quietLogger()}, troika.PostgresRetryTimeout(300*time.Millisecond))
		if time.Since(start) > 10*time.Second {
			t.Errorf("OpenPostgres with the database down took %s; the retry timeout is 300ms", time.Since(start))
		}
		if !errors.Is(err, postgres.ErrUnavailable) {
			t.Fatalf("OpenPostgres with the database down: %v, want postgres.ErrUnavailable", err)
		}
		var r interface{ Retryable() bool }
		if !errors.As(err, &r) || !r.Retryable() {
			t.Errorf("error %v does not declare itself retryable", err)
		}
	})
}

// pgVersion is the major version of the local cluster (/etc/postgresql/N).
func pgVersion(t *testing.T) string {
	entries, err := os.ReadDir("/etc/postgresql")
	if err != nil || len(entries) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no local cluster under /etc/postgresql (%v); with CI=true this test must run", err)
		}
		t.Skipf("no local cluster under /etc/postgresql: %v", err)
	}
	return entries[0].Name()
}
