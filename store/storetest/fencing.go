package storetest

import (
	"time"

	"github.com/troikahq/troika/store"
)

func fencingTests() []test {
	return []test{
		{"StaleToken", testFenceStaleToken},
		{"WrongAttempt", testFenceWrongAttempt},
		{"NotRunning", testFenceNotRunning},
		{"UnknownID", testFenceUnknown},
		{"MixedBatch", testFenceMixedBatch},
		{"SameLeaseTwiceInBatch", testFenceSameLeaseTwice},
		{"FinishedNeverResurrected", testFenceNoResurrection},
		{"ReclaimedLeaseRejectsOldToken", testFenceReclaimed},
		{"SnoozedAndReclaimedRejectsOldToken", testFenceSnoozeReclaimed},
	}
}

// everyOutcome returns one ack of each outcome for lease j at now.
func everyOutcome(j *store.Job, now time.Time) []store.JobAck {
	return []store.JobAck{
		completeAck(j, `{"late":true}`),
		retryAck(j, now, now, "late retry"),
		deadAck(j, now, "late dead"),
		cancelAck(j, now, "late cancel"),
		snoozeAck(j, now),
	}
}

// wantAllLost checks that every outcome and a heartbeat for lease j fail
// with ErrLeaseLost and change nothing.
func (h *harness) wantAllLost(what string, j *store.Job, now time.Time) {
	h.t.Helper()
	before := h.get(j.ID)
	for _, a := range everyOutcome(j, now) {
		h.wantItemErrs(what+": ack", h.ack(now, a), store.ErrLeaseLost)
		h.wantUnchanged(what+": after a rejected ack", before)
	}
	h.wantItemErrs(what+": extend", h.extend(now, time.Hour, j.Lease()), store.ErrLeaseLost)
	h.wantUnchanged(what+": after a rejected extend", before)
}

// An ack or heartbeat with the right attempt and a wrong token is rejected
// and changes nothing.
func testFenceStaleToken(h *harness) {
	c := h.inState(at(0), store.StateRunning)
	stale := *c
	stale.LeaseToken = c.LeaseToken + 1
	h.wantAllLost("stale token", &stale, at(time.Second))
	stale.LeaseToken = c.LeaseToken ^ 0xFFFF_FFFF_0000_0000
	h.wantAllLost("stale token", &stale, at(time.Second))
	h.mustAck(at(2*time.Second), completeAck(c, "")) // the real lease still works
}

// An ack or heartbeat with the right token and a wrong attempt is rejected.
func testFenceWrongAttempt(h *harness) {
	c := h.inState(at(0), store.StateRunning)
	for _, attempt := range []int{0, 2, -1} {
		wrong := *c
		wrong.Attempt = attempt
		h.wantAllLost("wrong attempt", &wrong, at(time.Second))
	}
	h.mustAck(at(2*time.Second), completeAck(c, ""))
}

// A job that is not running rejects every lease, including a guessed one.
func testFenceNotRunning(h *harness) {
	for _, s := range []store.JobState{store.StateScheduled, store.StateAvailable, store.StateRetryable} {
		j := h.inState(at(0), s, withQueue("q-"+string(s)))
		for _, guess := range []store.LeaseRef{{ID: j.ID}, {ID: j.ID, Attempt: 1, Token: 1}, {ID: j.ID, Attempt: j.Attempt, Token: 1}} {
			g := *j
			g.Attempt, g.LeaseToken = guess.Attempt, guess.Token
			h.wantAllLost(string(s)+" job", &g, at(time.Second))
		}
	}
}

// An unknown id is ErrNotFound, for acks and heartbeats.
func testFenceUnknown(h *harness) {
	ghost := &store.Job{ID: store.NewID(), Attempt: 1, LeaseToken: 42}
	for _, a := range everyOutcome(ghost, at(0)) {
		h.wantItemErrs("ack of an unknown job", h.ack(at(0), a), store.ErrNotFound)
	}
	h.wantItemErrs("extend of an unknown job", h.extend(at(0), ttl, ghost.Lease()), store.ErrNotFound)
}

// Items of one batch succeed or fail on their own.
func testFenceMixedBatch(h *harness) {
	h.insertN(at(0), 4)
	jobs := h.claim(at(time.Second), 4, "default")
	if len(jobs) != 4 {
		h.t.Fatalf("claimed %d jobs, want 4", len(jobs))
	}
	done, stale, retried, snoozed := jobs[0], jobs[1], jobs[2], jobs[3]
	staleBefore := h.get(stale.ID)
	staleRef := *stale
	staleRef.LeaseToken++
	ghost := &store.Job{ID: store.NewID(), Attempt: 1, LeaseToken: 7}
	now := at(2 * time.Second)
	errs := h.ack(now,
		completeAck(done, ""),
		completeAck(&staleRef, ""),
		completeAck(ghost, ""),
		retryAck(retried, now, at(time.Hour), "boom"),
		snoozeAck(snoozed, at(time.Hour)))
	h.wantItemErrs("mixed ack batch", errs, nil, store.ErrLeaseLost, store.ErrNotFound, nil, nil)
	h.wantState(done.ID, store.StateCompleted)
	h.wantUnchanged("stale item", staleBefore)
	h.wantState(retried.ID, store.StateRetryable)
	h.wantState(snoozed.ID, store.StateScheduled)

	// The same for heartbeats.
	h.insertN(at(3*time.Second), 1)
	live := h.claimOne(at(3*time.Second), "default")
	errs = h.extend(at(4*time.Second), time.Minute, stale.Lease(), staleRef.Lease(), ghost.Lease(), done.Lease(), live.Lease())
	h.wantItemErrs("mixed extend batch", errs, nil, store.ErrLeaseLost, store.ErrNotFound, store.ErrLeaseLost, nil)
	h.wantTime("extended deadline", h.get(stale.ID).LeaseDeadline, at(4*time.Second+time.Minute))
	h.wantTime("extended deadline", h.get(live.ID).LeaseDeadline, at(4*time.Second+time.Minute))
}

// Two acks of one lease in one batch: exactly one applies.
func testFenceSameLeaseTwice(h *harness) {
	c := h.inState(at(0), store.StateRunning)
	now := at(time.Second)
	errs := h.ack(now, completeAck(c, `{"n":1}`), retryAck(c, now, at(time.Hour), "again"))
	if (errs[0] == nil) == (errs[1] == nil) {
		h.t.Fatalf("two acks of one lease in a batch: %v, %v; want exactly one to succeed", errs[0], errs[1])
	}
	if errs[0] == nil {
		h.wantItemErrs("second ack", errs[1:], store.ErrLeaseLost)
		h.wantState(c.ID, store.StateCompleted)
	} else {
		h.wantItemErrs("first ack", errs[:1], store.ErrLeaseLost)
		h.wantState(c.ID, store.StateRetryable)
	}
}

// A finished job is never brought back: not by a late ack of any outcome,
// a heartbeat, the rescue flow (expired list + ack), a cancel, or a claim.
func testFenceNoResurrection(h *harness) {
	finals := []struct {
		state store.JobState
		ack   func(c *store.Job, now time.Time) store.JobAck
	}{
		{store.StateCompleted, func(c *store.Job, _ time.Time) store.JobAck { return completeAck(c, `{"ok":true}`) }},
		{store.StateDead, func(c *store.Job, now time.Time) store.JobAck { return deadAck(c, now, "permanent") }},
		{store.StateCancelled, func(c *store.Job, now time.Time) store.JobAck { return cancelAck(c, now, "") }},
	}
	for _, f := range finals {
		q := "q-" + string(f.state)
		h.insert1(at(0), withQueue(q))
		c := h.claimOne(at(0), q) // lease until 30s
		h.mustAck(at(10*time.Second), f.ack(c, at(10*time.Second)))
		done := h.wantState(c.ID, f.state)

		h.wantAllLost("late ack of a "+string(f.state)+" job", c, at(20*time.Second))
		for _, e := range h.expired(at(time.Hour), 0) {
			if e.ID == c.ID {
				h.t.Errorf("%s job %s listed as an expired lease", f.state, c.ID)
			}
		}
		h.wantItemErrs("rescuer retry of a "+string(f.state)+" job",
			h.ack(at(time.Hour), retryAck(c, at(time.Hour), at(time.Hour), "lease expired")), store.ErrLeaseLost)
		if _, err := h.cancel(c.ID, at(time.Hour), "operator"); err == nil {
			h.t.Errorf("JobCancel of a %s job succeeded", f.state)
		}
		h.wantNoClaim(at(time.Hour), q)
		h.wantUnchanged("finished "+string(f.state)+" job", done)
	}
}

// After a lease expires and a rescuer hands the job back, the new claim's
// lease is the only valid one: the old worker's late ack and heartbeat are
// rejected and change nothing.
func testFenceReclaimed(h *harness) {
	h.insert1(at(0))
	old := h.claimOne(at(0), "default") // lease until 30s
	exp := h.expired(at(time.Minute), 0)
	if len(exp) != 1 || exp[0].ID != old.ID {
		h.t.Fatalf("expired leases at 1m: %v, want [%s]", ids(exp), old.ID)
	}
	if exp[0].Lease() != old.Lease() {
		h.t.Errorf("expired list carries lease %+v, want the claim's %+v", exp[0].Lease(), old.Lease())
	}
	h.mustAck(at(time.Minute), retryAck(exp[0], at(time.Minute), at(time.Minute), "lease expired"))
	cur := h.claimID(at(time.Minute), "default", old.ID)
	if cur.Attempt != 2 || cur.LeaseToken == old.LeaseToken {
		h.t.Errorf("re-claim: attempt %d token %d; want attempt 2 and a token other than %d", cur.Attempt, cur.LeaseToken, old.LeaseToken)
	}
	h.wantAllLost("the old worker", old, at(time.Minute+time.Second))
	h.mustAck(at(time.Minute+2*time.Second), completeAck(cur, ""))
	h.wantState(cur.ID, store.StateCompleted)
}

// A snooze gives the attempt back, so the next claim has the same attempt
// number: only the token tells the leases apart.
func testFenceSnoozeReclaimed(h *harness) {
	h.insert1(at(0))
	old := h.claimOne(at(0), "default")
	h.mustAck(at(time.Second), snoozeAck(old, at(time.Second)))
	cur := h.claimID(at(2*time.Second), "default", old.ID)
	if cur.Attempt != old.Attempt {
		h.t.Fatalf("re-claim after snooze: attempt %d, want %d", cur.Attempt, old.Attempt)
	}
	h.wantAllLost("the snoozed lease", old, at(3*time.Second))
	h.mustAck(at(4*time.Second), completeAck(cur, ""))
}
