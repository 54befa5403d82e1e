package storetest

import (
	"fmt"
	"time"

	"github.com/troikahq/troika/store"
)

func cancelTests() []test {
	return []test{
		{"Scheduled", func(h *harness) { testCancelWaiting(h, store.StateScheduled) }},
		{"Available", func(h *harness) { testCancelWaiting(h, store.StateAvailable) }},
		{"Retryable", func(h *harness) { testCancelWaiting(h, store.StateRetryable) }},
		{"RunningRevokesLease", testCancelRunning},
		{"FinalIsStateError", testCancelFinal},
		{"UnknownNotFound", testCancelUnknown},
		{"ReasonRecorded", testCancelReason},
	}
}

func retryTests() []test {
	return []test{
		{"DeadBecomesAvailable", testRetryDead},
		{"ByIDsAtomicWrongState", testRetryAtomicState},
		{"ByIDsAtomicNotFound", testRetryAtomicNotFound},
		{"ByFilter", testRetryFilter},
		{"ByFilterLimit", testRetryFilterLimit},
	}
}

func deleteTests() []test {
	return []test{
		{"ByIDs", testDeleteByIDs},
		{"ByIDsRunningRefused", testDeleteRunningRefused},
		{"ByIDsUnknownNotFound", testDeleteUnknown},
		{"ByFilter", testDeleteFilter},
		{"FinishedBefore", testDeleteFinishedBefore},
		{"FinishedBeforeFilters", testDeleteFinishedBeforeFilters},
		{"FinishedBeforeAfterRetry", testDeleteFinishedBeforeAfterRetry},
		{"Limit", testDeleteLimit},
	}
}

// A scheduled, available or retryable job becomes cancelled at once, with
// FinishedAt = Now; it is never claimed afterwards.
func testCancelWaiting(h *harness, state store.JobState) {
	j := h.inState(at(0), state)
	now := at(time.Minute)
	got, err := h.cancel(j.ID, now, "")
	if err != nil {
		h.t.Fatalf("JobCancel of a %s job: %v", state, err)
	}
	want := afterAck(j, store.StateCancelled, func(c *store.Job) { c.FinishedAt = now })
	h.wantJob("JobCancel result", got, want)
	h.wantJob("JobGet after cancel", h.get(j.ID), want)
	h.wantNoClaim(at(2*time.Hour), "default")
	if n := h.promote(at(2*time.Hour), 0); n != 0 {
		h.t.Errorf("JobPromoteDue after cancel moved %d jobs", n)
	}
}

// Cancelling a running job revokes its lease: the worker's next heartbeat
// or ack fails with ErrLeaseLost and changes nothing, and the job is not
// listed as an expired lease.
func testCancelRunning(h *harness) {
	c := h.inState(at(0), store.StateRunning)
	now := at(10 * time.Second)
	got, err := h.cancel(c.ID, now, "")
	if err != nil {
		h.t.Fatalf("JobCancel of a running job: %v", err)
	}
	want := afterAck(c, store.StateCancelled, func(j *store.Job) { j.FinishedAt = now })
	h.wantJob("JobCancel result", got, want)
	h.wantAllLost("the cancelled job's worker", c, at(11*time.Second))
	if exp := h.expired(at(time.Hour), 0); len(exp) != 0 {
		h.t.Errorf("a cancelled job is listed as an expired lease: %v", ids(exp))
	}
	h.wantNoClaim(at(time.Hour), "default")
	h.wantJob("JobGet after cancel", h.get(c.ID), want)
}

// A final job gives a *StateError (matching ErrWrongState) and changes
// nothing.
func testCancelFinal(h *harness) {
	for _, s := range []store.JobState{store.StateCompleted, store.StateDead, store.StateCancelled} {
		j := h.inState(at(0), s)
		_, err := h.cancel(j.ID, at(time.Minute), "too late")
		h.wantStateError("JobCancel of a "+string(s)+" job", err, j.ID, s)
		h.wantUnchanged("refused cancel", j)
	}
}

func testCancelUnknown(h *harness) {
	_, err := h.cancel(store.NewID(), at(0), "")
	h.wantErr("JobCancel of an unknown id", err, store.ErrNotFound)
}

// A non-empty Reason is recorded as an AttemptError message; an empty one
// records nothing.
func testCancelReason(h *harness) {
	j := h.inState(at(0), store.StateAvailable)
	got, err := h.cancel(j.ID, at(time.Minute), "duplicate order")
	if err != nil {
		h.t.Fatalf("JobCancel: %v", err)
	}
	if n := len(got.Errors); n != 1 || got.Errors[0].Message != "duplicate order" {
		h.t.Errorf("errors after a cancel with a reason: %+v, want one with the reason", got.Errors)
	}
	if g := h.get(j.ID); len(g.Errors) != 1 || g.Errors[0].Message != "duplicate order" {
		h.t.Errorf("JobGet errors after a cancel with a reason: %+v", g.Errors)
	}
	k := h.inState(at(0), store.StateScheduled)
	got, err = h.cancel(k.ID, at(time.Minute), "")
	if err != nil {
		h.t.Fatalf("JobCancel: %v", err)
	}
	if len(got.Errors) != 0 {
		h.t.Errorf("errors after a cancel without a reason: %+v, want none", got.Errors)
	}
}

// A dead job becomes available with Attempt 0 and FinishedAt cleared; its
// errors and other fields are kept; it is claimable at once.
func testRetryDead(h *harness) {
	d := h.inState(at(0), store.StateDead, withMaxAttempts(3), withArgs(`{"x":1}`))
	now := at(time.Minute)
	got, err := h.retry(store.JobRetryParams{IDs: []store.ID{d.ID}, Now: now})
	if err != nil {
		h.t.Fatalf("JobRetry: %v", err)
	}
	if len(got) != 1 {
		h.t.Fatalf("JobRetry returned %d jobs, want 1", len(got))
	}
	r := got[0]
	if r.ID != d.ID || r.State != store.StateAvailable || r.Attempt != 0 || !r.FinishedAt.IsZero() {
		h.t.Errorf("retried job: id %s state %q attempt %d FinishedAt %s; want %s available, 0, zero",
			r.ID, r.State, r.Attempt, fmtTime(r.FinishedAt), d.ID)
	}
	if len(r.Errors) != len(d.Errors) || len(d.Errors) == 0 {
		h.t.Errorf("retried job has %d errors, want the dead job's %d", len(r.Errors), len(d.Errors))
	}
	if r.MaxAttempts != 3 || string(r.Args) != `{"x":1}` || r.Kind != d.Kind || r.Queue != d.Queue {
		h.t.Errorf("retried job lost fields: %+v", r)
	}
	h.wantNoLease("retried job", r)
	h.wantJob("JobGet after retry", h.get(d.ID), r)
	c := h.claimID(now, "default", d.ID)
	if c.Attempt != 1 {
		h.t.Errorf("claim after retry: attempt %d, want 1", c.Attempt)
	}
}

// With IDs, one id that is not dead fails the whole call with a
// *StateError and nothing changes.
func testRetryAtomicState(h *harness) {
	d := h.inState(at(0), store.StateDead, withQueue("d"))
	for _, s := range []store.JobState{store.StateCompleted, store.StateAvailable, store.StateRunning, store.StateCancelled} {
		o := h.inState(at(0), s, withQueue("o-"+string(s)))
		got, err := h.retry(store.JobRetryParams{IDs: []store.ID{d.ID, o.ID}, Now: at(time.Minute)})
		h.wantStateError(fmt.Sprintf("JobRetry of [dead, %s]", s), err, o.ID, s)
		if len(got) != 0 {
			h.t.Errorf("JobRetry failed but returned %d jobs", len(got))
		}
		h.wantUnchanged("dead job after a failed JobRetry", d)
		h.wantUnchanged(string(s)+" job after a failed JobRetry", o)
	}
}

// With IDs, one unknown id fails the whole call with ErrNotFound.
func testRetryAtomicNotFound(h *harness) {
	d := h.inState(at(0), store.StateDead)
	_, err := h.retry(store.JobRetryParams{IDs: []store.ID{d.ID, store.NewID()}, Now: at(time.Minute)})
	h.wantErr("JobRetry with an unknown id", err, store.ErrNotFound)
	h.wantUnchanged("dead job after a failed JobRetry", d)
}

// Without IDs, dead jobs matching Queue and Kind are retried; others stay.
func testRetryFilter(h *harness) {
	match1 := h.inState(at(0), store.StateDead, withQueue("q1"), withKind("k1"))
	match2 := h.inState(at(0), store.StateDead, withQueue("q1"), withKind("k1"))
	otherKind := h.inState(at(0), store.StateDead, withQueue("q1"), withKind("k2"))
	otherQueue := h.inState(at(0), store.StateDead, withQueue("q2"), withKind("k1"))
	notDead := h.inState(at(0), store.StateCompleted, withQueue("q1"), withKind("k1"))

	got, err := h.retry(store.JobRetryParams{Queue: "q1", Kind: "k1", Now: at(time.Minute)})
	if err != nil {
		h.t.Fatalf("JobRetry by filter: %v", err)
	}
	h.wantIDSet("JobRetry(q1, k1)", got, match1, match2)
	h.wantState(match1.ID, store.StateAvailable)
	h.wantUnchanged("dead job of another kind", otherKind)
	h.wantUnchanged("dead job in another queue", otherQueue)
	h.wantUnchanged("completed job", notDead)

	got, err = h.retry(store.JobRetryParams{Queue: "q1", Now: at(time.Minute)})
	if err != nil {
		h.t.Fatalf("JobRetry by queue: %v", err)
	}
	h.wantIDSet("JobRetry(q1)", got, otherKind)
	got, err = h.retry(store.JobRetryParams{Now: at(time.Minute)})
	if err != nil {
		h.t.Fatalf("JobRetry with no filter: %v", err)
	}
	h.wantIDSet("JobRetry()", got, otherQueue)
	h.wantUnchanged("completed job", notDead)
}

// Limit bounds a filtered retry.
func testRetryFilterLimit(h *harness) {
	for range 5 {
		h.inState(at(0), store.StateDead)
	}
	for i, want := range []int{2, 2, 1, 0} {
		got, err := h.retry(store.JobRetryParams{Limit: 2, Now: at(time.Minute)})
		if err != nil {
			h.t.Fatalf("JobRetry: %v", err)
		}
		if len(got) != want {
			h.t.Errorf("call %d with Limit 2: %d jobs, want %d", i, len(got), want)
		}
	}
	h.wantCounts(h.queue("default", at(time.Minute)), map[store.JobState]int64{store.StateAvailable: 5})
}

// Deleting by IDs removes exactly those jobs, in any state but running.
func testDeleteByIDs(h *harness) {
	var del []*store.Job
	for _, s := range []store.JobState{store.StateScheduled, store.StateAvailable, store.StateRetryable,
		store.StateCompleted, store.StateDead, store.StateCancelled} {
		del = append(del, h.inState(at(0), s, withQueue("q-"+string(s))))
	}
	keep := h.insert1(at(0))
	n, err := h.delete(store.JobDeleteParams{IDs: ids(del)})
	if err != nil || n != len(del) {
		h.t.Fatalf("JobDelete by IDs: (%d, %v), want (%d, nil)", n, err, len(del))
	}
	for _, j := range del {
		h.wantGone(j.ID)
	}
	h.wantUnchanged("job not named", keep)
	h.wantIDs("remaining jobs", h.listAll(store.JobListParams{}), keep)
}

// A running job in the IDs fails the whole call with a *StateError.
func testDeleteRunningRefused(h *harness) {
	a := h.insert1(at(0), withQueue("a"))
	r := h.inState(at(0), store.StateRunning)
	_, err := h.delete(store.JobDeleteParams{IDs: []store.ID{a.ID, r.ID}})
	h.wantStateError("JobDelete of [available, running]", err, r.ID, store.StateRunning)
	h.wantUnchanged("available job after a refused delete", a)
	h.wantUnchanged("running job after a refused delete", r)
}

// An unknown id in the IDs fails the whole call with ErrNotFound.
func testDeleteUnknown(h *harness) {
	a := h.insert1(at(0))
	_, err := h.delete(store.JobDeleteParams{IDs: []store.ID{a.ID, store.NewID()}})
	h.wantErr("JobDelete with an unknown id", err, store.ErrNotFound)
	h.wantUnchanged("job after a failed delete", a)
}

// Without IDs: jobs in State matching Queue and Kind.
func testDeleteFilter(h *harness) {
	c1 := h.inState(at(0), store.StateCompleted, withQueue("q1"), withKind("k1"))
	c2 := h.inState(at(0), store.StateCompleted, withQueue("q1"), withKind("k2"))
	c3 := h.inState(at(0), store.StateCompleted, withQueue("q2"), withKind("k1"))
	d1 := h.inState(at(0), store.StateDead, withQueue("q1"), withKind("k1"))
	a1 := h.inState(at(0), store.StateAvailable, withQueue("q1"), withKind("k1"))

	if n, err := h.delete(store.JobDeleteParams{State: store.StateCompleted, Queue: "q1", Kind: "k1"}); err != nil || n != 1 {
		h.t.Errorf("JobDelete(completed, q1, k1): (%d, %v), want (1, nil)", n, err)
	}
	h.wantGone(c1.ID)
	if n, err := h.delete(store.JobDeleteParams{State: store.StateCompleted, Queue: "q1"}); err != nil || n != 1 {
		h.t.Errorf("JobDelete(completed, q1): (%d, %v), want (1, nil)", n, err)
	}
	h.wantGone(c2.ID)
	h.wantUnchanged("completed job in q2", c3)
	if n, err := h.delete(store.JobDeleteParams{State: store.StateCompleted, Kind: "k1"}); err != nil || n != 1 {
		h.t.Errorf("JobDelete(completed, k1): (%d, %v), want (1, nil)", n, err)
	}
	h.wantGone(c3.ID)
	h.wantUnchanged("dead job", d1)
	h.wantUnchanged("available job", a1)
	if n, err := h.delete(store.JobDeleteParams{State: store.StateAvailable}); err != nil || n != 1 {
		h.t.Errorf("JobDelete(available): (%d, %v), want (1, nil)", n, err)
	}
	h.wantGone(a1.ID)
	h.wantUnchanged("dead job", d1)
	h.wantCounts(h.queue("q1", at(0)), map[store.JobState]int64{store.StateDead: 1})
}

// Retention: FinishedBefore deletes only jobs finished before it, with the
// right count, per state.
func testDeleteFinishedBefore(h *harness) {
	finish := func(state store.JobState, d time.Duration) *store.Job {
		h.t.Helper()
		j := h.insert1(at(0))
		c := h.claimID(at(0), "default", j.ID)
		now := at(d)
		if state == store.StateCompleted {
			h.mustAck(now, completeAck(c, ""))
		} else {
			h.mustAck(now, deadAck(c, now, "x"))
		}
		return h.get(j.ID)
	}
	c1 := finish(store.StateCompleted, time.Minute)
	c2 := finish(store.StateCompleted, 90*time.Second)
	atCut := finish(store.StateCompleted, 2*time.Minute)
	c3 := finish(store.StateCompleted, 3*time.Minute)
	d1 := finish(store.StateDead, time.Minute)
	d2 := finish(store.StateDead, 3*time.Minute)
	cut := at(2 * time.Minute)

	n, err := h.delete(store.JobDeleteParams{State: store.StateCompleted, FinishedBefore: cut})
	if err != nil || n != 2 {
		h.t.Errorf("JobDelete(completed, finished before 2m): (%d, %v), want (2, nil)", n, err)
	}
	h.wantGone(c1.ID)
	h.wantGone(c2.ID)
	h.wantUnchanged("completed exactly at the cut-off (not before it)", atCut)
	h.wantUnchanged("completed after the cut-off", c3)
	h.wantUnchanged("dead job", d1)
	n, err = h.delete(store.JobDeleteParams{State: store.StateDead, FinishedBefore: cut})
	if err != nil || n != 1 {
		h.t.Errorf("JobDelete(dead, finished before 2m): (%d, %v), want (1, nil)", n, err)
	}
	h.wantGone(d1.ID)
	h.wantUnchanged("dead after the cut-off", d2)
	h.wantCounts(h.queue("default", at(time.Hour)), map[store.JobState]int64{store.StateCompleted: 2, store.StateDead: 1})
}

// finishAt inserts a job from opts at 0 and completes it at d.
func (h *harness) finishAt(d time.Duration, opts ...opt) *store.Job {
	h.t.Helper()
	j := h.insert1(at(0), opts...)
	queue := "default"
	if q := newJob(opts...).Queue; q != "" {
		queue = q
	}
	h.mustAck(at(d), completeAck(h.claimID(at(0), queue, j.ID), ""))
	return h.get(j.ID)
}

// Retention with Queue, Kind and Limit: jobs finished out of their ID order
// are found by finish time, and the filters and the limit hold.
func testDeleteFinishedBeforeFilters(h *harness) {
	late := h.finishAt(10*time.Minute, withQueue("q1")) // oldest ID, finished last
	early := h.finishAt(time.Minute, withQueue("q1"))   // newer ID, finished first
	other := h.finishAt(time.Minute, withQueue("q1"), withKind("other.kind"))
	q2 := h.finishAt(time.Minute, withQueue("q2"))
	q2b := h.finishAt(2*time.Minute, withQueue("q2"))
	cut := at(5 * time.Minute)

	n, err := h.delete(store.JobDeleteParams{State: store.StateCompleted, Queue: "q1", Kind: "test.job", FinishedBefore: cut})
	if err != nil || n != 1 {
		h.t.Errorf("JobDelete(q1, test.job, before 5m): (%d, %v), want (1, nil)", n, err)
	}
	h.wantGone(early.ID)
	h.wantUnchanged("finished after the cut-off, oldest ID", late)
	h.wantUnchanged("other kind", other)
	h.wantUnchanged("other queue", q2)

	n, err = h.delete(store.JobDeleteParams{State: store.StateCompleted, FinishedBefore: cut, Limit: 2})
	if err != nil || n != 2 {
		h.t.Errorf("JobDelete(any queue, before 5m, limit 2): (%d, %v), want (2, nil)", n, err)
	}
	n, err = h.delete(store.JobDeleteParams{State: store.StateCompleted, FinishedBefore: cut, Limit: 2})
	if err != nil || n != 1 {
		h.t.Errorf("second JobDelete(any queue, before 5m, limit 2): (%d, %v), want (1, nil)", n, err)
	}
	for _, j := range []*store.Job{other, q2, q2b} {
		h.wantGone(j.ID)
	}
	h.wantUnchanged("finished after the cut-off", late)
}

// Retention after a replay: a dead job retried and dead again counts from
// its second finish, not its first.
func testDeleteFinishedBeforeAfterRetry(h *harness) {
	j := h.insert1(at(0))
	c := h.claimID(at(0), "default", j.ID)
	h.mustAck(at(time.Minute), deadAck(c, at(time.Minute), "first"))
	if _, err := h.retry(store.JobRetryParams{IDs: []store.ID{j.ID}, Now: at(2 * time.Minute)}); err != nil {
		h.t.Fatalf("JobRetry: %v", err)
	}
	c = h.claimID(at(2*time.Minute), "default", j.ID)
	h.mustAck(at(5*time.Minute), deadAck(c, at(5*time.Minute), "second"))
	again := h.get(j.ID)

	n, err := h.delete(store.JobDeleteParams{State: store.StateDead, FinishedBefore: at(3 * time.Minute)})
	if err != nil || n != 0 {
		h.t.Errorf("JobDelete(dead, before 3m): (%d, %v), want (0, nil): it died again at 5m", n, err)
	}
	h.wantUnchanged("dead again at 5m", again)
	n, err = h.delete(store.JobDeleteParams{State: store.StateDead, FinishedBefore: at(6 * time.Minute)})
	if err != nil || n != 1 {
		h.t.Errorf("JobDelete(dead, before 6m): (%d, %v), want (1, nil)", n, err)
	}
	h.wantGone(j.ID)
}

// Limit bounds a filtered delete.
func testDeleteLimit(h *harness) {
	for range 5 {
		h.inState(at(0), store.StateCompleted)
	}
	for i, want := range []int{2, 2, 1, 0} {
		n, err := h.delete(store.JobDeleteParams{State: store.StateCompleted, Limit: 2})
		if err != nil || n != want {
			h.t.Errorf("call %d with Limit 2: (%d, %v), want (%d, nil)", i, n, err, want)
		}
	}
	if n := h.count(store.JobListParams{}); n != 0 {
		h.t.Errorf("%d jobs left, want 0", n)
	}
}
