package troika

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/troikahq/troika/store"
	"github.com/troikahq/troika/store/postgres"
)

// ErrNotPostgres is returned by EnqueueTx and EnqueueManyTx on a Client
// whose store is not PostgreSQL (Open, Dial, or OpenStore with another
// backend): there is no caller's transaction to join. Nothing is enqueued.
var ErrNotPostgres = errors.New("troika: EnqueueTx needs a Client on PostgreSQL (OpenPostgres, OpenPostgresURL, or OpenStore with a store/postgres Store)")

// PostgresOption configures OpenPostgres and OpenPostgresURL.
type PostgresOption func(*postgres.Options)

// PostgresSchema sets the PostgreSQL schema holding Troika's tables
// (default "troika"; [a-z_][a-z0-9_]{0,47}).
func PostgresSchema(name string) PostgresOption {
	return func(o *postgres.Options) { o.Schema = name }
}

// PostgresSkipMigrate makes Open fail unless the schema is already at this
// binary's version (`troika migrate up` ran), instead of migrating it.
func PostgresSkipMigrate() PostgresOption {
	return func(o *postgres.Options) { o.SkipMigrate = true }
}

// PostgresRetryTimeout bounds how long one store call retries while
// PostgreSQL is unreachable, restarting or read only before it fails with an
// error matching postgres.ErrUnavailable (default 10s; negative: no
// retries). Workers ride out outages shorter than this without losing an
// ack.
func PostgresRetryTimeout(d time.Duration) PostgresOption {
	return func(o *postgres.Options) { o.RetryTimeout = d }
}

// PostgresSyncClaims makes claims wait for their WAL flush
// (postgres.Options.SyncClaims). By default a claim commits without
// waiting for it: it is visible at once and survives the crash of any
// worker or node, but a crash of the PostgreSQL server within the WAL
// writer's delay can undo claims whose jobs were not acked yet, which then
// run again (at-least-once). Inserts, acks and heartbeats always wait for
// their flush. Sync claims cost one flush wait per claim: higher
// enqueue-to-start latency and lower drain throughput.
func PostgresSyncClaims() PostgresOption {
	return func(o *postgres.Options) { o.SyncClaims = true }
}

// OpenPostgres returns a Client over PostgreSQL through pool, which the
// caller keeps owning (Close does not close it). Missing migrations are
// applied first (under an advisory lock, so many processes may start at
// once) unless PostgresSkipMigrate is given. Many processes may open the
// same database: one of them at a time (the leader) runs maintenance. cfg.Dir
// is ignored. Errors: *InvalidArgumentError for a bad schema name or config,
// an error matching postgres.ErrSchemaTooNew when the database was migrated
// by a newer Troika, postgres.ErrUnavailable when it cannot be reached.
func OpenPostgres(ctx context.Context, pool *pgxpool.Pool, cfg Config, opts ...PostgresOption) (*Client, error) {
	return openPostgres(ctx, pool, false, cfg, opts)
}

// openPostgres opens the store over pool and a Client over it; with owned,
// closing the Client closes the pool.
func openPostgres(ctx context.Context, pool *pgxpool.Pool, owned bool, cfg Config, opts []PostgresOption) (*Client, error) {
	if pool == nil {
		return nil, &InvalidArgumentError{Field: "pool", Reason: "nil"}
	}
	if err := checkConfig(cfg); err != nil {
		return nil, err
	}
	o := postgres.Options{Logger: cfg.Logger, Now: cfg.Now}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	st, err := postgres.Open(ctx, pool, o)
	if err != nil {
		return nil, err
	}
	var seam store.Store = st
	if owned {
		seam = &ownedPoolStore{Store: st}
	}
	c, err := openStore(ctx, seam, cfg)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	return c, nil
}

// OpenPostgresURL is OpenPostgres with a pool it creates from url (a
// PostgreSQL connection URL or DSN, as pgxpool.ParseConfig reads it) and
// owns: Close closes it.
func OpenPostgresURL(ctx context.Context, url string, cfg Config, opts ...PostgresOption) (*Client, error) {
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, &InvalidArgumentError{Field: "url", Reason: err.Error()}
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("troika: postgres pool: %w", err)
	}
	c, err := openPostgres(ctx, pool, true, cfg, opts)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return c, nil
}

// ownedPoolStore closes the pool it was opened with after the store.
type ownedPoolStore struct{ *postgres.Store }

func (o *ownedPoolStore) Close() error {
	err := o.Store.Close()
	o.Pool().Close()
	return err
}

// txInserter is the capability EnqueueTx needs (store/postgres.Store).
type txInserter interface {
	InsertTx(ctx context.Context, tx pgx.Tx, p *store.JobInsertManyParams) ([]store.InsertResult, error)
}

// EnqueueTx validates one job (exactly as Enqueue does) and inserts it in
// the caller's transaction tx: the job exists if and only if tx commits,
// and workers everywhere are woken when it does. tx must belong to the
// Client's database (and schema); EnqueueTx neither commits nor rolls it
// back, and a failed insert leaves tx usable (it runs under a savepoint).
// A unique key is checked in tx, under a transaction-level lock on the key
// held until tx ends. On a Client that is not on PostgreSQL it returns
// ErrNotPostgres.
func (c *Client) EnqueueTx(ctx context.Context, tx pgx.Tx, args JobArgs, opts ...EnqueueOption) (*EnqueueResult, error) {
	res, err := c.enqueueTx(ctx, tx, []EnqueueItem{{Args: args, Options: opts}}, -1)
	if err != nil {
		return nil, err
	}
	return &res[0], nil
}

// EnqueueManyTx is EnqueueMany in the caller's transaction tx: all the jobs
// exist if and only if tx commits. See EnqueueTx.
func (c *Client) EnqueueManyTx(ctx context.Context, tx pgx.Tx, items ...EnqueueItem) ([]EnqueueResult, error) {
	if len(items) == 0 {
		if _, ok := c.impl.st.(txInserter); !ok {
			return nil, ErrNotPostgres
		}
		return []EnqueueResult{}, nil
	}
	return c.enqueueTx(ctx, tx, items, 0)
}

// enqueueTx builds items through the Client's validation (index -1: a
// single job's field names) and inserts them in tx.
func (c *Client) enqueueTx(ctx context.Context, tx pgx.Tx, items []EnqueueItem, first int) ([]EnqueueResult, error) {
	ti, ok := c.impl.st.(txInserter)
	if !ok {
		return nil, ErrNotPostgres
	}
	if tx == nil {
		return nil, &InvalidArgumentError{Field: "tx", Reason: "nil"}
	}
	now := c.impl.now()
	jobs := make([]store.InsertJob, len(items))
	for i, it := range items {
		index := i
		if first < 0 {
			index = -1
		}
		if err := c.impl.build(&jobs[i], index, it.Args, it.Options, now); err != nil {
			return nil, err
		}
	}
	res, err := ti.InsertTx(ctx, tx, &store.JobInsertManyParams{Jobs: jobs, Now: now})
	if err != nil {
		return nil, err
	}
	if len(res) != len(items) {
		return nil, fmt.Errorf("troika: store returned %d results for %d jobs", len(res), len(items))
	}
	out := make([]EnqueueResult, len(res))
	for i, r := range res {
		out[i] = EnqueueResult{ID: r.Job.ID, State: r.Job.State, Duplicate: r.Duplicate}
	}
	return out, nil
}
