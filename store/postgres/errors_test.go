package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/troikahq/troika/store"
)

// A read-only database (a standby reached after a failover) refuses
// writes with SQLSTATE 25006: the store retries, resets the pool, and then
// reports a retryable ErrUnavailable; reads still work.
func TestReadOnlyDatabase(t *testing.T) {
	t.Parallel()
	rw := openTest(t, Options{})
	job, err := rw.JobInsertMany(t.Context(), &store.JobInsertManyParams{Jobs: []store.InsertJob{
		{Kind: "k", Args: []byte(`{}`), Queue: "default", Priority: 2, MaxAttempts: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig(testURL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 2
	cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	ro, err := Open(t.Context(), pool, Options{Schema: rw.Schema(), SkipMigrate: true, RetryTimeout: 200 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("Open on a read-only database with SkipMigrate: %v", err)
	}
	t.Cleanup(func() { _ = ro.Close() })

	_, err = ro.JobInsertMany(t.Context(), &store.JobInsertManyParams{Jobs: []store.InsertJob{
		{Kind: "k", Args: []byte(`{}`), Queue: "default", Priority: 2, MaxAttempts: 1}}})
	var ue *UnavailableError
	if !errors.Is(err, ErrUnavailable) || !errors.As(err, &ue) || !ue.Retryable() || !readOnly(ue.Err) {
		t.Fatalf("insert on a read-only database: %v, want a retryable UnavailableError wrapping SQLSTATE 25006", err)
	}
	if _, err := ro.JobGet(t.Context(), &store.JobGetParams{ID: job[0].Job.ID}); err != nil {
		t.Errorf("read on a read-only database: %v", err)
	}
	if _, err := Open(t.Context(), pool, Options{Schema: freshSchema(t, testPool(t)), RetryTimeout: 100 * time.Millisecond, Logger: quietLogger()}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("migrating a read-only database: %v, want ErrUnavailable", err)
	}
}

// Errors the driver reports for a down database are transient; bad input
// and ctx errors are not.
func TestTransientClassification(t *testing.T) {
	t.Parallel()
	_, refused := pgx.Connect(t.Context(), "postgres://postgres@127.0.0.1:1/test?connect_timeout=2")
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", refused, true},
		{"admin shutdown", &pgconn.PgError{Code: codeAdminShutdown}, true},
		{"read only", &pgconn.PgError{Code: codeReadOnly}, true},
		{"connection exception class", &pgconn.PgError{Code: "08006"}, true},
		{"deadlock", &pgconn.PgError{Code: codeDeadlock}, true},
		{"NUL byte in text", &pgconn.PgError{Code: "22021"}, false},
		{"cancelled", cancelled.Err(), false},
		{"deadline", context.DeadlineExceeded, false},
		{"nil", nil, false},
	} {
		if got := transient(c.err); got != c.want {
			t.Errorf("%s: transient(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}
