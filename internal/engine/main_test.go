package engine

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/troikahq/troika/store"
	"github.com/troikahq/troika/store/embedded"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// base is the instant every test's clock starts at.
var base = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// clock is a settable clock for tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: base} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// bundle is what most tests need.
type bundle struct {
	ctx   context.Context
	st    *embedded.Store
	clock *clock
	log   *slog.Logger
}

func setup(t *testing.T) *bundle {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// The real embedded store on an in-memory filesystem: the engine is
	// tested against a backend that keeps the whole contract, not a fake.
	st, err := embedded.Open("/engine-test", embedded.Options{FS: vfs.NewMem(), Logger: log})
	if err != nil {
		t.Fatalf("open the embedded store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return &bundle{ctx: t.Context(), st: st, clock: newClock(), log: log}
}

// insert inserts one job built from o at the clock's now.
func (b *bundle) insert(t *testing.T, kind string, o JobOptions) *store.Job {
	t.Helper()
	var in store.InsertJob
	if err := o.Build(&in, -1, kind, nil, b.clock.Now(), Limits{}); err != nil {
		t.Fatalf("Build: %v", err)
	}
	res, err := b.st.JobInsertMany(b.ctx, &store.JobInsertManyParams{Jobs: []store.InsertJob{in}, Now: b.clock.Now()})
	if err != nil {
		t.Fatalf("JobInsertMany: %v", err)
	}
	return res[0].Job
}

// claim claims up to max jobs of queue default at the clock's now.
func (b *bundle) claim(t *testing.T, max int, ttl time.Duration) []*store.Job {
	t.Helper()
	jobs, err := b.st.JobClaim(b.ctx, &store.JobClaimParams{
		Queues: []store.QueueWeight{{Name: DefaultQueue, Weight: 1}}, Max: max, Worker: "w1", LeaseTTL: ttl, Now: b.clock.Now()})
	if err != nil {
		t.Fatalf("JobClaim: %v", err)
	}
	return jobs
}

func (b *bundle) get(t *testing.T, id store.ID) *store.Job {
	t.Helper()
	j, err := b.st.JobGet(b.ctx, &store.JobGetParams{ID: id})
	if err != nil {
		t.Fatalf("JobGet(%s): %v", id, err)
	}
	return j
}

// eventually polls cond until it holds or timeout passes, then fails the
// test with what. It is the only polling in these tests.
func eventually(t *testing.T, timeout time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, what)
		}
		time.Sleep(time.Millisecond)
	}
}
