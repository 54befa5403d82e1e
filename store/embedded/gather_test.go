package embedded

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/troikahq/troika/store"
)

func TestGatherDone(t *testing.T) {
	t.Parallel()
	const max = 80 * time.Microsecond
	tests := []struct {
		name              string
		covered, arrived  int64
		waited, sinceLast time.Duration
		want              bool
	}{
		{"as many commits as the last sync", 6, 6, 10 * time.Microsecond, time.Microsecond, true},
		{"more than the last sync", 6, 9, 10 * time.Microsecond, time.Microsecond, true},
		{"still arriving", 6, 3, 30 * time.Microsecond, 5 * time.Microsecond, false},
		{"window spent", 6, 3, max, 5 * time.Microsecond, true},
		{"quiet", 6, 3, 40 * time.Microsecond, gatherQuiet, true},
		{"nothing yet, not quiet", 6, 0, 10 * time.Microsecond, 10 * time.Microsecond, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := gatherDone(tt.covered, tt.arrived, tt.waited, tt.sinceLast, max); got != tt.want {
				t.Errorf("gatherDone(%d, %d, %s, %s) = %v, want %v", tt.covered, tt.arrived, tt.waited, tt.sinceLast, got, tt.want)
			}
		})
	}
}

// TestGatherOff checks that the gather step never waits when it is off,
// or after a sync that covered fewer than gatherMinCovered commits.
func TestGatherOff(t *testing.T) {
	t.Parallel()
	var io ioStats
	off := &gatherer{max: -1, io: &io}
	io.syncStartCommits.Store(100)
	if d := off.wait(); d != 0 || off.prevCovered.Load() != 0 {
		t.Errorf("off: wait() = %s, prevCovered %d; want 0 and untouched", d, off.prevCovered.Load())
	}
	g := &gatherer{max: time.Hour, io: &io}
	g.prevCovered.Store(100)
	io.syncStartCommits.Store(100 + gatherMinCovered - 1)
	g.wait() // returns at once (no commit ever arrives and the window is an hour), or the test times out
	if got := g.prevCovered.Load(); got != 100+gatherMinCovered-1 {
		t.Errorf("prevCovered = %d, want %d", got, 100+gatherMinCovered-1)
	}
}

// TestGatherWritersShareSyncs runs closed-loop writers with the gather
// step on and checks that every write is still durable and acknowledged
// (nothing waits forever on a gather) and that the writers share syncs.
func TestGatherWritersShareSyncs(t *testing.T) {
	t.Parallel()
	st, err := Open(t.TempDir(), Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const writers, each = 8, 200
	job := []store.InsertJob{{Kind: "k", Args: []byte(`{}`), Queue: "default", Priority: 2, MaxAttempts: 1}}
	before := st.Stats()
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range each {
				if _, err := st.JobInsertMany(context.Background(), &store.JobInsertManyParams{Jobs: job}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	s := st.Stats()
	commits, syncs := s.Commits-before.Commits, s.Syncs-before.Syncs
	if commits != writers*each {
		t.Fatalf("%d commits, want %d", commits, writers*each)
	}
	if syncs >= commits {
		t.Errorf("%d syncs for %d commits of %d concurrent writers: no sync was shared", syncs, commits, writers)
	}
	t.Logf("%d commits, %d syncs (%.1f commits per sync)", commits, syncs, float64(commits)/float64(syncs))
}
