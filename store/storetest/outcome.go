package storetest

import (
	"time"

	"github.com/troikahq/troika/store"
)

func outcomeTests() []test {
	return []test{
		{"Complete", testOutcomeComplete},
		{"Retry", testOutcomeRetry},
		{"RetryErrorsAccumulate", testOutcomeRetryAccumulate},
		{"RetryDueImmediately", testOutcomeRetryDue},
		{"Dead", testOutcomeDead},
		{"CancelWithError", testOutcomeCancelWithError},
		{"CancelWithoutError", testOutcomeCancelWithoutError},
		{"Snooze", testOutcomeSnooze},
		{"SnoozeDueImmediately", testOutcomeSnoozeDue},
	}
}

// claimed inserts one job at 0 and claims it at 1s.
func (h *harness) claimed() *store.Job {
	h.t.Helper()
	j := h.insert1(at(0))
	return h.claimID(at(time.Second), "default", j.ID)
}

// afterAck is the job as an outcome must leave it: the claim without its
// lease, in state, with the changes made by edit.
func afterAck(c *store.Job, state store.JobState, edit func(j *store.Job)) *store.Job {
	j := *c
	j.State = state
	j.LeaseHolder, j.LeaseToken, j.LeaseDeadline = "", 0, time.Time{}
	if edit != nil {
		edit(&j)
	}
	return &j
}

// Complete: completed, FinishedAt = Now, Result stored, lease cleared.
func testOutcomeComplete(h *harness) {
	c := h.claimed()
	now := at(5 * time.Second)
	h.mustAck(now, completeAck(c, `{"sent":true}`))
	h.wantJob("completed job", h.get(c.ID), afterAck(c, store.StateCompleted, func(j *store.Job) {
		j.FinishedAt = now
		j.Result = []byte(`{"sent":true}`)
	}))
	h.wantNoClaim(at(time.Hour), "default")
}

// Retry: retryable at RunAt with the error appended; not claimable before
// RunAt, claimable at it (attempt 2).
func testOutcomeRetry(h *harness) {
	c := h.claimed()
	now := at(5 * time.Second)
	e := store.AttemptError{At: now, Attempt: 1, Message: "smtp 451 try later"}
	h.mustAck(now, store.JobAck{Lease: c.Lease(), Outcome: store.AckRetry, RunAt: at(time.Minute), Error: &e})
	h.wantJob("retryable job", h.get(c.ID), afterAck(c, store.StateRetryable, func(j *store.Job) {
		j.RunAt = at(time.Minute)
		j.Errors = []store.AttemptError{e}
	}))
	h.wantNoClaim(at(time.Minute-time.Microsecond), "default")
	again := h.claimID(at(time.Minute), "default", c.ID)
	if again.Attempt != 2 {
		h.t.Errorf("claim after retry: attempt %d, want 2", again.Attempt)
	}
	h.wantTime("AttemptedAt of the second attempt", again.AttemptedAt, at(time.Minute))
	if len(again.Errors) != 1 {
		h.t.Errorf("claim after retry: %d errors, want 1", len(again.Errors))
	}
}

// Each failed attempt appends its error, in order, stack included.
func testOutcomeRetryAccumulate(h *harness) {
	c1 := h.claimed()
	e1 := store.AttemptError{At: at(2 * time.Second), Attempt: 1, Message: "first"}
	h.mustAck(e1.At, store.JobAck{Lease: c1.Lease(), Outcome: store.AckRetry, RunAt: at(time.Minute), Error: &e1})
	c2 := h.claimID(at(time.Minute), "default", c1.ID)
	e2 := store.AttemptError{At: at(time.Minute + time.Second), Attempt: 2, Message: "panic: nil map",
		Stack: "goroutine 7 [running]:\nmain.handler()\n\t/src/main.go:42 +0x1d"}
	h.mustAck(e2.At, store.JobAck{Lease: c2.Lease(), Outcome: store.AckRetry, RunAt: at(2 * time.Minute), Error: &e2})
	c3 := h.claimID(at(2*time.Minute), "default", c1.ID)
	e3 := store.AttemptError{At: at(2*time.Minute + time.Second), Attempt: 3, Message: "exhausted"}
	h.mustAck(e3.At, store.JobAck{Lease: c3.Lease(), Outcome: store.AckDead, Error: &e3})
	got := h.wantState(c1.ID, store.StateDead)
	want := afterAck(c3, store.StateDead, func(j *store.Job) {
		j.Errors = []store.AttemptError{e1, e2, e3}
		j.FinishedAt = e3.At
	})
	h.wantJob("job after three failed attempts", got, want)
}

// A retry whose RunAt is not after Now is claimable at once.
func testOutcomeRetryDue(h *harness) {
	c := h.claimed()
	now := at(5 * time.Second)
	h.mustAck(now, retryAck(c, now, now, "again now"))
	h.claimID(now, "default", c.ID)
}

// Dead: dead, FinishedAt = Now, error appended, never claimed again.
func testOutcomeDead(h *harness) {
	c := h.claimed()
	now := at(5 * time.Second)
	e := store.AttemptError{At: now, Attempt: 1, Message: "permanent: bad address"}
	h.mustAck(now, store.JobAck{Lease: c.Lease(), Outcome: store.AckDead, Error: &e})
	h.wantJob("dead job", h.get(c.ID), afterAck(c, store.StateDead, func(j *store.Job) {
		j.FinishedAt = now
		j.Errors = []store.AttemptError{e}
	}))
	h.wantNoClaim(at(time.Hour), "default")
}

// Cancel with an error: cancelled, FinishedAt = Now, error appended.
func testOutcomeCancelWithError(h *harness) {
	c := h.claimed()
	now := at(5 * time.Second)
	e := store.AttemptError{At: now, Attempt: 1, Message: "order withdrawn"}
	h.mustAck(now, store.JobAck{Lease: c.Lease(), Outcome: store.AckCancel, Error: &e})
	h.wantJob("cancelled job", h.get(c.ID), afterAck(c, store.StateCancelled, func(j *store.Job) {
		j.FinishedAt = now
		j.Errors = []store.AttemptError{e}
	}))
	h.wantNoClaim(at(time.Hour), "default")
}

// Cancel without an error appends none.
func testOutcomeCancelWithoutError(h *harness) {
	c := h.claimed()
	now := at(5 * time.Second)
	h.mustAck(now, cancelAck(c, now, ""))
	h.wantJob("cancelled job", h.get(c.ID), afterAck(c, store.StateCancelled, func(j *store.Job) {
		j.FinishedAt = now
	}))
}

// Snooze: scheduled at RunAt with the attempt given back; claimable at
// RunAt, where the attempt is counted again.
func testOutcomeSnooze(h *harness) {
	c := h.claimed()
	now := at(5 * time.Second)
	h.mustAck(now, snoozeAck(c, at(10*time.Minute)))
	got := h.get(c.ID)
	if got.State != store.StateScheduled || got.Attempt != 0 {
		h.t.Errorf("snoozed job: state %q attempt %d, want scheduled with attempt 0", got.State, got.Attempt)
	}
	h.wantTime("snoozed RunAt", got.RunAt, at(10*time.Minute))
	h.wantNoLease("snoozed job", got)
	if len(got.Errors) != 0 || !got.FinishedAt.IsZero() {
		h.t.Errorf("snoozed job: %d errors, FinishedAt %s; want none and zero", len(got.Errors), fmtTime(got.FinishedAt))
	}
	h.wantNoClaim(at(10*time.Minute-time.Microsecond), "default")
	again := h.claimID(at(10*time.Minute), "default", c.ID)
	if again.Attempt != 1 {
		h.t.Errorf("claim after snooze: attempt %d, want 1", again.Attempt)
	}
}

// A snooze (or hand-back) with RunAt <= Now makes the job available at
// once.
func testOutcomeSnoozeDue(h *harness) {
	for i, runAt := range []time.Time{at(5 * time.Second), at(time.Second)} {
		c := h.claimed()
		now := at(5 * time.Second)
		h.mustAck(now, snoozeAck(c, runAt))
		got := h.get(c.ID)
		if got.State != store.StateAvailable || got.Attempt != 0 {
			h.t.Errorf("case %d: snoozed to %s at %s: state %q attempt %d, want available with attempt 0",
				i, fmtTime(runAt), fmtTime(now), got.State, got.Attempt)
		}
		h.wantNoLease("handed-back job", got)
		h.claimID(now, "default", c.ID)
	}
}
