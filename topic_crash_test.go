package troika_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/troikahq/troika"
)

// TestOrderingCrash kills a real process (this test binary re-executed, as
// internal/crashtest does) that publishes ordered events to a topic with
// two subscriptions and works them with handlers failing at random, several
// times with SIGKILL, then drains. From the processes' logs it checks, per
// subscription and ordering key, that no delivery started before its
// predecessor had finished, and that every acknowledged publish was
// delivered to each subscription (lost = 0).
func TestOrderingCrash(t *testing.T) {
	if mode := os.Getenv(ocEnvMode); mode != "" {
		os.Exit(orderingCrashChild(mode)) // the re-executed child: never returns
	}
	t.Parallel()
	kills := 5
	if testing.Short() {
		kills = 2
	}
	dir, rec := t.TempDir(), t.TempDir()
	runLog := filepath.Join(rec, "runs.log")
	for inc := 1; inc <= kills; inc++ {
		before := ocFileSize(runLog)
		cmd := ocStart(t, "load", dir, rec, inc)
		eventually(t, 60*time.Second, func() bool { return ocFileSize(runLog) > before+4000 },
			fmt.Sprintf("incarnation %d made progress", inc))
		time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond) // the random kill point, not synchronisation
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("kill incarnation %d: %v", inc, err)
		}
		_ = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			out, _ := os.ReadFile(filepath.Join(rec, fmt.Sprintf("child-%d.err", inc)))
			t.Fatalf("incarnation %d exited on its own (%v):\n%s", inc, cmd.ProcessState, out)
		}
	}
	final := kills + 1
	if err := ocStart(t, "drain", dir, rec, final).Wait(); err != nil {
		out, _ := os.ReadFile(filepath.Join(rec, fmt.Sprintf("child-%d.err", final)))
		t.Fatalf("drain incarnation: %v:\n%s", err, out)
	}
	acked := ocReadAcks(t, filepath.Join(rec, "acks.log"))
	violations, lost, runs := ocCheck(t, runLog, acked)
	t.Logf("kills=%d acked events=%d handler runs=%d order violations=%d lost=%d", kills, len(acked), runs, len(violations), lost)
	for i, v := range violations {
		if i == 10 {
			break
		}
		t.Error(v)
	}
	if lost != 0 {
		t.Errorf("%d acknowledged deliveries never completed", lost)
	}
	if len(acked) < kills*100 {
		t.Errorf("only %d acknowledged events over %d incarnations: the test did not exercise the store", len(acked), kills)
	}
}

const (
	ocEnvMode = "TROIKA_ORDER_CRASH_CHILD" // "load" or "drain"
	ocEnvDir  = "TROIKA_ORDER_CRASH_DIR"
	ocEnvRec  = "TROIKA_ORDER_CRASH_REC"
	ocEnvInc  = "TROIKA_ORDER_CRASH_INC"
	ocKeys    = 16
	ocTopic   = "crash"
)

var ocSubs = []string{"a", "b"}

type ocEvent struct {
	Seq int64 `json:"seq"`
	Key int   `json:"key"`
}

func (ocEvent) Kind() string { return "crash.event" }

func ocStart(t *testing.T, mode, dir, rec string, inc int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestOrderingCrash$")
	cmd.Env = append(os.Environ(), ocEnvMode+"="+mode, ocEnvDir+"="+dir, ocEnvRec+"="+rec, ocEnvInc+"="+strconv.Itoa(inc))
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

// orderingCrashChild is the child process: it publishes (mode "load", until
// killed) or drains (mode "drain") while a worker runs the deliveries.
// Every handler start is logged as "S inc sub seq key attempt" and every
// successful end (before the ack) as "E inc sub seq key", one write each.
func orderingCrashChild(mode string) int {
	dir, rec := os.Getenv(ocEnvDir), os.Getenv(ocEnvRec)
	inc, err := strconv.Atoi(os.Getenv(ocEnvInc))
	if err != nil || dir == "" || rec == "" {
		fmt.Fprintln(os.Stderr, "child: missing environment")
		return 2
	}
	ctx := context.Background()
	// Rescued attempts (every kill leaves some) come back quickly: a rescued
	// head holds its whole key line, and the default back-off (minutes by
	// the fourth attempt) would outlast the drain's deadline.
	c, err := troika.Open(ctx, troika.Config{Dir: dir, SweepInterval: 50 * time.Millisecond, Logger: quietLogger(),
		RescueRetryPolicy: func(int, error) time.Duration { return 10 * time.Millisecond }})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 1
	}
	defer c.Close()
	queues := map[string]int{}
	for _, s := range ocSubs {
		info, err := c.CreateSubscription(ctx, troika.Subscription{Topic: ocTopic, Name: s})
		if err != nil && !errors.Is(err, troika.ErrAlreadyExists) {
			fmt.Fprintln(os.Stderr, "subscribe:", err)
			return 1
		}
		if info != nil {
			queues[info.Queue] = 1
		} else {
			queues[ocTopic+"."+s] = 1
		}
	}
	runs := ocAppend(filepath.Join(rec, "runs.log"))
	acks := ocAppend(filepath.Join(rec, "acks.log"))
	w := troika.NewWorker(c, troika.WorkerConfig{Queues: queues, Concurrency: 24, LeaseTTL: 2 * time.Second, Logger: quietLogger()})
	troika.Handle(w, func(ctx context.Context, j *troika.Job[ocEvent]) error {
		sub := j.Metadata[troika.MetaSubscription]
		fmt.Fprintf(runs, "S %d %s %d %d %d\n", inc, sub, j.Args.Seq, j.Args.Key, j.Attempt)
		if d := rand.IntN(3); d > 0 {
			time.Sleep(time.Duration(d) * time.Millisecond) // simulated work
		}
		if j.Attempt < 3 && rand.IntN(8) == 0 {
			return errors.New("injected failure")
		}
		fmt.Fprintf(runs, "E %d %s %d %d\n", inc, sub, j.Args.Seq, j.Args.Key)
		return nil
	}, troika.WithRetryPolicy(func(int, error) time.Duration { return 2 * time.Millisecond }))
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	werr := make(chan error, 1)
	go func() { werr <- w.Run(wctx) }()
	if mode == "drain" {
		err := ocDrain(ctx, c)
		stop()
		if rerr := <-werr; err == nil {
			err = rerr
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "drain:", err)
			return 1
		}
		return 0
	}
	// One publisher, so each key's events are published in seq order.
	for i := int64(1); ; i++ {
		n := 1 + rand.IntN(8)
		items := make([]troika.EnqueueItem, n)
		evs := make([]ocEvent, n)
		for k := range items {
			evs[k] = ocEvent{Seq: int64(inc)*10_000_000 + i*10 + int64(k), Key: rand.IntN(ocKeys)}
			items[k] = troika.Item(evs[k], troika.OrderingKey("key-"+strconv.Itoa(evs[k].Key)))
		}
		if _, err := c.PublishMany(ctx, ocTopic, items...); err != nil {
			fmt.Fprintln(os.Stderr, "publish:", err)
			return 1
		}
		var b bytes.Buffer
		for _, e := range evs {
			fmt.Fprintf(&b, "A %d %d\n", e.Seq, e.Key)
		}
		if _, err := acks.Write(b.Bytes()); err != nil {
			return 1
		}
		if i%64 == 0 {
			time.Sleep(time.Millisecond) // let the worker keep up a little; not synchronisation
		}
	}
}

// ocDrain waits until both subscriptions have no unfinished delivery.
func ocDrain(ctx context.Context, c *troika.Client) error {
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		subs, err := c.ListSubscriptions(ctx, ocTopic)
		if err != nil {
			return err
		}
		pending := int64(0)
		for _, s := range subs {
			pending += s.Lag.Undelivered
		}
		if pending == 0 {
			return nil
		}
		time.Sleep(20 * time.Millisecond) // the child polls its own store; not test synchronisation
	}
	return errors.New("deliveries still pending after 90s")
}

func ocAppend(path string) *os.File {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	return f
}

func ocFileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// ocReadAcks returns the acknowledged events: seq → key.
func ocReadAcks(t *testing.T, path string) map[int64]int {
	t.Helper()
	out := map[int64]int{}
	ocLines(t, path, func(f []string) {
		if len(f) == 3 && f[0] == "A" {
			seq, err1 := strconv.ParseInt(f[1], 10, 64)
			key, err2 := strconv.Atoi(f[2])
			if err1 == nil && err2 == nil {
				out[seq] = key
			}
		}
	})
	return out
}

func ocLines(t *testing.T, path string, fn func([]string)) {
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

// ocCheck replays the run log in order. Per (subscription, key), events are
// in seq order (one publisher); a delivery's predecessor is the previous
// event of its key that was delivered at all (an event whose publish was
// cut by a kill may not exist). It reports a violation when a delivery
// starts while its predecessor has not ended successfully, or when a
// delivery starts again after its successor started; and counts acked
// events without a successful end per subscription (lost).
func ocCheck(t *testing.T, runLog string, acked map[int64]int) (violations []string, lost, runs int) {
	t.Helper()
	type line struct {
		start    bool
		sub      string
		seq      int64
		key, inc int
	}
	var log []line
	ocLines(t, runLog, func(f []string) {
		if (f[0] == "S" && len(f) == 6) || (f[0] == "E" && len(f) == 5) {
			inc, e1 := strconv.Atoi(f[1])
			seq, e2 := strconv.ParseInt(f[3], 10, 64)
			key, e3 := strconv.Atoi(f[4])
			if e1 == nil && e2 == nil && e3 == nil {
				log = append(log, line{start: f[0] == "S", sub: f[2], seq: seq, key: key, inc: inc})
			}
		}
	})
	type lineKey struct {
		sub string
		key int
	}
	// The seqs delivered per (sub, key), sorted: the key's order.
	seqs := map[lineKey][]int64{}
	for _, l := range log {
		lk := lineKey{l.sub, l.key}
		if !slices.Contains(seqs[lk], l.seq) {
			seqs[lk] = append(seqs[lk], l.seq)
		}
	}
	prev := map[lineKey]map[int64]int64{} // seq → predecessor seq (0: first)
	for lk, ss := range seqs {
		slices.Sort(ss)
		m := map[int64]int64{}
		for i, s := range ss {
			if i > 0 {
				m[s] = ss[i-1]
			}
		}
		prev[lk] = m
	}
	ended := map[lineKey]map[int64]bool{}
	started := map[lineKey]map[int64]bool{}
	for _, l := range log {
		lk := lineKey{l.sub, l.key}
		if ended[lk] == nil {
			ended[lk], started[lk] = map[int64]bool{}, map[int64]bool{}
		}
		if !l.start {
			runs++
			ended[lk][l.seq] = true
			continue
		}
		if p, ok := prev[lk][l.seq]; ok && !ended[lk][p] {
			violations = append(violations, fmt.Sprintf("%s key %d: seq %d started (incarnation %d) before seq %d ended", l.sub, l.key, l.seq, l.inc, p))
		}
		for s := range started[lk] {
			if s > l.seq {
				violations = append(violations, fmt.Sprintf("%s key %d: seq %d started again (incarnation %d) after its successor %d started", l.sub, l.key, l.seq, l.inc, s))
				break
			}
		}
		started[lk][l.seq] = true
		ended[lk][l.seq] = false // a rerun (after a kill or a failure) must end again
	}
	for seq, key := range acked {
		for _, s := range ocSubs {
			if !ended[lineKey{s, key}][seq] {
				lost++
			}
		}
	}
	return violations, lost, runs
}
