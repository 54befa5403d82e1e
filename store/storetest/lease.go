package storetest

import (
	"time"

	"github.com/troikahq/troika/store"
)

func leaseTests() []test {
	return []test{
		{"ExtendMovesDeadline", testLeaseExtend},
		{"ExpiredListOnlyExpired", testLeaseExpiredOnly},
		{"ExpiredListOldestFirst", testLeaseExpiredOrder},
		{"ExpiredListLimit", testLeaseExpiredLimit},
		{"ExpiredListChangesNothing", testLeaseExpiredChangesNothing},
		{"ExpiredNotClaimedDirectly", testLeaseExpiredNotClaimable},
		{"RescueHandsJobBack", testLeaseRescue},
	}
}

// claimTTL inserts one job in queue at 0 and claims it at now with d.
func (h *harness) claimTTL(queue string, now time.Time, d time.Duration) *store.Job {
	h.t.Helper()
	j := h.insert1(at(0), withQueue(queue))
	got := h.claimWith(store.JobClaimParams{Queues: weights(queue), Max: 1, Worker: workerID, LeaseTTL: d, Now: now})
	if len(got) != 1 || got[0].ID != j.ID {
		h.t.Fatalf("claim of %s in %q: got %v", j.ID, queue, ids(got))
	}
	return got[0]
}

// A heartbeat moves the deadline to Now + TTL (later or earlier) and keeps
// attempt and token; the expired list follows the new deadline.
func testLeaseExtend(h *harness) {
	c := h.claimTTL("default", at(0), 30*time.Second)
	h.wantItemErrs("extend", h.extend(at(20*time.Second), 30*time.Second, c.Lease()), nil)
	got := h.get(c.ID)
	h.wantTime("deadline after extend", got.LeaseDeadline, at(50*time.Second))
	want := *c
	want.LeaseDeadline = at(50 * time.Second)
	h.wantJob("job after extend", got, &want)
	if len(h.expired(at(45*time.Second), 0)) != 0 {
		h.t.Errorf("an extended lease is listed as expired before its new deadline")
	}
	h.wantIDs("expired after the new deadline", h.expired(at(51*time.Second), 0), c)

	h.wantItemErrs("extend with a shorter TTL", h.extend(at(21*time.Second), 5*time.Second, c.Lease()), nil)
	h.wantTime("deadline after a shorter extend", h.get(c.ID).LeaseDeadline, at(26*time.Second))
	h.mustAck(at(22*time.Second), completeAck(c, ""))
}

// Only running jobs whose deadline is before Now are listed; a deadline
// equal to Now has not expired.
func testLeaseExpiredOnly(h *harness) {
	short := h.claimTTL("a", at(0), 30*time.Second)
	long := h.claimTTL("b", at(0), 2*time.Minute)
	for _, s := range []store.JobState{store.StateScheduled, store.StateAvailable, store.StateRetryable,
		store.StateCompleted, store.StateDead, store.StateCancelled} {
		h.inState(at(0), s, withQueue("other-"+string(s)))
	}
	if got := h.expired(at(30*time.Second), 0); len(got) != 0 {
		h.t.Errorf("at the deadline itself: %v listed, want none", ids(got))
	}
	h.wantIDs("expired at 31s", h.expired(at(31*time.Second), 0), short)
	h.wantIDs("expired at 1h", h.expired(at(time.Hour), 0), short, long)
}

// Oldest deadline first, whatever the claim order.
func testLeaseExpiredOrder(h *harness) {
	j3 := h.claimTTL("a", at(0), 3*time.Minute)
	j1 := h.claimTTL("b", at(0), 1*time.Minute)
	j2 := h.claimTTL("c", at(30*time.Second), 1*time.Minute)
	h.wantIDs("expired leases", h.expired(at(time.Hour), 0), j1, j2, j3)
}

// Limit bounds the list and keeps the oldest.
func testLeaseExpiredLimit(h *harness) {
	j3 := h.claimTTL("a", at(0), 3*time.Minute)
	j1 := h.claimTTL("b", at(0), 1*time.Minute)
	j2 := h.claimTTL("c", at(0), 2*time.Minute)
	h.wantIDs("expired leases, Limit 2", h.expired(at(time.Hour), 2), j1, j2)
	h.wantIDs("expired leases, Limit 1", h.expired(at(time.Hour), 1), j1)
	h.wantIDs("expired leases, Limit 10", h.expired(at(time.Hour), 10), j1, j2, j3)
}

// Listing changes nothing: the jobs stay running with their leases, and a
// second call lists them again.
func testLeaseExpiredChangesNothing(h *harness) {
	a := h.claimTTL("a", at(0), time.Minute)
	b := h.claimTTL("b", at(0), time.Minute)
	first := h.expired(at(time.Hour), 0)
	h.wantIDs("first list", first, a, b)
	h.wantIDs("second list", h.expired(at(time.Hour), 0), a, b)
	h.wantUnchanged("after JobLeaseExpiredList", a)
	h.wantUnchanged("after JobLeaseExpiredList", b)
	for i, j := range first {
		h.wantJob("listed job", j, []*store.Job{a, b}[i])
	}
}

// An expired lease is not ready: a claim does not take the job until the
// engine hands it back.
func testLeaseExpiredNotClaimable(h *harness) {
	c := h.claimTTL("default", at(0), 30*time.Second)
	h.wantNoClaim(at(time.Hour), "default")
	h.wantUnchanged("expired job after a claim", c)
}

// The rescue flow: the expired list names the lease, an AckRetry by the
// rescuer makes the job retryable, a claim takes it again with attempt 2;
// a rescuer's AckSnooze (hand-back) gives the attempt back instead.
func testLeaseRescue(h *harness) {
	c := h.claimTTL("default", at(0), 30*time.Second)
	now := at(time.Minute)
	exp := h.expired(now, 0)
	h.wantIDs("expired", exp, c)
	h.mustAck(now, retryAck(exp[0], now, now.Add(10*time.Second), "lease expired"))
	h.wantState(c.ID, store.StateRetryable)
	h.wantNoClaim(now, "default")
	c2 := h.claimID(now.Add(10*time.Second), "default", c.ID)
	if c2.Attempt != 2 {
		h.t.Errorf("claim after rescue: attempt %d, want 2", c2.Attempt)
	}

	now = at(time.Hour)
	exp = h.expired(now, 0)
	h.wantIDs("expired again", exp, c2)
	h.mustAck(now, snoozeAck(exp[0], now))
	c3 := h.claimID(now, "default", c.ID)
	if c3.Attempt != 2 {
		h.t.Errorf("claim after a hand-back: attempt %d, want 2", c3.Attempt)
	}
}
