package storetest

import (
	"time"

	"github.com/troikahq/troika/store"
)

func claimTests() []test {
	return []test{
		{"OrderPriorityRunAtFIFO", testClaimOrder},
		{"OrderIncludesDueScheduled", testClaimOrderDueScheduled},
		{"MaxRespected", testClaimMax},
		{"LeaseFields", testClaimFields},
		{"FreshTokenPerClaim", testClaimFreshToken},
		{"ScheduledNotBeforeRunAt", testClaimScheduled},
		{"PausedQueueSkipped", testClaimPaused},
		{"WeightsShareMax", testClaimWeights},
		{"OnlyRequestedQueues", testClaimOnlyRequested},
		{"EmptyWhenNothingReady", testClaimEmpty},
		{"RunningNotClaimedAgain", testClaimRunningNotAgain},
	}
}

// claimSequence claims one job at a time from queue until none is left.
func (h *harness) claimSequence(now time.Time, queue string) []*store.Job {
	h.t.Helper()
	var out []*store.Job
	for range 1000 {
		jobs := h.claim(now, 1, queue)
		if len(jobs) == 0 {
			return out
		}
		out = append(out, jobs[0])
	}
	h.t.Fatalf("claimSequence: more than 1000 jobs")
	return nil
}

// Within a queue: priority 1 first, then earlier RunAt, then insertion
// order.
func testClaimOrder(h *harness) {
	now := at(time.Hour)
	p3 := h.insert1(now, withPriority(3))
	p1 := h.insert1(now, withPriority(1))
	p2late := h.insert1(now, withPriority(2), withRunAt(at(50*time.Minute)))
	p2early := h.insert1(now, withPriority(2), withRunAt(at(40*time.Minute)))
	p2earlyB := h.insert1(now, withPriority(2), withRunAt(at(40*time.Minute)))
	p4 := h.insert1(now, withPriority(4), withRunAt(at(0)))
	p2now := h.insert1(now, withPriority(2))
	p2nowB := h.insert1(now, withPriority(2))

	got := h.claimSequence(now, "default")
	h.wantIDs("claim order", got, p1, p2early, p2earlyB, p2late, p2now, p2nowB, p3, p4)
}

// A scheduled job that has come due competes with available jobs by
// priority and RunAt, without JobPromoteDue.
func testClaimOrderDueScheduled(h *harness) {
	a := h.insert1(at(0))                                                      // available, RunAt 0
	b := h.insert1(at(0), withRunAt(at(10*time.Second)))                       // scheduled, due at 10s
	urgent := h.insert1(at(0), withRunAt(at(18*time.Second)), withPriority(1)) // scheduled, due at 18s
	c := h.insert1(at(15 * time.Second))                                       // available, RunAt 15s

	got := h.claimSequence(at(20*time.Second), "default")
	h.wantIDs("claim order", got, urgent, a, b, c)
}

// A claim returns at most Max jobs and leaves the rest.
func testClaimMax(h *harness) {
	h.insertN(at(0), 5)
	if got := h.claim(at(time.Second), 3, "default"); len(got) != 3 {
		h.t.Errorf("claim Max 3 of 5: got %d", len(got))
	}
	if got := h.claim(at(time.Second), 10, "default"); len(got) != 2 {
		h.t.Errorf("claim Max 10 of the remaining 2: got %d", len(got))
	}
	if got := h.claim(at(time.Second), 10, "default"); len(got) != 0 {
		h.t.Errorf("claim after all were taken: got %d", len(got))
	}
}

// A claimed job is running, with Attempt incremented, AttemptedAt = Now, a
// non-zero token, LeaseHolder = Worker and LeaseDeadline = Now + LeaseTTL;
// JobGet reads the same.
func testClaimFields(h *harness) {
	j := h.insert1(at(0), withKind("email.send"), withArgs(`{"to":"x"}`), withTags("t"))
	now := at(time.Minute)
	got := h.claimWith(store.JobClaimParams{Queues: weights("default"), Max: 1, Worker: "worker-a", LeaseTTL: 45 * time.Second, Now: now})
	if len(got) != 1 {
		h.t.Fatalf("claim: got %d jobs, want 1", len(got))
	}
	c := got[0]
	want := *j
	want.State, want.Attempt, want.AttemptedAt = store.StateRunning, 1, now
	want.LeaseHolder, want.LeaseToken, want.LeaseDeadline = "worker-a", c.LeaseToken, now.Add(45*time.Second)
	if c.LeaseToken == 0 {
		h.t.Errorf("claimed job has token 0")
	}
	h.wantJob("claim result", c, &want)
	h.wantJob("JobGet after claim", h.get(j.ID), &want)
}

// Every claim of a job gets a new token, even when a snooze gives the
// attempt number back (the token, not only the attempt, fences).
func testClaimFreshToken(h *harness) {
	h.insert1(at(0))
	c1 := h.claimOne(at(time.Second), "default")
	h.mustAck(at(2*time.Second), retryAck(c1, at(2*time.Second), at(2*time.Second), "again"))
	c2 := h.claimOne(at(3*time.Second), "default")
	h.mustAck(at(4*time.Second), snoozeAck(c2, at(4*time.Second)))
	c3 := h.claimOne(at(5*time.Second), "default")
	if c1.Attempt != 1 || c2.Attempt != 2 || c3.Attempt != 2 {
		h.t.Errorf("attempts %d, %d, %d; want 1, 2, 2 (a snooze gives the attempt back)", c1.Attempt, c2.Attempt, c3.Attempt)
	}
	if c1.LeaseToken == c2.LeaseToken || c2.LeaseToken == c3.LeaseToken || c1.LeaseToken == c3.LeaseToken {
		h.t.Errorf("tokens %d, %d, %d; want three different tokens", c1.LeaseToken, c2.LeaseToken, c3.LeaseToken)
	}
}

// A scheduled job is not claimable before RunAt and is claimable at RunAt
// exactly, without JobPromoteDue.
func testClaimScheduled(h *harness) {
	j := h.insert1(at(0), withRunAt(at(time.Hour)))
	h.wantNoClaim(at(time.Hour-time.Microsecond), "default")
	h.wantState(j.ID, store.StateScheduled)
	h.claimID(at(time.Hour), "default", j.ID)
}

// A paused queue is skipped (other queues of the claim are served) until
// it is resumed.
func testClaimPaused(h *harness) {
	h.pause("paused", true, at(0))
	p := h.insert1(at(0), withQueue("paused"))
	o := h.insert1(at(0), withQueue("open"))
	h.wantIDs("claim with one queue paused", h.claim(at(time.Second), 10, "paused", "open"), o)
	h.wantState(p.ID, store.StateAvailable)
	h.pause("paused", false, at(2*time.Second))
	h.wantIDs("claim after resume", h.claim(at(3*time.Second), 10, "paused", "open"), p)
}

// Max is shared out by weight: each queue in order first gets up to
// ceil(Max*Weight/sum), then what is left of Max goes to the queues in order.
func testClaimWeights(h *harness) {
	cases := []struct {
		name    string
		weights []int
		ready   []int
		max     int
		want    []int
	}{
		{"3:1 shares", []int{3, 1}, []int{10, 10}, 4, []int{3, 1}},
		{"1:1 leftover to the next queue", []int{1, 1}, []int{1, 10}, 4, []int{1, 3}},
		{"leftover in the given order", []int{1, 3}, []int{10, 1}, 4, []int{3, 1}},
		{"shares in the given order up to Max", []int{1, 1, 1}, []int{10, 10, 10}, 4, []int{2, 2, 0}},
		{"one job each", []int{1, 1, 1}, []int{1, 1, 1}, 10, []int{1, 1, 1}},
	}
	for ci, c := range cases {
		qs := make([]store.QueueWeight, len(c.weights))
		for i, w := range c.weights {
			name := string(rune('a'+ci)) + "-" + string(rune('a'+i))
			qs[i] = store.QueueWeight{Name: name, Weight: w}
			h.insertN(at(0), c.ready[i], withQueue(name))
		}
		got := h.claimWith(store.JobClaimParams{Queues: qs, Max: c.max, Worker: workerID, LeaseTTL: ttl, Now: at(time.Second)})
		per := map[string]int{}
		for _, j := range got {
			per[j.Queue]++
		}
		for i, q := range qs {
			if per[q.Name] != c.want[i] {
				h.t.Errorf("%s: weights %v, ready %v, Max %d: queue %d got %d jobs, want %d (all: %v)",
					c.name, c.weights, c.ready, c.max, i, per[q.Name], c.want[i], per)
				break
			}
		}
	}
}

// Only the named queues are served.
func testClaimOnlyRequested(h *harness) {
	a := h.insert1(at(0), withQueue("a"))
	h.insert1(at(0), withQueue("b"))
	c := h.insert1(at(0), withQueue("c"))
	h.wantIDSet("claim from a and c", h.claim(at(time.Second), 10, "a", "c"), a, c)
	h.wantNoClaim(at(time.Second), "a", "c", "unknown")
}

// Nothing ready gives an empty result, not an error: an empty store, and
// one holding only jobs that are not ready.
func testClaimEmpty(h *harness) {
	h.wantNoClaim(at(0), "default")
	for _, s := range []store.JobState{store.StateScheduled, store.StateRunning, store.StateRetryable,
		store.StateCompleted, store.StateDead, store.StateCancelled} {
		h.inState(at(0), s)
	}
	h.wantNoClaim(at(time.Second), "default")
}

// A running job is not claimed again while its lease is valid.
func testClaimRunningNotAgain(h *harness) {
	h.inState(at(0), store.StateRunning)
	h.wantNoClaim(at(time.Second), "default")
}
