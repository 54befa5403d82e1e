package postgres

import (
	"context"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/troikahq/troika/store"
)

// refusingPool returns a pool whose new connections are refused (as by a
// database that is restarting) until the time refuse holds, in Unix
// nanoseconds.
func refusingPool(t *testing.T, refuse *atomic.Int64) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(testURL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 2
	var d net.Dialer
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if time.Now().UnixNano() < refuse.Load() {
			return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
		}
		return d.DialContext(ctx, network, addr)
	}
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// A claim, heartbeat or leader lease that retries across an outage grants its lease for
// the full TTL from the attempt that succeeds, not from when it was asked
// for: computed once, the deadline of a claim that waited out a restart
// longer than the TTL was already past, and the rescuer took its jobs back
// (they ran twice) at once.
func TestLeaseRunsFromTheRetryThatSucceeds(t *testing.T) {
	t.Parallel()
	rw := openTest(t, Options{})
	if _, err := rw.JobInsertMany(t.Context(), &store.JobInsertManyParams{Jobs: []store.InsertJob{
		{Kind: "k", Args: []byte(`{}`), Queue: "default", Priority: 2, MaxAttempts: 3}}}); err != nil {
		t.Fatal(err)
	}
	var refuse atomic.Int64
	pool := refusingPool(t, &refuse)
	s, err := Open(t.Context(), pool, Options{Schema: rw.Schema(), SkipMigrate: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	const ttl, outage = 500 * time.Millisecond, 1200 * time.Millisecond
	// outageOver cuts the pool's connections and refuses new ones for
	// outage; it returns when the outage ends.
	outageOver := func() time.Time {
		until := time.Now().Add(outage)
		refuse.Store(until.UnixNano())
		pool.Reset()
		return until
	}

	t.Run("leader", func(t *testing.T) {
		over := outageOver()
		asked := time.Now()
		l, err := s.LeaderAcquire(t.Context(), &store.LeaderAcquireParams{Name: "n", Holder: "h", TTL: ttl, Now: asked})
		if err != nil || l.Holder != "h" {
			t.Fatalf("leader lease across an outage: %+v, %v", l, err)
		}
		if min := over.Add(ttl - 50*time.Millisecond); l.Expires.Before(min) {
			t.Fatalf("leader lease expires %s after it was asked for, want at least %s", l.Expires.Sub(asked), min.Sub(asked))
		}
	})
	t.Run("claim", func(t *testing.T) {
		over := outageOver()
		asked := time.Now()
		jobs, err := s.JobClaim(t.Context(), &store.JobClaimParams{Worker: "w", LeaseTTL: ttl, Max: 1,
			Queues: []store.QueueWeight{{Name: "default", Weight: 1}}, Now: asked})
		if err != nil || len(jobs) != 1 {
			t.Fatalf("claim across an outage: %d jobs, %v", len(jobs), err)
		}
		if min := over.Add(ttl - 50*time.Millisecond); jobs[0].LeaseDeadline.Before(min) {
			t.Fatalf("lease deadline %s after the claim was asked for, want at least %s (the TTL from the end of the outage)",
				jobs[0].LeaseDeadline.Sub(asked), min.Sub(asked))
		}

		t.Run("heartbeat", func(t *testing.T) {
			over := outageOver()
			asked := time.Now()
			errs, err := s.JobLeaseExtendMany(t.Context(), &store.JobLeaseExtendManyParams{
				Leases: []store.LeaseRef{jobs[0].Lease()}, TTL: ttl, Now: asked})
			if err != nil || errs[0] != nil {
				t.Fatalf("heartbeat across an outage: %v %v", err, errs)
			}
			j, err := rw.JobGet(t.Context(), &store.JobGetParams{ID: jobs[0].ID})
			if err != nil {
				t.Fatal(err)
			}
			if min := over.Add(ttl - 50*time.Millisecond); j.LeaseDeadline.Before(min) {
				t.Fatalf("lease deadline %s after the heartbeat was asked for, want at least %s",
					j.LeaseDeadline.Sub(asked), min.Sub(asked))
			}
		})
	})
}
