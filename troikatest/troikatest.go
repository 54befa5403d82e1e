package troikatest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/troikahq/troika"
)

// NewClient returns a Client over a fresh embedded store in tb.TempDir(),
// closed when the test ends. cfg.Dir is ignored; other fields apply as in
// troika.Open (a zero Logger means a logger that discards everything below
// Error, to keep test output quiet). It fails tb if the store cannot be
// opened.
func NewClient(tb testing.TB, cfg troika.Config) *troika.Client {
	tb.Helper()
	cfg.Dir = tb.TempDir()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	c, err := troika.Open(tb.Context(), cfg)
	if err != nil {
		tb.Fatalf("troikatest: open an embedded client: %v", err)
		return nil
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Filter narrows the jobs an assertion looks at. Zero fields match
// everything; Match, when set, is called with each candidate's decoded
// args and keeps the job when it returns true.
type Filter[T troika.JobArgs] struct {
	Queue    string
	State    troika.JobState
	Priority int
	Tag      string
	Match    func(args T) bool
}

// Enqueued returns every stored job of kind T{}.Kind() that matches f
// (nil matches all), decoded, oldest first. It fails tb if the store
// cannot be read or a job's args do not decode into T.
func Enqueued[T troika.JobArgs](tb testing.TB, c *troika.Client, f *Filter[T]) []*troika.Job[T] {
	tb.Helper()
	var zero T
	kind := zero.Kind()
	if f == nil {
		f = &Filter[T]{}
	}
	var out []*troika.Job[T]
	p := troika.ListParams{Kind: kind, Queue: f.Queue, State: f.State, Tag: f.Tag, Limit: 10_000}
	for {
		page, err := c.ListJobs(tb.Context(), p)
		if err != nil {
			tb.Fatalf("troikatest: list jobs of kind %q: %v", kind, err)
			return nil
		}
		for _, row := range page.Jobs {
			if f.Priority != 0 && row.Priority != f.Priority {
				continue
			}
			var args T
			if err := json.Unmarshal(row.Args, &args); err != nil {
				tb.Fatalf("troikatest: job %s of kind %q: args %s do not decode into %T: %v", row.ID, kind, row.Args, args, err)
				return nil
			}
			if f.Match != nil && !f.Match(args) {
				continue
			}
			out = append(out, &troika.Job[T]{JobRow: row, Args: args})
		}
		if page.Next.IsZero() {
			return out
		}
		p.Cursor = page.Next
	}
}

// RequireEnqueued fails tb unless exactly one stored job of kind
// T{}.Kind() matches f, and returns it. The failure message lists what
// was found instead, so a test shows why it failed.
func RequireEnqueued[T troika.JobArgs](tb testing.TB, c *troika.Client, f *Filter[T]) *troika.Job[T] {
	tb.Helper()
	jobs := RequireEnqueuedN(tb, c, 1, f)
	if len(jobs) != 1 {
		return nil
	}
	return jobs[0]
}

// RequireEnqueuedN fails tb unless exactly n stored jobs of kind
// T{}.Kind() match f, and returns them oldest first.
func RequireEnqueuedN[T troika.JobArgs](tb testing.TB, c *troika.Client, n int, f *Filter[T]) []*troika.Job[T] {
	tb.Helper()
	jobs := Enqueued(tb, c, f)
	if len(jobs) != n {
		var zero T
		tb.Fatalf("troikatest: want %d job(s) of kind %q matching the filter, found %d%s",
			n, zero.Kind(), len(jobs), describe(tb, c, zero.Kind()))
		return nil
	}
	return jobs
}

// RequireNotEnqueued fails tb if any stored job of kind T{}.Kind() matches f.
func RequireNotEnqueued[T troika.JobArgs](tb testing.TB, c *troika.Client, f *Filter[T]) {
	tb.Helper()
	if jobs := Enqueued(tb, c, f); len(jobs) > 0 {
		var zero T
		tb.Fatalf("troikatest: want no job of kind %q matching the filter, found %d (first: %s in queue %q, %s)",
			zero.Kind(), len(jobs), jobs[0].ID, jobs[0].Queue, jobs[0].State)
	}
}

// describe lists up to five jobs of kind for a failure message.
func describe(tb testing.TB, c *troika.Client, kind string) string {
	page, err := c.ListJobs(tb.Context(), troika.ListParams{Kind: kind, Limit: 5})
	if err != nil || len(page.Jobs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("; stored jobs of that kind:")
	for _, j := range page.Jobs {
		fmt.Fprintf(&b, "\n\t%s queue=%q priority=%d state=%s args=%s", j.ID, j.Queue, j.Priority, j.State, j.Args)
	}
	return b.String()
}

// WorkOne claims the next ready job of w's queues and runs it inline on the
// calling goroutine with w's handlers (timeouts, panic recovery and
// outcomes as in Run), then returns the job as stored afterwards: completed,
// retryable, dead, cancelled or scheduled (snoozed). It fails tb if no job
// is ready or the job's kind has no handler on w. w must not be running.
func WorkOne(tb testing.TB, w *troika.Worker) *troika.JobRow {
	tb.Helper()
	row, err := w.WorkOne(tb.Context())
	if err != nil {
		tb.Fatalf("troikatest: work one job: %v", err)
		return nil
	}
	return row
}

// WorkAll works ready jobs inline, one at a time as WorkOne does, until
// none is ready, and returns them in the order they ran. Jobs that become
// ready while it works (retries due now, snoozes of zero) are worked too;
// max bounds the total (0: 10,000) so a job that always snoozes to now
// cannot loop forever: reaching it fails tb.
func WorkAll(tb testing.TB, w *troika.Worker, max int) []*troika.JobRow {
	tb.Helper()
	if max <= 0 {
		max = 10_000
	}
	var out []*troika.JobRow
	for len(out) < max {
		row, err := w.WorkOne(tb.Context())
		if errors.Is(err, troika.ErrNotFound) {
			return out
		}
		if err != nil {
			tb.Fatalf("troikatest: work job %d: %v", len(out)+1, err)
			return out
		}
		out = append(out, row)
	}
	tb.Fatalf("troikatest: still jobs ready after working %d; a job may be snoozing to now forever", max)
	return out
}
