package postgres

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/troikahq/troika/store"
)

// Two stores on one schema (two nodes) insert ordered jobs one at a time
// while workers on both claim and complete them: an insert racing the
// release of its line's holder must never strand the line (a blocked job
// with no holder) nor start two jobs of a line at once or out of order.
func TestOrderingInsertRacingRelease(t *testing.T) {
	t.Parallel()
	a := openTest(t, Options{})
	b := openTest(t, Options{Schema: a.Schema()})
	nodes := []*Store{a, b}
	const keys, perKey = 4, 40
	var (
		mu       sync.Mutex
		order    = map[string][]store.ID{} // enqueue order per key
		started  = map[store.ID]bool{}
		running  = map[string]store.ID{}
		inserted atomic.Int64
		failures []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	var producers sync.WaitGroup
	for k := range keys {
		producers.Go(func() {
			key := fmt.Sprintf("k%d", k)
			for i := range perKey {
				s := nodes[i%2]
				// The lock on the key's slice keeps the recorded order the
				// commit order (one producer per key).
				res, err := s.JobInsertMany(t.Context(), &store.JobInsertManyParams{Jobs: []store.InsertJob{{
					Kind: "k", Args: []byte(`{}`), Queue: "q", Priority: 2, MaxAttempts: 3, OrderingKey: key}}})
				if err != nil {
					fail("insert: %v", err)
					return
				}
				mu.Lock()
				order[key] = append(order[key], res[0].Job.ID)
				mu.Unlock()
				inserted.Add(1)
			}
		})
	}
	var completed atomic.Int64
	var workers sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		workers.Go(func() {
			s := nodes[w%2]
			for {
				select {
				case <-stop:
					return
				default:
				}
				jobs, err := s.JobClaim(t.Context(), &store.JobClaimParams{Queues: []store.QueueWeight{{Name: "q", Weight: 1}},
					Max: 4, Worker: fmt.Sprint("w", w), LeaseTTL: time.Minute})
				if err != nil {
					fail("claim: %v", err)
					return
				}
				acks := make([]store.JobAck, 0, len(jobs))
				mu.Lock()
				for _, j := range jobs {
					if h, ok := running[j.OrderingKey]; ok {
						failures = append(failures, fmt.Sprintf("key %s: %s started while %s runs", j.OrderingKey, j.ID, h))
					}
					running[j.OrderingKey] = j.ID
					started[j.ID] = true
					ids := order[j.OrderingKey]
					for _, prev := range ids {
						if prev == j.ID {
							break
						}
						if !started[prev] {
							failures = append(failures, fmt.Sprintf("key %s: %s started before the earlier %s", j.OrderingKey, j.ID, prev))
						}
					}
					acks = append(acks, store.JobAck{Lease: j.Lease(), Outcome: store.AckComplete})
				}
				for _, j := range jobs {
					delete(running, j.OrderingKey)
				}
				mu.Unlock()
				if len(acks) == 0 {
					continue
				}
				errs, err := s.JobAckMany(t.Context(), &store.JobAckManyParams{Acks: acks})
				if err != nil {
					fail("ack: %v", err)
					return
				}
				for i, e := range errs {
					if e != nil {
						fail("ack %s: %v", acks[i].Lease.ID, e)
					}
				}
				completed.Add(int64(len(acks)))
			}
		})
	}
	producers.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for completed.Load() < keys*perKey && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // polling with a deadline, not synchronisation
	}
	close(stop)
	workers.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if got := completed.Load(); got != keys*perKey {
		var stranded int64
		_ = a.Pool().QueryRow(t.Context(), "SELECT count(*) FROM "+a.Schema()+".jobs WHERE key_blocked AND state <> 'completed'").Scan(&stranded)
		t.Fatalf("completed %d of %d ordered jobs (inserted %d); %d blocked jobs left", got, keys*perKey, inserted.Load(), stranded)
	}
}

// An ack batch mixing unordered and ordered jobs, a lost lease and an
// unknown id, sent to a store that has never seen an ordered job (so it
// tries the unordered-only statement first): every item gets its own
// result, and the ordered job's line is handed on in the same call.
func TestAckMixedBatchOnFreshStore(t *testing.T) {
	t.Parallel()
	a := openTest(t, Options{})
	b := openTest(t, Options{Schema: a.Schema()}) // acks; never claimed
	ctx := t.Context()
	jobs := []store.InsertJob{
		{Kind: "k", Args: []byte(`{}`), Queue: "q", Priority: 1, MaxAttempts: 3},
		{Kind: "k", Args: []byte(`{}`), Queue: "q", Priority: 1, MaxAttempts: 3, OrderingKey: "line"},
		{Kind: "k", Args: []byte(`{}`), Queue: "q", Priority: 1, MaxAttempts: 3, OrderingKey: "line"}, // waits behind [1]
		{Kind: "k", Args: []byte(`{}`), Queue: "q", Priority: 1, MaxAttempts: 3},
	}
	res, err := a.JobInsertMany(ctx, &store.JobInsertManyParams{Jobs: jobs})
	if err != nil {
		t.Fatal(err)
	}
	claimed, err := a.JobClaim(ctx, &store.JobClaimParams{Queues: []store.QueueWeight{{Name: "q", Weight: 1}},
		Max: 10, Worker: "w", LeaseTTL: time.Minute})
	if err != nil || len(claimed) != 3 {
		t.Fatalf("claim: %d jobs, %v; want 3 (the second of the line waits)", len(claimed), err)
	}
	if b.orderedRecently() {
		t.Fatal("store b has seen an ordered job")
	}
	var acks []store.JobAck
	for _, j := range claimed {
		acks = append(acks, store.JobAck{Lease: j.Lease(), Outcome: store.AckComplete})
	}
	stale := claimed[0].Lease()
	stale.Token++
	acks = append(acks, store.JobAck{Lease: stale, Outcome: store.AckComplete},
		store.JobAck{Lease: store.LeaseRef{ID: store.NewID(), Attempt: 1, Token: 1}, Outcome: store.AckComplete})
	// The stale item names a job of the batch: JobAckMany puts it in a
	// second round, where the job is completed already.
	errs, err := b.JobAckMany(ctx, &store.JobAckManyParams{Acks: acks})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if errs[i] != nil {
			t.Errorf("ack %d (%s, key %q): %v", i, claimed[i].ID, claimed[i].OrderingKey, errs[i])
		}
	}
	if !errors.Is(errs[3], store.ErrLeaseLost) {
		t.Errorf("stale ack: %v, want ErrLeaseLost", errs[3])
	}
	if !errors.Is(errs[4], store.ErrNotFound) {
		t.Errorf("unknown ack: %v, want ErrNotFound", errs[4])
	}
	if !b.orderedRecently() {
		t.Error("store b acked an ordered job but does not note it")
	}
	next, err := b.JobClaim(ctx, &store.JobClaimParams{Queues: []store.QueueWeight{{Name: "q", Weight: 1}},
		Max: 10, Worker: "w", LeaseTTL: time.Minute})
	if err != nil || len(next) != 1 || next[0].ID != res[2].Job.ID {
		t.Fatalf("after the acks: claimed %v, %v; want the line's second job %s", next, err, res[2].Job.ID)
	}
}
