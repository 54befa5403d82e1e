// Package embedded is Troika's default backend: the whole hot state of the
// store in memory, the durable record in Pebble, one process per data
// directory.
//
// # What lives where
//
//   - store.go: Open (directory lock, Pebble, rebuild), Close, the commit
//     path (applyLocked, syncWait) and fail-stop handling.
//   - jobs.go: the Store methods on jobs; mem.go: the in-memory job record
//     and its indexes; queues.go: queue settings and counts; subscribe.go:
//     wake-ups; codec.go: the durable layout (versioned, CRC32C-sealed
//     values); ids.go: UUIDv7 generation; fs.go: I/O counters; lock_*.go:
//     the directory lock.
//   - readyset.go, index.go: the ready sets and the B-tree entries.
//   - ordering.go: ordering-key lines (only a key's head job is in a heap);
//     topic.go: topics, subscriptions, events and their lag
//     (store.TopicStore).
//
// # Durability
//
// Every method that changes state builds one Pebble batch, applies it to
// Pebble's commit pipeline while holding Store.mu (so the write-ahead log
// holds changes in the order memory saw them), releases the mutex and then
// waits for the fsync that covers the batch. Concurrent callers therefore
// share one fsync (group commit); Stats counts commits and real WAL syncs.
// After a sync that covered several commits, the log waits a few tens of
// microseconds for the writers it released to commit again before it
// starts the next (the gather step, gather.go; Options.SyncGather).
// A nil error means the batch is on disk. A change is visible to other
// callers just before it is durable; anything that acts on it writes after
// it in the WAL, so a durable consequence always implies a durable cause.
//
// A write or sync error (or a fatal error or corruption reported by Pebble)
// stops the store: memory may now be ahead of the disk, so every later call
// returns an error wrapping store.ErrStoreFailed and nothing more is
// acknowledged. Reopening recovers exactly what was acknowledged. A value
// that fails its checksum, on open or on read, is reported as
// store.ErrCorrupt, never served.
//
// # Memory
//
// Open rebuilds memory from Pebble with one scan: per-queue, per-priority
// sets of ready jobs (a FIFO lane and a heap, readyset.go) and heaps of
// waiting jobs, a due-time heap for wake-ups, a heap of lease deadlines,
// per-state B-trees by ID (index.go: how a job is found by ID; a small map
// holds the running ones, for acks), and the unique-key map. Reads never touch Pebble. Jobs inserted together share one slab
// allocation (they usually live and die together); strings such as kinds
// and queue names are interned.
//
// # Lock order
//
//	Store.mu  →  (nothing)       guards all in-memory state, closed, the
//	                             token counter and the ID generator
//	Store.subMu                  guards changes to the subscriber index;
//	                             never taken while holding Store.mu
//	memLocks                     process-wide lock registry for in-memory
//	                             filesystems; taken only in Open/Close
//
// Helpers whose names end in Locked expect Store.mu held. notify reads the
// subscriber index (an immutable snapshot behind an atomic pointer) without
// any lock and never blocks: sends to subscriber channels are non-blocking.
// No lock is held while waiting for an fsync.
//
// Imports: the standard library, store, Pebble (github.com/cockroachdb/pebble/v2),
// github.com/tidwall/btree and golang.org/x/sys. Never the root package or
// internal/engine.
package embedded
