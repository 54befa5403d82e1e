package embedded

import (
	"io"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Zero-filled write-ahead logs. Every acknowledged commit waits for an
// fdatasync of the WAL file. When that write extends the file (Pebble
// appends to a new WAL), or lands on blocks that fallocate reserved but
// never wrote, fdatasync must also commit the file system's journal (the
// new size, the newly written extents): on ext4 on this project's VM
// that makes it about 1.5× as slow as an fdatasync of data that overwrites
// blocks already written (BenchmarkFdatasync, filled=none against
// filled=zeros: 165–175 µs against 107–110 µs for 200 bytes on 2 Dec). A recycled WAL already gets the fast kind; a new one, which is
// what a new or lightly loaded store writes, does not.
//
// zeroFillFile keeps a region ahead of the WAL's write head written with
// zeros and synced, so that the log's own writes overwrite written blocks.
// The zeros are written by a background goroutine, one walFillChunk at a
// time, started when the head comes within walFillAhead of the end of the
// zeroed region. Pebble's WAL reader treats a zeroed tail as the end of
// the log (it must already accept a preallocated or recycled tail), so
// replay is unchanged: the zeros after the last record read like the end of
// a log cut short by a crash, which the newest WAL tolerates; older WALs
// end in an EOF trailer before their zeros.
//
// Safety: the zeros never overwrite log records. The filler writes only at
// or after the head plus walFillGap as it starts, and a Write that would
// reach into a region being zeroed waits until the filler is done.
//
// Errors of the filler are not the log's: it stops filling, and the log's
// own writes and syncs, which then extend the file as before, report any
// real problem.
const (
	walFillChunk = 4 << 20
	walFillFirst = 256 << 10
	walFillAhead = 2 << 20
	walFillGap   = 16 << 10
)

// zeroFillFile wraps a WAL file Pebble writes sequentially with Write.
//
// Concurrency: Pebble calls Write, the sync methods and Close from its WAL
// flush goroutine, one at a time; the filler runs alongside. mu guards
// the fields below it and is never held across I/O.
type zeroFillFile struct {
	vfs.File

	mu      sync.Mutex
	head    int64         // bytes written by Write: the next write's offset
	zeroed  int64         // [0, zeroed) is written (log or zeros) and synced
	fillLo  int64         // start of the region being zeroed, when filling
	filling chan struct{} // closed when the running fill ends; nil if none
	stopped bool          // a fill failed, or Close began: no more fills
}

// newZeroFillFile wraps f, whose first written bytes extend to size (0 for
// a new file; a recycled WAL is fully written up to its old size).
func newZeroFillFile(f vfs.File, size int64) *zeroFillFile {
	z := &zeroFillFile{File: f, zeroed: size}
	z.mu.Lock()
	z.maybeFillLocked()
	z.mu.Unlock()
	return z
}

// Write writes p at the head, first waiting for a fill that p would
// reach into.
func (z *zeroFillFile) Write(p []byte) (int, error) {
	z.mu.Lock()
	end := z.head + int64(len(p))
	for z.filling != nil && end > z.fillLo {
		ch := z.filling
		z.mu.Unlock()
		<-ch
		z.mu.Lock()
	}
	z.mu.Unlock()

	n, err := z.File.Write(p)

	z.mu.Lock()
	z.head += int64(n)
	z.maybeFillLocked()
	z.mu.Unlock()
	return n, err
}

// maybeFillLocked starts a fill when none runs and the head is within
// walFillAhead of the zeroed region's end. z.mu must be held.
func (z *zeroFillFile) maybeFillLocked() {
	if z.stopped || z.filling != nil || z.head+walFillAhead < z.zeroed {
		return
	}
	lo := max(z.zeroed, z.head+walFillGap)
	size := int64(walFillChunk)
	if z.zeroed == 0 {
		size = walFillFirst
	}
	z.fillLo = lo
	z.filling = make(chan struct{})
	go z.fill(lo, lo+size, z.filling)
}

// fill writes zeros to [lo, hi), syncs them and then marks them zeroed.
func (z *zeroFillFile) fill(lo, hi int64, done chan struct{}) {
	err := writeZeros(z.File, lo, hi)
	if err == nil {
		err = z.File.SyncData()
	}
	z.mu.Lock()
	if err != nil {
		z.stopped = true
	} else {
		z.zeroed = hi
	}
	z.filling = nil
	close(done)
	z.maybeFillLocked()
	z.mu.Unlock()
}

// zeroBlock is the buffer fills write from; it is never modified.
var zeroBlock = make([]byte, 256<<10)

func writeZeros(f io.WriterAt, lo, hi int64) error {
	for off := lo; off < hi; {
		n := min(int64(len(zeroBlock)), hi-off)
		if _, err := f.WriteAt(zeroBlock[:n], off); err != nil {
			return err
		}
		off += n
	}
	return nil
}

// Close stops filling, waits for a running fill and closes the file.
func (z *zeroFillFile) Close() error {
	z.mu.Lock()
	z.stopped = true
	ch := z.filling
	z.mu.Unlock()
	if ch != nil {
		<-ch
	}
	return z.File.Close()
}

// inMemory reports whether fs is Pebble's in-memory file system, whose
// syncs cost nothing and whose zeros would cost memory.
func inMemory(fs vfs.FS) bool {
	_, ok := fs.(*vfs.MemFS)
	return ok
}
