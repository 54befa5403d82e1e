package embedded

import (
	"runtime"
	"sync/atomic"
	"time"
)

// The gather step of group commit. Pebble's write-ahead log starts a sync
// as soon as the previous one ends, carrying whatever was committed
// meanwhile. Under a closed-loop load (writers that each wait for their
// own commit, as in the steady workload) the writers released by a sync
// need a few microseconds to commit again, by which time the next sync,
// started for the worker's claims and acks, is already running: each
// writer then waits for two syncs. The gather step waits, after a sync
// that covered several commits, until about as many commits have arrived
// again, so that they share the next fsync.
const (
	// DefaultSyncGather is Options.SyncGather's default.
	DefaultSyncGather = 80 * time.Microsecond
	// gatherQuiet ends a gather when no commit arrived for this long.
	gatherQuiet = 20 * time.Microsecond
	// gatherMinCovered is the least number of commits the last sync must
	// have covered for the next to wait: fewer means too few concurrent
	// writers to be worth waiting for (an idle store, or a drain's two
	// claims and an ack, which the wait slowed in benchmarks).
	gatherMinCovered = 4
)

// gatherer is the gather step's state. wait runs on the flush goroutine
// of Pebble's WAL writer (as its WALMinSyncInterval callback, with the
// flusher's mutex held); while the log rotates, the old writer's and the
// new one's goroutines may call it at once, so its state is atomic. The
// counters it reads are written by committers (ioStats.commits) and by the
// WAL file's sync (ioStats.syncStartCommits).
type gatherer struct {
	max         time.Duration // ≤ 0: off
	io          *ioStats
	prevCovered atomic.Int64 // ioStats.syncStartCommits at the previous call
}

// wait is called right after a sync returned and its waiters were
// released, and returns when the next sync may start. It spins, yielding
// the processor, instead of sleeping: the Go runtime's timers overshoot
// sub-millisecond sleeps by up to a millisecond when the process is
// otherwise idle (see Options.MinSyncInterval). It returns 0: Pebble's
// own minimum interval stays unused.
func (g *gatherer) wait() time.Duration {
	if g.max <= 0 {
		return 0
	}
	start := g.io.syncStartCommits.Load()
	covered := start - g.prevCovered.Swap(start)
	if covered < gatherMinCovered {
		return 0
	}
	base := g.io.commits.Load()
	t0 := time.Now()
	last, lastN := t0, base
	for {
		runtime.Gosched()
		n, now := g.io.commits.Load(), time.Now()
		if gatherDone(covered, n-base, now.Sub(t0), now.Sub(last), g.max) {
			return 0
		}
		if n != lastN {
			last, lastN = now, n
		}
	}
}

// gatherDone reports whether a gather that has seen arrived commits since
// it began waited enough: as many commits as the last sync covered, the
// whole window max, or gatherQuiet since the last commit arrived.
func gatherDone(covered, arrived int64, waited, sinceLast, max time.Duration) bool {
	return arrived >= covered || waited >= max || sinceLast >= gatherQuiet
}
