package troika_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/troikahq/troika"
)

// SendEmail is a job's arguments: any JSON-encodable type with a stable Kind.
type SendEmail struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
}

// Kind names the handler; it is stored with the job and must never change.
func (SendEmail) Kind() string { return "email.send" }

// Open an embedded, durable store, enqueue a job and work it.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "troika-example-")
	defer os.RemoveAll(dir)

	c, err := troika.Open(ctx, troika.Config{Dir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	if _, err := c.Enqueue(ctx, SendEmail{To: "ada@example.com", Subject: "Welcome"}, troika.Queue("emails")); err != nil {
		fmt.Println(err)
		return
	}

	runCtx, stop := context.WithCancel(ctx)
	w := troika.NewWorker(c, troika.WorkerConfig{Queues: map[string]int{"emails": 1}})
	troika.Handle(w, func(ctx context.Context, j *troika.Job[SendEmail]) error {
		fmt.Printf("sending %q to %s (attempt %d)\n", j.Args.Subject, j.Args.To, j.Attempt)
		stop() // one job is enough for the example: shut the worker down
		return nil
	})
	if err := w.Run(runCtx); err != nil { // blocks until runCtx is done, then drains
		fmt.Println(err)
	}
	// Output: sending "Welcome" to ada@example.com (attempt 1)
}

// A unique key deduplicates enqueues within its window: the second enqueue
// returns the first job.
func ExampleUnique() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "troika-example-")
	defer os.RemoveAll(dir)
	c, _ := troika.Open(ctx, troika.Config{Dir: dir})
	defer c.Close()

	first, _ := c.Enqueue(ctx, SendEmail{To: "ada@example.com"}, troika.Unique("welcome:ada", 24*time.Hour))
	second, _ := c.Enqueue(ctx, SendEmail{To: "ada@example.com"}, troika.Unique("welcome:ada", 24*time.Hour))
	fmt.Println(first.Duplicate, second.Duplicate, first.ID == second.ID)
	// Output: false true true
}

// Bad input is rejected with a typed error that names the field, and
// nothing is enqueued.
func ExampleInvalidArgumentError() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "troika-example-")
	defer os.RemoveAll(dir)
	c, _ := troika.Open(ctx, troika.Config{Dir: dir})
	defer c.Close()

	_, err := c.Enqueue(ctx, SendEmail{}, troika.Priority(9))
	var ia *troika.InvalidArgumentError
	fmt.Println(errors.As(err, &ia), errors.Is(err, troika.ErrInvalidArgument), ia.Field)
	// Output: true true priority
}

// EnqueueMany is atomic: every job is stored, or none.
func ExampleClient_EnqueueMany() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "troika-example-")
	defer os.RemoveAll(dir)
	c, _ := troika.Open(ctx, troika.Config{Dir: dir})
	defer c.Close()

	res, err := c.EnqueueMany(ctx,
		troika.Item(SendEmail{To: "a@example.com"}),
		troika.Item(SendEmail{To: "b@example.com"}, troika.Delay(time.Hour)),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(res), res[0].State, res[1].State)
	// Output: 2 available scheduled
}

// Handlers choose each job's fate by what they return.
func ExampleHandle() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "troika-example-")
	defer os.RemoveAll(dir)
	c, _ := troika.Open(ctx, troika.Config{Dir: dir})
	defer c.Close()

	w := troika.NewWorker(c, troika.WorkerConfig{})
	troika.Handle(w, func(ctx context.Context, j *troika.Job[SendEmail]) error {
		switch j.Args.To {
		case "":
			return troika.Permanent(errors.New("no recipient")) // dead now, no retries
		case "later@example.com":
			return troika.Snooze(time.Hour) // run again in an hour; the attempt is not spent
		}
		return nil // completed
	})
	for _, to := range []string{"ada@example.com", "", "later@example.com"} {
		_, _ = c.Enqueue(ctx, SendEmail{To: to})
	}
	for range 3 {
		row, err := w.WorkOne(ctx) // works one job inline, as Run would
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(row.State)
	}
	// Output:
	// completed
	// dead
	// scheduled
}
