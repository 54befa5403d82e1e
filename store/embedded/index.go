package embedded

import (
	"encoding/binary"

	"github.com/tidwall/btree"
	"github.com/troikahq/troika/store"
)

// The B-tree indexes keep each job's sort key inline beside the pointer,
// so a search compares keys inside the node it is reading instead of
// loading every job it passes (most of a million jobs are not in cache).
// Their keys mostly arrive in order (new IDs, finish times of now), so an
// insert first tries to append to the rightmost leaf, and deletes, which
// mostly take the oldest, start from the path of the previous one.
// Guarded by Store.mu like the rest of memory.

// tree is a B-tree of T in the order of the less it was made with.
type tree[T any] struct {
	t    *btree.BTreeG[T]
	hint btree.PathHint // the path of the last delete
}

func newTree[T any](less func(a, b T) bool) *tree[T] {
	return &tree[T]{t: btree.NewBTreeGOptions(less, btree.Options{Degree: 32, NoLocks: true})}
}

// insert adds e, replacing an equal entry.
func (t *tree[T]) insert(e T) { t.t.Load(e) }

// delete removes the entry equal to e, if any.
func (t *tree[T]) delete(e T) { t.t.DeleteHint(e, &t.hint) }

func (t *tree[T]) get(k T) (T, bool) { return t.t.Get(k) }
func (t *tree[T]) min() (T, bool)    { return t.t.Min() }
func (t *tree[T]) len() int          { return t.t.Len() }
func (t *tree[T]) clear()            { t.t.Clear() }

// ascend visits entries in order from the first (from nil) or from the
// first >= *from, while fn returns true; descend likewise backwards, from
// the last or the last <= *from.
func (t *tree[T]) ascend(from *T, fn func(T) bool) {
	if from == nil {
		t.t.Scan(fn)
		return
	}
	t.t.Ascend(*from, fn)
}

func (t *tree[T]) descend(from *T, fn func(T) bool) {
	if from == nil {
		t.t.Reverse(fn)
		return
	}
	t.t.Descend(*from, fn)
}

// idEntry is a job in a tree ordered by ID (byState, subscription.pending).
type idEntry struct {
	hi, lo uint64 // the ID, big-endian halves: integer order is ID order
	j      *job
}

// idTree is a B-tree of jobs by ID.
type idTree = tree[idEntry]

func newIDTree() *idTree { return newTree(idEntryLess) }

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
	at int64
	idEntry
}

// finTree is a B-tree of finished jobs by (finishedAt, ID).
type finTree = tree[finEntry]

func newFinTree() *finTree { return newTree(finEntryLess) }

func entryByFinished(j *job) finEntry { return finEntry{at: j.finishedAt, idEntry: entryByID(j)} }

func finEntryLess(a, b finEntry) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return idEntryLess(a.idEntry, b.idEntry)
}
