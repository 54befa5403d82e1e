package embedded

import (
	"encoding/binary"

	"github.com/google/btree"
	"github.com/troikahq/troika/store"
)

// The B-tree indexes keep each job's sort key inline beside the pointer,
// so a search compares keys inside the node it is reading instead of
// loading every job it passes (most of a million jobs are not in cache).
// Guarded by Store.mu like the rest of memory.

// idEntry is a job in a tree ordered by ID (byState, subscription.pending).
type idEntry struct {
	hi, lo uint64 // the ID, big-endian halves: integer order is ID order
	j      *job
}

// idTree is a B-tree of jobs by ID.
type idTree = btree.BTreeG[idEntry]

func newIDTree() *idTree { return btree.NewG(32, idEntryLess) }

func idKey(id store.ID) idEntry {
	return idEntry{hi: binary.BigEndian.Uint64(id[:8]), lo: binary.BigEndian.Uint64(id[8:])}
}

func entryByID(j *job) idEntry {
	e := idKey(j.id)
	e.j = j
	return e
}

func idEntryLess(a, b idEntry) bool {
	if a.hi != b.hi {
		return a.hi < b.hi
	}
	return a.lo < b.lo
}

// finEntry is a job in a tree of finished jobs by (finishedAt, ID)
// (queue.finished). A job's finishedAt must not change while it is in one.
type finEntry struct {
	at     int64
	hi, lo uint64
	j      *job
}

// finTree is a B-tree of finished jobs by (finishedAt, ID).
type finTree = btree.BTreeG[finEntry]

func newFinTree() *finTree { return btree.NewG(32, finEntryLess) }

func entryByFinished(j *job) finEntry {
	e := idKey(j.id)
	return finEntry{at: j.finishedAt, hi: e.hi, lo: e.lo, j: j}
}

func finEntryLess(a, b finEntry) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	if a.hi != b.hi {
		return a.hi < b.hi
	}
	return a.lo < b.lo
}
