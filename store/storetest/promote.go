package storetest

import (
	"time"

	"github.com/troikahq/troika/store"
)

func promoteTests() []test {
	return []test{
		{"MovesDueWaitingJobs", testPromoteDue},
		{"Limit", testPromoteLimit},
		{"NothingDue", testPromoteNothing},
	}
}

// Due scheduled and retryable jobs become available and are counted; jobs
// not yet due, and jobs in other states, are left alone.
func testPromoteDue(h *harness) {
	r := h.insert1(at(0), withQueue("r"))
	rc := h.claimID(at(0), "r", r.ID)
	h.mustAck(at(time.Second), retryAck(rc, at(time.Second), at(90*time.Second), "boom"))
	s1 := h.insert1(at(0), withRunAt(at(time.Minute)))
	s2 := h.insert1(at(0), withRunAt(at(2*time.Minute)))
	s3 := h.insert1(at(0), withRunAt(at(3*time.Minute)))
	run := h.inState(at(0), store.StateRunning, withQueue("run"))
	avail := h.insert1(at(0), withQueue("avail"))
	done := h.inState(at(0), store.StateCompleted, withQueue("done"))

	if n := h.promote(at(2*time.Minute), 0); n != 3 {
		h.t.Errorf("JobPromoteDue at 2m: %d, want 3", n)
	}
	for _, j := range []*store.Job{r, s1, s2} {
		h.wantState(j.ID, store.StateAvailable)
	}
	h.wantState(s3.ID, store.StateScheduled)
	h.wantUnchanged("running job", run)
	h.wantUnchanged("available job", avail)
	h.wantUnchanged("completed job", done)
	if n := h.promote(at(2*time.Minute), 0); n != 0 {
		h.t.Errorf("second JobPromoteDue at 2m: %d, want 0", n)
	}
	got := h.claim(at(2*time.Minute), 10, "default", "r")
	h.wantIDSet("claim after promotion", got, r, s1, s2)
}

// Limit bounds how many move per call.
func testPromoteLimit(h *harness) {
	for i := range 5 {
		h.insert1(at(0), withRunAt(at(time.Duration(i+1)*time.Second)))
	}
	now := at(time.Minute)
	for i, want := range []int{2, 2, 1, 0} {
		if n := h.promote(now, 2); n != want {
			h.t.Errorf("call %d with Limit 2: %d, want %d", i, n, want)
		}
	}
	h.wantCounts(h.queue("default", now), map[store.JobState]int64{store.StateAvailable: 5})
}

// With nothing due, nothing moves.
func testPromoteNothing(h *harness) {
	if n := h.promote(at(0), 0); n != 0 {
		h.t.Errorf("JobPromoteDue on an empty store: %d", n)
	}
	s := h.insert1(at(0), withRunAt(at(time.Hour)))
	if n := h.promote(at(time.Hour-time.Microsecond), 0); n != 0 {
		h.t.Errorf("JobPromoteDue before RunAt: %d, want 0", n)
	}
	h.wantState(s.ID, store.StateScheduled)
	if n := h.promote(at(time.Hour), 0); n != 1 {
		h.t.Errorf("JobPromoteDue at RunAt: %d, want 1", n)
	}
}
