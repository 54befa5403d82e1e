package postgres

import (
	"testing"
	"time"

	"github.com/troikahq/troika/store"
)

// A job inserted by one process (store) wakes the subscribers of another
// through LISTEN/NOTIFY, well within the contract's second; a job inserted
// in a transaction wakes them only once the transaction commits.
func TestWakeAcrossStores(t *testing.T) {
	t.Parallel()
	a := openTest(t, Options{})
	b := openTest(t, Options{Schema: a.Schema(), PollInterval: time.Hour}) // no poll: only NOTIFY can wake b
	ch, cancel := b.JobSubscribe(&store.JobSubscribeParams{Queues: []string{"q"}})
	defer cancel()
	deadline := time.Now().Add(10 * time.Second)
	for !b.subs.listening.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the LISTEN connection did not come up within 10s")
		}
		time.Sleep(time.Millisecond)
	}
	select { // the wake-up every (re)connection sends
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no wake-up when the LISTEN connection came up")
	}
	job := store.InsertJob{Kind: "k", Args: []byte(`{}`), Queue: "q", Priority: 2, MaxAttempts: 1}

	start := time.Now()
	if _, err := a.JobInsertMany(t.Context(), &store.JobInsertManyParams{Jobs: []store.InsertJob{job}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
		if d := time.Since(start); d > time.Second {
			t.Errorf("wake-up across stores took %s, over the contract's second", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an insert in store a did not wake store b's subscriber")
	}

	tx, err := a.pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(t.Context()) //nolint:errcheck
	if _, err := a.InsertTx(t.Context(), tx, &store.JobInsertManyParams{Jobs: []store.InsertJob{job}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
		t.Fatal("a subscriber was woken before the transaction committed")
	case <-time.After(200 * time.Millisecond): // a bounded wait for something that must not happen
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("the commit of an InsertTx did not wake store b's subscriber")
	}
}
