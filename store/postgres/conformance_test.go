package postgres

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/troikahq/troika/store"
	"github.com/troikahq/troika/store/storetest"
)

// TestConformance runs the whole store conformance suite (jobs, schedules,
// ordering keys, topics).
func TestConformance(t *testing.T) {
	storetest.RunAll(t, func(t *testing.T) store.Store {
		return openTest(t, Options{})
	})
}

// The suite holds with claims that wait for their WAL flush (SyncClaims;
// TestConformance runs the default, async claims).
func TestConformanceSyncClaims(t *testing.T) {
	if testing.Short() {
		t.Skip("the whole suite a second time; skipped with -short")
	}
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTest(t, Options{SyncClaims: true})
	})
}

// An async claim (the default) turns synchronous_commit off for its own
// transaction only: the connection goes back to the pool with the
// server's setting.
func TestAsyncClaimSettingStaysLocal(t *testing.T) {
	t.Parallel()
	cfg, err := pgxpool.ParseConfig(testURL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1 // the claim and the check share the one connection
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s, err := Open(t.Context(), pool, Options{Schema: freshSchema(t, testPool(t)), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.JobInsertMany(t.Context(), &store.JobInsertManyParams{Jobs: []store.InsertJob{
		{Kind: "k", Args: []byte(`{}`), Queue: "q", Priority: 2, MaxAttempts: 1}}}); err != nil {
		t.Fatal(err)
	}
	jobs, err := s.JobClaim(t.Context(), &store.JobClaimParams{Queues: []store.QueueWeight{{Name: "q", Weight: 1}}, Max: 1, Worker: "w", LeaseTTL: time.Minute})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("JobClaim: %v, %v", jobs, err)
	}
	var setting string
	if err := pool.QueryRow(t.Context(), "SHOW synchronous_commit").Scan(&setting); err != nil {
		t.Fatal(err)
	}
	if setting != "on" {
		t.Errorf("synchronous_commit on the connection after an async claim: %q, want on", setting)
	}
}
