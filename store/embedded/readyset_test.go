package embedded

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestReadySet drives a readySet with random pushes (mostly in order, as
// inserts are; sometimes earlier, as retries are), removals from anywhere
// and takes from the front, against a sorted reference: the top is always
// the reference's smallest, and every job's heapIdx finds it.
func TestReadySet(t *testing.T) {
	t.Parallel()
	for _, seed := range []uint64{1, 2, 3, 4} {
		rng := rand.New(rand.NewPCG(seed, seed))
		var r readySet
		var ref []*job
		var seq uint64
		peak := 0
		clock := int64(1000)
		newJob := func() *job {
			seq++
			j := &job{heapIdx: -1, dueIdx: -1}
			binary.BigEndian.PutUint64(j.id[:8], seq)
			clock += rng.Int64N(3)
			j.runAt = clock
			if rng.IntN(8) == 0 {
				j.runAt = clock - rng.Int64N(500) // a retry come due, a clock step back
			}
			return j
		}
		less := func(a, b *job) int {
			if r.heap.less(a, b) {
				return -1
			}
			if r.heap.less(b, a) {
				return 1
			}
			return 0
		}
		for step := range 20000 {
			switch op := rng.IntN(10); {
			case op < 5 || len(ref) == 0:
				j := newJob()
				r.push(j)
				ref = append(ref, j)
				slices.SortFunc(ref, less)
			case op < 7: // remove from anywhere
				i := rng.IntN(len(ref))
				r.remove(ref[i])
				if ref[i].heapIdx != -1 {
					t.Fatalf("seed %d step %d: removed job keeps heapIdx %d", seed, step, ref[i].heapIdx)
				}
				ref = slices.Delete(ref, i, i+1)
			default: // take the front
				j := r.top()
				if j != ref[0] {
					t.Fatalf("seed %d step %d: top is runAt %d, want runAt %d", seed, step, j.runAt, ref[0].runAt)
				}
				r.remove(j)
				ref = ref[1:]
			}
			peak = max(peak, len(ref))
			if r.len() != len(ref) {
				t.Fatalf("seed %d step %d: len %d, want %d", seed, step, r.len(), len(ref))
			}
			if len(ref) > 0 && r.top() != ref[0] {
				t.Fatalf("seed %d step %d: top out of order", seed, step)
			}
			if len(ref) == 0 && r.top() != nil {
				t.Fatalf("seed %d step %d: empty set has a top", seed, step)
			}
		}
		// The lane was used, and compaction kept it from growing with the
		// removed: its size follows the most jobs held at once.
		if cap(r.lane) == 0 || cap(r.lane) > 4*max(peak, 64) {
			t.Errorf("seed %d: lane capacity %d for at most %d jobs", seed, cap(r.lane), peak)
		}
	}
}
