package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/troikahq/troika/store"
	"github.com/troikahq/troika/store/embedded"
)

// schedBundle is a real embedded store, a settable clock and a scheduler.
type schedBundle struct {
	t     *testing.T
	ctx   context.Context
	st    *embedded.Store
	clock *clock
	sched *Scheduler
}

func setupScheduler(t *testing.T) *schedBundle {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := embedded.Open(t.TempDir(), embedded.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	c := newClock()
	return &schedBundle{t: t, ctx: t.Context(), st: st, clock: c,
		sched: NewScheduler(SchedulerConfig{Store: st, Schedules: st, Now: c.Now, Logger: log})}
}

func (b *schedBundle) set(t time.Time) {
	b.clock.mu.Lock()
	b.clock.now = t
	b.clock.mu.Unlock()
}

// upsert registers a schedule with kind "tick" on queue default.
func (b *schedBundle) upsert(in ScheduleInput) *store.Schedule {
	b.t.Helper()
	if in.Kind == "" {
		in.Kind = "tick"
	}
	res, err := UpsertSchedule(b.ctx, b.st, &in, nil, "schedule.", b.clock.Now(), Limits{})
	if err != nil {
		b.t.Fatalf("UpsertSchedule(%q): %v", in.ID, err)
	}
	return res.Schedule
}

func (b *schedBundle) pass() {
	b.t.Helper()
	if _, err := b.sched.Pass(b.ctx); err != nil {
		b.t.Fatalf("Pass: %v", err)
	}
}

// passAt sets the clock and runs a pass.
func (b *schedBundle) passAt(t time.Time) {
	b.t.Helper()
	b.set(t)
	b.pass()
}

func (b *schedBundle) jobs() []*store.Job {
	b.t.Helper()
	res, err := b.st.JobList(b.ctx, &store.JobListParams{Limit: 10000})
	if err != nil {
		b.t.Fatal(err)
	}
	return res.Jobs
}

// wantRunAts checks the run times of every job, in creation order.
func (b *schedBundle) wantRunAts(what string, want ...time.Time) {
	b.t.Helper()
	var got, exp []string
	for _, j := range b.jobs() {
		got = append(got, j.RunAt.UTC().Format("15:04:05"))
	}
	for _, w := range want {
		exp = append(exp, w.UTC().Format("15:04:05"))
	}
	if strings.Join(got, " ") != strings.Join(exp, " ") {
		b.t.Errorf("%s: jobs run at [%s], want [%s]", what, strings.Join(got, " "), strings.Join(exp, " "))
	}
}

func (b *schedBundle) get(id string) *store.Schedule {
	b.t.Helper()
	sc, err := b.st.ScheduleGet(b.ctx, &store.ScheduleGetParams{ID: id})
	if err != nil {
		b.t.Fatal(err)
	}
	return sc
}

func mins(n int) time.Time { return base.Add(time.Duration(n) * time.Minute) }

func TestBuildScheduleRejects(t *testing.T) {
	t.Parallel()
	ok := ScheduleInput{ID: "s", Spec: "@hourly", Kind: "tick"}
	for _, tc := range []struct {
		name  string
		mod   func(*ScheduleInput)
		field string
	}{
		{"empty id", func(in *ScheduleInput) { in.ID = "" }, "schedule.id"},
		{"id with a space", func(in *ScheduleInput) { in.ID = "a b" }, "schedule.id"},
		{"bad spec", func(in *ScheduleInput) { in.Spec = "61 * * * *" }, "schedule.spec"},
		{"interval under 1s", func(in *ScheduleInput) { in.Spec = "@every 999ms" }, "schedule.spec"},
		{"unknown zone", func(in *ScheduleInput) { in.TimeZone = "Europe/Atlantis" }, "schedule.timezone"},
		{"end before start", func(in *ScheduleInput) { in.StartAt, in.EndAt = mins(10), mins(5) }, "schedule.endAt"},
		{"negative jitter", func(in *ScheduleInput) { in.Jitter = -time.Second }, "schedule.jitter"},
		{"jitter not under the interval", func(in *ScheduleInput) { in.Spec, in.Jitter = "@every 10s", 10*time.Second }, "schedule.jitter"},
		{"unknown misfire policy", func(in *ScheduleInput) { in.MisfirePolicy = "later" }, "schedule.misfirePolicy"},
		{"unknown overlap policy", func(in *ScheduleInput) { in.OverlapPolicy = "both" }, "schedule.overlapPolicy"},
		{"catch-up limit without catch_up", func(in *ScheduleInput) { in.CatchUpLimit = 3 }, "schedule.catchUpLimit"},
		{"catch-up limit too high", func(in *ScheduleInput) {
			in.MisfirePolicy, in.CatchUpLimit = store.MisfireCatchUp, MaxCatchUpLimit+1
		}, "schedule.catchUpLimit"},
		{"empty kind", func(in *ScheduleInput) { in.Kind = "" }, "schedule.job.kind"},
		{"args not JSON", func(in *ScheduleInput) { in.Args = []byte("{") }, "schedule.job.args"},
		{"bad queue", func(in *ScheduleInput) { in.Job.Queue, in.Job.HasQueue = "Bad Queue", true }, "schedule.job.queue"},
		{"bad priority", func(in *ScheduleInput) { in.Job.Priority, in.Job.HasPriority = 9, true }, "schedule.job.priority"},
		{"delay", func(in *ScheduleInput) { in.Job.Delay, in.Job.HasDelay = time.Minute, true }, "schedule.job.runAt"},
		{"unique", func(in *ScheduleInput) { in.Job.UniqueKey, in.Job.UniqueFor, in.Job.HasUnique = "k", time.Hour, true }, "schedule.job.uniqueKey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupScheduler(t)
			in := ok
			tc.mod(&in)
			_, err := UpsertSchedule(b.ctx, b.st, &in, nil, "schedule.", base, Limits{})
			var ie *store.InvalidArgumentError
			if !errors.As(err, &ie) || ie.Field != tc.field || ie.Reason == "" {
				t.Fatalf("UpsertSchedule: %v, want an *InvalidArgumentError for %s", err, tc.field)
			}
			if list, _ := b.st.ScheduleList(b.ctx, &store.ScheduleListParams{}); len(list) != 0 {
				t.Errorf("a rejected schedule was stored")
			}
		})
	}
}

func TestSchedulerFiresOnTimeNeverEarly(t *testing.T) {
	t.Parallel()
	b := setupScheduler(t)
	sc := b.upsert(ScheduleInput{ID: "m", Spec: "* * * * *", Args: []byte(`{"x":1}`)})
	if !sc.NextFireAt.Equal(mins(1)) {
		t.Fatalf("NextFireAt %s, want %s", sc.NextFireAt, mins(1))
	}
	b.passAt(mins(1).Add(-time.Millisecond))
	b.wantRunAts("a millisecond early")
	b.passAt(mins(1))
	b.wantRunAts("at the instant", mins(1))
	b.pass()
	b.passAt(mins(1).Add(59 * time.Second))
	b.wantRunAts("passes before the next instant", mins(1))
	j := b.jobs()[0]
	if j.UniqueKey != "troika:schedule:m:2030-01-01T00:01:00Z" || string(j.Args) != `{"x":1}` || j.Kind != "tick" || j.State != store.StateAvailable {
		t.Errorf("fired job: %+v", j)
	}
	got := b.get("m")
	if !got.LastFireAt.Equal(mins(1)) || !got.NextFireAt.Equal(mins(2)) || got.LastJobID != j.ID || len(got.Fires) != 1 || got.Fires[0].Outcome != store.FireEnqueued {
		t.Errorf("schedule after the fire: %+v", got)
	}
}

func TestSchedulerMisfirePolicies(t *testing.T) {
	t.Parallel()
	// An every-minute schedule last fired at 00:01; the firer comes back at
	// 00:05:45 (00:02-00:05 missed, the newest 45s old: past the 30s grace)
	// or at 00:05:10 (the newest, 00:05, on time).
	for _, tc := range []struct {
		policy   store.MisfirePolicy
		limit    int
		back     time.Time
		want     []time.Time // run times of the jobs after the first
		missed   int
		missedAt time.Time // the newest instant dropped
		outcomes []store.FireOutcome
	}{
		{store.MisfireSkip, 0, mins(5).Add(45 * time.Second), nil, 4, mins(5), []store.FireOutcome{store.FireMissed}},
		{store.MisfireSkip, 0, mins(5).Add(10 * time.Second), []time.Time{mins(5)}, 3, mins(4), []store.FireOutcome{store.FireMissed, store.FireEnqueued}},
		{store.MisfireRunOnce, 0, mins(5).Add(45 * time.Second), []time.Time{mins(5)}, 3, mins(4), []store.FireOutcome{store.FireMissed, store.FireEnqueued}},
		{store.MisfireCatchUp, 3, mins(5).Add(45 * time.Second), []time.Time{mins(3), mins(4), mins(5)}, 1, mins(2),
			[]store.FireOutcome{store.FireMissed, store.FireEnqueued, store.FireEnqueued, store.FireEnqueued}},
		{store.MisfireCatchUp, 3, mins(5).Add(10 * time.Second), []time.Time{mins(2), mins(3), mins(4), mins(5)}, 0, time.Time{},
			[]store.FireOutcome{store.FireEnqueued, store.FireEnqueued, store.FireEnqueued, store.FireEnqueued}},
		{store.MisfireCatchUp, 10, mins(5).Add(45 * time.Second), []time.Time{mins(2), mins(3), mins(4), mins(5)}, 0, time.Time{},
			[]store.FireOutcome{store.FireEnqueued, store.FireEnqueued, store.FireEnqueued, store.FireEnqueued}},
	} {
		t.Run(fmt.Sprintf("%s/%d/back at %s", tc.policy, tc.limit, tc.back.Format("15:04:05")), func(t *testing.T) {
			t.Parallel()
			b := setupScheduler(t)
			b.upsert(ScheduleInput{ID: "m", Spec: "* * * * *", MisfirePolicy: tc.policy, CatchUpLimit: tc.limit})
			b.passAt(mins(1))
			b.passAt(tc.back)
			b.wantRunAts("after the gap", append([]time.Time{mins(1)}, tc.want...)...)
			sc := b.get("m")
			var got []store.FireOutcome
			for _, f := range sc.Fires[1:] {
				got = append(got, f.Outcome)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.outcomes) {
				t.Errorf("history %v, want %v", got, tc.outcomes)
			}
			if tc.missed > 0 && (sc.Fires[1].Missed != tc.missed || !sc.Fires[1].Instant.Equal(tc.missedAt)) {
				t.Errorf("missed record %d at %s, want %d at %s", sc.Fires[1].Missed, sc.Fires[1].Instant.Format(time.TimeOnly), tc.missed, tc.missedAt.Format(time.TimeOnly))
			}
			if !sc.LastFireAt.Equal(mins(5)) || !sc.NextFireAt.Equal(mins(6)) {
				t.Errorf("after the gap: last %s next %s, want 00:05 and 00:06", sc.LastFireAt, sc.NextFireAt)
			}
			if st := b.sched.Stats(); st.Missed != int64(tc.missed) {
				t.Errorf("Stats().Missed = %d, want %d", st.Missed, tc.missed)
			}
		})
	}
}

func TestSchedulerClockForwardIsAMisfire(t *testing.T) {
	t.Parallel()
	b := setupScheduler(t)
	b.upsert(ScheduleInput{ID: "m", Spec: "* * * * *", MisfirePolicy: store.MisfireRunOnce})
	b.passAt(mins(1))
	b.passAt(mins(61).Add(40 * time.Second)) // the wall clock jumps an hour ahead
	b.wantRunAts("after a forward jump", mins(1), mins(61))
	if sc := b.get("m"); sc.Fires[1].Outcome != store.FireMissed || sc.Fires[1].Missed != 59 {
		t.Errorf("history after the jump: %+v", sc.Fires)
	}
}

func TestSchedulerClockBackwardsDoesNotRefire(t *testing.T) {
	t.Parallel()
	b := setupScheduler(t)
	b.upsert(ScheduleInput{ID: "m", Spec: "* * * * *"})
	b.passAt(mins(1))
	b.passAt(mins(2))
	b.passAt(mins(1)) // the wall clock jumps back a minute
	b.passAt(mins(2).Add(30 * time.Second))
	b.wantRunAts("after a backwards jump", mins(1), mins(2))
	b.passAt(mins(3))
	b.wantRunAts("the next new instant", mins(1), mins(2), mins(3))
}

func TestSchedulerOverlap(t *testing.T) {
	t.Parallel()
	claim := func(b *schedBundle) *store.Job {
		jobs, err := b.st.JobClaim(b.ctx, &store.JobClaimParams{Queues: []store.QueueWeight{{Name: "default", Weight: 1}}, Max: 1, Worker: "w", LeaseTTL: time.Hour, Now: b.clock.Now()})
		if err != nil || len(jobs) != 1 {
			t.Fatalf("claim: %v, %v", jobs, err)
		}
		return jobs[0]
	}
	complete := func(b *schedBundle, j *store.Job) {
		errs, err := b.st.JobAckMany(b.ctx, &store.JobAckManyParams{Acks: []store.JobAck{{Lease: j.Lease(), Outcome: store.AckComplete}}, Now: b.clock.Now()})
		if err != nil || errs[0] != nil {
			t.Fatalf("complete: %v %v", err, errs)
		}
	}
	t.Run("skip_if_running", func(t *testing.T) {
		t.Parallel()
		b := setupScheduler(t)
		b.upsert(ScheduleInput{ID: "m", Spec: "* * * * *", OverlapPolicy: store.OverlapSkipIfRunning})
		b.passAt(mins(1))
		b.passAt(mins(2)) // 00:01's job has not started: skipped
		j := claim(b)
		b.passAt(mins(3)) // running: skipped
		complete(b, j)
		b.passAt(mins(4)) // finished: fires
		b.wantRunAts("skip_if_running", mins(1), mins(4))
		if st := b.sched.Stats(); st.Overlapped != 2 {
			t.Errorf("Overlapped %d, want 2", st.Overlapped)
		}
	})
	t.Run("queue_one", func(t *testing.T) {
		t.Parallel()
		b := setupScheduler(t)
		b.upsert(ScheduleInput{ID: "m", Spec: "* * * * *", OverlapPolicy: store.OverlapQueueOne})
		b.passAt(mins(1))
		claim(b)
		b.passAt(mins(2)) // 00:01 running: one queues behind it
		b.passAt(mins(3)) // 00:02 still waiting: skipped
		b.wantRunAts("queue_one", mins(1), mins(2))
	})
	t.Run("allow", func(t *testing.T) {
		t.Parallel()
		b := setupScheduler(t)
		b.upsert(ScheduleInput{ID: "m", Spec: "* * * * *"})
		b.passAt(mins(1))
		b.passAt(mins(2))
		b.wantRunAts("allow", mins(1), mins(2))
	})
}

func TestSchedulerJitterNeverEarly(t *testing.T) {
	t.Parallel()
	b := setupScheduler(t)
	b.upsert(ScheduleInput{ID: "j", Spec: "@every 1m", Jitter: 50 * time.Second, MisfirePolicy: store.MisfireCatchUp, CatchUpLimit: 100})
	b.passAt(mins(30))
	jobs := b.jobs()
	if len(jobs) != 30 {
		t.Fatalf("%d jobs, want 30", len(jobs))
	}
	distinct := map[time.Duration]bool{}
	for i, j := range jobs {
		instant := mins(i + 1)
		d := j.RunAt.Sub(instant)
		if d < 0 || d >= 50*time.Second {
			t.Errorf("job %d runs at %s: jitter %s outside [0, 50s)", i, j.RunAt, d)
		}
		if want := FireJob(&b.get("j").ScheduleDefinition, instant).RunAt; !want.Equal(j.RunAt) {
			t.Errorf("job %d: jitter not deterministic: %s then %s", i, j.RunAt, want)
		}
		distinct[d] = true
	}
	if len(distinct) < 10 {
		t.Errorf("only %d distinct jitters in 30 fires", len(distinct))
	}
}

func TestSchedulerTwoFirersOneJobPerInstant(t *testing.T) {
	t.Parallel()
	b := setupScheduler(t)
	b.upsert(ScheduleInput{ID: "s", Spec: "* * * * * *", MisfirePolicy: store.MisfireCatchUp, CatchUpLimit: 1000})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	firers := []*Scheduler{b.sched, NewScheduler(SchedulerConfig{Store: b.st, Schedules: b.st, Now: b.clock.Now, Logger: log}),
		NewScheduler(SchedulerConfig{Store: b.st, Schedules: b.st, Now: b.clock.Now, Logger: log})}
	for step := 1; step <= 20; step++ {
		b.set(base.Add(time.Duration(step) * 1500 * time.Millisecond))
		var wg sync.WaitGroup
		for _, f := range firers {
			wg.Go(func() {
				if _, err := f.Pass(b.ctx); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	seen := map[string]int{}
	for _, j := range b.jobs() {
		seen[j.UniqueKey]++
	}
	if len(seen) != 30 {
		t.Errorf("%d distinct instants fired over 30s of an every-second schedule, want 30", len(seen))
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("instant %s has %d jobs", k, n)
		}
	}
}

func TestSchedulerDSTFallBackFiresOnce(t *testing.T) {
	t.Parallel()
	b := setupScheduler(t)
	ny, _ := time.LoadLocation("America/New_York")
	b.set(time.Date(2030, 11, 2, 12, 0, 0, 0, ny))
	b.upsert(ScheduleInput{ID: "d", Spec: "30 1 * * *", TimeZone: "America/New_York"})
	first := time.Date(2030, 11, 3, 5, 30, 0, 0, time.UTC) // 01:30 EDT
	b.passAt(first)                                        // 01:30 EDT
	b.passAt(first.Add(time.Hour))                         // 01:30 EST, the repeat
	b.passAt(first.Add(time.Hour + 30*time.Minute))        // 02:00 EST
	b.wantRunAts("fall back", first)
	if next := b.get("d").NextFireAt; !next.Equal(time.Date(2030, 11, 4, 6, 30, 0, 0, time.UTC)) {
		t.Errorf("next fire %s, want 01:30 EST the next day", next.In(ny))
	}
}

func TestSchedulerLoop(t *testing.T) {
	t.Parallel()
	t.Run("FiresEverySecond", func(t *testing.T) {
		t.Parallel()
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		st, err := embedded.Open(t.TempDir(), embedded.Options{Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		s := NewScheduler(SchedulerConfig{Store: st, Schedules: st, Logger: log})
		in := ScheduleInput{ID: "s", Spec: "@every 1s", Kind: "tick"}
		if _, err := UpsertSchedule(t.Context(), st, &in, nil, "", time.Now(), Limits{}); err != nil {
			t.Fatal(err)
		}
		if err := s.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		s.Kick()
		eventually(t, 10*time.Second, func() bool { return s.Stats().Enqueued >= 2 }, "two fires of an every-second schedule")
		s.Stop()
		s.Stop()
		if err := s.Start(t.Context()); !errors.Is(err, ErrServiceStarted) {
			t.Errorf("Start after Stop: %v", err)
		}
	})
	t.Run("NotLeaderDoesNotFire", func(t *testing.T) {
		t.Parallel()
		b := setupScheduler(t)
		b.upsert(ScheduleInput{ID: "s", Spec: "* * * * *"})
		b.set(mins(10))
		var checks atomic.Int64
		s := NewScheduler(SchedulerConfig{Store: b.st, Schedules: b.st, Now: b.clock.Now, Poll: time.Millisecond,
			IsLeader: func() bool { checks.Add(1); return false }})
		if err := s.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, func() bool { return checks.Load() >= 5 }, "five leadership checks")
		s.Stop()
		b.wantRunAts("a follower's loop")
	})
}

func TestSchedulerDSTSpringForwardFiresAtGapEnd(t *testing.T) {
	t.Parallel()
	b := setupScheduler(t)
	ny, _ := time.LoadLocation("America/New_York")
	b.set(time.Date(2030, 3, 9, 12, 0, 0, 0, ny))
	b.upsert(ScheduleInput{ID: "d", Spec: "30 2 * * *", TimeZone: "America/New_York"})
	gapEnd := time.Date(2030, 3, 10, 7, 0, 0, 0, time.UTC) // 03:00 EDT; 02:30 does not exist
	b.passAt(gapEnd.Add(-time.Second))
	b.wantRunAts("a second before the gap ends")
	b.passAt(gapEnd)
	b.passAt(gapEnd.Add(30 * time.Minute)) // 03:30 EDT
	b.wantRunAts("spring forward", gapEnd)
}

func TestSchedulerStartEnd(t *testing.T) {
	t.Parallel()
	b := setupScheduler(t)
	sc := b.upsert(ScheduleInput{ID: "w", Spec: "@every 1m", StartAt: mins(10), EndAt: mins(12)})
	if !sc.NextFireAt.Equal(mins(10)) {
		t.Fatalf("first fire of an interval with a start: %s, want the start", sc.NextFireAt)
	}
	for m := 9; m <= 15; m++ {
		b.passAt(mins(m))
	}
	b.wantRunAts("bounded", mins(10), mins(11), mins(12))
	if sc := b.get("w"); !sc.NextFireAt.IsZero() {
		t.Errorf("after the end: next fire %s, want none", sc.NextFireAt)
	}
	if got := UpcomingFires(b.get("w"), 5); len(got) != 0 {
		t.Errorf("UpcomingFires after the end: %v", got)
	}
}

// TestSchedulerShortLagFiresEveryInstant: instants less than the grace late
// are on time whatever the policy: a firer that stalls a few seconds loses
// no fire of an every-second schedule.
func TestSchedulerShortLagFiresEveryInstant(t *testing.T) {
	t.Parallel()
	for _, policy := range []store.MisfirePolicy{store.MisfireSkip, store.MisfireRunOnce, store.MisfireCatchUp} {
		t.Run(string(policy), func(t *testing.T) {
			t.Parallel()
			b := setupScheduler(t)
			b.upsert(ScheduleInput{ID: "s", Spec: "* * * * * *", MisfirePolicy: policy})
			b.passAt(base.Add(time.Second))
			b.passAt(base.Add(4*time.Second + 300*time.Millisecond)) // a 3.3s stall
			sec := func(n int) time.Time { return base.Add(time.Duration(n) * time.Second) }
			b.wantRunAts("after a stall", sec(1), sec(2), sec(3), sec(4))
			if st := b.sched.Stats(); st.Missed != 0 {
				t.Errorf("Missed %d, want 0", st.Missed)
			}
		})
	}
}

// TestSchedulerLongOutageIsBounded: an every-second schedule down for a
// day (more instants than the plan walks) fires the documented jobs, in
// bounded time, without enumerating every missed instant.
func TestSchedulerLongOutageIsBounded(t *testing.T) {
	t.Parallel()
	b := setupScheduler(t)
	b.upsert(ScheduleInput{ID: "s", Spec: "* * * * * *", MisfirePolicy: store.MisfireCatchUp, CatchUpLimit: 5})
	b.passAt(base.Add(time.Second))
	back := base.Add(25 * time.Hour)
	b.passAt(back)
	jobs := b.jobs()
	// 00:00:01, then the 5 newest missed instants, then the 31 on time
	// (back-30s … back).
	if len(jobs) != 1+5+31 {
		t.Fatalf("%d jobs after a day's outage, want %d", len(jobs), 1+5+31)
	}
	for i, j := range jobs[1:] {
		if want := back.Add(time.Duration(i-35) * time.Second); !j.RunAt.Equal(want) {
			t.Errorf("job %d runs at %s, want %s", i+1, j.RunAt.Format(time.TimeOnly), want.Format(time.TimeOnly))
		}
	}
	if st := b.sched.Stats(); st.Missed < maxWalk-5 { // the record itself is trimmed from the 20-entry history
		t.Errorf("Missed %d, want at least %d", st.Missed, maxWalk-5)
	}
	sc := b.get("s")
	if !sc.LastFireAt.Equal(back) || !sc.NextFireAt.Equal(back.Add(time.Second)) {
		t.Errorf("after the outage: last %s next %s", sc.LastFireAt, sc.NextFireAt)
	}
}

// A pass that fires every due schedule returns the next fire time, so the
// firer sleeps until then and not a whole poll interval (which made every
// fire about a second late).
func TestSchedulerPassReturnsNextFire(t *testing.T) {
	t.Parallel()
	b := setupScheduler(t)
	b.set(base)
	b.upsert(ScheduleInput{ID: "every-second", Spec: "@every 1s"})
	b.upsert(ScheduleInput{ID: "every-minute", Spec: "* * * * *"})
	b.set(base.Add(time.Second))
	next, err := b.sched.Pass(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := base.Add(2 * time.Second); !next.Equal(want) {
		t.Fatalf("Pass after firing returned next %s, want the next instant %s", next, want)
	}
	if n := len(b.jobs()); n != 1 {
		t.Fatalf("%d jobs after one due instant, want 1", n)
	}
}
