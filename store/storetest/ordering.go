package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/troikahq/troika/store"
)

// RunOrdering runs the ordering-key group of the suite
// (store.InsertJob.OrderingKey, store.OrderingStore) against a backend. open
// is as for Run. A backend whose store does not implement
// store.OrderingStore fails the group: ordering must never be dropped
// silently. RunAll includes it.
func RunOrdering(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	if open == nil {
		t.Fatal("storetest.RunOrdering: open is nil")
	}
	t.Run("Ordering", func(t *testing.T) {
		for _, tc := range orderingTests() {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				h := setup(t, open)
				if _, ok := h.s.(store.OrderingStore); !ok {
					t.Fatalf("the store (%T) does not implement store.OrderingStore: every backend must honour ordering keys (see store/topic.go)", h.s)
				}
				tc.run(h)
			})
		}
	})
}

func orderingTests() []test {
	return []test{
		{"OneAtATimeInEnqueueOrder", testOrderOneAtATime},
		{"KeyIsStoredAndRead", testOrderKeyStored},
		{"RetryHoldsTheKey", testOrderRetryHolds},
		{"SnoozeHoldsTheKey", testOrderSnoozeHolds},
		{"DeadAndCancelReleaseTheKey", testOrderFinalReleases},
		{"CancelOrDeleteAWaitingJob", testOrderRemoveWaiting},
		{"DeleteTheHolderReleases", testOrderDeleteHolder},
		{"CancelTheRunningHolderReleases", testOrderCancelRunning},
		{"PriorityAndRunAtDoNotReorder", testOrderIgnoresPriority},
		{"KeysArePerQueue", testOrderPerQueue},
		{"StaleTokenDoesNotRelease", testOrderStaleToken},
		{"RetriedDeadJobRejoinsTheLine", testOrderRetryDead},
		{"PromoteDueSkipsWaitingJobs", testOrderPromote},
		{"TwoClaimersNeverBreakOrder", testOrderConcurrentClaimers},
	}
}

func withOrdering(k string) opt { return func(j *store.InsertJob) { j.OrderingKey = k } }

// claimIDs claims up to max from queue and returns the IDs claimed.
func claimedIDs(jobs []*store.Job) map[store.ID]*store.Job {
	out := make(map[store.ID]*store.Job, len(jobs))
	for _, j := range jobs {
		out[j.ID] = j
	}
	return out
}

// Only the first job of each key is claimable; the next starts only after
// the previous completed; unrelated keys and unkeyed jobs run in parallel.
func testOrderOneAtATime(h *harness) {
	a := h.insertN(at(0), 3, withOrdering("a"))
	b := h.insert1(at(0), withOrdering("b"))
	plain := h.insert1(at(0))
	now := at(time.Second)
	got := claimedIDs(h.claim(now, 100, "default"))
	if len(got) != 3 || got[a[0].ID] == nil || got[b.ID] == nil || got[plain.ID] == nil {
		h.t.Fatalf("first claim: got %d jobs %v, want a[0], b and the plain job", len(got), got)
	}
	h.wantState(a[1].ID, store.StateAvailable) // waiting behind a[0], but available to people
	for i := 1; i < len(a); i++ {
		h.wantNoClaim(now, "default")
		h.mustAck(now, completeAck(got[a[i-1].ID], ""))
		j := h.claimID(now, "default", a[i].ID)
		got[j.ID] = j
	}
	h.mustAck(now, completeAck(got[a[2].ID], ""), completeAck(got[b.ID], ""), completeAck(got[plain.ID], ""))
	h.wantNoClaim(now, "default")
}

func testOrderKeyStored(h *harness) {
	j := h.insert1(at(0), withOrdering("customer-42"))
	if j.OrderingKey != "customer-42" {
		h.t.Errorf("insert result OrderingKey %q, want customer-42", j.OrderingKey)
	}
	if g := h.get(j.ID); g.OrderingKey != "customer-42" {
		h.t.Errorf("JobGet OrderingKey %q, want customer-42", g.OrderingKey)
	}
	c := h.claimID(at(time.Second), "default", j.ID)
	if c.OrderingKey != "customer-42" {
		h.t.Errorf("claimed OrderingKey %q, want customer-42", c.OrderingKey)
	}
	if p := h.insert1(at(0)); p.OrderingKey != "" {
		h.t.Errorf("plain job OrderingKey %q, want empty", p.OrderingKey)
	}
}

// A retryable job keeps the key: its successor waits through the back-off.
func testOrderRetryHolds(h *harness) {
	a := h.insertN(at(0), 2, withOrdering("k"))
	now := at(time.Second)
	j := h.claimID(now, "default", a[0].ID)
	h.mustAck(now, retryAck(j, now, at(time.Minute), "boom"))
	h.wantNoClaim(at(30*time.Second), "default")
	j = h.claimID(at(time.Minute), "default", a[0].ID)
	if j.Attempt != 2 {
		h.t.Errorf("second claim attempt %d, want 2", j.Attempt)
	}
	h.wantNoClaim(at(time.Minute), "default")
	h.mustAck(at(time.Minute), completeAck(j, ""))
	h.claimID(at(time.Minute), "default", a[1].ID)
}

func testOrderSnoozeHolds(h *harness) {
	a := h.insertN(at(0), 2, withOrdering("k"))
	now := at(time.Second)
	j := h.claimID(now, "default", a[0].ID)
	h.mustAck(now, snoozeAck(j, at(time.Hour)))
	h.wantNoClaim(at(time.Minute), "default")
	h.claimID(at(time.Hour), "default", a[0].ID)
}

// Dead and cancelled are final: the next job starts.
func testOrderFinalReleases(h *harness) {
	a := h.insertN(at(0), 3, withOrdering("k"))
	now := at(time.Second)
	j := h.claimID(now, "default", a[0].ID)
	h.mustAck(now, deadAck(j, now, "poison"))
	j = h.claimID(now, "default", a[1].ID)
	h.mustAck(now, cancelAck(j, now, "not needed"))
	h.claimID(now, "default", a[2].ID)
}

// Cancelling or deleting a job that waits in line removes it from the line.
func testOrderRemoveWaiting(h *harness) {
	a := h.insertN(at(0), 4, withOrdering("k"))
	now := at(time.Second)
	j := h.claimID(now, "default", a[0].ID)
	if _, err := h.s.JobCancel(h.ctx, &store.JobCancelParams{ID: a[1].ID, Now: now}); err != nil {
		h.t.Fatalf("JobCancel(waiting): %v", err)
	}
	if n, err := h.s.JobDelete(h.ctx, &store.JobDeleteParams{IDs: []store.ID{a[2].ID}}); err != nil || n != 1 {
		h.t.Fatalf("JobDelete(waiting): %d, %v", n, err)
	}
	h.wantNoClaim(now, "default")
	h.mustAck(now, completeAck(j, ""))
	h.claimID(now, "default", a[3].ID)
}

// Deleting or cancelling the holder before it started hands the key on.
func testOrderDeleteHolder(h *harness) {
	a := h.insertN(at(0), 3, withOrdering("k"))
	now := at(time.Second)
	if n, err := h.s.JobDelete(h.ctx, &store.JobDeleteParams{IDs: []store.ID{a[0].ID}}); err != nil || n != 1 {
		h.t.Fatalf("JobDelete(holder): %d, %v", n, err)
	}
	if _, err := h.s.JobCancel(h.ctx, &store.JobCancelParams{ID: a[1].ID, Now: now}); err != nil {
		h.t.Fatalf("JobCancel(holder): %v", err)
	}
	h.claimID(now, "default", a[2].ID)
}

// Enqueue order wins over priority and run time within a key.
func testOrderIgnoresPriority(h *harness) {
	first := h.insert1(at(0), withOrdering("k"), withPriority(4), withRunAt(at(time.Minute)))
	second := h.insert1(at(0), withOrdering("k"), withPriority(1))
	h.wantNoClaim(at(time.Second), "default")
	j := h.claimID(at(time.Minute), "default", first.ID)
	h.mustAck(at(time.Minute), completeAck(j, ""))
	h.claimID(at(time.Minute), "default", second.ID)
}

func testOrderPerQueue(h *harness) {
	a := h.insert1(at(0), withOrdering("k"), withQueue("q1"))
	b := h.insert1(at(0), withOrdering("k"), withQueue("q2"))
	now := at(time.Second)
	h.claimID(now, "q1", a.ID)
	h.claimID(now, "q2", b.ID)
}

// A late ack with a stale token fails and does not hand the key on.
func testOrderStaleToken(h *harness) {
	a := h.insertN(at(0), 2, withOrdering("k"))
	now := at(time.Second)
	old := h.claimID(now, "default", a[0].ID)
	// The lease expires and the rescuer retries the job (an ack with the
	// current lease, as the engine does), then it is claimed again.
	h.mustAck(at(time.Minute), retryAck(old, at(time.Minute), at(time.Minute), "lease expired"))
	cur := h.claimID(at(time.Minute), "default", a[0].ID)
	errs := h.ack(at(time.Minute), completeAck(old, ""))
	if !errors.Is(errs[0], store.ErrLeaseLost) {
		h.t.Fatalf("stale ack: %v, want ErrLeaseLost", errs[0])
	}
	h.wantNoClaim(at(time.Minute), "default")
	h.wantState(a[0].ID, store.StateRunning)
	h.mustAck(at(time.Minute), completeAck(cur, ""))
	h.claimID(at(time.Minute), "default", a[1].ID)
}

// A dead job retried by an operator waits for the current holder, then
// runs before the jobs enqueued after it.
func testOrderRetryDead(h *harness) {
	a := h.insertN(at(0), 3, withOrdering("k"))
	now := at(time.Second)
	j := h.claimID(now, "default", a[0].ID)
	h.mustAck(now, deadAck(j, now, "poison"))
	j1 := h.claimID(now, "default", a[1].ID)
	if _, err := h.s.JobRetry(h.ctx, &store.JobRetryParams{IDs: []store.ID{a[0].ID}, Now: now}); err != nil {
		h.t.Fatalf("JobRetry: %v", err)
	}
	h.wantNoClaim(now, "default")
	h.mustAck(now, completeAck(j1, ""))
	j0 := h.claimID(now, "default", a[0].ID)
	h.wantNoClaim(now, "default")
	h.mustAck(now, completeAck(j0, ""))
	h.claimID(now, "default", a[2].ID)
}

// JobPromoteDue does not make a waiting job claimable.
func testOrderPromote(h *harness) {
	a := h.insert1(at(0), withOrdering("k"))
	b := h.insert1(at(0), withOrdering("k"), withRunAt(at(time.Second)))
	h.promote(at(time.Minute), 100)
	ja := h.claimID(at(time.Minute), "default", a.ID)
	h.wantNoClaim(at(time.Minute), "default")
	h.mustAck(at(time.Minute), completeAck(ja, ""))
	h.claimID(at(time.Minute), "default", b.ID)
}

// Several claimers with batches never start a job before its key's
// predecessor is final, and start every key's jobs in enqueue order.
func testOrderConcurrentClaimers(h *harness) {
	const keys, perKey, workers = 20, 15, 4
	var jobs []store.InsertJob
	for i := range perKey {
		for k := range keys {
			jobs = append(jobs, newJob(withOrdering(fmt.Sprintf("key-%d", k)), withArgs(fmt.Sprintf(`{"k":%d,"i":%d}`, k, i))))
		}
		jobs = append(jobs, newJob()) // unkeyed jobs in between
	}
	ins := h.insert(at(0), jobs...)
	// order[key] = the IDs of that key in enqueue order.
	order := map[string][]store.ID{}
	for _, j := range ins {
		if j.OrderingKey != "" {
			order[j.OrderingKey] = append(order[j.OrderingKey], j.ID)
		}
	}
	now := at(time.Second)
	var mu sync.Mutex
	next := map[string]int{} // index of the next job expected to start per key
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			me := fmt.Sprintf("worker-%d", w)
			idle := 0
			for idle < 50 {
				got, err := h.s.JobClaim(h.ctx, &store.JobClaimParams{
					Queues: weights("default"), Max: 1 + rng.IntN(8), Worker: me, LeaseTTL: time.Minute, Now: now})
				if err != nil {
					h.t.Errorf("%s: JobClaim: %v", me, err)
					return
				}
				if len(got) == 0 {
					idle++
					continue
				}
				idle = 0
				mu.Lock()
				for _, j := range got {
					if j.OrderingKey == "" {
						continue
					}
					ids, i := order[j.OrderingKey], next[j.OrderingKey]
					if i > 0 && ids[i-1] == j.ID && j.Attempt > 1 {
						continue // the holder again, after its retry
					}
					if i >= len(ids) || ids[i] != j.ID {
						h.t.Errorf("%s: key %s started job %s out of order (expected #%d)", me, j.OrderingKey, j.ID, i)
					} else if i > 0 {
						if prev, err := h.s.JobGet(h.ctx, &store.JobGetParams{ID: ids[i-1]}); err != nil || !prev.State.Final() {
							h.t.Errorf("%s: key %s started #%d while #%d is %v (%v)", me, j.OrderingKey, i, i-1, prev, err)
						}
					}
					next[j.OrderingKey] = i + 1
				}
				mu.Unlock()
				acks := make([]store.JobAck, len(got))
				for i, j := range got {
					acks[i] = completeAck(j, "")
					if rng.IntN(5) == 0 { // some fail once: they must hold their key
						acks[i] = retryAck(j, now, now, "flaky")
					}
				}
				if _, err := h.s.JobAckMany(h.ctx, &store.JobAckManyParams{Acks: acks, Now: now}); err != nil {
					h.t.Errorf("%s: JobAckMany: %v", me, err)
					return
				}
				if rng.IntN(2) == 0 {
					runtime.Gosched() // let another claimer in; not synchronisation
				}
			}
		})
	}
	wg.Wait()
	for k, ids := range order {
		if next[k] < len(ids) {
			h.t.Errorf("key %s: only %d of %d jobs started", k, next[k], len(ids))
		}
	}
}

// An operator cancelling the running holder revokes its lease and hands the
// key on at once.
func testOrderCancelRunning(h *harness) {
	a := h.insertN(at(0), 2, withOrdering("k"))
	now := at(time.Second)
	j := h.claimID(now, "default", a[0].ID)
	if _, err := h.s.JobCancel(h.ctx, &store.JobCancelParams{ID: a[0].ID, Reason: "operator", Now: now}); err != nil {
		h.t.Fatalf("JobCancel(running holder): %v", err)
	}
	h.claimID(now, "default", a[1].ID)
	if errs := h.ack(now, completeAck(j, "")); !errors.Is(errs[0], store.ErrLeaseLost) {
		h.t.Errorf("ack of the cancelled holder: %v, want ErrLeaseLost", errs[0])
	}
}
