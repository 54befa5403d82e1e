package storetest

import (
	"errors"
	"time"

	"github.com/troikahq/troika/store"
)

// The general contract: a store may trust well-formed params but never
// panics on malformed ones; it returns ErrInvalidArgument. Where a param's
// constraint is written on it (Weight > 0, LeaseTTL > 0, TTL > 0, State
// required and not running, a defined outcome), the suite requires
// ErrInvalidArgument. Where the contract does not say whether a degenerate
// value is malformed (Max 0, empty slices, the zero ID, negative limits),
// it accepts every reasonable answer and checks that nothing panics and
// nothing changes.
func badParamsTests() []test {
	return []test{
		{"NilParams", testBadNilParams},
		{"EmptySlices", testBadEmptySlices},
		{"ZeroIDs", testBadZeroIDs},
		{"ClaimMaxZeroOrNegative", testBadClaimMax},
		{"ClaimBadWeights", testBadClaimWeights},
		{"ClaimNoQueues", testBadClaimNoQueues},
		{"ClaimBadLeaseTTL", testBadClaimTTL},
		{"UnknownOutcome", testBadOutcome},
		{"ExtendBadTTL", testBadExtendTTL},
		{"ListUnknownState", testBadListState},
		{"DeleteFilterWithoutState", testBadDeleteNoState},
		{"DeleteFilterRunningState", testBadDeleteRunning},
		{"NegativeLimits", testBadNegativeLimits},
		{"DegenerateNames", testBadNames},
	}
}

// A nil params pointer is malformed: ErrInvalidArgument, no panic.
func testBadNilParams(h *harness) {
	s, ctx := h.s, h.ctx
	calls := []struct {
		name string
		call func() error
	}{
		{"JobInsertMany", func() error { _, err := s.JobInsertMany(ctx, nil); return err }},
		{"JobClaim", func() error { _, err := s.JobClaim(ctx, nil); return err }},
		{"JobAckMany", func() error { _, err := s.JobAckMany(ctx, nil); return err }},
		{"JobLeaseExtendMany", func() error { _, err := s.JobLeaseExtendMany(ctx, nil); return err }},
		{"JobLeaseExpiredList", func() error { _, err := s.JobLeaseExpiredList(ctx, nil); return err }},
		{"JobPromoteDue", func() error { _, err := s.JobPromoteDue(ctx, nil); return err }},
		{"JobGet", func() error { _, err := s.JobGet(ctx, nil); return err }},
		{"JobList", func() error { _, err := s.JobList(ctx, nil); return err }},
		{"JobCancel", func() error { _, err := s.JobCancel(ctx, nil); return err }},
		{"JobRetry", func() error { _, err := s.JobRetry(ctx, nil); return err }},
		{"JobDelete", func() error { _, err := s.JobDelete(ctx, nil); return err }},
		{"QueueList", func() error { _, err := s.QueueList(ctx, nil); return err }},
		{"QueueGet", func() error { _, err := s.QueueGet(ctx, nil); return err }},
		{"QueueUpdate", func() error { _, err := s.QueueUpdate(ctx, nil); return err }},
		{"LeaderAcquire", func() error { _, err := s.LeaderAcquire(ctx, nil); return err }},
		{"LeaderRelease", func() error { return s.LeaderRelease(ctx, nil) }},
	}
	for _, c := range calls {
		h.noPanic(c.name+"(nil)", func() {
			h.wantErr(c.name+"(nil)", c.call(), store.ErrInvalidArgument)
		})
	}
	h.noPanic("JobSubscribe(nil)", func() {
		_, cancel := s.JobSubscribe(nil)
		if cancel != nil {
			cancel()
		}
	})
	h.insert1(at(0)) // the store still works
}

// Empty batches are either an empty result or ErrInvalidArgument.
func testBadEmptySlices(h *harness) {
	j := h.inState(at(0), store.StateRunning)
	h.noPanic("JobInsertMany with no jobs", func() {
		res, err := h.s.JobInsertMany(h.ctx, &store.JobInsertManyParams{Now: at(0)})
		h.okOrInvalid("JobInsertMany with no jobs", err)
		if err == nil && len(res) != 0 {
			h.t.Errorf("JobInsertMany with no jobs: %d results", len(res))
		}
		_, err = h.s.JobInsertMany(h.ctx, &store.JobInsertManyParams{Jobs: []store.InsertJob{}, Now: at(0)})
		h.okOrInvalid("JobInsertMany with an empty slice", err)
	})
	h.noPanic("JobAckMany with no acks", func() {
		res, err := h.s.JobAckMany(h.ctx, &store.JobAckManyParams{Now: at(0)})
		h.okOrInvalid("JobAckMany with no acks", err)
		if err == nil && len(res) != 0 {
			h.t.Errorf("JobAckMany with no acks: %d results", len(res))
		}
	})
	h.noPanic("JobLeaseExtendMany with no leases", func() {
		res, err := h.s.JobLeaseExtendMany(h.ctx, &store.JobLeaseExtendManyParams{TTL: ttl, Now: at(0)})
		h.okOrInvalid("JobLeaseExtendMany with no leases", err)
		if err == nil && len(res) != 0 {
			h.t.Errorf("JobLeaseExtendMany with no leases: %d results", len(res))
		}
	})
	h.wantUnchanged("running job after empty batches", j)
	if n := h.count(store.JobListParams{}); n != 1 {
		h.t.Errorf("%d jobs after empty batches, want 1", n)
	}
}

// The zero ID is never a job: ErrNotFound or ErrInvalidArgument, never a
// panic, and the whole-ID operations change nothing.
func testBadZeroIDs(h *harness) {
	a := h.insert1(at(0))
	d := h.inState(at(0), store.StateDead, withQueue("d"))
	zero := store.ID{}
	notFoundOrInvalid := func(what string, err error) {
		h.t.Helper()
		if !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrInvalidArgument) {
			h.t.Errorf("%s: got %v, want ErrNotFound or ErrInvalidArgument", what, err)
		}
	}
	h.noPanic("JobGet(zero)", func() {
		_, err := h.s.JobGet(h.ctx, &store.JobGetParams{})
		notFoundOrInvalid("JobGet(zero)", err)
	})
	h.noPanic("JobCancel(zero)", func() {
		_, err := h.s.JobCancel(h.ctx, &store.JobCancelParams{Now: at(0)})
		notFoundOrInvalid("JobCancel(zero)", err)
	})
	h.noPanic("JobRetry([dead, zero])", func() {
		_, err := h.s.JobRetry(h.ctx, &store.JobRetryParams{IDs: []store.ID{d.ID, zero}, Now: at(0)})
		notFoundOrInvalid("JobRetry([dead, zero])", err)
	})
	h.noPanic("JobDelete([a, zero])", func() {
		_, err := h.s.JobDelete(h.ctx, &store.JobDeleteParams{IDs: []store.ID{a.ID, zero}})
		notFoundOrInvalid("JobDelete([a, zero])", err)
	})
	h.wantUnchanged("job named with the zero ID", a)
	h.wantUnchanged("dead job named with the zero ID", d)
	h.noPanic("JobAckMany(zero lease)", func() {
		res, err := h.s.JobAckMany(h.ctx, &store.JobAckManyParams{
			Acks: []store.JobAck{{Lease: store.LeaseRef{}, Outcome: store.AckComplete}}, Now: at(0)})
		if err != nil {
			h.wantErr("JobAckMany(zero lease)", err, store.ErrInvalidArgument)
			return
		}
		if len(res) != 1 {
			h.t.Fatalf("JobAckMany: %d results for 1 ack", len(res))
		}
		notFoundOrInvalid("JobAckMany(zero lease) item", res[0])
	})
	h.noPanic("JobLeaseExtendMany(zero lease)", func() {
		res, err := h.s.JobLeaseExtendMany(h.ctx, &store.JobLeaseExtendManyParams{
			Leases: []store.LeaseRef{{}}, TTL: ttl, Now: at(0)})
		if err != nil {
			h.wantErr("JobLeaseExtendMany(zero lease)", err, store.ErrInvalidArgument)
			return
		}
		if len(res) != 1 {
			h.t.Fatalf("JobLeaseExtendMany: %d results for 1 lease", len(res))
		}
		notFoundOrInvalid("JobLeaseExtendMany(zero lease) item", res[0])
	})
}

// tryClaim calls JobClaim with p, reporting a panic, and checks that the
// claim failed with ErrInvalidArgument, or (when emptyOK) returned nothing.
func (h *harness) tryClaim(what string, p store.JobClaimParams, emptyOK bool) {
	h.t.Helper()
	h.noPanic(what, func() {
		jobs, err := h.s.JobClaim(h.ctx, &p)
		switch {
		case err != nil:
			h.wantErr(what, err, store.ErrInvalidArgument)
		case !emptyOK:
			h.t.Errorf("%s: got %d jobs and no error, want ErrInvalidArgument", what, len(jobs))
		case len(jobs) != 0:
			h.t.Errorf("%s: claimed %d jobs, want none or ErrInvalidArgument", what, len(jobs))
		}
	})
}

// Max 0 or negative claims nothing (or is ErrInvalidArgument).
func testBadClaimMax(h *harness) {
	j := h.insert1(at(0))
	for _, max := range []int{0, -1, -1 << 31} {
		h.tryClaim("JobClaim with Max ≤ 0", store.JobClaimParams{Queues: weights("default"), Max: max, Worker: workerID, LeaseTTL: ttl, Now: at(time.Second)}, true)
	}
	h.wantUnchanged("job after claims with Max ≤ 0", j)
}

// Weight must be > 0.
func testBadClaimWeights(h *harness) {
	j := h.insert1(at(0))
	for _, qs := range [][]store.QueueWeight{
		{{Name: "default", Weight: 0}},
		{{Name: "default", Weight: -3}},
		{{Name: "default", Weight: 0}, {Name: "other", Weight: 0}},
		{{Name: "default", Weight: 1}, {Name: "other", Weight: -1}},
	} {
		h.tryClaim("JobClaim with a weight ≤ 0", store.JobClaimParams{Queues: qs, Max: 10, Worker: workerID, LeaseTTL: ttl, Now: at(time.Second)}, false)
	}
	h.wantUnchanged("job after claims with bad weights", j)
}

// A claim naming no queue claims nothing (or is ErrInvalidArgument).
func testBadClaimNoQueues(h *harness) {
	j := h.insert1(at(0))
	h.tryClaim("JobClaim with nil Queues", store.JobClaimParams{Max: 10, Worker: workerID, LeaseTTL: ttl, Now: at(time.Second)}, true)
	h.tryClaim("JobClaim with empty Queues", store.JobClaimParams{Queues: []store.QueueWeight{}, Max: 10, Worker: workerID, LeaseTTL: ttl, Now: at(time.Second)}, true)
	h.wantUnchanged("job after claims naming no queue", j)
}

// LeaseTTL must be > 0.
func testBadClaimTTL(h *harness) {
	j := h.insert1(at(0))
	for _, d := range []time.Duration{0, -time.Second} {
		h.tryClaim("JobClaim with LeaseTTL ≤ 0", store.JobClaimParams{Queues: weights("default"), Max: 10, Worker: workerID, LeaseTTL: d, Now: at(time.Second)}, false)
	}
	h.wantUnchanged("job after claims with a bad TTL", j)
}

// An outcome outside the defined ones is ErrInvalidArgument (for the item
// or the call) and changes nothing.
func testBadOutcome(h *harness) {
	c := h.inState(at(0), store.StateRunning)
	for _, o := range []store.AckOutcome{0, store.AckSnooze + 1, 255} {
		h.noPanic("JobAckMany with an unknown outcome", func() {
			a := completeAck(c, "")
			a.Outcome = o
			res, err := h.s.JobAckMany(h.ctx, &store.JobAckManyParams{Acks: []store.JobAck{a}, Now: at(time.Second)})
			if err != nil {
				h.wantErr("JobAckMany with an unknown outcome", err, store.ErrInvalidArgument)
				return
			}
			if len(res) != 1 {
				h.t.Fatalf("JobAckMany: %d results for 1 ack", len(res))
			}
			h.wantErr("JobAckMany with an unknown outcome: item", res[0], store.ErrInvalidArgument)
		})
		h.wantUnchanged("job after an unknown outcome", c)
	}
	h.mustAck(at(2*time.Second), completeAck(c, "")) // the lease is still good
}

// TTL must be > 0 for a heartbeat.
func testBadExtendTTL(h *harness) {
	c := h.inState(at(0), store.StateRunning)
	for _, d := range []time.Duration{0, -time.Minute} {
		h.noPanic("JobLeaseExtendMany with TTL ≤ 0", func() {
			res, err := h.s.JobLeaseExtendMany(h.ctx, &store.JobLeaseExtendManyParams{Leases: []store.LeaseRef{c.Lease()}, TTL: d, Now: at(time.Second)})
			if err != nil {
				h.wantErr("JobLeaseExtendMany with TTL ≤ 0", err, store.ErrInvalidArgument)
				return
			}
			if len(res) != 1 {
				h.t.Fatalf("JobLeaseExtendMany: %d results for 1 lease", len(res))
			}
			h.wantErr("JobLeaseExtendMany with TTL ≤ 0: item", res[0], store.ErrInvalidArgument)
		})
		h.wantUnchanged("job after an extend with a bad TTL", c)
	}
}

// A state filter that is not a state lists nothing (or is
// ErrInvalidArgument).
func testBadListState(h *harness) {
	h.insert1(at(0))
	h.noPanic("JobList with an unknown state", func() {
		res, err := h.s.JobList(h.ctx, &store.JobListParams{State: "bogus"})
		h.okOrInvalid("JobList with an unknown state", err)
		if err == nil && (res == nil || len(res.Jobs) != 0) {
			h.t.Errorf("JobList with an unknown state: %v, want no jobs", res)
		}
	})
}

// Without IDs, State is required.
func testBadDeleteNoState(h *harness) {
	a := h.insert1(at(0))
	c := h.inState(at(0), store.StateCompleted, withQueue("q"))
	for _, p := range []store.JobDeleteParams{{}, {Queue: "q"}, {Kind: "test.job", Limit: 10}, {FinishedBefore: at(time.Hour)}} {
		h.noPanic("JobDelete without a state", func() {
			n, err := h.s.JobDelete(h.ctx, &p)
			h.wantErr("JobDelete without IDs or State", err, store.ErrInvalidArgument)
			if n != 0 {
				h.t.Errorf("JobDelete without IDs or State deleted %d", n)
			}
		})
	}
	h.wantUnchanged("available job", a)
	h.wantUnchanged("completed job", c)
}

// Without IDs, State must not be running (nor an unknown state).
func testBadDeleteRunning(h *harness) {
	r := h.inState(at(0), store.StateRunning)
	h.noPanic("JobDelete(running)", func() {
		n, err := h.s.JobDelete(h.ctx, &store.JobDeleteParams{State: store.StateRunning})
		if !errors.Is(err, store.ErrInvalidArgument) && !errors.Is(err, store.ErrWrongState) {
			h.t.Errorf("JobDelete(State running): (%d, %v), want ErrInvalidArgument or ErrWrongState", n, err)
		}
	})
	h.noPanic("JobDelete(bogus)", func() {
		n, err := h.s.JobDelete(h.ctx, &store.JobDeleteParams{State: "bogus"})
		h.okOrInvalid("JobDelete(State bogus)", err)
		if n != 0 {
			h.t.Errorf("JobDelete(State bogus) deleted %d", n)
		}
	})
	h.wantUnchanged("running job", r)
}

// Negative limits never panic; they fail with ErrInvalidArgument or act
// as some limit.
func testBadNegativeLimits(h *harness) {
	h.inState(at(0), store.StateDead)
	h.inState(at(0), store.StateCompleted)
	h.noPanic("JobList(Limit -1)", func() {
		_, err := h.s.JobList(h.ctx, &store.JobListParams{Limit: -1})
		h.okOrInvalid("JobList(Limit -1)", err)
	})
	h.noPanic("JobLeaseExpiredList(Limit -1)", func() {
		_, err := h.s.JobLeaseExpiredList(h.ctx, &store.JobLeaseExpiredListParams{Limit: -1, Now: at(time.Hour)})
		h.okOrInvalid("JobLeaseExpiredList(Limit -1)", err)
	})
	h.noPanic("JobPromoteDue(Limit -1)", func() {
		_, err := h.s.JobPromoteDue(h.ctx, &store.JobPromoteDueParams{Limit: -1, Now: at(time.Hour)})
		h.okOrInvalid("JobPromoteDue(Limit -1)", err)
	})
	h.noPanic("JobRetry(Limit -1)", func() {
		_, err := h.s.JobRetry(h.ctx, &store.JobRetryParams{Limit: -1, Now: at(time.Hour)})
		h.okOrInvalid("JobRetry(Limit -1)", err)
	})
	h.noPanic("JobDelete(Limit -1)", func() {
		_, err := h.s.JobDelete(h.ctx, &store.JobDeleteParams{State: store.StateCompleted, Limit: -1})
		h.okOrInvalid("JobDelete(Limit -1)", err)
	})
}

// Degenerate leader and queue names and TTLs never panic.
func testBadNames(h *harness) {
	for _, p := range []store.LeaderAcquireParams{
		{Name: "", Holder: "a", TTL: time.Minute, Now: at(0)},
		{Name: "m", Holder: "", TTL: time.Minute, Now: at(0)},
		{Name: "m", Holder: "a", TTL: 0, Now: at(0)},
		{Name: "m", Holder: "a", TTL: -time.Minute, Now: at(0)},
	} {
		h.noPanic("LeaderAcquire", func() {
			_, err := h.s.LeaderAcquire(h.ctx, &p)
			h.okOrInvalid("LeaderAcquire with degenerate params", err)
		})
	}
	h.noPanic("LeaderRelease", func() {
		h.okOrInvalid("LeaderRelease with empty params", h.s.LeaderRelease(h.ctx, &store.LeaderReleaseParams{}))
	})
	h.noPanic("QueueGet", func() {
		_, err := h.s.QueueGet(h.ctx, &store.QueueGetParams{Now: at(0)})
		h.okOrInvalid("QueueGet with an empty name", err)
	})
	h.noPanic("QueueUpdate", func() {
		_, err := h.s.QueueUpdate(h.ctx, &store.QueueUpdateParams{Now: at(0)})
		h.okOrInvalid("QueueUpdate with an empty name and no fields", err)
	})
}
