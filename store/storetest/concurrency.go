package storetest

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/troikahq/troika/store"
)

func concurrencyTests() []test {
	return []test{
		{"ClaimNeverTwice", testConcurrentClaim},
		{"InsertSameUniqueKeyOnce", testConcurrentUnique},
		{"InsertManyDistinct", testConcurrentInsert},
		{"AckRaceOneWinner", testConcurrentAckRace},
	}
}

// Many workers claiming (and completing) concurrently from a pool of N jobs
// never get the same job twice and together get all N.
func testConcurrentClaim(h *harness) {
	const n, workers = 300, 8
	h.insertN(at(0), n)
	now := at(time.Second)

	var mu sync.Mutex
	seen := map[store.ID]string{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			me := fmt.Sprintf("worker-%d", w)
			for {
				jobs, err := h.s.JobClaim(h.ctx, &store.JobClaimParams{
					Queues: weights("default"), Max: 7, Worker: me, LeaseTTL: time.Minute, Now: now})
				if err != nil {
					h.t.Errorf("%s: JobClaim: %v", me, err)
					return
				}
				if len(jobs) == 0 {
					return
				}
				acks := make([]store.JobAck, len(jobs))
				mu.Lock()
				for i, j := range jobs {
					if other, dup := seen[j.ID]; dup {
						h.t.Errorf("job %s claimed by %s and again by %s", j.ID, other, me)
					}
					seen[j.ID] = me
					acks[i] = completeAck(j, "")
				}
				mu.Unlock()
				errs, err := h.s.JobAckMany(h.ctx, &store.JobAckManyParams{Acks: acks, Now: now})
				if err != nil {
					h.t.Errorf("%s: JobAckMany: %v", me, err)
					return
				}
				for i, e := range errs {
					if e != nil {
						h.t.Errorf("%s: completing %s: %v", me, acks[i].Lease.ID, e)
					}
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		h.t.Errorf("workers claimed %d distinct jobs, want %d", len(seen), n)
	}
	h.wantCounts(h.queue("default", now), map[store.JobState]int64{store.StateCompleted: n})
}

// Concurrent inserts of one unique key create exactly one job; every caller
// gets that job.
func testConcurrentUnique(h *harness) {
	const callers = 16
	start := make(chan struct{})
	results := make([]store.InsertResult, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			<-start
			res, err := h.s.JobInsertMany(h.ctx, &store.JobInsertManyParams{
				Jobs: []store.InsertJob{newJob(withUnique("once", at(time.Hour)), withArgs(fmt.Sprintf(`{"caller":%d}`, i)))},
				Now:  at(0)})
			if err != nil || len(res) != 1 || res[0].Job == nil {
				h.t.Errorf("caller %d: JobInsertMany: (%v, %v)", i, res, err)
				return
			}
			results[i] = res[0]
		})
	}
	close(start)
	wg.Wait()
	if h.t.Failed() {
		return
	}
	fresh := 0
	for i, r := range results {
		if !r.Duplicate {
			fresh++
		}
		if r.Job.ID != results[0].Job.ID {
			h.t.Errorf("caller %d got job %s, caller 0 got %s; want one job", i, r.Job.ID, results[0].Job.ID)
		}
	}
	if fresh != 1 {
		h.t.Errorf("%d callers were told they inserted the job, want exactly 1", fresh)
	}
	if n := h.count(store.JobListParams{}); n != 1 {
		h.t.Errorf("%d jobs stored, want 1", n)
	}
}

// Concurrent inserts lose nothing and never share an ID.
func testConcurrentInsert(h *harness) {
	const callers, each = 8, 25
	var mu sync.Mutex
	got := map[store.ID]bool{}
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for i := range each {
				res, err := h.s.JobInsertMany(h.ctx, &store.JobInsertManyParams{
					Jobs: []store.InsertJob{newJob(), newJob()}, Now: at(time.Duration(i) * time.Millisecond)})
				if err != nil || len(res) != 2 {
					h.t.Errorf("caller %d: JobInsertMany: (%v, %v)", c, res, err)
					return
				}
				mu.Lock()
				for _, r := range res {
					if got[r.Job.ID] {
						h.t.Errorf("ID %s returned twice", r.Job.ID)
					}
					got[r.Job.ID] = true
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(got) != callers*each*2 {
		h.t.Errorf("%d distinct IDs, want %d", len(got), callers*each*2)
	}
	if n := h.count(store.JobListParams{}); n != callers*each*2 {
		h.t.Errorf("%d jobs stored, want %d", n, callers*each*2)
	}
}

// A worker's complete and a rescuer's retry of the same lease race: exactly
// one wins, the other gets ErrLeaseLost, and the job shows the winner's
// outcome.
func testConcurrentAckRace(h *harness) {
	const n = 40
	h.insertN(at(0), n)
	jobs := h.claim(at(time.Second), n, "default")
	if len(jobs) != n {
		h.t.Fatalf("claimed %d jobs, want %d", len(jobs), n)
	}
	now := at(time.Minute)
	for _, j := range jobs {
		var wg sync.WaitGroup
		var errs [2]error
		acks := [2]store.JobAck{completeAck(j, `{"w":1}`), retryAck(j, now, now.Add(time.Hour), "lease expired")}
		for i := range acks {
			wg.Go(func() {
				res, err := h.s.JobAckMany(h.ctx, &store.JobAckManyParams{Acks: acks[i : i+1], Now: now})
				if err != nil || len(res) != 1 {
					h.t.Errorf("JobAckMany: (%v, %v)", res, err)
					errs[i] = err
					return
				}
				errs[i] = res[0]
			})
		}
		wg.Wait()
		okComplete, okRetry := errs[0] == nil, errs[1] == nil
		if okComplete == okRetry {
			h.t.Errorf("job %s: complete → %v, retry → %v; want exactly one to succeed", j.ID, errs[0], errs[1])
			continue
		}
		loser := errs[0]
		want := store.StateRetryable
		if okComplete {
			loser, want = errs[1], store.StateCompleted
		}
		if !errors.Is(loser, store.ErrLeaseLost) {
			h.t.Errorf("job %s: losing ack got %v, want ErrLeaseLost", j.ID, loser)
		}
		h.wantState(j.ID, want)
	}
}
