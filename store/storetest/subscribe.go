package storetest

import (
	"time"

	"github.com/troikahq/troika/store"
)

func subscribeTests() []test {
	return []test{
		{"WakeOnInsert", testSubscribeInsert},
		{"WakeAnyQueue", testSubscribeAny},
		{"SpecificQueues", testSubscribeSpecific},
		{"NoneLost", testSubscribeNoneLost},
		{"EverySubscriberWoken", testSubscribeEvery},
		{"NeverBlocksStore", testSubscribeNeverBlocks},
		{"WakeOnRetry", testSubscribeRetry},
		{"WakeOnHandBack", testSubscribeHandBack},
		{"WakeOnResume", testSubscribeResume},
		{"CancelIdempotent", testSubscribeCancel},
	}
}

// subscribe opens a subscription (ended at cleanup) and drains any pending
// (spurious) wake-up.
func (h *harness) subscribe(queues ...string) <-chan struct{} {
	h.t.Helper()
	ch, cancel := h.s.JobSubscribe(&store.JobSubscribeParams{Queues: queues})
	if ch == nil || cancel == nil {
		h.t.Fatalf("JobSubscribe(%v): nil channel or cancel", queues)
	}
	h.t.Cleanup(cancel)
	drain(ch)
	return ch
}

// drain takes a pending wake-up, if any.
func drain(ch <-chan struct{}) {
	select {
	case <-ch:
	default:
	}
}

// wantWake waits (up to wakeDeadline) for a wake-up.
func (h *harness) wantWake(what string, ch <-chan struct{}) {
	h.t.Helper()
	timer := time.NewTimer(wakeDeadline)
	defer timer.Stop()
	select {
	case <-ch:
	case <-timer.C:
		h.t.Errorf("%s: no wake-up within %s", what, wakeDeadline)
	}
}

func testSubscribeInsert(h *harness) {
	ch := h.subscribe("q")
	h.insert1(at(0), withQueue("q"))
	h.wantWake("insert into a subscribed queue", ch)
}

// A subscription without queues is woken by an insert into any queue.
func testSubscribeAny(h *harness) {
	ch := h.subscribe()
	h.insert1(at(0), withQueue("some-queue"))
	h.wantWake("insert with an all-queues subscription", ch)
	h.insert1(at(0), withQueue("another-queue"))
	h.wantWake("second insert with an all-queues subscription", ch)
}

// A subscription to some queues is woken by an insert into any of them.
func testSubscribeSpecific(h *harness) {
	ch := h.subscribe("a", "b")
	h.insert1(at(0), withQueue("b"))
	h.wantWake("insert into the second subscribed queue", ch)
	h.insert1(at(0), withQueue("a"))
	h.wantWake("insert into the first subscribed queue", ch)
	h.insert(at(0), newJob(withQueue("elsewhere")), newJob(withQueue("a")))
	h.wantWake("batch touching a subscribed queue", ch)
}

// Every insert, one after another, is followed by a wake-up; a burst while
// nobody reads leaves (at least) one pending.
func testSubscribeNoneLost(h *harness) {
	ch := h.subscribe("q")
	for i := range 30 {
		h.insert1(at(time.Duration(i)*time.Second), withQueue("q"))
		h.wantWake("insert in a sequence", ch)
		if h.t.Failed() {
			return
		}
	}
	for i := range 5 {
		h.insert1(at(time.Minute+time.Duration(i)*time.Second), withQueue("q"))
	}
	h.wantWake("burst of inserts", ch)
}

// Two subscriptions to one queue are both woken.
func testSubscribeEvery(h *harness) {
	a := h.subscribe("q")
	b := h.subscribe("q")
	c := h.subscribe()
	h.insert1(at(0), withQueue("q"))
	h.wantWake("first subscriber", a)
	h.wantWake("second subscriber", b)
	h.wantWake("all-queues subscriber", c)
}

// A subscriber that never reads does not block the store.
func testSubscribeNeverBlocks(h *harness) {
	for range 3 {
		h.subscribe("q")
		h.subscribe()
	}
	done := make(chan error, 1)
	go func() {
		for i := range 50 {
			_, err := h.s.JobInsertMany(h.ctx, &store.JobInsertManyParams{
				Jobs: []store.InsertJob{newJob(withQueue("q"))}, Now: at(time.Duration(i) * time.Second)})
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	timer := time.NewTimer(time.Minute)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			h.t.Errorf("insert with idle subscribers: %v", err)
		}
	case <-timer.C:
		h.t.Fatalf("50 inserts with idle subscribers did not finish within a minute: the store blocks on subscribers")
	}
}

// A dead job retried by an operator wakes the queue's subscribers.
func testSubscribeRetry(h *harness) {
	d := h.inState(at(0), store.StateDead, withQueue("q"))
	ch := h.subscribe("q")
	if _, err := h.retry(store.JobRetryParams{IDs: []store.ID{d.ID}, Now: at(time.Minute)}); err != nil {
		h.t.Fatalf("JobRetry: %v", err)
	}
	h.wantWake("JobRetry", ch)
}

// A job handed back (AckSnooze due now) wakes the queue's subscribers.
func testSubscribeHandBack(h *harness) {
	c := h.inState(at(0), store.StateRunning, withQueue("q"))
	ch := h.subscribe("q")
	h.mustAck(at(time.Second), snoozeAck(c, at(time.Second)))
	h.wantWake("hand-back", ch)
}

// Resuming a paused queue with ready jobs wakes its subscribers.
func testSubscribeResume(h *harness) {
	h.pause("q", true, at(0))
	h.insert1(at(0), withQueue("q"))
	ch := h.subscribe("q")
	h.pause("q", false, at(time.Second))
	h.wantWake("resume", ch)
}

// Cancel ends a subscription and is safe to call more than once; the store
// goes on working.
func testSubscribeCancel(h *harness) {
	ch, cancel := h.s.JobSubscribe(&store.JobSubscribeParams{Queues: []string{"q"}})
	if ch == nil || cancel == nil {
		h.t.Fatalf("JobSubscribe: nil channel or cancel")
	}
	h.noPanic("first cancel", cancel)
	h.noPanic("second cancel", cancel)
	h.insert1(at(0), withQueue("q"))
	h.noPanic("third cancel after an insert", cancel)
	other := h.subscribe("q")
	h.insert1(at(time.Second), withQueue("q"))
	h.wantWake("a new subscription after another was cancelled", other)
}
