package servercrash

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/troikahq/troika"
	v1 "github.com/troikahq/troika/gen/troika/v1"
	"github.com/troikahq/troika/gen/troika/v1/troikav1connect"
	"github.com/troikahq/troika/server"
	"github.com/troikahq/troika/store/embedded"
)

// Zombie is the job of the zombie test.
type Zombie struct{}

func (Zombie) Kind() string { return "crash.zombie" }

// childZombie is a worker speaking the raw WorkerService protocol: it
// claims one job with a 1s lease and heartbeats it every 200ms. The parent
// stops it (SIGSTOP) past its lease; when it resumes, its next heartbeat
// fails, and it sends Complete anyway, as a zombie would. It prints what
// the server answered.
func childZombie() int {
	ws := troikav1connect.NewWorkerServiceClient(http.DefaultClient, os.Getenv(envAddr), connect.WithProtoJSON())
	ctx := context.Background()
	var job *v1.Job
	for deadline := time.Now().Add(30 * time.Second); job == nil; {
		r, err := ws.Claim(ctx, connect.NewRequest(&v1.ClaimRequest{Queues: []string{"zombie"}, LeaseSeconds: 1, WorkerId: "zombie", WaitSeconds: 5}))
		if err != nil || time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, "zombie claim:", err)
			return 1
		}
		if len(r.Msg.GetJobs()) == 1 {
			job = r.Msg.GetJobs()[0]
		}
	}
	fmt.Println("claimed")
	fmt.Println(job.GetId(), job.GetAttempt())
	for range 300 {
		time.Sleep(200 * time.Millisecond) // the heartbeat interval of this worker
		hb, err := ws.Heartbeat(ctx, connect.NewRequest(&v1.HeartbeatRequest{Leases: []*v1.HeartbeatItem{{Id: job.GetId(), LeaseToken: job.GetLeaseToken(), LeaseSeconds: 1}}}))
		if err != nil {
			fmt.Fprintln(os.Stderr, "zombie heartbeat:", err)
			return 1
		}
		if code := hb.Msg.GetResults()[0].GetCode(); code != "ok" {
			fmt.Println("heartbeat", code)
			res, err := ws.Complete(ctx, connect.NewRequest(&v1.CompleteRequest{Leases: []*v1.CompleteItem{{Id: job.GetId(), LeaseToken: job.GetLeaseToken()}}}))
			if err != nil {
				fmt.Fprintln(os.Stderr, "zombie complete:", err)
				return 1
			}
			fmt.Println("complete", res.Msg.GetResults()[0].GetCode())
			return 0
		}
	}
	fmt.Fprintln(os.Stderr, "zombie: the lease never expired")
	return 1
}

// TestZombieWorker stops a worker process (SIGSTOP) past its lease: the
// server rescues the job, another worker runs it again and completes it;
// when the zombie resumes (SIGCONT), its late heartbeat and complete are
// rejected and the final state is not overwritten.
func TestZombieWorker(t *testing.T) {
	t.Parallel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	st, err := embedded.Open(dir, embedded.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := troika.OpenStore(t.Context(), st, troika.Config{Logger: quiet, SweepInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	cfg := server.Defaults()
	cfg.Addr = "127.0.0.1:0"
	srv, err := server.New(server.Options{Config: cfg, Store: st, Client: sc, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Stop(context.Background()) }()

	res, err := sc.Enqueue(t.Context(), Zombie{}, troika.Queue("zombie"))
	if err != nil {
		t.Fatal(err)
	}
	zombie, out := child(t, "zombie", "claimed", envAddr+"="+srv.URL())
	defer func() { _ = zombie.Process.Kill(); _ = zombie.Wait() }()
	if !out.Scan() || !strings.HasPrefix(out.Text(), res.ID.String()+" 1") {
		t.Fatalf("zombie claimed %q, want job %s attempt 1", out.Text(), res.ID)
	}
	if err := zombie.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}

	// Another worker, over the API, gets the job once the lease expires.
	c, err := troika.Dial(t.Context(), srv.URL(), troika.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := troika.NewWorker(c, troika.WorkerConfig{Queues: map[string]int{"zombie": 1}, LeaseTTL: 5 * time.Second, Logger: quiet})
	ran := make(chan int, 1)
	troika.Handle(w, func(_ context.Context, j *troika.Job[Zombie]) error { ran <- j.Attempt; return nil })
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var attempt int
	select {
	case attempt = <-ran:
	case <-time.After(60 * time.Second):
		t.Fatal("the stopped worker's job was not run again within 60s")
	}
	var j *troika.JobRow
	eventually(t, 10*time.Second, func() bool {
		j, err = c.GetJob(t.Context(), res.ID)
		return err == nil && j.State == troika.StateCompleted
	}, "the second run completes")
	stop()
	if err := <-done; err != nil {
		t.Fatalf("worker Run: %v", err)
	}

	if err := zombie.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for out.Scan() {
		lines = append(lines, out.Text())
	}
	if err := zombie.Wait(); err != nil {
		t.Fatalf("zombie: %v (output %q)", err, lines)
	}
	if strings.Join(lines, "|") != "heartbeat failed_precondition|complete failed_precondition" {
		t.Fatalf("zombie saw %q, want its late heartbeat and complete rejected", lines)
	}
	after, err := c.GetJob(t.Context(), res.ID)
	if err != nil {
		t.Fatal(err)
	}
	if attempt != 2 || after.State != troika.StateCompleted || after.Attempt != 2 || !after.FinishedAt.Equal(j.FinishedAt) {
		t.Fatalf("job after the zombie: state %s attempt %d (second run attempt %d) finished %v (was %v)",
			after.State, after.Attempt, attempt, after.FinishedAt, j.FinishedAt)
	}
}
