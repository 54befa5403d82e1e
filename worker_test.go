package troika_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/troikahq/troika"
)

func TestWorkerCompletes(t *testing.T) {
	backends(t, func(t *testing.T, setup setupFunc) {
		t.Parallel()
		b := setup(t)
		w := b.worker()
		got := make(chan *troika.Job[Email], 1)
		troika.Handle(w, func(ctx context.Context, j *troika.Job[Email]) error {
			got <- j
			return nil
		})
		run(t, w)
		res := b.enqueue(t, Email{To: "ada@example.com"}, troika.Queue(troika.DefaultQueue), troika.Tags("welcome"))
		j := recv(t, got, "handler call")
		if j.Args.To != "ada@example.com" || j.ID != res.ID || j.Attempt != 1 || j.Kind != "test.email" || j.State != troika.StateRunning {
			t.Fatalf("handler got %+v (row %+v)", j.Args, j.JobRow)
		}
		done := b.waitState(t, res.ID, troika.StateCompleted)
		if done.FinishedAt.IsZero() || len(done.Errors) != 0 || done.Attempt != 1 {
			t.Fatalf("completed job = %+v", done)
		}
	})
}

// The handler outcomes through a live worker.
func TestWorkerOutcomes(t *testing.T) {
	backends(t, func(t *testing.T, setup setupFunc) {
		t.Parallel()
		noWait := troika.WithRetryPolicy(func(int, error) time.Duration { return 0 })

		t.Run("RetryThenSuccess", func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			w := b.worker()
			troika.Handle(w, func(ctx context.Context, j *troika.Job[Fail]) error {
				if j.Attempt <= j.Args.N {
					return errBoom
				}
				return nil
			}, noWait)
			run(t, w)
			res := b.enqueue(t, Fail{N: 2})
			j := b.waitState(t, res.ID, troika.StateCompleted)
			if j.Attempt != 3 || len(j.Errors) != 2 || j.Errors[0].Message != "boom" || j.Errors[1].Attempt != 2 {
				t.Fatalf("job = attempt %d, errors %+v", j.Attempt, j.Errors)
			}
		})
		t.Run("BackoffFromPolicy", func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			w := b.worker()
			troika.Handle(w, func(ctx context.Context, j *troika.Job[Fail]) error { return errBoom },
				troika.WithRetryPolicy(func(attempt int, err error) time.Duration {
					if !errors.Is(err, errBoom) {
						t.Errorf("policy got error %v", err)
					}
					return time.Duration(attempt) * time.Hour
				}))
			run(t, w)
			res := b.enqueue(t, Fail{})
			j := b.waitState(t, res.ID, troika.StateRetryable)
			if want := j.Errors[0].At.Add(time.Hour); !j.RunAt.Equal(want) {
				t.Fatalf("RunAt = %v, want %v (the policy's hour after the failure)", j.RunAt, want)
			}
		})
		t.Run("AttemptsExhausted", func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			w := b.worker()
			troika.Handle(w, func(ctx context.Context, j *troika.Job[Fail]) error { return errBoom }, noWait)
			run(t, w)
			res := b.enqueue(t, Fail{}, troika.MaxAttempts(3))
			j := b.waitState(t, res.ID, troika.StateDead)
			if j.Attempt != 3 || len(j.Errors) != 3 || !strings.Contains(j.Errors[2].Message, "attempts exhausted") || j.FinishedAt.IsZero() {
				t.Fatalf("dead job = attempt %d, errors %+v", j.Attempt, j.Errors)
			}
		})
		t.Run("Permanent", func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			w := b.worker()
			troika.Handle(w, func(ctx context.Context, j *troika.Job[Fail]) error {
				return troika.Permanent(errors.New("address rejected"))
			})
			run(t, w)
			res := b.enqueue(t, Fail{})
			j := b.waitState(t, res.ID, troika.StateDead)
			if j.Attempt != 1 || len(j.Errors) != 1 || !strings.Contains(j.Errors[0].Message, "address rejected") {
				t.Fatalf("dead job = attempt %d, errors %+v", j.Attempt, j.Errors)
			}
		})
		t.Run("SnoozeKeepsAttempt", func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			w := b.worker()
			attempts := make(chan int, 10)
			troika.Handle(w, func(ctx context.Context, j *troika.Job[Fail]) error {
				attempts <- j.Attempt
				if len(attempts) < 3 {
					return troika.Snooze(0)
				}
				return nil
			})
			run(t, w)
			res := b.enqueue(t, Fail{})
			j := b.waitState(t, res.ID, troika.StateCompleted)
			if a1, a2, a3 := <-attempts, <-attempts, <-attempts; a1 != 1 || a2 != 1 || a3 != 1 || j.Attempt != 1 || len(j.Errors) != 0 {
				t.Fatalf("attempts %d %d %d, job attempt %d, errors %v; want all 1 and no errors", a1, a2, a3, j.Attempt, j.Errors)
			}
		})
		t.Run("SnoozeLater", func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			w := b.worker()
			troika.Handle(w, func(ctx context.Context, j *troika.Job[Fail]) error { return troika.Snooze(time.Hour) })
			res := b.enqueue(t, Fail{})
			if _, err := w.WorkOne(b.ctx); err != nil {
				t.Fatal(err)
			}
			j := b.get(t, res.ID)
			if j.State != troika.StateScheduled || j.Attempt != 0 || !j.RunAt.Equal(b.clock.Now().Add(time.Hour)) {
				t.Fatalf("snoozed job = %s attempt %d run at %v", j.State, j.Attempt, j.RunAt)
			}
		})
		t.Run("Cancel", func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			w := b.worker()
			troika.Handle(w, func(ctx context.Context, j *troika.Job[Fail]) error {
				return troika.Cancel(errors.New("customer closed the account"))
			})
			run(t, w)
			res := b.enqueue(t, Fail{})
			j := b.waitState(t, res.ID, troika.StateCancelled)
			if len(j.Errors) != 1 || j.Errors[0].Message != "customer closed the account" {
				t.Fatalf("cancelled job errors = %+v", j.Errors)
			}
		})
		t.Run("CancelNil", func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			w := b.worker()
			troika.Handle(w, func(ctx context.Context, j *troika.Job[Fail]) error { return troika.Cancel(nil) })
			res := b.enqueue(t, Fail{})
			if j, err := w.WorkOne(b.ctx); err != nil || j.ID != res.ID || j.State != troika.StateCancelled || len(j.Errors) != 0 {
				t.Fatalf("WorkOne = %+v, %v", j, err)
			}
		})
		t.Run("Panic", func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			w := b.worker()
			troika.Handle(w, func(ctx context.Context, j *troika.Job[Fail]) error { panic("nil map write") })
			res := b.enqueue(t, Fail{}, troika.MaxAttempts(1))
			if _, err := w.WorkOne(b.ctx); err != nil {
				t.Fatal(err)
			}
			j := b.get(t, res.ID)
			if j.State != troika.StateDead || len(j.Errors) != 1 || !strings.HasPrefix(j.Errors[0].Message, "panic: nil map write") ||
				!strings.Contains(j.Errors[0].Stack, "worker_test.go") {
				t.Fatalf("job after panic = %s, errors %+v", j.State, j.Errors)
			}
		})
		t.Run("Timeout", func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			w := b.worker()
			ctxErr := make(chan error, 1)
			troika.Handle(w, func(ctx context.Context, j *troika.Job[Fail]) error {
				if _, ok := ctx.Deadline(); !ok {
					t.Error("handler context has no deadline")
				}
				<-ctx.Done()
				ctxErr <- ctx.Err()
				return ctx.Err()
			}, noWait)
			res := b.enqueue(t, Fail{}, troika.Timeout(50*time.Millisecond), troika.MaxAttempts(1))
			if _, err := w.WorkOne(b.ctx); err != nil {
				t.Fatal(err)
			}
			if err := <-ctxErr; !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("handler ctx.Err() = %v, want DeadlineExceeded", err)
			}
			j := b.get(t, res.ID)
			if j.State != troika.StateDead || len(j.Errors) != 1 || !strings.HasPrefix(j.Errors[0].Message, "timeout after 50ms") {
				t.Fatalf("job after timeout = %s, errors %+v", j.State, j.Errors)
			}
		})
		t.Run("HandlerTimeout", func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			w := b.worker(func(c *troika.WorkerConfig) { c.JobTimeout = time.Hour })
			troika.Handle(w, func(ctx context.Context, j *troika.Job[Fail]) error {
				<-ctx.Done()
				return nil // the timeout stands even if the handler claims success
			}, troika.WithTimeout(20*time.Millisecond))
			res := b.enqueue(t, Fail{})
			if _, err := w.WorkOne(b.ctx); err != nil {
				t.Fatal(err)
			}
			if j := b.get(t, res.ID); j.State != troika.StateRetryable || !strings.HasPrefix(j.Errors[0].Message, "timeout after 20ms") {
				t.Fatalf("job = %s, errors %+v", j.State, j.Errors)
			}
		})
		t.Run("UnknownKind", func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			w := b.worker()
			troika.Handle(w, func(ctx context.Context, j *troika.Job[Email]) error { return nil })
			run(t, w)
			res := b.enqueue(t, Other{})
			j := b.waitState(t, res.ID, troika.StateRetryable)
			if j.Attempt != 1 || len(j.Errors) != 1 || !strings.Contains(j.Errors[0].Message, `no handler for kind "test.other"`) {
				t.Fatalf("job = attempt %d, errors %+v", j.Attempt, j.Errors)
			}
		})
		t.Run("UndecodableArgs", func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			w := b.worker()
			troika.Handle(w, func(ctx context.Context, j *troika.Job[Email]) error { return nil })
			res := b.enqueue(t, troika.RawArgs{KindName: "test.email", JSON: []byte(`{"To": 42}`)})
			if _, err := w.WorkOne(b.ctx); err != nil {
				t.Fatal(err)
			}
			j := b.get(t, res.ID)
			if j.State != troika.StateDead || !strings.Contains(j.Errors[0].Message, "cannot decode the args of a test.email job into troika_test.Email") {
				t.Fatalf("job = %s, errors %+v", j.State, j.Errors)
			}
		})
	})
}

func TestWorkerPriorities(t *testing.T) {
	backends(t, func(t *testing.T, setup setupFunc) {
		t.Parallel()
		b := setup(t)
		for i, p := range []int{4, 1, 3, 1, 2} {
			b.enqueue(t, Ordered{Seq: i}, troika.Priority(p))
		}
		w := b.worker(func(c *troika.WorkerConfig) { c.Concurrency = 1 })
		order := make(chan int, 5)
		troika.Handle(w, func(ctx context.Context, j *troika.Job[Ordered]) error { order <- j.Args.Seq; return nil })
		run(t, w)
		var got []int
		for range 5 {
			got = append(got, recv(t, order, "ordered job"))
		}
		if want := []int{1, 3, 4, 2, 0}; !equal(got, want) {
			t.Fatalf("run order %v, want %v (priority, then FIFO)", got, want)
		}
	})
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A claim shares its size out by weight: with 4 slots and weights 3:1, the
// first claim takes 3 jobs of the heavy queue and 1 of the light one.
func TestWorkerQueueWeights(t *testing.T) {
	backends(t, func(t *testing.T, setup setupFunc) {
		t.Parallel()
		b := setup(t)
		for range 8 {
			b.enqueue(t, Block{ID: 1}, troika.Queue("heavy"))
			b.enqueue(t, Block{ID: 2}, troika.Queue("light"))
		}
		w := b.worker(func(c *troika.WorkerConfig) {
			c.Concurrency = 4
			c.Queues = map[string]int{"heavy": 3, "light": 1}
		})
		started := make(chan string, 16)
		gate := make(chan struct{})
		troika.Handle(w, func(ctx context.Context, j *troika.Job[Block]) error {
			started <- j.Queue
			<-gate
			return nil
		})
		run(t, w)
		counts := map[string]int{}
		for range 4 {
			counts[recv(t, started, "job start")]++
		}
		close(gate)
		if counts["heavy"] != 3 || counts["light"] != 1 {
			t.Fatalf("first claim took %v, want heavy 3, light 1", counts)
		}
	})
}

func TestWorkerPauseResume(t *testing.T) {
	backends(t, func(t *testing.T, setup setupFunc) {
		t.Parallel()
		b := setup(t)
		if err := b.client.PauseQueue(b.ctx, "paused"); err != nil {
			t.Fatal(err)
		}
		w := b.worker(func(c *troika.WorkerConfig) { c.Queues = map[string]int{"paused": 1, "open": 1} })
		troika.SetIdlePoll(w, time.Hour) // only a wake-up can start a job
		ran := make(chan string, 2)
		troika.Handle(w, func(ctx context.Context, j *troika.Job[Email]) error { ran <- j.Queue; return nil })
		run(t, w)
		held := b.enqueue(t, Email{}, troika.Queue("paused"))
		b.enqueue(t, Email{}, troika.Queue("open"))
		if q := recv(t, ran, "job of the open queue"); q != "open" {
			t.Fatalf("ran a job of queue %q while it was paused", q)
		}
		if j := b.get(t, held.ID); j.State != troika.StateAvailable {
			t.Fatalf("job of the paused queue is %s", j.State)
		}
		if err := b.client.ResumeQueue(b.ctx, "paused"); err != nil {
			t.Fatal(err)
		}
		if q := recv(t, ran, "job of the resumed queue"); q != "paused" {
			t.Fatalf("ran %q", q)
		}
	})
}

// An idle worker starts a new job on the store's wake-up, not its poll.
func TestWorkerWakesOnEnqueue(t *testing.T) {
	backends(t, func(t *testing.T, setup setupFunc) {
		t.Parallel()
		b := setup(t)
		w := b.worker()
		troika.SetIdlePoll(w, time.Hour)
		ran := make(chan struct{}, 3)
		troika.Handle(w, func(ctx context.Context, j *troika.Job[Email]) error { ran <- struct{}{}; return nil })
		run(t, w)
		for range 3 {
			b.enqueue(t, Email{})
			recv(t, ran, "job start after enqueue")
		}
	})
}

func TestWorkerCancelRunningJob(t *testing.T) {
	backends(t, func(t *testing.T, setup setupFunc) {
		t.Parallel()
		b := setup(t)
		w := b.worker(func(c *troika.WorkerConfig) { c.LeaseTTL = 150 * time.Millisecond }) // heartbeat every 50ms
		started, stopped := make(chan struct{}), make(chan error, 1)
		troika.Handle(w, func(ctx context.Context, j *troika.Job[Block]) error {
			close(started)
			<-ctx.Done()
			stopped <- ctx.Err()
			return nil // would complete it, but the ack is dropped
		})
		run(t, w)
		res := b.enqueue(t, Block{})
		recv(t, started, "handler start")
		if _, err := b.client.CancelJob(b.ctx, res.ID); err != nil {
			t.Fatal(err)
		}
		if err := recv(t, stopped, "handler context cancelled"); !errors.Is(err, context.Canceled) {
			t.Fatalf("ctx.Err() = %v", err)
		}
		j := b.waitState(t, res.ID, troika.StateCancelled)
		if len(j.Errors) != 1 || !strings.Contains(j.Errors[0].Message, "CancelJob") {
			t.Fatalf("cancelled job errors = %+v", j.Errors)
		}
	})
}

func TestWorkerShutdown(t *testing.T) {
	backends(t, func(t *testing.T, setup setupFunc) {
		t.Parallel()
		b := setup(t)
		w := b.worker(func(c *troika.WorkerConfig) { c.ShutdownGrace = 300 * time.Millisecond })
		started := make(chan int, 2)
		release := make(chan struct{})
		slowErr := make(chan error, 1)
		troika.Handle(w, func(ctx context.Context, j *troika.Job[Block]) error {
			started <- j.Args.ID
			if j.Args.ID == 1 { // fast: finishes within the grace period
				<-release
				return nil
			}
			<-ctx.Done() // slow: runs until cancelled
			slowErr <- ctx.Err()
			return ctx.Err()
		})
		stop := run(t, w)
		fast, slow := b.enqueue(t, Block{ID: 1}), b.enqueue(t, Block{ID: 2})
		recv(t, started, "first start")
		recv(t, started, "second start")
		stopped := make(chan struct{})
		go func() { stop(); close(stopped) }()
		close(release)
		recv(t, stopped, "Run returns after the grace period")
		if err := <-slowErr; !errors.Is(err, context.Canceled) {
			t.Fatalf("slow handler ctx.Err() = %v", err)
		}
		if j := b.get(t, fast.ID); j.State != troika.StateCompleted {
			t.Fatalf("fast job is %s, want completed", j.State)
		}
		if j := b.get(t, slow.ID); j.State != troika.StateAvailable || j.Attempt != 0 || len(j.Errors) != 0 {
			t.Fatalf("slow job is %s attempt %d errors %v; want handed back: available, attempt 0", j.State, j.Attempt, j.Errors)
		}
	})
}

// A worker that stops heartbeating (here: a claim made directly through
// the store, as by a process that died) has its job rescued after the lease
// TTL plus a sweep; the lost attempt counts.
func TestLeaseRescue(t *testing.T) {
	backends(t, func(t *testing.T, setup setupFunc) {
		t.Parallel()
		b := setup(t)
		res := b.enqueue(t, Email{})
		dead := b.worker(func(c *troika.WorkerConfig) { c.LeaseTTL = time.Minute; c.ID = "dead-worker" })
		troika.Handle(dead, func(ctx context.Context, j *troika.Job[Email]) error {
			b.clock.Advance(2 * time.Minute) // the worker "stalls" past its lease…
			eventually(t, 10*time.Second, func() bool { return b.maint.Stats().LeasesRescued == 1 }, "rescue")
			return nil // …and its late ack is refused
		}, troika.WithTimeout(time.Hour))
		j, err := dead.WorkOne(b.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != troika.StateRetryable || j.Attempt != 1 || len(j.Errors) != 1 ||
			!strings.Contains(j.Errors[0].Message, `lease expired: worker "dead-worker"`) {
			t.Fatalf("rescued job = %s attempt %d errors %+v", j.State, j.Attempt, j.Errors)
		}
		b.clock.Advance(time.Hour) // past the back-off
		live := b.worker()
		troika.Handle(live, func(ctx context.Context, j *troika.Job[Email]) error { return nil })
		run(t, live)
		if j := b.waitState(t, res.ID, troika.StateCompleted); j.Attempt != 2 {
			t.Fatalf("attempt %d, want 2 (the lost attempt counts)", j.Attempt)
		}
	})
}

func TestWorkerMisuse(t *testing.T) {
	backends(t, func(t *testing.T, setup setupFunc) {
		t.Parallel()
		b := setup(t)
		mustPanic := func(what string, f func()) {
			t.Helper()
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", what)
				}
			}()
			f()
		}
		mustPanic("negative concurrency", func() { b.worker(func(c *troika.WorkerConfig) { c.Concurrency = -1 }) })
		mustPanic("bad queue name", func() { b.worker(func(c *troika.WorkerConfig) { c.Queues = map[string]int{"Bad": 1} }) })
		mustPanic("zero weight", func() { b.worker(func(c *troika.WorkerConfig) { c.Queues = map[string]int{"q": 0} }) })
		w := b.worker()
		if err := w.Run(b.ctx); err == nil || !strings.Contains(err.Error(), "no handlers") {
			t.Fatalf("Run without handlers = %v", err)
		}
		troika.Handle(w, func(ctx context.Context, j *troika.Job[Email]) error { return nil })
		mustPanic("duplicate kind", func() { troika.Handle(w, func(ctx context.Context, j *troika.Job[Email]) error { return nil }) })
		mustPanic("invalid kind", func() {
			troika.Handle(w, func(ctx context.Context, j *troika.Job[troika.RawArgs]) error { return nil })
		})
		ctx, cancel := context.WithCancel(b.ctx)
		cancel()
		if err := w.Run(ctx); err != nil {
			t.Fatalf("Run with a done context = %v", err)
		}
		if err := w.Run(b.ctx); err == nil {
			t.Fatal("second Run succeeded")
		}
		mustPanic("Handle after Run", func() { troika.Handle(w, func(ctx context.Context, j *troika.Job[Other]) error { return nil }) })
		if _, err := w.WorkOne(b.ctx); !errors.Is(err, troika.ErrNotFound) {
			t.Fatalf("WorkOne with nothing ready = %v, want ErrNotFound", err)
		}
	})
}

func TestWorkOneHandsBackUnknownKind(t *testing.T) {
	backends(t, func(t *testing.T, setup setupFunc) {
		t.Parallel()
		b := setup(t)
		res := b.enqueue(t, Other{})
		w := b.worker()
		troika.Handle(w, func(ctx context.Context, j *troika.Job[Email]) error { return nil })
		if _, err := w.WorkOne(b.ctx); err == nil || !strings.Contains(err.Error(), "no handler") {
			t.Fatalf("WorkOne = %v", err)
		}
		if j := b.get(t, res.ID); j.State != troika.StateAvailable || j.Attempt != 0 {
			t.Fatalf("job = %s attempt %d, want available, 0", j.State, j.Attempt)
		}
	})
}

func TestWorkOneContextDone(t *testing.T) {
	backends(t, func(t *testing.T, setup setupFunc) {
		t.Parallel()
		b := setup(t)
		res := b.enqueue(t, Block{})
		w := b.worker()
		ctx, cancel := context.WithCancel(b.ctx)
		var sawCancel atomic.Bool
		troika.Handle(w, func(hctx context.Context, j *troika.Job[Block]) error {
			cancel()
			<-hctx.Done()
			sawCancel.Store(true)
			return hctx.Err()
		})
		j, err := w.WorkOne(ctx)
		if err != nil || !sawCancel.Load() {
			t.Fatalf("WorkOne = %v, handler saw cancel %v", err, sawCancel.Load())
		}
		if j.ID != res.ID || j.State != troika.StateAvailable || j.Attempt != 0 {
			t.Fatalf("job = %s attempt %d, want handed back", j.State, j.Attempt)
		}
	})
}

// Config.RescueRetryPolicy decides when a rescued attempt runs again; it is
// called with the lost attempt and ErrLeaseExpired.
func TestRescueRetryPolicy(t *testing.T) {
	t.Parallel()
	var gotAttempt int
	var gotErr error
	b := setup(t, func(c *troika.Config) {
		c.RescueRetryPolicy = func(attempt int, err error) time.Duration {
			gotAttempt, gotErr = attempt, err
			return 42 * time.Second
		}
	})
	res := b.enqueue(t, Email{})
	dead := b.worker(func(c *troika.WorkerConfig) { c.LeaseTTL = time.Minute })
	troika.Handle(dead, func(ctx context.Context, j *troika.Job[Email]) error {
		b.clock.Advance(2 * time.Minute)
		eventually(t, 10*time.Second, func() bool { return b.maint.Stats().LeasesRescued == 1 }, "rescue")
		return nil
	}, troika.WithTimeout(time.Hour))
	j, err := dead.WorkOne(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if gotAttempt != 1 || !errors.Is(gotErr, troika.ErrLeaseExpired) {
		t.Errorf("policy called with (%d, %v), want (1, ErrLeaseExpired)", gotAttempt, gotErr)
	}
	if j.ID != res.ID || j.State != troika.StateRetryable || !j.RunAt.Equal(j.Errors[0].At.Add(42*time.Second)) {
		t.Errorf("rescued job: state %s run_at %s, error at %s; want retryable 42s after the rescue", j.State, j.RunAt, j.Errors[0].At)
	}
}

// Concurrency bounds the handlers running at once, with claims overlapping
// (several in flight) and batches smaller than the concurrency; every job
// still runs once.
func TestWorkerConcurrencyLimit(t *testing.T) {
	backends(t, func(t *testing.T, setup setupFunc) {
		for _, tc := range []struct {
			name               string
			concurrency, batch int
		}{{"Batch=Concurrency", 3, 0}, {"SmallBatch", 8, 2}, {"One", 1, 0}} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				b := setup(t)
				w := b.worker(func(c *troika.WorkerConfig) { c.Concurrency, c.ClaimBatch = tc.concurrency, tc.batch })
				var running, peak, done atomic.Int64
				release := make(chan struct{})
				troika.Handle(w, func(ctx context.Context, j *troika.Job[Email]) error {
					n := running.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					<-release
					running.Add(-1)
					done.Add(1)
					return nil
				})
				run(t, w)
				const jobs = 40
				for range jobs {
					b.enqueue(t, Email{})
				}
				eventually(t, 10*time.Second, func() bool { return running.Load() == int64(tc.concurrency) },
					"all slots busy")
				close(release)
				eventually(t, 10*time.Second, func() bool { return done.Load() == jobs }, "every job handled")
				if p := peak.Load(); p > int64(tc.concurrency) {
					t.Fatalf("%d handlers ran at once, Concurrency is %d", p, tc.concurrency)
				}
			})
		}
	})
}

// Claim-ahead: with a backlog, a worker whose slots are all busy leases the
// next batch ahead; jobs that waited too long for a slot go back to the
// queue without spending an attempt, and every job still runs once.
func TestWorkerClaimAheadHandsBack(t *testing.T) {
	backends(t, func(t *testing.T, setup setupFunc) {
		t.Parallel()
		b := setup(t)
		// LeaseTTL/4 = 100 ms: how long claimed-ahead jobs wait for a slot.
		w := b.worker(func(c *troika.WorkerConfig) { c.Concurrency, c.LeaseTTL = 1, 400*time.Millisecond })
		release := make(chan struct{})
		var runs atomic.Int64
		troika.Handle(w, func(ctx context.Context, j *troika.Job[Email]) error {
			if runs.Add(1) == 1 {
				<-release
			}
			return nil
		})
		var ids []troika.JobID
		for range 3 {
			ids = append(ids, b.enqueue(t, Email{}).ID)
		}
		run(t, w)
		count := func(st troika.JobState) int {
			page, err := b.client.ListJobs(context.Background(), troika.ListParams{State: st})
			if err != nil {
				t.Fatalf("ListJobs(%s): %v", st, err)
			}
			return len(page.Jobs)
		}
		eventually(t, 10*time.Second, func() bool { return runs.Load() == 1 && count(troika.StateRunning) >= 2 },
			"one job running and one claimed ahead")
		eventually(t, 10*time.Second, func() bool { return count(troika.StateRunning) == 1 && count(troika.StateAvailable) == 2 },
			"the claimed-ahead job handed back while the slot stays busy")
		if n := runs.Load(); n != 1 {
			t.Fatalf("%d handler runs with one slot busy, want 1", n)
		}
		close(release)
		for _, id := range ids {
			if j := b.waitState(t, id, troika.StateCompleted); j.Attempt != 1 {
				t.Errorf("job %s completed at attempt %d, want 1 (a hand-back does not spend one)", id, j.Attempt)
			}
		}
		if n := runs.Load(); n != 3 {
			t.Errorf("%d handler runs for 3 jobs", n)
		}
	})
}
