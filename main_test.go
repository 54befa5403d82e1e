package troika_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/troikahq/troika"
	"github.com/troikahq/troika/server"
	"github.com/troikahq/troika/store/embedded"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testClock is a settable clock for Config.Now.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Now().UTC().Truncate(time.Microsecond)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// bundle is what most tests need: a client over a fresh embedded store in
// t.TempDir() with a settable clock, closed at cleanup.
type bundle struct {
	ctx    context.Context
	client *troika.Client
	maint  *troika.Client // the client that runs maintenance: client, or the server's
	clock  *testClock
	dir    string
	url    string // the server's URL (remote only)
}

// setupFunc opens a bundle; edit may change the config (the clock is
// already set). Maintenance sweeps every 10ms.
type setupFunc func(t *testing.T, edit ...func(*troika.Config)) *bundle

// backends runs f once per way of reaching a store, as parallel subtests:
// "embedded" (Open on a directory) and "remote" (Dial to an in-process
// server over loopback). The SDK promises the same behaviour on both.
func backends(t *testing.T, f func(t *testing.T, setup setupFunc)) {
	t.Parallel()
	t.Run("embedded", func(t *testing.T) { f(t, setup) })
	t.Run("remote", func(t *testing.T) { f(t, setupRemote) })
}

// setupRemote starts a server over a fresh embedded store (its client runs
// maintenance with the test clock) and dials it; everything is closed at
// cleanup.
func setupRemote(t *testing.T, edit ...func(*troika.Config)) *bundle {
	t.Helper()
	return setupRemoteTokens(t, nil, edit...)
}

// setupRemoteTokens is setupRemote with a server that requires tokens (nil:
// none, loopback only). The Dial'd client sends no token.
func setupRemoteTokens(t *testing.T, tokens []server.TokenSpec, edit ...func(*troika.Config)) *bundle {
	t.Helper()
	b := &bundle{ctx: t.Context(), clock: newTestClock(), dir: t.TempDir()}
	cfg := troika.Config{Now: b.clock.Now, Logger: quietLogger(), SweepInterval: 10 * time.Millisecond}
	scfg := server.Defaults()
	scfg.Addr = "127.0.0.1:0"
	scfg.Tokens = tokens
	for _, e := range edit {
		e(&cfg)
	}
	st, err := embedded.Open(b.dir, embedded.Options{Logger: cfg.Logger, Now: b.clock.Now})
	if err != nil {
		t.Fatalf("embedded.Open: %v", err)
	}
	sc, err := troika.OpenStore(b.ctx, st, cfg)
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	srv, err := server.New(server.Options{Config: scfg, Store: st, Client: sc, Logger: quietLogger(), Now: b.clock.Now})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	if err := srv.Start(b.ctx); err != nil {
		t.Fatalf("server.Start: %v", err)
	}
	c, err := troika.Dial(b.ctx, srv.URL(), troika.WithLogger(quietLogger()), troika.WithClock(b.clock.Now))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := srv.Stop(context.Background()); err != nil {
			t.Errorf("server Stop: %v", err)
		}
		if err := sc.Close(); err != nil {
			t.Errorf("server client Close: %v", err)
		}
	})
	b.client, b.maint, b.url = c, sc, srv.URL()
	return b
}

// adminToken returns the server token spec of an admin token.
func adminToken(token string) []server.TokenSpec {
	sum := sha256.Sum256([]byte(token))
	return []server.TokenSpec{{Name: "admin", Scope: "admin", SHA256: hex.EncodeToString(sum[:])}}
}

// setup opens a client over an embedded store in t.TempDir(); edit may
// change the config (the clock is already set). Maintenance sweeps every
// 10ms.
func setup(t *testing.T, edit ...func(*troika.Config)) *bundle {
	t.Helper()
	b := &bundle{ctx: t.Context(), clock: newTestClock(), dir: t.TempDir()}
	cfg := troika.Config{Dir: b.dir, Now: b.clock.Now, Logger: quietLogger(), SweepInterval: 10 * time.Millisecond}
	for _, e := range edit {
		e(&cfg)
	}
	c, err := troika.Open(b.ctx, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	b.client, b.maint = c, c
	return b
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// worker returns a worker over the bundle's client with fast, test-sized
// settings; edit may change them.
func (b *bundle) worker(edit ...func(*troika.WorkerConfig)) *troika.Worker {
	cfg := troika.WorkerConfig{Concurrency: 10, LeaseTTL: 3 * time.Second, ShutdownGrace: 5 * time.Second, Logger: quietLogger()}
	for _, e := range edit {
		e(&cfg)
	}
	return troika.NewWorker(b.client, cfg)
}

// run runs w until the test ends (or stop is called) and checks that Run
// returns nil. stop blocks until Run has returned.
func run(t *testing.T, w *troika.Worker) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// enqueue enqueues one job and fails the test on error.
func (b *bundle) enqueue(t *testing.T, args troika.JobArgs, opts ...troika.EnqueueOption) *troika.EnqueueResult {
	t.Helper()
	res, err := b.client.Enqueue(b.ctx, args, opts...)
	if err != nil {
		t.Fatalf("Enqueue(%T): %v", args, err)
	}
	return res
}

func (b *bundle) get(t *testing.T, id troika.JobID) *troika.JobRow {
	t.Helper()
	j, err := b.client.GetJob(b.ctx, id)
	if err != nil {
		t.Fatalf("GetJob(%s): %v", id, err)
	}
	return j
}

// waitState waits (up to 10s) for job id to reach state and returns it.
func (b *bundle) waitState(t *testing.T, id troika.JobID, state troika.JobState) *troika.JobRow {
	t.Helper()
	var j *troika.JobRow
	eventually(t, 10*time.Second, func() bool {
		var err error
		j, err = b.client.GetJob(b.ctx, id)
		return err == nil && j.State == state
	}, "job "+id.String()+" reaches "+string(state))
	return j
}

// eventually polls cond until it holds or timeout passes, then fails the
// test naming what. It is the only polling in these tests.
func eventually(t testing.TB, timeout time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// recv receives from ch or fails the test after 10s.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("nothing received within 10s: %s", what)
		panic("unreachable")
	}
}

// Job argument types of the tests.
type (
	Email   struct{ To string }
	Fail    struct{ N int }
	Block   struct{ ID int }
	Other   struct{}
	Ordered struct{ Seq int }
)

func (Email) Kind() string   { return "test.email" }
func (Fail) Kind() string    { return "test.fail" }
func (Block) Kind() string   { return "test.block" }
func (Other) Kind() string   { return "test.other" }
func (Ordered) Kind() string { return "test.ordered" }

var errBoom = errors.New("boom")
