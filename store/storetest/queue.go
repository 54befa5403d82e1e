package storetest

import (
	"slices"
	"time"

	"github.com/troikahq/troika/store"
)

func queueTests() []test {
	return []test{
		{"UnknownHasDefaults", testQueueUnknown},
		{"CountsPerState", testQueueCounts},
		{"OldestAvailableAt", testQueueOldest},
		{"UpdatePersists", testQueueUpdate},
		{"UpdateNilFieldsUnchanged", testQueueUpdateNil},
		{"ListByNameWithSettingsOnlyQueues", testQueueList},
	}
}

// A queue that was never used reads with zero settings and zero counts
// (every state present).
func testQueueUnknown(h *harness) {
	q := h.queue("never-used", at(0))
	if q.Name != "never-used" {
		h.t.Errorf("QueueGet name %q", q.Name)
	}
	if q.Settings != (store.QueueSettings{}) {
		h.t.Errorf("settings of an unknown queue: %+v, want zero", q.Settings)
	}
	h.wantCounts(q, nil)
	h.wantTime("OldestAvailableAt of an unknown queue", q.OldestAvailableAt, time.Time{})
	h.wantTime("UpdatedAt of an unknown queue", q.UpdatedAt, time.Time{})
}

// Counts reflect every state, per queue, in QueueGet and QueueList.
func testQueueCounts(h *harness) {
	for _, s := range []store.JobState{store.StateRunning, store.StateRetryable, store.StateCompleted,
		store.StateDead, store.StateCancelled, store.StateScheduled, store.StateAvailable, store.StateAvailable} {
		h.inState(at(0), s, withQueue("q"))
	}
	h.inState(at(0), store.StateAvailable, withQueue("other"))
	want := map[store.JobState]int64{
		store.StateScheduled: 1, store.StateAvailable: 2, store.StateRunning: 1, store.StateRetryable: 1,
		store.StateCompleted: 1, store.StateDead: 1, store.StateCancelled: 1,
	}
	h.wantCounts(h.queue("q", at(time.Second)), want)
	h.wantCounts(h.queue("other", at(time.Second)), map[store.JobState]int64{store.StateAvailable: 1})

	list, err := h.s.QueueList(h.ctx, &store.QueueListParams{Now: at(time.Second)})
	if err != nil {
		h.t.Fatalf("QueueList: %v", err)
	}
	byName := map[string]*store.Queue{}
	for _, q := range list {
		byName[q.Name] = q
	}
	if byName["q"] == nil || byName["other"] == nil {
		h.t.Fatalf("QueueList misses queues with jobs: got %d queues", len(list))
	}
	h.wantCounts(byName["q"], want)
	h.wantCounts(byName["other"], map[store.JobState]int64{store.StateAvailable: 1})

	// Counts follow transitions.
	c := h.claimOne(at(time.Second), "q")
	h.mustAck(at(2*time.Second), completeAck(c, ""))
	want[store.StateAvailable]--
	want[store.StateCompleted]++
	h.wantCounts(h.queue("q", at(2*time.Second)), want)
}

// OldestAvailableAt is the RunAt of the oldest ready job, counting waiting
// jobs whose RunAt has passed; zero when there is none.
func testQueueOldest(h *harness) {
	h.insert1(at(0), withQueue("q"), withRunAt(at(-time.Minute)))
	h.insert1(at(0), withQueue("q"), withRunAt(at(-5*time.Minute)))
	h.wantTime("oldest available in q", h.queue("q", at(0)).OldestAvailableAt, at(-5*time.Minute))
	h.claimOne(at(0), "q") // takes the oldest
	h.wantTime("oldest available in q after a claim", h.queue("q", at(0)).OldestAvailableAt, at(-time.Minute))

	h.insert1(at(0), withQueue("later"), withRunAt(at(time.Minute)))
	h.wantTime("oldest available before the scheduled job is due", h.queue("later", at(0)).OldestAvailableAt, time.Time{})
	h.wantTime("oldest available once the scheduled job is due", h.queue("later", at(2*time.Minute)).OldestAvailableAt, at(time.Minute))

	h.inState(at(0), store.StateRunning, withQueue("busy"))
	h.inState(at(0), store.StateCompleted, withQueue("busy"))
	h.wantTime("oldest available with no ready job", h.queue("busy", at(time.Minute)).OldestAvailableAt, time.Time{})

	list, err := h.s.QueueList(h.ctx, &store.QueueListParams{Now: at(2 * time.Minute)})
	if err != nil {
		h.t.Fatalf("QueueList: %v", err)
	}
	for _, q := range list {
		if q.Name == "later" {
			h.wantTime("QueueList oldest available once due", q.OldestAvailableAt, at(time.Minute))
		}
	}
}

func ptr[T any](v T) *T { return &v }

// Every setting persists, UpdatedAt = Now, and QueueGet reads the same.
func testQueueUpdate(h *harness) {
	want := store.QueueSettings{Paused: true, CompletedRetention: 24 * time.Hour, DeadRetention: 7 * 24 * time.Hour,
		CancelledRetention: 72 * time.Hour, MaxLength: 1000}
	q := h.update(store.QueueUpdateParams{Name: "q", Paused: ptr(true), CompletedRetention: ptr(24 * time.Hour),
		DeadRetention: ptr(7 * 24 * time.Hour), CancelledRetention: ptr(72 * time.Hour), MaxLength: ptr(1000), Now: at(time.Minute)})
	check := func(what string, q *store.Queue) {
		h.t.Helper()
		if q.Name != "q" || q.Settings != want {
			h.t.Errorf("%s: %q %+v, want %+v", what, q.Name, q.Settings, want)
		}
		h.wantTime(what+": UpdatedAt", q.UpdatedAt, at(time.Minute))
		h.wantCounts(q, nil)
	}
	check("QueueUpdate result", q)
	check("QueueGet", h.queue("q", at(2*time.Minute)))
}

// Nil fields are left as they are; zero values can be set explicitly.
func testQueueUpdateNil(h *harness) {
	h.update(store.QueueUpdateParams{Name: "q", Paused: ptr(true), CompletedRetention: ptr(time.Hour),
		DeadRetention: ptr(2 * time.Hour), CancelledRetention: ptr(3 * time.Hour), MaxLength: ptr(10), Now: at(0)})
	q := h.update(store.QueueUpdateParams{Name: "q", Paused: ptr(false), Now: at(time.Minute)})
	want := store.QueueSettings{CompletedRetention: time.Hour, DeadRetention: 2 * time.Hour, CancelledRetention: 3 * time.Hour, MaxLength: 10}
	if q.Settings != want {
		h.t.Errorf("after updating only Paused: %+v, want %+v", q.Settings, want)
	}
	h.wantTime("UpdatedAt", q.UpdatedAt, at(time.Minute))
	q = h.update(store.QueueUpdateParams{Name: "q", MaxLength: ptr(0), DeadRetention: ptr(time.Duration(0)), Now: at(2 * time.Minute)})
	want.MaxLength, want.DeadRetention = 0, 0
	if q.Settings != want {
		h.t.Errorf("after zeroing MaxLength and DeadRetention: %+v, want %+v", q.Settings, want)
	}
	if g := h.queue("q", at(3*time.Minute)); g.Settings != want {
		h.t.Errorf("QueueGet: %+v, want %+v", g.Settings, want)
	}
	h.update(store.QueueUpdateParams{Name: "other", Paused: ptr(true), Now: at(3 * time.Minute)})
	if g := h.queue("q", at(3*time.Minute)); g.Settings != want {
		h.t.Errorf("updating another queue changed q: %+v, want %+v", g.Settings, want)
	}
}

// QueueList returns queues with jobs and queues with only settings, sorted
// by name, each with every state counted.
func testQueueList(h *harness) {
	h.insert1(at(0), withQueue("zeta"))
	h.insert1(at(0), withQueue("alpha"))
	h.update(store.QueueUpdateParams{Name: "mid", Paused: ptr(true), Now: at(0)})
	list, err := h.s.QueueList(h.ctx, &store.QueueListParams{Now: at(time.Second)})
	if err != nil {
		h.t.Fatalf("QueueList: %v", err)
	}
	var names []string
	for _, q := range list {
		names = append(names, q.Name)
		h.wantCounts(q, map[store.JobState]int64{store.StateAvailable: map[string]int64{"zeta": 1, "alpha": 1}[q.Name]})
		if q.Name == "mid" && !q.Settings.Paused {
			h.t.Errorf("QueueList: mid not paused")
		}
	}
	if !slices.IsSorted(names) {
		h.t.Errorf("QueueList names %v not sorted", names)
	}
	for _, want := range []string{"alpha", "mid", "zeta"} {
		if !slices.Contains(names, want) {
			h.t.Errorf("QueueList %v misses %q", names, want)
		}
	}
}
