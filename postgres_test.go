package troika_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/troikahq/troika"
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
