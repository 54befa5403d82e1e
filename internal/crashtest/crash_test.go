package crashtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/troikahq/troika"
)

// The child process is this test binary re-executed with these variables.
const (
	envMode = "TROIKA_CRASH_CHILD" // "load" or "drain"
	envDir  = "TROIKA_CRASH_DIR"   // data directory
	envRec  = "TROIKA_CRASH_REC"   // recorder directory
	envInc  = "TROIKA_CRASH_INC"   // incarnation number
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(envMode); mode != "" {
		os.Exit(child(mode))
	}
	os.Exit(m.Run())
}

// TestCrash kills a real process that enqueues and works jobs at random
// points, restarts it each time, and then checks the recorder against the
// store: lost = 0, nothing stuck, duplicates only for in-flight work.
func TestCrash(t *testing.T) {
	t.Parallel()
	kills := 20
	if testing.Short() {
		kills = 5
	}
	if s := os.Getenv("TROIKA_CRASH_KILLS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("TROIKA_CRASH_KILLS=%q: want a positive integer", s)
		}
		kills = n
	}
	dir, rec := t.TempDir(), t.TempDir()
	ackLog := filepath.Join(rec, "acks.log")

	for inc := 1; inc <= kills; inc++ {
		before := fileSize(ackLog)
		cmd := startChild(t, "load", dir, rec, inc)
		// Let it make progress past the previous incarnation, then kill it at
		// a random point.
		eventually(t, 60*time.Second, func() bool { return fileSize(ackLog) > before+200 },
			"incarnation %d made no progress", inc)
		time.Sleep(time.Duration(rand.IntN(250)) * time.Millisecond) // the random kill point
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("kill incarnation %d: %v", inc, err)
		}
		_ = cmd.Wait() // "signal: killed" is the expected outcome
		if !killedBySignal(cmd) {
			t.Fatalf("incarnation %d exited on its own (%v); stderr in %s", inc, cmd.ProcessState, rec)
		}
	}

	final := kills + 1
	cmd := startChild(t, "drain", dir, rec, final)
	if err := cmd.Wait(); err != nil {
		out, _ := os.ReadFile(filepath.Join(rec, fmt.Sprintf("child-%d.err", final)))
		t.Fatalf("drain incarnation: %v; its output:\n%s", err, out)
	}

	acked := readAcks(t, ackLog)
	runs := readRuns(t, filepath.Join(rec, "runs.log"))
	states := readStates(t, dir)
	rep := check(acked, runs, states, final)
	t.Logf("kills=%d acked=%d stored=%d runs=%d lost=%d stuck=%d in-flight duplicates=%d bad duplicates=%d",
		kills, len(acked), len(states), rep.runs, rep.lost, rep.stuck, rep.inflightDup, rep.badDup)
	if rep.lost != 0 || rep.stuck != 0 || rep.badDup != 0 {
		t.Fatalf("crash test failed: lost=%d stuck=%d bad duplicates=%d; examples: %v", rep.lost, rep.stuck, rep.badDup, rep.examples)
	}
	if len(acked) < kills*200 {
		t.Fatalf("only %d acknowledged enqueues over %d incarnations: the test did not exercise the store", len(acked), kills)
	}
	// Each kill can strand only the attempts in flight then: the handlers
	// running (at most the concurrency) and those whose handler had returned
	// but whose ack was not yet durable (an ack flush or two: at this load
	// a few times the concurrency). Jobs claimed ahead but not started never
	// ran, so they are no duplicates. And the stranded runs were the last
	// of their incarnation (oldDup).
	if bound := kills * 4 * childConcurrency; rep.inflightDup > bound {
		t.Fatalf("%d duplicate runs for %d kills exceeds the in-flight bound %d", rep.inflightDup, kills, bound)
	}
	if rep.oldDup != 0 {
		t.Fatalf("%d cut-off runs were not among the last runs of their incarnation; examples: %v", rep.oldDup, rep.examples)
	}
}

type report struct {
	runs, lost, stuck, inflightDup, badDup int
	// oldDup counts cut-off runs that were not among the last runs of their
	// incarnation: work a kill cannot explain (see check).
	oldDup   int
	examples []string
}

// run is one handler invocation from the run log.
type run struct {
	inc int
	ok  bool
	pos int // the run's place in its incarnation's runs, in log order
}

func check(acked map[int64]bool, runs map[int64][]run, states map[int64]troika.JobState, final int) report {
	var r report
	cut := map[int][]int{} // incarnation -> positions of its cut-off successful runs
	note := func(format string, a ...any) {
		if len(r.examples) < 10 {
			r.examples = append(r.examples, fmt.Sprintf(format, a...))
		}
	}
	for seq := range acked {
		st, ok := states[seq]
		switch {
		case !ok:
			r.lost++
			note("seq %d acknowledged but not in the store", seq)
		case st != troika.StateCompleted:
			r.stuck++
			note("seq %d is %s after the drain", seq, st)
		}
		if !hasOK(runs[seq]) {
			r.lost++
			note("seq %d acknowledged but no handler run succeeded", seq)
		}
	}
	for seq, st := range states {
		if st == troika.StateRunning {
			r.stuck++
			note("seq %d stuck running", seq)
		}
	}
	for seq, rs := range runs {
		r.runs += len(rs)
		// Every successful run but the last must have been cut off by a
		// kill (its ack was not durable); anything else ran twice for no
		// reason.
		var oks []run
		for _, x := range rs {
			if x.ok {
				oks = append(oks, x)
			}
		}
		for i := 0; i+1 < len(oks); i++ {
			if oks[i].inc == final || oks[i].inc == oks[i+1].inc {
				r.badDup++
				note("seq %d succeeded twice without a kill in between (incarnations %d, %d)", seq, oks[i].inc, oks[i+1].inc)
			} else {
				r.inflightDup++
				cut[oks[i].inc] = append(cut[oks[i].inc], oks[i].pos)
			}
		}
	}
	// A run cut off by a kill was among the last work of its incarnation:
	// the handlers running then, and those whose ack was not yet durable.
	// So each incarnation's cut-off runs must lie within its last
	// (their number + tailSlack) runs; an older one ran again for another
	// reason.
	total := map[int]int{}
	for _, rs := range runs {
		for _, x := range rs {
			total[x.inc] = max(total[x.inc], x.pos+1)
		}
	}
	for inc, ps := range cut {
		for _, p := range ps {
			if total[inc]-p > len(ps)+tailSlack {
				r.oldDup++
				note("incarnation %d: run %d of %d was cut off, but %d cut-off runs and a slack of %d do not reach back that far",
					inc, p, total[inc], len(ps), tailSlack)
			}
		}
	}
	return r
}

// tailSlack is how far beyond its count the cut-off runs of one incarnation
// may reach back in its run log: handlers start out of claim order and run
// concurrently (Concurrency), and claimed-ahead batches interleave.
const tailSlack = 4 * childConcurrency

func hasOK(rs []run) bool {
	for _, x := range rs {
		if x.ok {
			return true
		}
	}
	return false
}

// ---- the child ----

const childConcurrency = 20

type crashJob struct {
	Seq int64 `json:"seq"`
}

func (crashJob) Kind() string { return "crash.job" }

func child(mode string) int {
	dir, rec := os.Getenv(envDir), os.Getenv(envRec)
	inc, err := strconv.Atoi(os.Getenv(envInc))
	if err != nil || dir == "" || rec == "" {
		fmt.Fprintln(os.Stderr, "crash child: missing environment")
		return 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Rescued attempts (every kill leaves some) come back quickly, so that a
	// job in flight at several kills does not wait out the default back-off
	// (minutes by the fourth attempt) past the drain's deadline.
	c, err := troika.Open(ctx, troika.Config{Dir: dir, SweepInterval: 100 * time.Millisecond,
		RescueRetryPolicy: func(int, error) time.Duration { return 10 * time.Millisecond }})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 1
	}
	defer c.Close()
	runs := mustAppend(filepath.Join(rec, "runs.log"))
	acks := mustAppend(filepath.Join(rec, "acks.log"))

	w := troika.NewWorker(c, troika.WorkerConfig{
		Queues:      map[string]int{"default": 3, "low": 1},
		Concurrency: childConcurrency,
		LeaseTTL:    2 * time.Second,
	})
	troika.Handle(w, func(ctx context.Context, j *troika.Job[crashJob]) error {
		fail := j.Attempt < 4 && rand.IntN(10) == 0
		fmt.Fprintf(runs, "R %d %d %d %t\n", inc, j.Args.Seq, j.Attempt, !fail)
		if d := rand.IntN(3); d > 0 {
			time.Sleep(time.Duration(d) * time.Millisecond) // simulated work
		}
		if fail {
			return fmt.Errorf("injected failure")
		}
		return nil
	}, troika.WithRetryPolicy(func(int, error) time.Duration { return 5 * time.Millisecond }))

	werr := make(chan error, 1)
	wctx, stopWorker := context.WithCancel(ctx)
	defer stopWorker()
	go func() { werr <- w.Run(wctx) }()

	if mode == "drain" {
		err := drain(ctx, c)
		stopWorker()
		if rerr := <-werr; err == nil {
			err = rerr
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "drain:", err)
			return 1
		}
		return 0
	}
	produce(ctx, c, inc, acks) // until killed
	return 0
}

// produce enqueues jobs forever from three goroutines, single and batched,
// and records every acknowledged one.
func produce(ctx context.Context, c *troika.Client, inc int, acks *os.File) {
	next := make(chan int64)
	go func() {
		for i := int64(1); ; i++ {
			next <- int64(inc)*10_000_000 + i
		}
	}()
	queues := []string{"default", "low"}
	for g := 0; g < 3; g++ {
		go func() {
			for {
				n := 1 + rand.IntN(20)
				items := make([]troika.EnqueueItem, n)
				seqs := make([]int64, n)
				for i := range items {
					seqs[i] = <-next
					items[i] = troika.Item(crashJob{Seq: seqs[i]},
						troika.Queue(queues[rand.IntN(2)]), troika.Priority(1+rand.IntN(4)))
				}
				if _, err := c.EnqueueMany(ctx, items...); err != nil {
					fmt.Fprintln(os.Stderr, "enqueue:", err)
					os.Exit(1)
				}
				var b bytes.Buffer
				for _, s := range seqs {
					fmt.Fprintf(&b, "A %d\n", s)
				}
				if _, err := acks.Write(b.Bytes()); err != nil {
					os.Exit(1)
				}
			}
		}()
	}
	<-ctx.Done()
}

// drain waits until no job is waiting or running, polling the queue counts.
func drain(ctx context.Context, c *troika.Client) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		qs, err := c.ListQueues(ctx)
		if err != nil {
			return err
		}
		pending := int64(0)
		for _, q := range qs {
			for _, s := range []troika.JobState{troika.StateAvailable, troika.StateScheduled, troika.StateRetryable, troika.StateRunning} {
				pending += q.Counts[s]
			}
		}
		if pending == 0 {
			return nil
		}
		time.Sleep(20 * time.Millisecond) // the child polls its own store; not test synchronisation
	}
	return fmt.Errorf("jobs still pending after 2 minutes")
}

func mustAppend(path string) *os.File {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	return f
}

// ---- the parent's helpers ----

func startChild(t *testing.T, mode, dir, rec string, inc int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envMode+"="+mode, envDir+"="+dir, envRec+"="+rec, envInc+"="+strconv.Itoa(inc))
	errf, err := os.Create(filepath.Join(rec, fmt.Sprintf("child-%d.err", inc)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { errf.Close() })
	cmd.Stdout, cmd.Stderr = errf, errf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

func killedBySignal(cmd *exec.Cmd) bool {
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, cond func() bool, format string, a ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf(format, a...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func readAcks(t *testing.T, path string) map[int64]bool {
	t.Helper()
	out := map[int64]bool{}
	eachLine(t, path, func(f []string) {
		if len(f) == 2 && f[0] == "A" {
			if s, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				out[s] = true
			}
		}
	})
	return out
}

func readRuns(t *testing.T, path string) map[int64][]run {
	t.Helper()
	out := map[int64][]run{}
	perInc := map[int]int{}
	eachLine(t, path, func(f []string) {
		if len(f) != 5 || f[0] != "R" {
			return // a line cut by the kill
		}
		inc, err1 := strconv.Atoi(f[1])
		seq, err2 := strconv.ParseInt(f[2], 10, 64)
		ok, err3 := strconv.ParseBool(f[4])
		if err1 == nil && err2 == nil && err3 == nil {
			out[seq] = append(out[seq], run{inc: inc, ok: ok, pos: perInc[inc]})
			perInc[inc]++
		}
	})
	return out
}

func eachLine(t *testing.T, path string, fn func([]string)) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fn(strings.Fields(sc.Text()))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

// readStates opens the store after the last child exited and maps each
// job's sequence number to its state.
func readStates(t *testing.T, dir string) map[int64]troika.JobState {
	t.Helper()
	ctx := context.Background()
	c, err := troika.Open(ctx, troika.Config{Dir: dir, DisableMaintenance: true})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer c.Close()
	out := map[int64]troika.JobState{}
	var cursor troika.JobID
	for {
		page, err := c.ListJobs(ctx, troika.ListParams{Limit: 10_000, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range page.Jobs {
			var a crashJob
			if err := json.Unmarshal(j.Args, &a); err != nil {
				t.Fatalf("job %s: args %q: %v", j.ID, j.Args, err)
			}
			out[a.Seq] = j.State
		}
		if page.Next.IsZero() {
			return out
		}
		cursor = page.Next
	}
}

// TestCrashCheckOldDuplicate: the checker flags a cut-off run that was not
// among the last work of its incarnation, and accepts one that was.
func TestCrashCheckOldDuplicate(t *testing.T) {
	t.Parallel()
	build := func(cutPos int) map[int64][]run {
		runs := map[int64][]run{}
		for i := range 500 { // incarnation 1 ran seqs 0..499 in order
			runs[int64(i)] = []run{{inc: 1, ok: true, pos: i}}
		}
		runs[int64(cutPos)] = append(runs[int64(cutPos)], run{inc: 2, ok: true, pos: 0})
		return runs
	}
	states := map[int64]troika.JobState{}
	for i := range 500 {
		states[int64(i)] = troika.StateCompleted
	}
	if r := check(nil, build(499), states, 2); r.inflightDup != 1 || r.oldDup != 0 || r.badDup != 0 {
		t.Errorf("last run cut off: %+v, want one in-flight duplicate", r)
	}
	if r := check(nil, build(3), states, 2); r.oldDup != 1 {
		t.Errorf("run 3 of 500 cut off: %+v, want it flagged as too old", r)
	}
}
