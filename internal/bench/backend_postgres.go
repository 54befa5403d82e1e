package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/troikahq/troika"
)

// BackendPostgres runs the workloads on PostgreSQL (Options.PostgresURL or
// $TROIKA_POSTGRES_URL), each in a fresh schema that is dropped afterwards.
const BackendPostgres = "postgres"

// syncClaims reports whether TROIKA_BENCH_PG_SYNC_CLAIMS=1 asks for
// troika.PostgresSyncClaims (claims that wait for their WAL flush; by
// default they do not); the result then carries "sync_claims": 1.
func syncClaims() bool { return os.Getenv("TROIKA_BENCH_PG_SYNC_CLAIMS") == "1" }

// postgresURL returns the URL the postgres backend uses.
func postgresURL(o Options) string {
	if o.PostgresURL != "" {
		return o.PostgresURL
	}
	return os.Getenv("TROIKA_POSTGRES_URL")
}

// openPostgres opens a Client on a fresh schema of the database at url;
// closing the Client, then calling drop, removes the schema.
func openPostgres(ctx context.Context, o Options, workload string, logger *slog.Logger) (c *troika.Client, drop func(), err error) {
	url := postgresURL(o)
	if url == "" {
		return nil, nil, fmt.Errorf("backend postgres needs --postgres URL (or TROIKA_POSTGRES_URL)")
	}
	var r [4]byte
	_, _ = rand.Read(r[:])
	schema := "bench_" + workload + "_" + hex.EncodeToString(r[:])
	opts := []troika.PostgresOption{troika.PostgresSchema(schema)}
	if syncClaims() {
		opts = append(opts, troika.PostgresSyncClaims())
	}
	c, err = troika.OpenPostgresURL(ctx, url, troika.Config{Logger: logger}, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("open postgres: %w", err)
	}
	drop = func() {
		dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// The URL may carry pool settings (pool_max_conns, ...), which a
		// single connection does not understand: parse it as the pool does.
		pcfg, err := pgxpool.ParseConfig(url)
		if err != nil {
			logger.Warn("troika bench: cannot drop the bench schema", "schema", schema, "error", err)
			return
		}
		conn, err := pgx.ConnectConfig(dctx, pcfg.ConnConfig)
		if err != nil {
			logger.Warn("troika bench: cannot drop the bench schema", "schema", schema, "error", err)
			return
		}
		defer func() { _ = conn.Close(dctx) }()
		if _, err := conn.Exec(dctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			logger.Warn("troika bench: cannot drop the bench schema", "schema", schema, "error", err)
		}
	}
	return c, drop, nil
}

// runPostgres runs one workload on a fresh PostgreSQL schema.
func runPostgres(ctx context.Context, o Options, workload string) (res *Result, err error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	c, drop, err := openPostgres(ctx, o, workload, logger)
	if err != nil {
		return nil, err
	}
	defer drop()
	defer func() {
		if cerr := c.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close: %w", cerr)
		}
	}()
	res, err = runWith(ctx, o, c, logger, BackendPostgres, workload)
	if err == nil {
		res.Extra["sync_claims"] = 0
		if syncClaims() {
			res.Extra["sync_claims"] = 1
		}
	}
	return res, err
}
