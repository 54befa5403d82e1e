package troika_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/troikahq/troika"
	"github.com/troikahq/troika/internal/sdkhook"
)

// tick is the job the test schedules enqueue.
type tick struct {
	N int `json:"n"`
}

func (tick) Kind() string { return "tick" }

// t0 is a whole minute: every-minute schedules fire at t0 + k minutes.
var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func minute(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }

func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// setupAt is setup with the clock at now.
func setupAt(t *testing.T, now time.Time) *bundle {
	t.Helper()
	b := setup(t)
	b.clock.set(now)
	return b
}

func (b *bundle) upsertSchedule(t *testing.T, s troika.Schedule) *troika.UpsertScheduleResult {
	t.Helper()
	if s.Args == nil {
		s.Args = tick{}
	}
	res, err := b.client.UpsertSchedule(b.ctx, s)
	if err != nil {
		t.Fatalf("UpsertSchedule(%q): %v", s.ID, err)
	}
	return res
}

// passAt sets the clock and runs one scheduler pass.
func (b *bundle) passAt(t *testing.T, at time.Time) {
	t.Helper()
	b.clock.set(at)
	if err := troika.SchedulerPass(b.maint); err != nil {
		t.Fatalf("scheduler pass at %s: %v", at.Format(time.TimeOnly), err)
	}
}

// runAts returns the run times (HH:MM:SS) of every job with kind tick in
// queue q, in creation order.
func runAts(t *testing.T, ctx context.Context, c *troika.Client, q string) []string {
	t.Helper()
	page, err := c.ListJobs(ctx, troika.ListParams{Queue: q, Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, j := range page.Jobs {
		out = append(out, j.RunAt.UTC().Format(time.TimeOnly))
	}
	return out
}

func wantRunAts(t *testing.T, what string, got []string, want ...time.Time) {
	t.Helper()
	var w []string
	for _, x := range want {
		w = append(w, x.UTC().Format(time.TimeOnly))
	}
	if !slices.Equal(got, w) {
		t.Errorf("%s: jobs run at %v, want %v", what, got, w)
	}
}

func TestScheduleUpsertAndList(t *testing.T) {
	t.Parallel()
	b := setupAt(t, minute(0).Add(30*time.Second))
	s := troika.Schedule{ID: "reports/nightly", Spec: "30 2 * * *", TimeZone: "America/New_York",
		Args: tick{N: 7}, Options: []troika.EnqueueOption{troika.Queue("reports"), troika.Priority(1), troika.Tags("cron")}}
	res := b.upsertSchedule(t, s)
	if !res.Created || !res.Changed {
		t.Errorf("first upsert: Created %t Changed %t", res.Created, res.Changed)
	}
	again := b.upsertSchedule(t, s)
	if again.Created || again.Changed {
		t.Errorf("same definition again: Created %t Changed %t, want a no-op", again.Created, again.Changed)
	}
	list, err := b.client.ListSchedules(b.ctx, troika.ScheduleListParams{Next: 3})
	if err != nil || len(list) != 1 {
		t.Fatalf("ListSchedules: %d, %v", len(list), err)
	}
	sc := list[0]
	if sc.ID != "reports/nightly" || sc.Job.Kind != "tick" || string(sc.Job.Args) != `{"n":7}` || sc.Job.Queue != "reports" ||
		sc.Job.Priority != 1 || sc.Job.MaxAttempts != troika.DefaultMaxAttempts || sc.MisfirePolicy != troika.MisfireRunOnce || sc.OverlapPolicy != troika.OverlapAllow {
		t.Errorf("stored schedule: %+v", sc.ScheduleRow)
	}
	ny, _ := time.LoadLocation("America/New_York")
	var next []string
	for _, x := range sc.NextFireTimes {
		next = append(next, x.In(ny).Format("01-02 15:04 MST"))
	}
	// 31 Dec 2029 19:00:30 in New York: the next 02:30s.
	if want := []string{"01-01 02:30 EST", "01-02 02:30 EST", "01-03 02:30 EST"}; !slices.Equal(next, want) {
		t.Errorf("NextFireTimes %v, want %v", next, want)
	}
	// A changed definition is written.
	s.Spec = "0 3 * * *"
	if ch := b.upsertSchedule(t, s); ch.Created || !ch.Changed || ch.Schedule.NextFireTimes[0].In(ny).Hour() != 3 {
		t.Errorf("changed spec: %+v", ch)
	}
}

func TestScheduleBadInput(t *testing.T) {
	t.Parallel()
	b := setupAt(t, minute(0))
	for _, tc := range []struct {
		name  string
		s     troika.Schedule
		field string
	}{
		{"bad spec", troika.Schedule{ID: "a", Spec: "every day", Args: tick{}}, "schedule.spec"},
		{"bad time zone", troika.Schedule{ID: "a", Spec: "@daily", TimeZone: "Moon/Base", Args: tick{}}, "schedule.timezone"},
		{"interval under a second", troika.Schedule{ID: "a", Spec: "@every 100ms", Args: tick{}}, "schedule.spec"},
		{"end before start", troika.Schedule{ID: "a", Spec: "@daily", Start: minute(10), End: minute(1), Args: tick{}}, "schedule.endAt"},
		{"unknown policy", troika.Schedule{ID: "a", Spec: "@daily", Misfire: "eventually", Args: tick{}}, "schedule.misfirePolicy"},
		{"bad queue", troika.Schedule{ID: "a", Spec: "@daily", Args: tick{}, Options: []troika.EnqueueOption{troika.Queue("No Spaces")}}, "schedule.job.queue"},
		{"nil args", troika.Schedule{ID: "a", Spec: "@daily"}, "schedule.job.args"},
		{"bad kind", troika.Schedule{ID: "a", Spec: "@daily", Args: troika.RawArgs{KindName: ""}}, "schedule.job.kind"},
		{"delay option", troika.Schedule{ID: "a", Spec: "@daily", Args: tick{}, Options: []troika.EnqueueOption{troika.Delay(time.Minute)}}, "schedule.job.runAt"},
		{"bad id", troika.Schedule{ID: "has space", Spec: "@daily", Args: tick{}}, "schedule.id"},
	} {
		_, err := b.client.UpsertSchedule(b.ctx, tc.s)
		var ie *troika.InvalidArgumentError
		if !errors.As(err, &ie) || ie.Field != tc.field {
			t.Errorf("%s: %v, want an *InvalidArgumentError for %s", tc.name, err, tc.field)
		}
	}
	if list, err := b.client.ListSchedules(b.ctx, troika.ScheduleListParams{}); err != nil || len(list) != 0 {
		t.Errorf("after rejected upserts: %d schedules, %v", len(list), err)
	}
	for _, id := range []string{"", "bad id"} {
		if _, err := b.client.GetSchedule(b.ctx, id); !errors.Is(err, troika.ErrInvalidArgument) {
			t.Errorf("GetSchedule(%q): %v, want ErrInvalidArgument", id, err)
		}
	}
	if _, err := b.client.GetSchedule(b.ctx, "missing"); !errors.Is(err, troika.ErrNotFound) {
		t.Errorf("GetSchedule(missing): %v, want ErrNotFound", err)
	}
	if err := b.client.DeleteSchedule(b.ctx, "missing"); !errors.Is(err, troika.ErrNotFound) {
		t.Errorf("DeleteSchedule(missing): %v, want ErrNotFound", err)
	}
}

func TestScheduleFiresJobsWorkersRun(t *testing.T) {
	t.Parallel()
	b := setupAt(t, minute(0).Add(10*time.Second))
	b.upsertSchedule(t, troika.Schedule{ID: "m", Spec: "* * * * *", Args: tick{N: 1}, Options: []troika.EnqueueOption{troika.Queue("cron")}})
	b.passAt(t, minute(1))
	wantRunAts(t, "after 00:01", runAts(t, b.ctx, b.client, "cron"), minute(1))
	var got []int
	w := b.worker(func(c *troika.WorkerConfig) { c.Queues = map[string]int{"cron": 1} })
	troika.Handle(w, func(ctx context.Context, j *troika.Job[tick]) error { got = append(got, j.Args.N); return nil })
	row, err := w.WorkOne(b.ctx)
	if err != nil || row.State != troika.StateCompleted || !slices.Equal(got, []int{1}) {
		t.Fatalf("WorkOne: %+v, %v (handler saw %v)", row, err, got)
	}
	info, err := b.client.GetSchedule(b.ctx, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Fires) != 1 || info.Fires[0].JobID != row.ID || info.Fires[0].Outcome != troika.FireEnqueued || !info.NextFireAt.Equal(minute(2)) {
		t.Errorf("schedule after a fire: %+v", info.ScheduleRow)
	}
}

func TestSchedulePauseResumeTriggerDelete(t *testing.T) {
	t.Parallel()
	b := setupAt(t, minute(0).Add(10*time.Second))
	b.upsertSchedule(t, troika.Schedule{ID: "m", Spec: "* * * * *", Options: []troika.EnqueueOption{troika.Queue("p")}})
	info, err := b.client.PauseSchedule(b.ctx, "m")
	if err != nil || !info.Paused || len(info.NextFireTimes) != 0 {
		t.Fatalf("PauseSchedule: %+v, %v", info, err)
	}
	b.passAt(t, minute(3))
	wantRunAts(t, "while paused", runAts(t, b.ctx, b.client, "p"))
	// A trigger runs now, paused or not, and leaves the timetable alone.
	res, err := b.client.TriggerSchedule(b.ctx, "m")
	if err != nil || res.State != troika.StateAvailable {
		t.Fatalf("TriggerSchedule: %+v, %v", res, err)
	}
	wantRunAts(t, "after a trigger", runAts(t, b.ctx, b.client, "p"), minute(3))
	b.clock.set(minute(3).Add(20 * time.Second))
	info, err = b.client.ResumeSchedule(b.ctx, "m")
	if err != nil || info.Paused || !info.NextFireAt.Equal(minute(4)) {
		t.Fatalf("ResumeSchedule: %+v, %v; want the next fire at 00:04 (paused instants are not misfires)", info, err)
	}
	b.passAt(t, minute(4))
	wantRunAts(t, "after resume", runAts(t, b.ctx, b.client, "p"), minute(3), minute(4))
	info, _ = b.client.GetSchedule(b.ctx, "m")
	if n := len(info.Fires); n != 2 || info.Fires[0].Outcome != troika.FireTriggered || info.Fires[1].Outcome != troika.FireEnqueued {
		t.Errorf("history: %+v", info.Fires)
	}
	if err := b.client.DeleteSchedule(b.ctx, "m"); err != nil {
		t.Fatal(err)
	}
	b.passAt(t, minute(10))
	wantRunAts(t, "after delete (jobs stay, no new fires)", runAts(t, b.ctx, b.client, "p"), minute(3), minute(4))
}

func TestScheduleReconcile(t *testing.T) {
	t.Parallel()
	b := setupAt(t, minute(0))
	set := func(ids ...string) []troika.Schedule {
		var out []troika.Schedule
		for _, id := range ids {
			out = append(out, troika.Schedule{ID: id, Spec: "@hourly", Args: tick{}})
		}
		return out
	}
	t.Run("ConcurrentBootsCreateOnce", func(t *testing.T) {
		const replicas = 8
		var wg sync.WaitGroup
		results := make([]*troika.ReconcileResult, replicas)
		errs := make([]error, replicas)
		for i := range replicas {
			wg.Go(func() { results[i], errs[i] = b.client.ReconcileSchedules(b.ctx, set("a", "b", "c"), false) })
		}
		wg.Wait()
		created := map[string]int{}
		for i := range replicas {
			if errs[i] != nil {
				t.Fatalf("replica %d: %v", i, errs[i])
			}
			for _, id := range results[i].Created {
				created[id]++
			}
			if len(results[i].Updated) != 0 {
				t.Errorf("replica %d updated %v: the same set must not rewrite", i, results[i].Updated)
			}
		}
		if fmt.Sprint(created) != "map[a:1 b:1 c:1]" {
			t.Errorf("creations across %d replicas: %v, want each schedule created once", replicas, created)
		}
	})
	t.Run("PauseSurvivesAndNoPruneKeeps", func(t *testing.T) {
		if _, err := b.client.PauseSchedule(b.ctx, "a"); err != nil {
			t.Fatal(err)
		}
		res, err := b.client.ReconcileSchedules(b.ctx, set("a", "b"), false)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(res.Unchanged, res.Deleted) != "[a b] []" {
			t.Errorf("reconcile without c, no prune: %+v", res)
		}
		if a, _ := b.client.GetSchedule(b.ctx, "a"); !a.Paused {
			t.Error("an operator's pause did not survive a reconcile")
		}
		if _, err := b.client.GetSchedule(b.ctx, "c"); err != nil {
			t.Errorf("c was removed from the code but not pruned: it must stay (%v)", err)
		}
	})
	t.Run("Prune", func(t *testing.T) {
		res, err := b.client.ReconcileSchedules(b.ctx, set("a", "b"), true)
		if err != nil || fmt.Sprint(res.Deleted) != "[c]" {
			t.Fatalf("prune: %+v, %v", res, err)
		}
		if _, err := b.client.GetSchedule(b.ctx, "c"); !errors.Is(err, troika.ErrNotFound) {
			t.Errorf("pruned c: %v", err)
		}
	})
	t.Run("InvalidEntryChangesNothing", func(t *testing.T) {
		bad := append(set("d"), troika.Schedule{ID: "e", Spec: "@every 0s", Args: tick{}})
		_, err := b.client.ReconcileSchedules(b.ctx, bad, true)
		var ie *troika.InvalidArgumentError
		if !errors.As(err, &ie) || ie.Field != "schedules[1].spec" {
			t.Fatalf("invalid entry: %v, want schedules[1].spec", err)
		}
		dup := set("a", "a")
		if _, err := b.client.ReconcileSchedules(b.ctx, dup, true); !errors.As(err, &ie) || ie.Field != "schedules[1].id" {
			t.Fatalf("duplicate entry: %v, want schedules[1].id", err)
		}
		list, _ := b.client.ListSchedules(b.ctx, troika.ScheduleListParams{})
		var ids []string
		for _, s := range list {
			ids = append(ids, s.ID)
		}
		sort.Strings(ids)
		if strings.Join(ids, ",") != "a,b" {
			t.Errorf("after rejected reconciles: %v, want a,b unchanged", ids)
		}
	})
}

// TestScheduleRestartMisfire closes the embedded store while instants pass
// and checks that each misfire policy produces exactly the documented jobs
// when it is reopened (docs/scheduler.md, "Misfires").
func TestScheduleRestartMisfire(t *testing.T) {
	t.Parallel()
	policies := []struct {
		id      string
		misfire troika.MisfirePolicy
		limit   int
	}{
		{"skip", troika.MisfireSkip, 0},
		{"run-once", troika.MisfireRunOnce, 0},
		{"catch-up", troika.MisfireCatchUp, 3},
	}
	for _, tc := range []struct {
		name   string
		reopen time.Time              // the store is closed from 00:01:05 until then
		want   map[string][]time.Time // jobs per schedule after the reopen (00:01 fired before)
	}{
		{"NewestMissedPastGrace", minute(5).Add(45 * time.Second), map[string][]time.Time{
			"skip":     {minute(1)},
			"run-once": {minute(1), minute(5)},
			"catch-up": {minute(1), minute(3), minute(4), minute(5)},
		}},
		{"NewestWithinGrace", minute(5).Add(10 * time.Second), map[string][]time.Time{
			"skip":     {minute(1), minute(5)},
			"run-once": {minute(1), minute(5)},
			"catch-up": {minute(1), minute(2), minute(3), minute(4), minute(5)}, // 3 missed + the on-time 00:05
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			dir := t.TempDir()
			clock := newTestClock()
			clock.set(minute(0).Add(5 * time.Second))
			open := func() *troika.Client {
				c, err := troika.Open(ctx, troika.Config{Dir: dir, Now: clock.Now, Logger: quietLogger()})
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				return c
			}
			c := open()
			for _, p := range policies {
				if _, err := c.UpsertSchedule(ctx, troika.Schedule{ID: p.id, Spec: "* * * * *", Misfire: p.misfire, CatchUpLimit: p.limit,
					Args: tick{}, Options: []troika.EnqueueOption{troika.Queue(p.id)}}); err != nil {
					t.Fatal(err)
				}
			}
			clock.set(minute(1))
			if err := troika.SchedulerPass(c); err != nil {
				t.Fatal(err)
			}
			clock.set(minute(1).Add(5 * time.Second))
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			clock.set(tc.reopen) // down across 00:02 … 00:05
			c = open()
			defer c.Close()
			if err := troika.SchedulerPass(c); err != nil { // the reopened client's own loop may have fired already
				t.Fatal(err)
			}
			for _, p := range policies {
				wantRunAts(t, p.id, runAts(t, ctx, c, p.id), tc.want[p.id]...)
				info, err := c.GetSchedule(ctx, p.id)
				if err != nil {
					t.Fatal(err)
				}
				if !info.LastFireAt.Equal(minute(5)) || !info.NextFireAt.Equal(minute(6)) {
					t.Errorf("%s after reopen: last %s next %s, want 00:05 and 00:06", p.id, info.LastFireAt.Format(time.TimeOnly), info.NextFireAt.Format(time.TimeOnly))
				}
			}
		})
	}
}

// BenchmarkScheduleFireLag measures how late a job of an every-second
// schedule starts in a worker: handler start minus the fire instant, with
// the real clock, an embedded store on disk and a worker in the process.
// Run it with -benchtime=1x; each iteration watches the schedules fire for
// some seconds.
func BenchmarkScheduleFireLag(b *testing.B) {
	for _, bc := range []struct{ schedules, seconds int }{{1, 10}, {20, 5}} {
		b.Run(fmt.Sprintf("schedules=%d", bc.schedules), func(b *testing.B) { benchFireLag(b, bc.schedules, bc.seconds) })
	}
}

func benchFireLag(b *testing.B, schedules, seconds int) {
	for range b.N {
		b.StopTimer()
		ctx := context.Background()
		c, err := troika.Open(ctx, troika.Config{Dir: b.TempDir(), Logger: quietLogger()})
		if err != nil {
			b.Fatal(err)
		}
		var mu sync.Mutex
		var lags []time.Duration
		w := troika.NewWorker(c, troika.WorkerConfig{Concurrency: 50, Logger: quietLogger()})
		troika.Handle(w, func(ctx context.Context, j *troika.Job[tick]) error {
			lag := time.Since(j.RunAt)
			mu.Lock()
			lags = append(lags, lag)
			mu.Unlock()
			return nil
		})
		wctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- w.Run(wctx) }()
		b.StartTimer()
		start := time.Now()
		for i := range schedules {
			if _, err := c.UpsertSchedule(ctx, troika.Schedule{ID: fmt.Sprintf("s%d", i), Spec: "* * * * * *", Misfire: troika.MisfireSkip, Args: tick{N: i},
				End: start.Add(time.Duration(seconds) * time.Second)}); err != nil {
				b.Fatal(err)
			}
		}
		eventually(b, 30*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(lags) >= schedules*(seconds-1)
		}, "fires")
		b.StopTimer()
		stop()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		if err := c.Close(); err != nil {
			b.Fatal(err)
		}
		slices.Sort(lags)
		q := func(p float64) float64 { return float64(lags[int(p*float64(len(lags)-1))].Microseconds()) / 1000 }
		b.ReportMetric(q(0.50), "lag_p50_ms")
		b.ReportMetric(q(0.99), "lag_p99_ms")
		b.ReportMetric(float64(lags[len(lags)-1].Microseconds())/1000, "lag_max_ms")
		b.ReportMetric(float64(len(lags)), "fires")
	}
}

// TestScheduleUnpauseByUpsertIsNotAMisfire: resuming by upserting Paused
// false, like ResumeSchedule, continues at the next instant after now.
func TestScheduleUnpauseByUpsertIsNotAMisfire(t *testing.T) {
	t.Parallel()
	b := setupAt(t, minute(0).Add(10*time.Second))
	s := troika.Schedule{ID: "m", Spec: "* * * * *", Paused: true, Options: []troika.EnqueueOption{troika.Queue("u")}}
	b.upsertSchedule(t, s)
	b.clock.set(minute(7).Add(20 * time.Second))
	s.Paused = false
	if res := b.upsertSchedule(t, s); !res.Changed || !res.Schedule.NextFireAt.Equal(minute(8)) {
		t.Fatalf("unpause by upsert: Changed %t next %s, want changed and 00:08", res.Changed, res.Schedule.NextFireAt.Format(time.TimeOnly))
	}
	b.passAt(t, minute(8))
	wantRunAts(t, "after unpausing", runAts(t, b.ctx, b.client, "u"), minute(8))
}

// The server writes schedules through the engine and wakes the Client's
// firer through sdkhook; the hook must be wired and harmless on anything
// that is not a Client.
func TestSchedulerKickHook(t *testing.T) {
	t.Parallel()
	if sdkhook.KickScheduler == nil {
		t.Fatal("sdkhook.KickScheduler is not set by the root package")
	}
	sdkhook.KickScheduler(nil)
	sdkhook.KickScheduler("not a client")
	sdkhook.KickScheduler((*troika.Client)(nil))
	b := setup(t)
	sdkhook.KickScheduler(b.client) // wakes the firer; must not block
	sdkhook.KickScheduler(b.client)
}
