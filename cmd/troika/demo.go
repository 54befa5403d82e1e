package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/troikahq/troika"
	"github.com/troikahq/troika/internal/cli"
)

// The demo's job kinds. Each is an ordinary SDK job type, as a user writes.
type (
	demoEmail struct {
		To      string `json:"to"`
		Subject string `json:"subject"`
	}
	demoReport struct {
		Name string `json:"name"`
	}
	demoWebhook struct {
		URL string `json:"url"`
	}
	demoPayment struct {
		Invoice string `json:"invoice"`
	}
	demoImage struct {
		Path string `json:"path"`
	}
)

func (demoEmail) Kind() string   { return "email.send" }
func (demoReport) Kind() string  { return "report.generate" }
func (demoWebhook) Kind() string { return "webhook.call" }
func (demoPayment) Kind() string { return "payment.reconcile" }
func (demoImage) Kind() string   { return "image.resize" }

// demoSummary is the JSON output of demo --json.
type demoSummary struct {
	DataDir string      `json:"dataDir,omitempty"`
	Queues  []cli.Queue `json:"queues"`
	Dead    []cli.Job   `json:"dead"`
}

func (a *app) demoCmd() *cobra.Command {
	var scale float64
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a short demo: jobs enqueued, retried, dead-lettered and worked on an embedded store",
		Long: `Run a short demo on an embedded store (in a temporary directory that is
removed afterwards, unless --data is given): jobs of a few kinds are enqueued
(one delayed, one deduplicated by a unique key, one batch), a worker runs
them, one webhook fails twice and then succeeds, two poison jobs end in the
dead-letter queue. Every attempt is printed as it happens, then the queues
and the dead jobs' errors. Takes a few seconds.`,
		Args: args(cobra.NoArgs),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			if scale <= 0 || scale > 10 {
				return cli.Usagef("--time-scale must be in (0, 10]")
			}
			return a.runDemo(cmd.Context(), cmd.Flags().Changed("data"), scale)
		}),
	}
	cmd.Flags().Float64Var(&scale, "time-scale", 1, "multiply the demo's delays and back-offs (for tests)")
	_ = cmd.Flags().MarkHidden("time-scale")
	return cmd
}

// demoLog prints the demo's events, one line each, with the time since start.
type demoLog struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
}

func (l *demoLog) printf(format string, args ...any) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%6.2fs  %s\n", time.Since(l.start).Seconds(), fmt.Sprintf(format, args...))
}

// short abbreviates a job id for the event lines (UUIDv7s made together share
// their leading, time-based digits).
func short(id troika.JobID) string {
	s := id.String()
	return "…" + s[len(s)-8:]
}

func (a *app) runDemo(ctx context.Context, keep bool, scale float64) (err error) {
	d := func(x time.Duration) time.Duration { return time.Duration(float64(x) * scale) }
	dir := a.dataDir
	if !keep {
		dir, err = os.MkdirTemp("", "troika-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	var log *demoLog
	if !a.json {
		log = &demoLog{w: a.stdout, start: time.Now()}
		fmt.Fprintf(a.stdout, "Troika demo: an embedded store in %s, one worker.\n\n", dir)
	}
	c, err := troika.Open(ctx, troika.Config{Dir: dir, Logger: a.logger(), SweepInterval: max(d(time.Second), 10*time.Millisecond)})
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer func() {
		if cerr := c.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close: %w", cerr)
		}
	}()

	// Enqueue.
	var ids []troika.JobID
	enq := func(args troika.JobArgs, note string, opts ...troika.EnqueueOption) (*troika.EnqueueResult, error) {
		res, err := c.Enqueue(ctx, args, opts...)
		if err != nil {
			return nil, fmt.Errorf("enqueue %s: %w", args.Kind(), err)
		}
		if res.Duplicate {
			log.printf("enqueue  %-17s %s  duplicate: the unique key matched job %s, nothing new enqueued", args.Kind(), short(res.ID), short(res.ID))
		} else {
			ids = append(ids, res.ID)
			log.printf("enqueue  %-17s %s  %s%s", args.Kind(), short(res.ID), res.State, note)
		}
		return res, nil
	}
	welcome := demoEmail{To: "ada@example.com", Subject: "Welcome to Troika"}
	first, err := enq(welcome, "  (unique key welcome:ada for 1h)", troika.Queue("emails"), troika.Unique("welcome:ada", time.Hour))
	if err != nil {
		return err
	}
	again, err := enq(welcome, "", troika.Queue("emails"), troika.Unique("welcome:ada", time.Hour))
	if err != nil {
		return err
	}
	batch, err := c.EnqueueMany(ctx,
		troika.Item(demoEmail{To: "grace@example.com", Subject: "Weekly digest"}, troika.Queue("emails"), troika.Priority(3)),
		troika.Item(demoEmail{To: "linus@example.com", Subject: "Weekly digest"}, troika.Queue("emails"), troika.Priority(3)),
		troika.Item(demoEmail{To: "barbara@example.com", Subject: "Weekly digest"}, troika.Queue("emails"), troika.Priority(3)),
	)
	if err != nil {
		return fmt.Errorf("enqueue digest batch: %w", err)
	}
	for _, r := range batch {
		ids = append(ids, r.ID)
		log.printf("enqueue  %-17s %s  %s  (one atomic batch of %d, priority 3)", "email.send", short(r.ID), r.State, len(batch))
	}
	reportDelay := d(2 * time.Second)
	if _, err := enq(demoReport{Name: "daily-sales"}, fmt.Sprintf("  (delayed %s)", cli.HumanDuration(reportDelay.Round(time.Millisecond))),
		troika.Queue("reports"), troika.Delay(reportDelay)); err != nil {
		return err
	}
	if _, err := enq(demoWebhook{URL: "https://hooks.example.com/orders"}, "  (the endpoint fails twice, then recovers)",
		troika.Queue("webhooks"), troika.MaxAttempts(5)); err != nil {
		return err
	}
	if _, err := enq(demoPayment{Invoice: "INV-1042"}, "  (poison: fails every attempt, max 3 attempts)", troika.MaxAttempts(3)); err != nil {
		return err
	}
	if _, err := enq(demoImage{Path: "uploads/cat.tiff"}, "  (fails permanently)"); err != nil {
		return err
	}

	// Work.
	backoff := func(attempt int, _ error) time.Duration { return d(time.Duration(attempt) * 300 * time.Millisecond) }
	var (
		runsMu sync.Mutex
		runs   = map[troika.JobID]int{}
	)
	ran := func(id troika.JobID) {
		runsMu.Lock()
		runs[id]++
		runsMu.Unlock()
	}
	attempt := func(row *troika.JobRow) string { return fmt.Sprintf("attempt %d/%d", row.Attempt, row.MaxAttempts) }
	failed := func(row *troika.JobRow, err error) error {
		if row.Attempt >= row.MaxAttempts {
			log.printf("run      %-17s %s  %s  failed: %v -> dead (attempts exhausted)", row.Kind, short(row.ID), attempt(row), err)
		} else {
			log.printf("run      %-17s %s  %s  failed: %v -> retry in %s", row.Kind, short(row.ID), attempt(row), err,
				cli.HumanDuration(backoff(row.Attempt, err).Round(time.Millisecond)))
		}
		return err
	}
	w := troika.NewWorker(c, troika.WorkerConfig{
		Queues:      map[string]int{"emails": 3, "webhooks": 2, "reports": 1, troika.DefaultQueue: 1},
		Concurrency: 10,
		RetryPolicy: backoff,
		// The demo prints every attempt itself; the worker's own log lines
		// (a warning per retry, an error per dead job) would repeat them.
		Logger: slog.New(slog.DiscardHandler),
	})
	troika.Handle(w, func(ctx context.Context, j *troika.Job[demoEmail]) error {
		ran(j.ID)
		if err := sleepCtx(ctx, d(40*time.Millisecond)); err != nil {
			return err
		}
		log.printf("run      %-17s %s  %s  completed: sent %q to %s", j.Kind, short(j.ID), attempt(j.JobRow), j.Args.Subject, j.Args.To)
		return nil
	})
	troika.Handle(w, func(ctx context.Context, j *troika.Job[demoReport]) error {
		ran(j.ID)
		log.printf("run      %-17s %s  %s  completed: %s report, started %s after enqueue", j.Kind, short(j.ID), attempt(j.JobRow),
			j.Args.Name, cli.HumanDuration(time.Since(j.CreatedAt).Round(time.Millisecond)))
		return nil
	})
	troika.Handle(w, func(ctx context.Context, j *troika.Job[demoWebhook]) error {
		ran(j.ID)
		if j.Attempt <= 2 {
			return failed(j.JobRow, fmt.Errorf("POST %s: 503 Service Unavailable", j.Args.URL))
		}
		log.printf("run      %-17s %s  %s  completed: POST %s: 200 OK", j.Kind, short(j.ID), attempt(j.JobRow), j.Args.URL)
		return nil
	}, troika.WithRetryPolicy(backoff))
	troika.Handle(w, func(ctx context.Context, j *troika.Job[demoPayment]) error {
		ran(j.ID)
		return failed(j.JobRow, fmt.Errorf("reconcile %s: ledger mismatch (expected 120.00, got 12.00)", j.Args.Invoice))
	}, troika.WithRetryPolicy(backoff))
	troika.Handle(w, func(ctx context.Context, j *troika.Job[demoImage]) error {
		ran(j.ID)
		err := fmt.Errorf("resize %s: unsupported format tiff", j.Args.Path)
		log.printf("run      %-17s %s  %s  failed permanently: %v -> dead", j.Kind, short(j.ID), attempt(j.JobRow), err)
		return troika.Permanent(err)
	})

	wctx, stopWorker := context.WithCancel(ctx)
	defer stopWorker()
	var runErr error
	wdone := make(chan struct{})
	go func() {
		defer close(wdone)
		runErr = w.Run(wctx)
	}()
	waitErr := waitFinal(ctx, c, ids, max(d(30*time.Second), 5*time.Second), wdone)
	stopWorker()
	<-wdone
	if runErr != nil {
		return fmt.Errorf("worker: %w", runErr)
	}
	if waitErr != nil {
		return waitErr
	}

	// Summary, from the store.
	qs, err := c.ListQueues(ctx)
	if err != nil {
		return err
	}
	var dead []*troika.JobRow
	for _, id := range ids {
		j, err := c.GetJob(ctx, id)
		if err != nil {
			return err
		}
		if j.State == troika.StateDead {
			dead = append(dead, j)
		}
	}
	if a.json {
		out := demoSummary{Queues: make([]cli.Queue, 0, len(qs)), Dead: jobViews(dead)}
		if keep {
			out.DataDir = dir
		}
		for _, q := range qs {
			out.Queues = append(out.Queues, cli.QueueView(q))
		}
		return a.printJSON(out)
	}
	fmt.Fprintln(a.stdout, "\nQueues (jobs per state, from the store):")
	if err := printQueueTable(a, qs); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "\nDead-letter queue: %d %s\n", len(dead), plural(len(dead), "job", "jobs"))
	for _, j := range dead {
		fmt.Fprintf(a.stdout, "  %s  %s (queue %s), %d of %d attempts\n", j.ID, j.Kind, j.Queue, j.Attempt, j.MaxAttempts)
		for _, e := range j.Errors {
			fmt.Fprintf(a.stdout, "    attempt %d: %s\n", e.Attempt, e.Message)
		}
	}
	runsMu.Lock()
	n := runs[first.ID]
	runsMu.Unlock()
	fmt.Fprintf(a.stdout, "\nUnique key welcome:ada: enqueued twice, stored once (duplicate=%t, same id: %t), ran %d %s.\n",
		again.Duplicate, again.ID == first.ID, n, plural(n, "time", "times"))
	if keep {
		fmt.Fprintf(a.stdout, "\nThe data is kept in %s. Explore it:\n  troika job list --data %s\n  troika dlq list --data %s\n  troika dlq replay --data %s --queue default\n", dir, dir, dir, dir)
	} else {
		fmt.Fprintln(a.stdout, "\nThe store was in a temporary directory, now removed. Keep it with --data DIR, then explore it with `troika job list --data DIR`.")
	}
	return nil
}

// waitFinal waits until every job in ids is in a final state, polling the
// store, or until timeout, ctx or the worker's end (wdone closed).
func waitFinal(ctx context.Context, c *troika.Client, ids []troika.JobID, timeout time.Duration, wdone <-chan struct{}) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	pending := ids
	for {
		var still []troika.JobID
		for _, id := range pending {
			j, err := c.GetJob(ctx, id)
			if err != nil {
				return err
			}
			if !j.State.Final() {
				still = append(still, id)
			}
		}
		if pending = still; len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wdone:
			return errors.New("the worker stopped early")
		case <-deadline.C:
			return fmt.Errorf("demo did not finish within %s: %d jobs not finished", timeout, len(pending))
		case <-tick.C:
		}
	}
}

// sleepCtx sleeps for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
