// Command quickstart is the smallest complete Troika program: it opens an
// embedded store, enqueues a few jobs (one delayed, one that fails twice
// before it succeeds), works them with a Worker and exits when all are done.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"sync/atomic"
	"time"

	"github.com/troikahq/troika"
)

// Resize is a job: its fields are the args, Kind names its handler.
type Resize struct {
	Path  string `json:"path"`
	Width int    `json:"width"`
}

// Kind is stable: it is stored with every job and never derived from the type name.
func (Resize) Kind() string { return "image.resize" }

func main() {
	dir, err := os.MkdirTemp("", "troika-quickstart-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := run(context.Background(), dir, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// run does the work of main in dir and writes what happens to out.
func run(ctx context.Context, dir string, out *os.File) error {
	c, err := troika.Open(ctx, troika.Config{Dir: dir})
	if err != nil {
		return err
	}
	defer c.Close()

	jobs := []troika.EnqueueItem{
		troika.Item(Resize{Path: "cat.png", Width: 320}),
		troika.Item(Resize{Path: "dog.png", Width: 640}, troika.Delay(500*time.Millisecond)),
		troika.Item(Resize{Path: "flaky.png", Width: 100}, troika.MaxAttempts(5)),
	}
	if _, err := c.EnqueueMany(ctx, jobs...); err != nil { // atomic and durable
		return err
	}

	var done atomic.Int32
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	w := troika.NewWorker(c, troika.WorkerConfig{Concurrency: 4})
	troika.Handle(w, func(ctx context.Context, j *troika.Job[Resize]) error {
		if j.Args.Path == "flaky.png" && j.Attempt < 3 {
			fmt.Fprintf(out, "%s: attempt %d failed, will retry\n", j.Args.Path, j.Attempt)
			return errors.New("thumbnail service unavailable")
		}
		fmt.Fprintf(out, "%s: resized to %dpx on attempt %d\n", j.Args.Path, j.Args.Width, j.Attempt)
		if done.Add(1) == int32(len(jobs)) {
			stop() // everything ran: shut the worker down (it drains first)
		}
		return nil
	}, troika.WithRetryPolicy(func(attempt int, err error) time.Duration { return 100 * time.Millisecond }))
	return w.Run(runCtx)
}
