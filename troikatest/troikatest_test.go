package troikatest_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/troikahq/troika"
	"github.com/troikahq/troika/troikatest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type signup struct {
	Email string `json:"email"`
}

func (signup) Kind() string { return "user.signup" }

type other struct{}

func (other) Kind() string { return "other.kind" }

// recorder is a testing.TB whose Fatalf records the message and ends the
// goroutine, as the real one does; everything else is the real test's.
type recorder struct {
	testing.TB
	mu    sync.Mutex
	fatal string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.fatal = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

// expectFatal runs fn with a recorder and returns the fatal message ("" if
// fn did not fail).
func expectFatal(t *testing.T, fn func(tb testing.TB)) string {
	t.Helper()
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); fn(r) }()
	<-done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fatal
}

func setup(t *testing.T) (*troika.Client, *troika.Worker) {
	t.Helper()
	c := troikatest.NewClient(t, troika.Config{DisableMaintenance: true})
	w := troika.NewWorker(c, troika.WorkerConfig{Queues: map[string]int{"default": 1, "emails": 1}})
	return c, w
}

func TestRequireEnqueued(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := t.Context()
	if _, err := c.Enqueue(ctx, signup{Email: "ada@example.com"}, troika.Queue("emails"), troika.Priority(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Enqueue(ctx, signup{Email: "bob@example.com"}, troika.Delay(time.Hour)); err != nil {
		t.Fatal(err)
	}

	t.Run("finds the one matching job, decoded", func(t *testing.T) {
		j := troikatest.RequireEnqueued(t, c, &troikatest.Filter[signup]{Queue: "emails"})
		if j.Args.Email != "ada@example.com" || j.Priority != 1 || j.State != troika.StateAvailable {
			t.Errorf("got %+v %+v", j.Args, j.JobRow)
		}
		j = troikatest.RequireEnqueued(t, c, &troikatest.Filter[signup]{State: troika.StateScheduled})
		if j.Args.Email != "bob@example.com" {
			t.Errorf("scheduled job = %+v", j.Args)
		}
		troikatest.RequireEnqueued(t, c, &troikatest.Filter[signup]{Match: func(a signup) bool { return strings.HasPrefix(a.Email, "bob") }})
	})

	t.Run("fails when more than one matches", func(t *testing.T) {
		msg := expectFatal(t, func(tb testing.TB) { troikatest.RequireEnqueued[signup](tb, c, nil) })
		if !strings.Contains(msg, "want 1 job(s)") || !strings.Contains(msg, "found 2") {
			t.Errorf("message %q", msg)
		}
	})

	t.Run("fails when none matches, listing what is there", func(t *testing.T) {
		msg := expectFatal(t, func(tb testing.TB) {
			troikatest.RequireEnqueued(tb, c, &troikatest.Filter[signup]{Queue: "emails", Priority: 3})
		})
		if !strings.Contains(msg, "found 0") || !strings.Contains(msg, "ada@example.com") {
			t.Errorf("message %q", msg)
		}
	})

	t.Run("RequireEnqueuedN", func(t *testing.T) {
		if got := troikatest.RequireEnqueuedN[signup](t, c, 2, nil); len(got) != 2 || got[0].Args.Email != "ada@example.com" {
			t.Errorf("got %d jobs, first %+v", len(got), got[0].Args)
		}
	})

	t.Run("RequireNotEnqueued", func(t *testing.T) {
		troikatest.RequireNotEnqueued[other](t, c, nil)
		msg := expectFatal(t, func(tb testing.TB) {
			troikatest.RequireNotEnqueued(tb, c, &troikatest.Filter[signup]{Queue: "emails"})
		})
		if !strings.Contains(msg, "want no job") {
			t.Errorf("message %q", msg)
		}
	})
}

func TestWork(t *testing.T) {
	t.Parallel()

	t.Run("WorkOne runs the handler inline and returns the stored outcome", func(t *testing.T) {
		c, w := setup(t)
		var got []string
		troika.Handle(w, func(ctx context.Context, j *troika.Job[signup]) error {
			got = append(got, j.Args.Email)
			if j.Args.Email == "bad@example.com" {
				return troika.Permanent(errors.New("mailbox does not exist"))
			}
			return nil
		})
		for _, e := range []string{"ada@example.com", "bad@example.com"} {
			if _, err := c.Enqueue(t.Context(), signup{Email: e}); err != nil {
				t.Fatal(err)
			}
		}
		if row := troikatest.WorkOne(t, w); row.State != troika.StateCompleted {
			t.Errorf("first job: %s", row.State)
		}
		row := troikatest.WorkOne(t, w)
		if row.State != troika.StateDead || len(row.Errors) != 1 || !strings.Contains(row.Errors[0].Message, "mailbox") {
			t.Errorf("second job: %s %+v", row.State, row.Errors)
		}
		if strings.Join(got, ",") != "ada@example.com,bad@example.com" {
			t.Errorf("handler saw %v", got)
		}
		msg := expectFatal(t, func(tb testing.TB) { troikatest.WorkOne(tb, w) })
		if !strings.Contains(msg, "no job ready") {
			t.Errorf("WorkOne with nothing ready: %q", msg)
		}
	})

	t.Run("WorkAll drains including retries due now", func(t *testing.T) {
		c, w := setup(t)
		attempts := 0
		troika.Handle(w, func(ctx context.Context, j *troika.Job[signup]) error {
			attempts++
			if j.Attempt < 3 {
				return errors.New("flaky")
			}
			return nil
		}, troika.WithRetryPolicy(func(int, error) time.Duration { return 0 }))
		if _, err := c.Enqueue(t.Context(), signup{Email: "x@example.com"}); err != nil {
			t.Fatal(err)
		}
		rows := troikatest.WorkAll(t, w, 0)
		if len(rows) != 3 || rows[2].State != troika.StateCompleted || attempts != 3 {
			t.Fatalf("worked %d rows, %d attempts, last %v", len(rows), attempts, rows[len(rows)-1].State)
		}
	})

	t.Run("WorkAll stops a job that snoozes to now forever", func(t *testing.T) {
		c, w := setup(t)
		troika.Handle(w, func(ctx context.Context, j *troika.Job[signup]) error { return troika.Snooze(0) })
		if _, err := c.Enqueue(t.Context(), signup{}); err != nil {
			t.Fatal(err)
		}
		msg := expectFatal(t, func(tb testing.TB) { troikatest.WorkAll(tb, w, 5) })
		if !strings.Contains(msg, "snoozing to now forever") {
			t.Errorf("message %q", msg)
		}
	})
}
