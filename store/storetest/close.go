package storetest

import (
	"errors"
	"sync"
	"time"

	"github.com/troikahq/troika/store"
)

func closeTests() []test {
	return []test{
		{"CallsReturnErrClosed", testCloseCalls},
		{"CloseTwice", testCloseTwice},
		{"SubscribeAfterClose", testCloseSubscribe},
		{"ConcurrentCalls", testCloseConcurrent},
	}
}

// After Close, every method returns an error matching ErrClosed (per-item
// methods as their own error).
func testCloseCalls(h *harness) {
	c := h.inState(at(0), store.StateRunning)
	d := h.inState(at(0), store.StateDead, withQueue("d"))
	if err := h.s.Close(); err != nil {
		h.t.Fatalf("Close: %v", err)
	}
	ctx := h.ctx
	s := h.s
	now := at(time.Minute)
	calls := []struct {
		name string
		call func() error
	}{
		{"JobInsertMany", func() error {
			_, err := s.JobInsertMany(ctx, &store.JobInsertManyParams{Jobs: []store.InsertJob{newJob()}, Now: now})
			return err
		}},
		{"JobClaim", func() error {
			_, err := s.JobClaim(ctx, &store.JobClaimParams{Queues: weights("default"), Max: 1, Worker: workerID, LeaseTTL: ttl, Now: now})
			return err
		}},
		{"JobAckMany", func() error {
			_, err := s.JobAckMany(ctx, &store.JobAckManyParams{Acks: []store.JobAck{completeAck(c, "")}, Now: now})
			return err
		}},
		{"JobLeaseExtendMany", func() error {
			_, err := s.JobLeaseExtendMany(ctx, &store.JobLeaseExtendManyParams{Leases: []store.LeaseRef{c.Lease()}, TTL: ttl, Now: now})
			return err
		}},
		{"JobLeaseExpiredList", func() error {
			_, err := s.JobLeaseExpiredList(ctx, &store.JobLeaseExpiredListParams{Now: now})
			return err
		}},
		{"JobPromoteDue", func() error {
			_, err := s.JobPromoteDue(ctx, &store.JobPromoteDueParams{Now: now})
			return err
		}},
		{"JobGet", func() error {
			_, err := s.JobGet(ctx, &store.JobGetParams{ID: c.ID})
			return err
		}},
		{"JobList", func() error {
			_, err := s.JobList(ctx, &store.JobListParams{})
			return err
		}},
		{"JobCancel", func() error {
			_, err := s.JobCancel(ctx, &store.JobCancelParams{ID: c.ID, Now: now})
			return err
		}},
		{"JobRetry", func() error {
			_, err := s.JobRetry(ctx, &store.JobRetryParams{IDs: []store.ID{d.ID}, Now: now})
			return err
		}},
		{"JobDelete", func() error {
			_, err := s.JobDelete(ctx, &store.JobDeleteParams{IDs: []store.ID{d.ID}})
			return err
		}},
		{"QueueList", func() error {
			_, err := s.QueueList(ctx, &store.QueueListParams{Now: now})
			return err
		}},
		{"QueueGet", func() error {
			_, err := s.QueueGet(ctx, &store.QueueGetParams{Name: "default", Now: now})
			return err
		}},
		{"QueueUpdate", func() error {
			_, err := s.QueueUpdate(ctx, &store.QueueUpdateParams{Name: "default", Paused: ptr(true), Now: now})
			return err
		}},
		{"LeaderAcquire", func() error {
			_, err := s.LeaderAcquire(ctx, &store.LeaderAcquireParams{Name: "m", Holder: "a", TTL: ttl, Now: now})
			return err
		}},
		{"LeaderRelease", func() error {
			return s.LeaderRelease(ctx, &store.LeaderReleaseParams{Name: "m", Holder: "a"})
		}},
	}
	for _, c := range calls {
		h.noPanic(c.name+" after Close", func() {
			h.wantErr(c.name+" after Close", c.call(), store.ErrClosed)
		})
	}
}

// Close is safe to call more than once; a later Close returns nil or
// ErrClosed.
func testCloseTwice(h *harness) {
	h.insert1(at(0))
	if err := h.s.Close(); err != nil {
		h.t.Fatalf("Close: %v", err)
	}
	h.noPanic("second Close", func() {
		if err := h.s.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
			h.t.Errorf("second Close: %v, want nil or ErrClosed", err)
		}
	})
}

// JobSubscribe cannot return an error; after Close it must not panic and
// its cancel must work. A subscription open at Close can still be cancelled.
func testCloseSubscribe(h *harness) {
	_, before := h.s.JobSubscribe(&store.JobSubscribeParams{Queues: []string{"q"}})
	if err := h.s.Close(); err != nil {
		h.t.Fatalf("Close: %v", err)
	}
	h.noPanic("cancel of a subscription opened before Close", before)
	h.noPanic("JobSubscribe after Close", func() {
		_, cancel := h.s.JobSubscribe(&store.JobSubscribeParams{Queues: []string{"q"}})
		if cancel == nil {
			h.t.Errorf("JobSubscribe after Close returned a nil cancel")
			return
		}
		cancel()
		cancel()
	})
}

// Close while other goroutines call the store: in-flight calls finish, and
// every call either succeeds or fails with ErrClosed.
func testCloseConcurrent(h *harness) {
	const callers = 4
	started := make(chan struct{}, callers)
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					h.t.Errorf("caller %d panicked: %v", c, r)
				}
			}()
			for i := 0; ; i++ {
				_, err := h.s.JobInsertMany(h.ctx, &store.JobInsertManyParams{
					Jobs: []store.InsertJob{newJob()}, Now: at(time.Duration(i) * time.Millisecond)})
				if i == 0 {
					started <- struct{}{}
				}
				if err != nil {
					if !errors.Is(err, store.ErrClosed) {
						h.t.Errorf("caller %d: insert during Close: %v, want nil or ErrClosed", c, err)
					}
					return
				}
				if i > 1_000_000 {
					h.t.Errorf("caller %d: a million inserts and Close has not taken effect", c)
					return
				}
			}
		})
	}
	for range callers {
		<-started
	}
	if err := h.s.Close(); err != nil {
		h.t.Errorf("Close: %v", err)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	timer := time.NewTimer(time.Minute)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		h.t.Fatalf("callers still running a minute after Close")
	}
}
