package embedded

import (
	"strings"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// ioStats are the counters behind Store.Stats.
type ioStats struct {
	commits   atomic.Int64
	syncs     atomic.Int64
	bytes     atomic.Int64
	syncNanos atomic.Int64 // wall time inside WAL syncs
	// syncStartCommits is commits as a WAL sync began: what it covers at
	// most (the gather step, gather.go).
	syncStartCommits atomic.Int64
}

// syncBegin records a WAL sync's start (the commits it covers at most)
// and returns its start time for timed.
func (st *ioStats) syncBegin() time.Time {
	st.syncStartCommits.Store(st.commits.Load())
	return time.Now()
}

// timed adds the time since start to the sync time.
func (st *ioStats) timed(start time.Time) { st.syncNanos.Add(int64(time.Since(start))) }

// countingFS wraps the FS Pebble writes through and counts the fsyncs and
// bytes of write-ahead-log files (their names end in ".log"), so Stats
// reports real WAL syncs, not requests for them.
//
// With zeroFill, new and recycled WAL files are also zero-filled ahead of
// their writes (walfill.go).
type countingFS struct {
	vfs.FS
	st       *ioStats
	zeroFill bool
}

func isWAL(name string) bool { return strings.HasSuffix(name, ".log") }

func (fs *countingFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil || !isWAL(name) {
		return f, err
	}
	return &countingFile{File: f, st: fs.st}, nil
}

// wrapFill is wrap for a WAL file Pebble writes from its start (a new or
// recycled one), zero-filling it ahead of its writes when enabled.
func (fs *countingFS) wrapFill(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil || !isWAL(name) || !fs.zeroFill {
		return fs.wrap(name, f, err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return fs.wrap(name, newZeroFillFile(f, fi.Size()), nil)
}

func (fs *countingFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	return fs.wrapFill(name, f, err)
}

func (fs *countingFS) OpenReadWrite(name string, category vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.OpenReadWrite(name, category, opts...)
	return fs.wrap(name, f, err)
}

func (fs *countingFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, category)
	return fs.wrapFill(newname, f, err)
}

func (fs *countingFS) Unwrap() vfs.FS { return fs.FS }

type countingFile struct {
	vfs.File
	st *ioStats
}

func (f *countingFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	f.st.bytes.Add(int64(n))
	return n, err
}

func (f *countingFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.File.WriteAt(p, off)
	f.st.bytes.Add(int64(n))
	return n, err
}

func (f *countingFile) Sync() error {
	f.st.syncs.Add(1)
	defer f.st.timed(f.st.syncBegin())
	return f.File.Sync()
}

func (f *countingFile) SyncData() error {
	f.st.syncs.Add(1)
	defer f.st.timed(f.st.syncBegin())
	return f.File.SyncData()
}

func (f *countingFile) SyncTo(length int64) (bool, error) {
	defer f.st.timed(f.st.syncBegin())
	full, err := f.File.SyncTo(length)
	if full {
		f.st.syncs.Add(1)
	}
	return full, err
}
