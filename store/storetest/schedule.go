package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/troikahq/troika/store"
)

// RunSchedules runs the schedule group of the suite (store.ScheduleStore)
// against a backend. open is as for Run. A backend whose store does not
// implement store.ScheduleStore fails the group: the scheduler cannot be
// forgotten silently. RunAll includes it.
func RunSchedules(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	if open == nil {
		t.Fatal("storetest.RunSchedules: open is nil")
	}
	t.Run("Schedule", func(t *testing.T) {
		for _, tc := range scheduleTests() {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tc.run(setupSchedules(t, open))
			})
		}
	})
}

// schedHarness is a harness whose store implements store.ScheduleStore.
type schedHarness struct {
	*harness
	ss store.ScheduleStore
}

func setupSchedules(t *testing.T, open func(t *testing.T) store.Store) *schedHarness {
	t.Helper()
	h := setup(t, open)
	ss, ok := h.s.(store.ScheduleStore)
	if !ok {
		t.Fatalf("the store (%T) does not implement store.ScheduleStore: every backend must store schedules (see store/schedule.go)", h.s)
	}
	return &schedHarness{harness: h, ss: ss}
}

type schedTest struct {
	name string
	run  func(h *schedHarness)
}

func scheduleTests() []schedTest {
	return []schedTest{
		{"UpsertCreatesAndReads", testScheduleUpsertCreates},
		{"UpsertSameDefinitionIsANoOp", testScheduleUpsertIdempotent},
		{"UpsertChangeKeepsState", testScheduleUpsertChange},
		{"UpsertPausedFlag", testScheduleUpsertPaused},
		{"UpsertConcurrentSameDefinition", testScheduleUpsertConcurrent},
		{"UpsertBadParams", testScheduleUpsertBad},
		{"ListByID", testScheduleList},
		{"Delete", testScheduleDelete},
		{"UnknownID", testScheduleUnknown},
		{"PauseResume", testSchedulePause},
		{"DueList", testScheduleDueList},
		{"FireInsertsAndAdvances", testScheduleFire},
		{"FireCompareAndSet", testScheduleFireCAS},
		{"FireUniqueKeyDeduplicates", testScheduleFireDuplicate},
		{"FireConcurrentOneWins", testScheduleFireConcurrent},
		{"FireSkippedAndHistoryTrim", testScheduleFireHistory},
		{"FireManual", testScheduleFireManual},
		{"FireBadParams", testScheduleFireBad},
		{"Closed", testScheduleClosed},
	}
}

// ---- helpers

func newDefinition(id string) store.ScheduleDefinition {
	return store.ScheduleDefinition{
		ID: id, Spec: "*/5 * * * *", TimeZone: "Europe/Berlin", Jitter: 3 * time.Second,
		StartAt: at(-time.Hour), EndAt: at(1000 * time.Hour),
		MisfirePolicy: store.MisfireCatchUp, CatchUpLimit: 3, OverlapPolicy: store.OverlapSkipIfRunning,
		Job: store.JobTemplate{
			Kind: "report.build", Args: []byte(`{"n":1}`), Queue: "reports", Priority: 3, MaxAttempts: 5,
			Timeout: time.Minute, Metadata: map[string]string{"team": "data"}, Tags: []string{"cron"},
		},
	}
}

func (h *schedHarness) upsert(p store.ScheduleUpsertParams) *store.ScheduleUpsertResult {
	h.t.Helper()
	res, err := h.ss.ScheduleUpsert(h.ctx, &p)
	if err != nil {
		h.t.Fatalf("ScheduleUpsert(%q): %v", p.Definition.ID, err)
	}
	if res == nil || res.Schedule == nil {
		h.t.Fatalf("ScheduleUpsert(%q): nil result or schedule", p.Definition.ID)
	}
	return res
}

// create upserts a new schedule with NextFireAt next at now.
func (h *schedHarness) create(d store.ScheduleDefinition, next, now time.Time) *store.Schedule {
	h.t.Helper()
	res := h.upsert(store.ScheduleUpsertParams{Definition: d, NextFireAt: next, Now: now})
	if !res.Created || !res.Changed {
		h.t.Fatalf("ScheduleUpsert(%q): Created %t Changed %t, want a new schedule", d.ID, res.Created, res.Changed)
	}
	return res.Schedule
}

func (h *schedHarness) getSchedule(id string) *store.Schedule {
	h.t.Helper()
	sc, err := h.ss.ScheduleGet(h.ctx, &store.ScheduleGetParams{ID: id})
	if err != nil {
		h.t.Fatalf("ScheduleGet(%q): %v", id, err)
	}
	if sc == nil || sc.ID != id {
		h.t.Fatalf("ScheduleGet(%q): got %+v", id, sc)
	}
	return sc
}

func (h *schedHarness) fire(p store.ScheduleFireParams) *store.Schedule {
	h.t.Helper()
	sc, err := h.ss.ScheduleFire(h.ctx, &p)
	if err != nil {
		h.t.Fatalf("ScheduleFire(%q): %v", p.ID, err)
	}
	if sc == nil {
		h.t.Fatalf("ScheduleFire(%q): nil schedule", p.ID)
	}
	return sc
}

func (h *schedHarness) due(now time.Time, limit int) *store.ScheduleDueListResult {
	h.t.Helper()
	res, err := h.ss.ScheduleDueList(h.ctx, &store.ScheduleDueListParams{Now: now, Limit: limit})
	if err != nil {
		h.t.Fatalf("ScheduleDueList: %v", err)
	}
	if res == nil {
		h.t.Fatal("ScheduleDueList: nil result")
	}
	return res
}

func dueIDs(res *store.ScheduleDueListResult) []string {
	out := make([]string, len(res.Due))
	for i, sc := range res.Due {
		out[i] = sc.ID
	}
	return out
}

// fireJob is the job a firer inserts for instant of schedule id.
func fireJob(id string, instant time.Time) *store.InsertJob {
	j := newJob(withKind("report.build"), withQueue("reports"), withRunAt(instant),
		withUnique(fmt.Sprintf("troika:schedule:%s:%s", id, instant.UTC().Format(time.RFC3339Nano)), instant.Add(24*time.Hour)))
	return &j
}

func enqueueItem(id string, instant time.Time) store.ScheduleFireItem {
	return store.ScheduleFireItem{Instant: instant, Outcome: store.FireEnqueued, Job: fireJob(id, instant)}
}

func (h *schedHarness) wantDefinition(what string, got *store.Schedule, want store.ScheduleDefinition) {
	h.t.Helper()
	if !got.ScheduleDefinition.Equal(&want) {
		h.t.Errorf("%s: definition\n got  %+v\n want %+v", what, got.ScheduleDefinition, want)
	}
}

func (h *schedHarness) wantFires(what string, sc *store.Schedule, want ...store.FireOutcome) {
	h.t.Helper()
	if len(sc.Fires) != len(want) {
		h.t.Fatalf("%s: %d fires in the history, want %d: %+v", what, len(sc.Fires), len(want), sc.Fires)
	}
	for i, w := range want {
		if sc.Fires[i].Outcome != w {
			h.t.Errorf("%s: fire %d outcome %q, want %q", what, i, sc.Fires[i].Outcome, w)
		}
	}
}

// ---- tests

func testScheduleUpsertCreates(h *schedHarness) {
	d := newDefinition("nightly")
	sc := h.create(d, at(5*time.Minute), at(0))
	for _, got := range []*store.Schedule{sc, h.getSchedule("nightly")} {
		h.wantDefinition("created", got, d)
		h.wantTime("CreatedAt", got.CreatedAt, at(0))
		h.wantTime("UpdatedAt", got.UpdatedAt, at(0))
		h.wantTime("NextFireAt", got.NextFireAt, at(5*time.Minute))
		if !got.LastFireAt.IsZero() || !got.LastJobID.IsZero() || len(got.Fires) != 0 || got.Paused {
			h.t.Errorf("new schedule has state: last %s, last job %s, %d fires, paused %t", fmtTime(got.LastFireAt), got.LastJobID, len(got.Fires), got.Paused)
		}
	}
	// The store does not retain the caller's maps and slices.
	d.Job.Metadata["team"] = "changed"
	d.Job.Tags[0] = "changed"
	d.Job.Args[1] = 'X'
	if got := h.getSchedule("nightly"); got.Job.Metadata["team"] != "data" || got.Job.Tags[0] != "cron" || string(got.Job.Args) != `{"n":1}` {
		h.t.Errorf("the stored template changed with the caller's params: %+v", got.Job)
	}
}

func testScheduleUpsertIdempotent(h *schedHarness) {
	d := newDefinition("s")
	h.create(d, at(5*time.Minute), at(0))
	res := h.upsert(store.ScheduleUpsertParams{Definition: newDefinition("s"), NextFireAt: at(99 * time.Minute), Now: at(time.Minute)})
	if res.Created || res.Changed {
		h.t.Errorf("upserting the same definition: Created %t Changed %t, want neither", res.Created, res.Changed)
	}
	got := h.getSchedule("s")
	h.wantTime("NextFireAt after a no-op upsert", got.NextFireAt, at(5*time.Minute))
	h.wantTime("UpdatedAt after a no-op upsert", got.UpdatedAt, at(0))
}

func testScheduleUpsertChange(h *schedHarness) {
	d := newDefinition("s")
	h.create(d, at(5*time.Minute), at(0))
	sc := h.fire(store.ScheduleFireParams{ID: "s", ExpectNextFireAt: at(5 * time.Minute),
		Fires: []store.ScheduleFireItem{enqueueItem("s", at(5*time.Minute))}, LastFireAt: at(5 * time.Minute), NextFireAt: at(10 * time.Minute), Now: at(5 * time.Minute)})
	d.Spec = "0 * * * *"
	d.Job.Priority = 1
	res := h.upsert(store.ScheduleUpsertParams{Definition: d, NextFireAt: at(time.Hour), Now: at(6 * time.Minute)})
	if res.Created || !res.Changed {
		h.t.Errorf("changing the definition: Created %t Changed %t, want Changed only", res.Created, res.Changed)
	}
	got := h.getSchedule("s")
	h.wantDefinition("changed", got, d)
	h.wantTime("NextFireAt", got.NextFireAt, at(time.Hour))
	h.wantTime("LastFireAt (kept)", got.LastFireAt, at(5*time.Minute))
	h.wantTime("CreatedAt (kept)", got.CreatedAt, at(0))
	h.wantTime("UpdatedAt", got.UpdatedAt, at(6*time.Minute))
	if got.LastJobID != sc.LastJobID || len(got.Fires) != 1 {
		h.t.Errorf("history not kept across a change: last job %s (want %s), %d fires", got.LastJobID, sc.LastJobID, len(got.Fires))
	}
}

func testScheduleUpsertPaused(h *schedHarness) {
	yes, no := true, false
	res := h.upsert(store.ScheduleUpsertParams{Definition: newDefinition("p"), Paused: &yes, NextFireAt: at(time.Minute), Now: at(0)})
	if !res.Schedule.Paused {
		h.t.Error("created with Paused true: not paused")
	}
	// Paused nil keeps the operator's pause (a redeploy must not resume it).
	res = h.upsert(store.ScheduleUpsertParams{Definition: newDefinition("p"), NextFireAt: at(time.Minute), Now: at(time.Second)})
	if res.Changed || !res.Schedule.Paused {
		h.t.Errorf("upsert with Paused nil: Changed %t Paused %t, want unchanged and paused", res.Changed, res.Schedule.Paused)
	}
	res = h.upsert(store.ScheduleUpsertParams{Definition: newDefinition("p"), Paused: &no, NextFireAt: at(time.Hour), Now: at(2 * time.Second)})
	if !res.Changed || res.Schedule.Paused || h.getSchedule("p").Paused {
		h.t.Errorf("upsert with Paused false: Changed %t Paused %t, want changed and running", res.Changed, res.Schedule.Paused)
	}
	// Resuming takes the caller's NextFireAt: what passed while paused is not due.
	h.wantTime("NextFireAt after an upsert resumed it", h.getSchedule("p").NextFireAt, at(time.Hour))
	res = h.upsert(store.ScheduleUpsertParams{Definition: newDefinition("p"), Paused: &no, NextFireAt: at(2 * time.Hour), Now: at(3 * time.Second)})
	if res.Changed {
		h.t.Error("upsert with Paused false on a running schedule and the same definition: Changed, want a no-op")
	}
	h.wantTime("NextFireAt after a no-op upsert", h.getSchedule("p").NextFireAt, at(time.Hour))
}

func testScheduleUpsertConcurrent(h *schedHarness) {
	const n = 16
	var wg sync.WaitGroup
	results := make([]*store.ScheduleUpsertResult, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = h.ss.ScheduleUpsert(h.ctx, &store.ScheduleUpsertParams{Definition: newDefinition("boot"), NextFireAt: at(time.Minute), Now: at(0)})
		})
	}
	wg.Wait()
	created := 0
	for i := range n {
		if errs[i] != nil {
			h.t.Fatalf("concurrent upsert %d: %v", i, errs[i])
		}
		if results[i].Created {
			created++
		}
	}
	if created != 1 {
		h.t.Errorf("%d concurrent upserts of one definition: %d created it, want exactly 1", n, created)
	}
	list, err := h.ss.ScheduleList(h.ctx, &store.ScheduleListParams{})
	if err != nil || len(list) != 1 {
		h.t.Errorf("after concurrent upserts: ScheduleList = %d schedules, %v; want 1", len(list), err)
	}
}

func testScheduleUpsertBad(h *schedHarness) {
	for _, tc := range []struct {
		name string
		mod  func(*store.ScheduleDefinition)
	}{
		{"empty id", func(d *store.ScheduleDefinition) { d.ID = "" }},
		{"empty spec", func(d *store.ScheduleDefinition) { d.Spec = "" }},
		{"unknown misfire policy", func(d *store.ScheduleDefinition) { d.MisfirePolicy = "sometimes" }},
		{"empty misfire policy", func(d *store.ScheduleDefinition) { d.MisfirePolicy = "" }},
		{"unknown overlap policy", func(d *store.ScheduleDefinition) { d.OverlapPolicy = "never" }},
		{"negative catch-up limit", func(d *store.ScheduleDefinition) { d.CatchUpLimit = -1 }},
		{"negative jitter", func(d *store.ScheduleDefinition) { d.Jitter = -time.Second }},
		{"empty kind", func(d *store.ScheduleDefinition) { d.Job.Kind = "" }},
		{"priority out of int32", func(d *store.ScheduleDefinition) { d.Job.Priority = 1 << 40 }},
		{"args not JSON", func(d *store.ScheduleDefinition) { d.Job.Args = []byte("{") }},
	} {
		d := newDefinition("bad")
		tc.mod(&d)
		var err error
		h.noPanic("ScheduleUpsert("+tc.name+")", func() {
			_, err = h.ss.ScheduleUpsert(h.ctx, &store.ScheduleUpsertParams{Definition: d, NextFireAt: at(time.Minute), Now: at(0)})
		})
		h.wantErr("ScheduleUpsert("+tc.name+")", err, store.ErrInvalidArgument)
		var ie *store.InvalidArgumentError
		if err != nil && (!errors.As(err, &ie) || ie.Field == "") {
			h.t.Errorf("ScheduleUpsert(%s): %v is not an *InvalidArgumentError naming the field", tc.name, err)
		}
	}
	h.noPanic("ScheduleUpsert(nil)", func() {
		_, err := h.ss.ScheduleUpsert(h.ctx, nil)
		h.wantErr("ScheduleUpsert(nil)", err, store.ErrInvalidArgument)
	})
	if list, err := h.ss.ScheduleList(h.ctx, &store.ScheduleListParams{}); err != nil || len(list) != 0 {
		h.t.Errorf("after rejected upserts: %d schedules stored (err %v), want none", len(list), err)
	}
}

func testScheduleList(h *schedHarness) {
	for _, id := range []string{"c", "a", "b"} {
		h.create(newDefinition(id), at(time.Minute), at(0))
	}
	list, err := h.ss.ScheduleList(h.ctx, &store.ScheduleListParams{})
	if err != nil {
		h.t.Fatalf("ScheduleList: %v", err)
	}
	var got []string
	for _, sc := range list {
		got = append(got, sc.ID)
	}
	if fmt.Sprint(got) != "[a b c]" {
		h.t.Errorf("ScheduleList order: %v, want [a b c]", got)
	}
}

func testScheduleDelete(h *schedHarness) {
	h.create(newDefinition("gone"), at(time.Minute), at(0))
	sc := h.fire(store.ScheduleFireParams{ID: "gone", ExpectNextFireAt: at(time.Minute),
		Fires: []store.ScheduleFireItem{enqueueItem("gone", at(time.Minute))}, LastFireAt: at(time.Minute), NextFireAt: at(2 * time.Minute), Now: at(time.Minute)})
	if err := h.ss.ScheduleDelete(h.ctx, &store.ScheduleDeleteParams{ID: "gone"}); err != nil {
		h.t.Fatalf("ScheduleDelete: %v", err)
	}
	_, err := h.ss.ScheduleGet(h.ctx, &store.ScheduleGetParams{ID: "gone"})
	h.wantErr("ScheduleGet after delete", err, store.ErrNotFound)
	if res := h.due(at(time.Hour), 10); len(res.Due) != 0 {
		h.t.Errorf("a deleted schedule is still due: %v", dueIDs(res))
	}
	h.wantState(sc.LastJobID, store.StateAvailable) // its jobs stay
	h.wantErr("ScheduleDelete twice", h.ss.ScheduleDelete(h.ctx, &store.ScheduleDeleteParams{ID: "gone"}), store.ErrNotFound)
}

func testScheduleUnknown(h *schedHarness) {
	_, err := h.ss.ScheduleGet(h.ctx, &store.ScheduleGetParams{ID: "nope"})
	h.wantErr("ScheduleGet", err, store.ErrNotFound)
	h.wantErr("ScheduleDelete", h.ss.ScheduleDelete(h.ctx, &store.ScheduleDeleteParams{ID: "nope"}), store.ErrNotFound)
	_, err = h.ss.SchedulePause(h.ctx, &store.SchedulePauseParams{ID: "nope", Paused: true})
	h.wantErr("SchedulePause", err, store.ErrNotFound)
	_, err = h.ss.ScheduleFire(h.ctx, &store.ScheduleFireParams{ID: "nope", Fires: []store.ScheduleFireItem{enqueueItem("nope", at(0))}})
	h.wantErr("ScheduleFire", err, store.ErrNotFound)
	if n := h.count(store.JobListParams{}); n != 0 {
		h.t.Errorf("ScheduleFire of an unknown schedule inserted %d jobs", n)
	}
}

func testSchedulePause(h *schedHarness) {
	h.create(newDefinition("p"), at(time.Minute), at(0))
	sc, err := h.ss.SchedulePause(h.ctx, &store.SchedulePauseParams{ID: "p", Paused: true, Now: at(time.Second)})
	if err != nil || !sc.Paused {
		h.t.Fatalf("SchedulePause(true) = %+v, %v", sc, err)
	}
	h.wantTime("NextFireAt kept while paused", sc.NextFireAt, at(time.Minute))
	h.wantTime("UpdatedAt", sc.UpdatedAt, at(time.Second))
	if res := h.due(at(time.Hour), 10); len(res.Due) != 0 || !res.NextAt.IsZero() {
		h.t.Errorf("a paused schedule is due: %v, next at %s", dueIDs(res), fmtTime(res.NextAt))
	}
	_, err = h.ss.ScheduleFire(h.ctx, &store.ScheduleFireParams{ID: "p", ExpectNextFireAt: at(time.Minute),
		Fires: []store.ScheduleFireItem{enqueueItem("p", at(time.Minute))}, LastFireAt: at(time.Minute), NextFireAt: at(2 * time.Minute), Now: at(time.Hour)})
	h.wantErr("ScheduleFire of a paused schedule", err, store.ErrScheduleConflict)
	sc, err = h.ss.SchedulePause(h.ctx, &store.SchedulePauseParams{ID: "p", Paused: false, NextFireAt: at(65 * time.Minute), Now: at(time.Hour)})
	if err != nil || sc.Paused {
		h.t.Fatalf("SchedulePause(false) = %+v, %v", sc, err)
	}
	h.wantTime("NextFireAt after resume", sc.NextFireAt, at(65*time.Minute))
	if res := h.due(at(65*time.Minute), 10); fmt.Sprint(dueIDs(res)) != "[p]" {
		h.t.Errorf("resumed schedule not due at its new next fire: %v", dueIDs(res))
	}
}

func testScheduleDueList(h *schedHarness) {
	h.create(newDefinition("late"), at(3*time.Minute), at(0))
	h.create(newDefinition("early"), at(time.Minute), at(0))
	h.create(newDefinition("later"), at(10*time.Minute), at(0))
	h.create(newDefinition("soon"), at(6*time.Minute), at(0))
	h.create(newDefinition("never"), time.Time{}, at(0))
	res := h.due(at(5*time.Minute), 10)
	if fmt.Sprint(dueIDs(res)) != "[early late]" {
		h.t.Errorf("due at +5m: %v, want [early late] (earliest first)", dueIDs(res))
	}
	h.wantTime("NextAt", res.NextAt, at(6*time.Minute))
	res = h.due(at(5*time.Minute), 1)
	if fmt.Sprint(dueIDs(res)) != "[early]" || !res.NextAt.After(at(0)) || res.NextAt.After(at(5*time.Minute)) {
		h.t.Errorf("due with limit 1: %v next at %s, want [early] and a NextAt that is already due", dueIDs(res), fmtTime(res.NextAt))
	}
	res = h.due(at(0), 10)
	if len(res.Due) != 0 {
		h.t.Errorf("due at 0: %v, want none", dueIDs(res))
	}
	h.wantTime("NextAt at 0", res.NextAt, at(time.Minute))
}

func testScheduleFire(h *schedHarness) {
	h.create(newDefinition("s"), at(5*time.Minute), at(0))
	instant := at(5 * time.Minute)
	sc := h.fire(store.ScheduleFireParams{ID: "s", ExpectNextFireAt: instant,
		Fires:      []store.ScheduleFireItem{enqueueItem("s", instant)},
		LastFireAt: instant, NextFireAt: at(10 * time.Minute), Now: at(5*time.Minute + 20*time.Millisecond)})
	h.wantTime("LastFireAt", sc.LastFireAt, instant)
	h.wantTime("NextFireAt", sc.NextFireAt, at(10*time.Minute))
	h.wantFires("after one fire", sc, store.FireEnqueued)
	f := sc.Fires[0]
	h.wantTime("fire Instant", f.Instant, instant)
	h.wantTime("fire At", f.At, at(5*time.Minute+20*time.Millisecond))
	if f.JobID.IsZero() || sc.LastJobID != f.JobID {
		h.t.Fatalf("fire JobID %s, LastJobID %s: want the inserted job in both", f.JobID, sc.LastJobID)
	}
	j := h.wantState(f.JobID, store.StateAvailable)
	if j.Kind != "report.build" || j.Queue != "reports" || j.UniqueKey != fireJob("s", instant).UniqueKey {
		h.t.Errorf("fired job: kind %q queue %q unique %q", j.Kind, j.Queue, j.UniqueKey)
	}
	h.wantTime("fired job RunAt", j.RunAt, instant)
	if got := h.getSchedule("s"); got.LastJobID != f.JobID || !sameTime(got.NextFireAt, at(10*time.Minute)) {
		h.t.Errorf("ScheduleGet after fire: last job %s next %s", got.LastJobID, fmtTime(got.NextFireAt))
	}
	// A job for a later instant (jitter) is scheduled, and claimable only then.
	sc = h.fire(store.ScheduleFireParams{ID: "s", ExpectNextFireAt: at(10 * time.Minute),
		Fires:      []store.ScheduleFireItem{{Instant: at(10 * time.Minute), Outcome: store.FireEnqueued, Job: fireJob("s", at(10*time.Minute+2*time.Second))}},
		LastFireAt: at(10 * time.Minute), NextFireAt: time.Time{}, Now: at(10 * time.Minute)})
	h.wantState(sc.LastJobID, store.StateScheduled)
	if !sc.NextFireAt.IsZero() {
		h.t.Errorf("NextFireAt after the last fire: %s, want zero", fmtTime(sc.NextFireAt))
	}
	if res := h.due(at(1000*time.Hour), 10); len(res.Due) != 0 {
		h.t.Errorf("a schedule with no next fire is due: %v", dueIDs(res))
	}
}

func testScheduleFireCAS(h *schedHarness) {
	h.create(newDefinition("s"), at(5*time.Minute), at(0))
	_, err := h.ss.ScheduleFire(h.ctx, &store.ScheduleFireParams{ID: "s", ExpectNextFireAt: at(4 * time.Minute),
		Fires: []store.ScheduleFireItem{enqueueItem("s", at(4*time.Minute))}, LastFireAt: at(4 * time.Minute), NextFireAt: at(5 * time.Minute), Now: at(5 * time.Minute)})
	h.wantErr("ScheduleFire with a stale ExpectNextFireAt", err, store.ErrScheduleConflict)
	if n := h.count(store.JobListParams{}); n != 0 {
		h.t.Errorf("a failed compare-and-set inserted %d jobs", n)
	}
	sc := h.getSchedule("s")
	h.wantTime("NextFireAt after a failed fire", sc.NextFireAt, at(5*time.Minute))
	if len(sc.Fires) != 0 || !sc.LastFireAt.IsZero() {
		h.t.Errorf("a failed compare-and-set changed the schedule: %+v", sc)
	}
}

func testScheduleFireDuplicate(h *schedHarness) {
	// Another firer (or a previous incarnation of this schedule) already
	// made the instant's job: the fire records a duplicate, no second job.
	instant := at(5 * time.Minute)
	first := h.insert(at(5*time.Minute), *fireJob("s", instant))[0]
	h.create(newDefinition("s"), instant, at(0))
	sc := h.fire(store.ScheduleFireParams{ID: "s", ExpectNextFireAt: instant,
		Fires: []store.ScheduleFireItem{enqueueItem("s", instant)}, LastFireAt: instant, NextFireAt: at(10 * time.Minute), Now: at(5 * time.Minute)})
	h.wantFires("after a duplicate fire", sc, store.FireDuplicate)
	if sc.Fires[0].JobID != first.ID || sc.LastJobID != first.ID {
		h.t.Errorf("duplicate fire names job %s (last %s), want the existing %s", sc.Fires[0].JobID, sc.LastJobID, first.ID)
	}
	if n := h.count(store.JobListParams{}); n != 1 {
		h.t.Errorf("%d jobs after a duplicate fire, want 1", n)
	}
}

func testScheduleFireConcurrent(h *schedHarness) {
	h.create(newDefinition("s"), at(5*time.Minute), at(0))
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = h.ss.ScheduleFire(h.ctx, &store.ScheduleFireParams{ID: "s", ExpectNextFireAt: at(5 * time.Minute),
				Fires: []store.ScheduleFireItem{enqueueItem("s", at(5*time.Minute))}, LastFireAt: at(5 * time.Minute), NextFireAt: at(10 * time.Minute), Now: at(5 * time.Minute)})
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrScheduleConflict):
			h.t.Errorf("concurrent fire %d: %v, want nil or ErrScheduleConflict", i, err)
		}
	}
	if won != 1 {
		h.t.Errorf("%d concurrent fires of one instant: %d succeeded, want exactly 1", n, won)
	}
	if c := h.count(store.JobListParams{}); c != 1 {
		h.t.Errorf("%d concurrent fires of one instant made %d jobs, want 1", n, c)
	}
	h.wantFires("after concurrent fires", h.getSchedule("s"), store.FireEnqueued)
}

func testScheduleFireHistory(h *schedHarness) {
	h.create(newDefinition("s"), at(time.Minute), at(0))
	sc := h.fire(store.ScheduleFireParams{ID: "s", ExpectNextFireAt: at(time.Minute),
		Fires: []store.ScheduleFireItem{
			{Instant: at(3 * time.Minute), Outcome: store.FireMissed, Missed: 3},
			{Instant: at(4 * time.Minute), Outcome: store.FireOverlap},
		}, LastFireAt: at(4 * time.Minute), NextFireAt: at(5 * time.Minute), Now: at(4 * time.Minute)})
	h.wantFires("skipped fires", sc, store.FireMissed, store.FireOverlap)
	if sc.Fires[0].Missed != 3 || !sc.Fires[0].JobID.IsZero() || !sc.LastJobID.IsZero() {
		h.t.Errorf("missed record: %+v, last job %s", sc.Fires[0], sc.LastJobID)
	}
	if n := h.count(store.JobListParams{}); n != 0 {
		h.t.Errorf("skipped fires inserted %d jobs", n)
	}
	next := at(5 * time.Minute)
	for i := range store.MaxScheduleFires + 5 {
		instant := next
		next = instant.Add(time.Minute)
		sc = h.fire(store.ScheduleFireParams{ID: "s", ExpectNextFireAt: instant,
			Fires: []store.ScheduleFireItem{enqueueItem("s", instant)}, LastFireAt: instant, NextFireAt: next, Now: instant})
		if i == store.MaxScheduleFires+4 && sc.Fires[len(sc.Fires)-1].JobID != sc.LastJobID {
			h.t.Errorf("the newest fire is not last in the history")
		}
	}
	got := h.getSchedule("s")
	if len(got.Fires) != store.MaxScheduleFires {
		h.t.Fatalf("history length %d, want %d", len(got.Fires), store.MaxScheduleFires)
	}
	for i := 1; i < len(got.Fires); i++ {
		if !got.Fires[i].Instant.After(got.Fires[i-1].Instant) {
			h.t.Errorf("history not oldest first at %d: %s then %s", i, fmtTime(got.Fires[i-1].Instant), fmtTime(got.Fires[i].Instant))
		}
	}
	h.wantTime("newest kept", got.Fires[len(got.Fires)-1].Instant, next.Add(-time.Minute))
}

func testScheduleFireManual(h *schedHarness) {
	h.create(newDefinition("s"), at(time.Hour), at(0))
	j := fireJob("s", at(time.Minute))
	j.UniqueKey = "troika:schedule:s:trigger:1"
	sc := h.fire(store.ScheduleFireParams{ID: "s", Manual: true,
		Fires: []store.ScheduleFireItem{{Instant: at(time.Minute), Outcome: store.FireTriggered, Job: j}}, Now: at(time.Minute)})
	h.wantFires("after a trigger", sc, store.FireTriggered)
	h.wantTime("NextFireAt untouched by a trigger", sc.NextFireAt, at(time.Hour))
	if !sc.LastFireAt.IsZero() {
		h.t.Errorf("LastFireAt set by a trigger: %s", fmtTime(sc.LastFireAt))
	}
	h.wantState(sc.LastJobID, store.StateAvailable)
}

func testScheduleFireBad(h *schedHarness) {
	h.create(newDefinition("s"), at(time.Minute), at(0))
	for _, tc := range []struct {
		name string
		item store.ScheduleFireItem
	}{
		{"enqueued without a job", store.ScheduleFireItem{Instant: at(time.Minute), Outcome: store.FireEnqueued}},
		{"missed with a job", store.ScheduleFireItem{Instant: at(time.Minute), Outcome: store.FireMissed, Job: fireJob("s", at(time.Minute))}},
		{"unknown outcome", store.ScheduleFireItem{Instant: at(time.Minute), Outcome: "exploded"}},
		{"job without a kind", store.ScheduleFireItem{Instant: at(time.Minute), Outcome: store.FireEnqueued, Job: &store.InsertJob{Queue: "q"}}},
	} {
		var err error
		h.noPanic("ScheduleFire("+tc.name+")", func() {
			_, err = h.ss.ScheduleFire(h.ctx, &store.ScheduleFireParams{ID: "s", ExpectNextFireAt: at(time.Minute),
				Fires: []store.ScheduleFireItem{enqueueItem("s", at(time.Minute)), tc.item}, LastFireAt: at(time.Minute), NextFireAt: at(2 * time.Minute), Now: at(time.Minute)})
		})
		h.wantErr("ScheduleFire("+tc.name+")", err, store.ErrInvalidArgument)
	}
	h.noPanic("ScheduleFire(nil)", func() {
		_, err := h.ss.ScheduleFire(h.ctx, nil)
		h.wantErr("ScheduleFire(nil)", err, store.ErrInvalidArgument)
	})
	if n := h.count(store.JobListParams{}); n != 0 {
		h.t.Errorf("rejected fires inserted %d jobs", n)
	}
	h.wantTime("NextFireAt after rejected fires", h.getSchedule("s").NextFireAt, at(time.Minute))
}

func testScheduleClosed(h *schedHarness) {
	h.create(newDefinition("s"), at(time.Minute), at(0))
	if err := h.s.Close(); err != nil {
		h.t.Fatalf("Close: %v", err)
	}
	_, err := h.ss.ScheduleUpsert(h.ctx, &store.ScheduleUpsertParams{Definition: newDefinition("t"), Now: at(0)})
	h.wantErr("ScheduleUpsert after Close", err, store.ErrClosed)
	_, err = h.ss.ScheduleGet(h.ctx, &store.ScheduleGetParams{ID: "s"})
	h.wantErr("ScheduleGet after Close", err, store.ErrClosed)
	_, err = h.ss.ScheduleList(h.ctx, &store.ScheduleListParams{})
	h.wantErr("ScheduleList after Close", err, store.ErrClosed)
	_, err = h.ss.ScheduleDueList(h.ctx, &store.ScheduleDueListParams{Now: at(time.Hour)})
	h.wantErr("ScheduleDueList after Close", err, store.ErrClosed)
	_, err = h.ss.SchedulePause(h.ctx, &store.SchedulePauseParams{ID: "s", Paused: true})
	h.wantErr("SchedulePause after Close", err, store.ErrClosed)
	_, err = h.ss.ScheduleFire(h.ctx, &store.ScheduleFireParams{ID: "s", ExpectNextFireAt: at(time.Minute), Fires: []store.ScheduleFireItem{enqueueItem("s", at(time.Minute))}})
	h.wantErr("ScheduleFire after Close", err, store.ErrClosed)
	h.wantErr("ScheduleDelete after Close", h.ss.ScheduleDelete(h.ctx, &store.ScheduleDeleteParams{ID: "s"}), store.ErrClosed)
}
