package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/troikahq/troika/store"
)

// DefaultSchema is the PostgreSQL schema the store uses by default.
const DefaultSchema = "troika"

// Defaults of Options.
const (
	DefaultRetryTimeout = 10 * time.Second
	DefaultPollInterval = 500 * time.Millisecond
)

// Options configure a Store. The zero value of every field means its
// default.
type Options struct {
	// Schema is the PostgreSQL schema holding Troika's tables; default
	// DefaultSchema. It must match [a-z_][a-z0-9_]{0,47}.
	Schema string
	// SkipMigrate makes Open check the schema version instead of applying
	// missing migrations; it then fails unless `troika migrate up` (or
	// Migrate) ran first.
	SkipMigrate bool
	// RetryTimeout bounds how long one call retries transient failures
	// (database down, restarting, read only, deadlock) before returning an
	// *UnavailableError; default DefaultRetryTimeout. A negative value
	// disables the retries. The caller's ctx bounds it too.
	RetryTimeout time.Duration
	// PollInterval is how often subscriptions look for scheduled jobs that
	// came due and, while the LISTEN connection is down, wake every
	// subscriber; default DefaultPollInterval (the contract allows 1s).
	PollInterval time.Duration
	// SyncClaims makes every claim wait for its WAL flush, like every
	// other write of the store. By default a claim commits with
	// synchronous_commit = off for its own transaction only: it is
	// committed and visible to every session at once (a worker or node
	// that dies after it still leaves the job running, and the rescuer
	// counts the attempt), but it becomes crash-safe only with the next
	// WAL flush of the database (the worker's ack or heartbeat, any other
	// durable commit, or the WAL writer within wal_writer_delay). If the
	// PostgreSQL server itself crashes in that window, the claim is
	// undone: the job is available again with its previous attempt count
	// and runs again (at-least-once, for work in flight at a fault; a
	// handler may then start twice for one attempt number). Inserts, acks,
	// heartbeats and everything else always wait for their flush. Async
	// claims take one WAL flush wait off every claim: lower
	// enqueue-to-start latency and higher drain throughput. Set SyncClaims
	// when an attempt must never be handed out twice under one number,
	// even across a PostgreSQL crash.
	SyncClaims bool
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Now is the store's clock for params that leave Now zero; default
	// time.Now.
	Now func() time.Time
}

// Store is the PostgreSQL store. It is safe for concurrent use. It does
// not own its pool: Close stops the store's own connections (LISTEN) and
// leaves the pool to its owner.
type Store struct {
	pool       *pgxpool.Pool
	schema     string
	q          *queries
	log        *slog.Logger
	now        func() time.Time
	retryFor   time.Duration
	syncClaims bool
	poll       time.Duration
	channel    string // NOTIFY channel of this schema

	// gate: every call holds it for reading; Close takes it for writing.
	gate     sync.RWMutex
	closed   bool
	closing  chan struct{}
	closeErr error
	closeOne sync.Once

	subs     *subscribers
	notifier *notifier
	commits  atomic.Int64
	// asyncCommits counts the commits among commits that did not wait
	// for a WAL flush (claims, NOTIFYs).
	asyncCommits atomic.Int64
	// orderedAt is when this store last saw an ordered job (unix ns; 0:
	// never): acks then skip the unordered-only statement (ackRound).
	orderedAt atomic.Int64
}

// Open returns a Store over pool in opts.Schema, applying missing
// migrations first unless opts.SkipMigrate. It fails with an
// *InvalidArgumentError for a bad schema name, with ErrSchemaTooNew when
// the database was migrated by a newer Troika, and with an
// *UnavailableError when PostgreSQL cannot be reached.
func Open(ctx context.Context, pool *pgxpool.Pool, opts Options) (*Store, error) {
	if pool == nil {
		return nil, invalid("pool", "nil")
	}
	schema, err := checkSchema(opts.Schema)
	if err != nil {
		return nil, err
	}
	s := &Store{
		pool: pool, schema: schema, q: newQueries(schema), log: opts.Logger, now: opts.Now,
		retryFor: opts.RetryTimeout, poll: opts.PollInterval, closing: make(chan struct{}), syncClaims: opts.SyncClaims,
		channel: "troika:" + schema,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.retryFor == 0 {
		s.retryFor = DefaultRetryTimeout
	}
	if s.poll <= 0 {
		s.poll = DefaultPollInterval
	}
	s.subs = newSubscribers(s)
	if opts.SkipMigrate {
		err = s.retry(ctx, "Open", func(ctx context.Context) error { return CheckVersion(ctx, pool, schema) })
	} else {
		err = s.retry(ctx, "Open", func(ctx context.Context) error { return Migrate(ctx, pool, schema) })
	}
	if err != nil {
		return nil, err
	}
	s.notifier = newNotifier(s)
	return s, nil
}

// Schema returns the PostgreSQL schema the store uses.
func (s *Store) Schema() string { return s.schema }

// Pool returns the pool the store uses (owned by the caller of Open).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close stops the store: in-flight calls finish first (their retries are
// cut short), later calls return store.ErrClosed, subscriptions stop
// receiving and the LISTEN connection closes. The pool is not closed.
// Safe to call more than once.
func (s *Store) Close() error {
	s.closeOne.Do(func() {
		close(s.closing)
		s.gate.Lock()
		s.closed = true
		s.gate.Unlock()
		s.notifier.stop()
		s.subs.stop()
	})
	return nil
}

// Stats implements store.StatsProvider. Commits counts the write
// statements and transactions the store committed; Syncs those of them
// that waited for a WAL flush (all but async claims and NOTIFYs).
// PostgreSQL may share one flush among concurrent commits, so Syncs is an
// upper bound on fsyncs. Bytes stays zero (see pg_stat_wal).
func (s *Store) Stats() store.Stats {
	n := s.commits.Load()
	return store.Stats{Commits: n, Syncs: n - s.asyncCommits.Load()}
}

// enter starts a call: it fails with ErrClosed after Close. A nil error
// must be paired with leave.
func (s *Store) enter() error {
	s.gate.RLock()
	if s.closed {
		s.gate.RUnlock()
		return store.ErrClosed
	}
	return nil
}

func (s *Store) leave() { s.gate.RUnlock() }

// clock returns now, or the store's clock when now is zero, in UTC at
// microsecond precision (PostgreSQL's).
func (s *Store) clock(now time.Time) time.Time {
	if now.IsZero() {
		now = s.now()
	}
	return now.UTC().Truncate(time.Microsecond)
}

// call runs f under the gate with the store's retries.
func (s *Store) call(ctx context.Context, op string, f func(ctx context.Context) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	return s.retry(ctx, op, f)
}

// callAt is call for operations whose effect depends on the time (lease
// deadlines): f gets the time to act at, now on the first attempt and now
// plus the real time elapsed since that attempt on a retry. A claim that
// waited out a server restart then leases for its full TTL from when it
// succeeds; computed once, its deadline could already be past, and the
// jobs it leased would be rescued (and run twice) at once.
func (s *Store) callAt(ctx context.Context, op string, now time.Time, f func(ctx context.Context, now time.Time) error) error {
	var started time.Time // the first attempt's start; zero before it
	return s.call(ctx, op, func(ctx context.Context) error {
		if started.IsZero() {
			started = time.Now()
			return f(ctx, now)
		}
		return f(ctx, now.Add(time.Since(started)).Truncate(time.Microsecond))
	})
}

// retry runs f, repeating it while it fails with a transient error, with
// back-off, for up to retryFor (and while ctx lives and the store is not
// closing). A read-only error resets the pool, so that new connections
// find the new primary after a failover. A transient failure that
// outlasts the retries becomes an *UnavailableError; other errors are
// mapped to the store's vocabulary.
func (s *Store) retry(ctx context.Context, op string, f func(ctx context.Context) error) error {
	deadline := time.Now().Add(s.retryFor)
	backoff := 10 * time.Millisecond
	for {
		err := f(ctx)
		if err == nil {
			return nil
		}
		if !transient(err) {
			return s.mapErr(op, err)
		}
		if readOnly(err) {
			s.log.Warn("troika: postgres is read only (standby or failover?); resetting the pool", "op", op)
			s.pool.Reset()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if s.retryFor < 0 || time.Now().Add(backoff).After(deadline) {
			return &UnavailableError{Op: op, Err: err}
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-s.closing:
			t.Stop()
			return &UnavailableError{Op: op, Err: err}
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// mapErr turns a non-transient error into the store's vocabulary.
func (s *Store) mapErr(op string, err error) error {
	var ia *store.InvalidArgumentError
	var se *store.StateError
	switch {
	case errors.As(err, &ia), errors.As(err, &se), errors.Is(err, store.ErrNotFound),
		errors.Is(err, store.ErrClosed), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, ErrSchemaTooNew), errors.Is(err, ErrSchemaMissing):
		return err
	case badInput(err):
		return &store.InvalidArgumentError{Field: "params", Reason: "rejected by postgres: " + err.Error()}
	}
	return fmt.Errorf("troika: postgres %s: %w", op, err)
}

// tx runs f in a transaction and commits it.
func (s *Store) tx(ctx context.Context, f func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := f(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	s.commits.Add(1)
	return nil
}

// ValidateSchema returns an *InvalidArgumentError (field "schema") when
// name is not an accepted schema name ([a-z_][a-z0-9_]{0,47}, not pg_…);
// "" is accepted and means DefaultSchema.
func ValidateSchema(name string) error {
	_, err := checkSchema(name)
	return err
}

// checkSchema validates a schema name and returns it ("" means the
// default).
func checkSchema(name string) (string, error) {
	if name == "" {
		return DefaultSchema, nil
	}
	if r := schemaProblem(name); r != "" {
		return "", invalid("schema", r)
	}
	return name, nil
}

// schemaProblem says why name is not an accepted schema name, or "".
func schemaProblem(name string) string {
	if len(name) > 48 {
		return fmt.Sprintf("%d bytes, over the limit of 48", len(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '_' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return fmt.Sprintf("%q: a schema name is [a-z_][a-z0-9_]* (lowercase letters, digits and '_', not starting with a digit)", truncate(name, 64))
	}
	if strings.HasPrefix(name, "pg_") {
		return fmt.Sprintf("%q: names starting with pg_ are reserved by PostgreSQL", name)
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
