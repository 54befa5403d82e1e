package storetest

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"slices"
	"time"

	"github.com/troikahq/troika/store"
)

func insertTests() []test {
	return []test{
		{"RoundTrip", testInsertRoundTrip},
		{"StateByRunAt", testInsertStateByRunAt},
		{"IDsUniqueAndIncreasing", testInsertIDsIncreasing},
		{"ParamsNotRetained", testInsertParamsNotRetained},
		{"SnapshotsOwnedByCaller", testInsertSnapshotsOwned},
		{"ManyAllOrNothing", testInsertAllOrNothing},
	}
}

func uniqueTests() []test {
	return []test{
		{"DuplicateWithinWindow", testUniqueWithinWindow},
		{"NewJobAfterWindow", testUniqueAfterWindow},
		{"DuplicateWithinBatch", testUniqueWithinBatch},
		{"FinishedJobHoldsKey", testUniqueFinishedHoldsKey},
		{"DeleteFreesKey", testUniqueDeleteFreesKey},
		{"NoKeyNoDedup", testUniqueNoKey},
	}
}

// expectInserted is the job JobInsertMany must create from in at now.
func expectInserted(id store.ID, in store.InsertJob, now time.Time) *store.Job {
	runAt := in.RunAt
	if runAt.IsZero() {
		runAt = now
	}
	state := store.StateAvailable
	if runAt.After(now) {
		state = store.StateScheduled
	}
	return &store.Job{
		ID: id, Kind: in.Kind, Args: in.Args, Queue: in.Queue, Priority: in.Priority,
		State: state, RunAt: runAt, MaxAttempts: in.MaxAttempts, Timeout: in.Timeout,
		UniqueKey: in.UniqueKey, UniqueUntil: in.UniqueUntil, Metadata: in.Metadata,
		Tags: in.Tags, CreatedAt: now,
	}
}

// Every field given to JobInsertMany comes back from the result and from
// JobGet, with CreatedAt = Now and nothing else set.
func testInsertRoundTrip(h *harness) {
	now := at(0)
	in := []store.InsertJob{{
		Kind:        "email.send",
		Args:        []byte(`{"to":"ada@example.com","n":1}`),
		Queue:       "emails",
		Priority:    1,
		RunAt:       at(-time.Minute),
		MaxAttempts: 7,
		Timeout:     90 * time.Second,
		Metadata:    map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tenant": "acme"},
		Tags:        []string{"welcome", "vip"},
	}, {
		Kind:        "report.build",
		Args:        []byte(`[1,2,3]`),
		Queue:       "reports",
		Priority:    4,
		RunAt:       at(2*time.Hour + 1500*time.Microsecond),
		MaxAttempts: 1,
		UniqueKey:   "report:42",
		UniqueUntil: at(3 * time.Hour),
	}, {
		Kind:        "noop",
		Queue:       "default",
		Priority:    2,
		MaxAttempts: 25,
	}}
	res := h.insertResults(now, in...)
	for i, r := range res {
		if r.Duplicate {
			h.t.Errorf("result %d: Duplicate set for a new job", i)
		}
		want := expectInserted(r.Job.ID, in[i], now)
		h.wantJob("JobInsertMany result", r.Job, want)
		h.wantJob("JobGet after insert", h.get(r.Job.ID), want)
	}
}

// RunAt after Now is scheduled; RunAt zero, equal to Now or before it is
// available (and zero means Now).
func testInsertStateByRunAt(h *harness) {
	now := at(time.Hour)
	cases := []struct {
		name  string
		runAt time.Time
		state store.JobState
	}{
		{"zero", time.Time{}, store.StateAvailable},
		{"past", at(0), store.StateAvailable},
		{"now", now, store.StateAvailable},
		{"now+1µs", now.Add(time.Microsecond), store.StateScheduled},
		{"far future", at(365 * 24 * time.Hour), store.StateScheduled},
	}
	for _, c := range cases {
		j := h.insert1(now, withRunAt(c.runAt))
		got := h.get(j.ID)
		if j.State != c.state || got.State != c.state {
			h.t.Errorf("RunAt %s: inserted as %q, read back as %q, want %q", c.name, j.State, got.State, c.state)
		}
		wantRunAt := c.runAt
		if wantRunAt.IsZero() {
			wantRunAt = now
		}
		h.wantTime("RunAt "+c.name+": JobGet RunAt", got.RunAt, wantRunAt)
	}
}

// IDs are non-zero, distinct, and increase in insertion order, within a
// batch and across calls.
func testInsertIDsIncreasing(h *harness) {
	var all []*store.Job
	all = append(all, h.insertN(at(0), 20)...)
	for i := range 10 {
		all = append(all, h.insert1(at(time.Duration(i)*time.Second)))
	}
	all = append(all, h.insertN(at(time.Minute), 20)...)
	for i := 1; i < len(all); i++ {
		if all[i-1].ID.Compare(all[i].ID) >= 0 {
			h.t.Fatalf("insert %d got ID %s, not after insert %d's %s", i, all[i].ID, i-1, all[i-1].ID)
		}
	}
}

// Params are read, never retained or modified: the caller may reuse its
// buffers once the call returns.
func testInsertParamsNotRetained(h *harness) {
	args := []byte(`{"a":1}`)
	meta := map[string]string{"k": "v"}
	tags := []string{"x", "y"}
	in := store.InsertJob{Kind: "k", Args: args, Queue: "q", Priority: 2, MaxAttempts: 3,
		Metadata: meta, Tags: tags, UniqueKey: "u", UniqueUntil: at(time.Hour)}
	p := &store.JobInsertManyParams{Jobs: []store.InsertJob{in}, Now: at(0)}
	before := store.InsertJob{Kind: in.Kind, Args: slices.Clone(args), Queue: in.Queue, Priority: in.Priority,
		MaxAttempts: in.MaxAttempts, Metadata: maps.Clone(meta), Tags: slices.Clone(tags),
		UniqueKey: in.UniqueKey, UniqueUntil: in.UniqueUntil}

	res, err := h.s.JobInsertMany(h.ctx, p)
	if err != nil || len(res) != 1 || res[0].Job == nil {
		h.t.Fatalf("JobInsertMany: (%v, %v)", res, err)
	}
	if !reflect.DeepEqual(p.Jobs[0], before) || !p.Now.Equal(at(0)) {
		h.t.Errorf("JobInsertMany modified its params: got %+v, want %+v", p.Jobs[0], before)
	}
	want := h.get(res[0].Job.ID)

	// Scribble over every buffer the caller passed.
	copy(args, `{"b":2}`)
	meta["k"] = "changed"
	meta["new"] = "added"
	tags[0] = "changed"
	p.Jobs[0].Kind = "changed"

	h.wantUnchanged("after the caller reused its params", want)
	h.wantJob("the result after the caller reused its params", res[0].Job, want)
}

// A returned *Job is a snapshot: later changes to the job do not show
// through it.
func testInsertSnapshotsOwned(h *harness) {
	j := h.insert1(at(0))
	got := h.get(j.ID)
	snapInsert, snapGet := *j, *got
	c := h.claimID(at(time.Second), "default", j.ID)
	snapClaim := *c
	h.mustAck(at(2*time.Second), completeAck(c, `{"ok":true}`))
	h.wantJob("insert result after later changes", j, &snapInsert)
	h.wantJob("JobGet result after later changes", got, &snapGet)
	h.wantJob("claim result after later changes", c, &snapClaim)
	if j.State != store.StateAvailable || c.State != store.StateRunning {
		h.t.Errorf("snapshots changed state: insert %q, claim %q", j.State, c.State)
	}
}

// A batch is inserted whole or not at all. The suite cannot force a
// storage failure, so it tries what can make a call fail (a cancelled
// context, an item a store may reject) and checks that the outcome is one of
// the two allowed.
func testInsertAllOrNothing(h *harness) {
	all := store.JobListParams{}

	ctx, cancel := context.WithCancel(h.ctx)
	cancel()
	res, err := h.s.JobInsertMany(ctx, &store.JobInsertManyParams{
		Jobs: []store.InsertJob{newJob(), newJob(), newJob()}, Now: at(0)})
	n := h.count(all)
	switch {
	case err != nil && n != 0:
		h.t.Errorf("JobInsertMany with a cancelled context failed (%v) but stored %d of 3 jobs", err, n)
	case err == nil && (n != 3 || len(res) != 3):
		h.t.Errorf("JobInsertMany with a cancelled context succeeded with %d results but stored %d of 3 jobs", len(res), n)
	}

	start := n
	res, err = h.s.JobInsertMany(h.ctx, &store.JobInsertManyParams{
		Jobs: []store.InsertJob{newJob(), newJob(withKind("")), newJob()}, Now: at(0)})
	n = h.count(all) - start
	switch {
	case err != nil && !errors.Is(err, store.ErrInvalidArgument):
		h.t.Errorf("JobInsertMany with an empty kind: error %v, want nil or ErrInvalidArgument", err)
	case err != nil && n != 0:
		h.t.Errorf("JobInsertMany with an empty kind failed (%v) but stored %d of 3 jobs", err, n)
	case err == nil && (n != 3 || len(res) != 3):
		h.t.Errorf("JobInsertMany with an empty kind succeeded with %d results but stored %d of 3 jobs", len(res), n)
	}
}

// A key whose window has not passed returns the existing job with
// Duplicate set and inserts nothing; other items of the batch are inserted.
func testUniqueWithinWindow(h *harness) {
	first := h.insert1(at(0), withUnique("welcome:1", at(time.Hour)), withKind("email.send"), withArgs(`{"n":1}`))
	res := h.insertResults(at(30*time.Minute),
		newJob(withUnique("welcome:1", at(2*time.Hour)), withKind("other.kind"), withArgs(`{"n":2}`)),
		newJob(withKind("fresh")))
	if !res[0].Duplicate {
		h.t.Errorf("second insert of key welcome:1 within its window: Duplicate = false")
	}
	h.wantJob("duplicate result", res[0].Job, h.get(first.ID))
	if res[1].Duplicate || res[1].Job.ID == first.ID {
		h.t.Errorf("the non-unique item of the batch was not inserted as a new job")
	}
	if n := h.count(store.JobListParams{}); n != 2 {
		h.t.Errorf("%d jobs stored, want 2 (the first and the fresh one)", n)
	}
	if n := h.count(store.JobListParams{Kind: "other.kind"}); n != 0 {
		h.t.Errorf("the duplicate was stored (%d jobs of its kind)", n)
	}
}

// Once UniqueUntil has passed, the key no longer deduplicates; a new job
// with the key then deduplicates in its own window.
func testUniqueAfterWindow(h *harness) {
	first := h.insert1(at(0), withUnique("k", at(time.Hour)))
	second := h.insertResults(at(time.Hour+time.Second), newJob(withUnique("k", at(2*time.Hour))))[0]
	if second.Duplicate || second.Job.ID == first.ID {
		h.t.Fatalf("insert after the window passed: Duplicate = %v, ID %s (first %s); want a new job", second.Duplicate, second.Job.ID, first.ID)
	}
	third := h.insertResults(at(time.Hour+2*time.Second), newJob(withUnique("k", at(3*time.Hour))))[0]
	if !third.Duplicate || third.Job.ID != second.Job.ID {
		h.t.Errorf("insert within the second job's window: Duplicate = %v, ID %s; want a duplicate of %s", third.Duplicate, third.Job.ID, second.Job.ID)
	}
	if n := h.count(store.JobListParams{}); n != 2 {
		h.t.Errorf("%d jobs stored, want 2", n)
	}
}

// The second item with a key in one batch is a duplicate of the first.
func testUniqueWithinBatch(h *harness) {
	res := h.insertResults(at(0),
		newJob(withUnique("k", at(time.Hour)), withArgs(`{"n":1}`)),
		newJob(),
		newJob(withUnique("k", at(time.Hour)), withArgs(`{"n":3}`)))
	if res[0].Duplicate || res[1].Duplicate {
		h.t.Errorf("first two items: Duplicate = %v, %v; want false, false", res[0].Duplicate, res[1].Duplicate)
	}
	if !res[2].Duplicate || res[2].Job.ID != res[0].Job.ID {
		h.t.Errorf("third item: Duplicate = %v, ID %s; want a duplicate of the first item %s", res[2].Duplicate, res[2].Job.ID, res[0].Job.ID)
	}
	if string(res[2].Job.Args) != `{"n":1}` {
		h.t.Errorf("duplicate result carries args %s, want the existing job's", res[2].Job.Args)
	}
	if n := h.count(store.JobListParams{}); n != 2 {
		h.t.Errorf("%d jobs stored, want 2", n)
	}
}

// A job that still exists holds its key within the window even when it has
// finished: a completed unique job is not run again.
func testUniqueFinishedHoldsKey(h *harness) {
	for _, final := range []store.JobState{store.StateCompleted, store.StateDead, store.StateCancelled} {
		key := "k-" + string(final)
		j := h.inState(at(0), final, withUnique(key, at(time.Hour)))
		r := h.insertResults(at(time.Minute), newJob(withUnique(key, at(time.Hour))))[0]
		if !r.Duplicate || r.Job.ID != j.ID {
			h.t.Errorf("insert of a key held by a %s job: Duplicate = %v, ID %s; want a duplicate of %s", final, r.Duplicate, r.Job.ID, j.ID)
		} else if r.Job.State != final {
			h.t.Errorf("duplicate result state %q, want %q", r.Job.State, final)
		}
	}
}

// Deleting a job frees its key, by IDs and by filter.
func testUniqueDeleteFreesKey(h *harness) {
	j := h.insert1(at(0), withUnique("by-id", at(time.Hour)))
	if n, err := h.delete(store.JobDeleteParams{IDs: []store.ID{j.ID}}); err != nil || n != 1 {
		h.t.Fatalf("JobDelete by ID: (%d, %v), want (1, nil)", n, err)
	}
	r := h.insertResults(at(time.Minute), newJob(withUnique("by-id", at(time.Hour))))[0]
	if r.Duplicate || r.Job.ID == j.ID {
		h.t.Errorf("insert after deleting the key's job by ID: Duplicate = %v; want a new job", r.Duplicate)
	}

	c := h.inState(at(0), store.StateCompleted, withQueue("retention"), withUnique("by-filter", at(time.Hour)))
	if n, err := h.delete(store.JobDeleteParams{State: store.StateCompleted, Queue: "retention"}); err != nil || n != 1 {
		h.t.Fatalf("JobDelete by filter: (%d, %v), want (1, nil)", n, err)
	}
	r = h.insertResults(at(time.Minute), newJob(withUnique("by-filter", at(time.Hour))))[0]
	if r.Duplicate || r.Job.ID == c.ID {
		h.t.Errorf("insert after deleting the key's job by filter: Duplicate = %v; want a new job", r.Duplicate)
	}
}

// Jobs without a key are never duplicates, however alike.
func testUniqueNoKey(h *harness) {
	a := h.insert1(at(0))
	b := h.insert1(at(0))
	if a.ID == b.ID {
		h.t.Errorf("two identical jobs without a key got one ID")
	}
	if n := h.count(store.JobListParams{}); n != 2 {
		h.t.Errorf("%d jobs stored, want 2", n)
	}
}
