package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/troikahq/troika/store"
)

// Options configure Open. The zero value is a sensible production setting.
type Options struct {
	// FS is the filesystem Pebble uses; default vfs.Default (the OS). Tests
	// inject pebble's vfs/errorfs or vfs.NewMem. The directory lock is a
	// real flock(2) when FS is (or wraps) vfs.Default, and a process-wide
	// registry otherwise.
	FS vfs.FS
	// Logger receives the store's and Pebble's log lines; default
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock used when a params' Now is zero and for wake-ups of
	// scheduled jobs; default time.Now.
	Now func() time.Time
	// CacheSize is Pebble's block cache in bytes; default 32 MiB. Reads go
	// to memory, so the cache serves only the rebuild scan and compactions.
	CacheSize int64
	// MemTableSize is Pebble's memtable size in bytes; default 64 MiB.
	MemTableSize uint64
	// ExpireLeasesOnOpen sets the lease deadline of every job found running
	// on open to the open time (in memory), so the engine's rescuer handles
	// it at once. Set it when every worker ran inside the process that
	// owned the store (troika.Open); leave it false when workers are remote
	// and may outlive a server restart (they keep their leases).
	ExpireLeasesOnOpen bool
	// MinSyncInterval is the least time between two fsyncs of the
	// write-ahead log under load (group commit's window): a commit that
	// arrives sooner than this after the previous sync waits for the rest
	// of the interval, so that more commits share the next fsync. After an
	// idle period the first commit syncs at once, so idle latency does not
	// change. Zero or negative (the default): no delay, a sync starts as
	// soon as the previous one ends, which already shares it among every
	// commit that arrived meanwhile. A delay trades latency for fewer
	// fsyncs; the Go runtime may sleep up to about 1 ms for a sub-millisecond
	// delay when the process is otherwise idle, so small values can cost far
	// more than they say (BenchmarkInsertOneParallel, docs/performance.md).
	// Every acknowledged write is fsynced before it is acknowledged either
	// way. When set, it replaces SyncGather.
	MinSyncInterval time.Duration
	// SyncGather is the longest the write-ahead log waits after a sync
	// before starting the next, so that the writers that sync released
	// can commit again and share the next fsync (group commit's gather
	// step; see gather.go). It waits only after a sync that covered at
	// least 4 commits, and stops as soon as as many commits have arrived
	// again, or none for 20 µs; an idle store never waits, so idle latency
	// does not change. The wait spins on the WAL's goroutine, yielding the
	// processor, rather than sleeping. Zero means DefaultSyncGather (80
	// µs); negative turns it off. Ignored when MinSyncInterval is set.
	SyncGather time.Duration

	// forceZeroFill zero-fills WAL files (walfill.go) even on an in-memory
	// file system, for tests.
	forceZeroFill bool
}

// Store is the embedded backend: the whole hot state in memory, the
// durable record in Pebble, every acknowledged write fsynced with group
// commit. See the package documentation for the durability model and lock
// order. A Store is safe for concurrent use; one process owns a directory.
type Store struct {
	dir  string
	db   *pebble.DB
	lock interface{ unlock() error }
	log  *slog.Logger
	now  func() time.Time
	io   ioStats

	// failure is set once, on the first write or sync error (or a fatal
	// error reported by Pebble); from then on every call returns it.
	failure atomic.Pointer[error]
	// bgFatal is set when Pebble reported a fatal error from one of its own
	// goroutines, which then never returns; Close then skips Pebble's Close.
	bgFatal atomic.Bool

	// inflight counts commits applied but not yet synced; Close waits.
	inflight sync.WaitGroup

	mu     sync.Mutex // see doc.go: guards everything below
	closed bool
	// running: the running jobs by ID (acks look leases up here: a map
	// the size of the workers' concurrency stays in cache); they are in no
	// byState tree. Every other job is found through byState (jobLocked).
	running   map[store.ID]*job
	byState   [numStates]*idTree
	queues    map[string]*queue
	uniq      map[string]*job
	leases    jobHeap // running jobs by lease deadline
	due       jobHeap // waiting jobs not yet signalled, by runAt
	leaders   map[string]*store.Leader
	schedules map[string]*store.Schedule // see schedule.go; nil until the first
	topics    topicIndex                 // see topic.go
	strs      interner
	ids       idGen
	epoch     uint64 // lease-token epoch of this open
	tokenSeq  uint64
	enc       []byte // scratch encoding buffer
	timerAt   int64  // instant the wake-up timer is armed for; 0: idle
	wakeTimer chan struct{}

	subMu sync.Mutex // guards subscriber changes (subs is read lock-free)
	subs  atomic.Pointer[subIndex]

	stop     chan struct{}
	done     chan struct{}
	closeErr error
	once     sync.Once
}

var (
	_ store.Store         = (*Store)(nil)
	_ store.StatsProvider = (*Store)(nil)
)

// tokenSeqBits is the width of the per-open lease-token counter; the upper
// bits hold the epoch, which increases (durably) on every open, so a token
// is never reused across restarts.
const tokenSeqBits = 40

// Open opens (creating if needed) the store in dir, takes the directory's
// lock and rebuilds memory from disk. It returns a *store.LockedError when
// another Store (in this or another process) owns dir, and an error
// wrapping store.ErrCorrupt when the data fails its checksums.
func Open(dir string, opts Options) (*Store, error) {
	if opts.FS == nil {
		opts.FS = vfs.Default
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 32 << 20
	}
	if opts.MemTableSize == 0 {
		opts.MemTableSize = 64 << 20
	}
	s := &Store{
		dir:       dir,
		log:       opts.Logger.With("component", "store/embedded", "dir", dir),
		now:       opts.Now,
		running:   make(map[store.ID]*job),
		queues:    make(map[string]*queue),
		uniq:      make(map[string]*job),
		leaders:   make(map[string]*store.Leader),
		leases:    jobHeap{order: byDeadline},
		due:       jobHeap{order: byRunAt, due: true},
		wakeTimer: make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	for i := range s.byState {
		s.byState[i] = newIDTree()
	}
	s.subs.Store(&subIndex{})

	if err := opts.FS.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("embedded: create %s: %w", dir, err)
	}
	lock, err := acquireLock(opts.FS, dir)
	if err != nil {
		return nil, err
	}
	s.lock = lock
	if err := s.openDB(dir, opts); err != nil {
		_ = lock.unlock()
		return nil, err
	}
	if err := s.rebuild(opts); err != nil {
		s.closeDB()
		_ = lock.unlock()
		return nil, err
	}
	go s.timerLoop()
	return s, nil
}

func (s *Store) openDB(dir string, opts Options) (err error) {
	minSync := max(opts.MinSyncInterval, 0)
	cache := pebble.NewCache(opts.CacheSize)
	defer cache.Unref()
	po := &pebble.Options{
		FS:                          &countingFS{FS: opts.FS, st: &s.io, zeroFill: opts.forceZeroFill || !inMemory(opts.FS)},
		Cache:                       cache,
		MemTableSize:                opts.MemTableSize,
		MemTableStopWritesThreshold: 4,
		// Reads never touch Pebble except Open's scan and topic replays, so
		// L0 read amplification costs little, while every L0 compaction
		// rewrites records that the next flush often shadows (a delivery's
		// claim and ack follow its insert within seconds): compacting L0
		// later, in larger steps, left more CPU to the job path (fanout:
		// faster in 6 of 7 interleaved pairs on 2 Dec, with 10–18% less
		// CPU; docs/performance.md).
		L0CompactionThreshold: 32,
		L0StopWritesThreshold: 1000,
		LBaseMaxBytes:         256 << 20,
		WALBytesPerSync:       0, // every commit syncs anyway
		WALMinSyncInterval:    s.syncInterval(minSync, opts.SyncGather),
		FormatMajorVersion:    pebble.FormatNewest,
		Logger:                &pebbleLogger{s: s},
		EventListener: &pebble.EventListener{
			BackgroundError: func(err error) {
				s.log.Error("pebble background error", "err", err)
				if errors.Is(err, pebble.ErrCorruption) {
					s.setFailed(fmt.Errorf("%w: %w", store.ErrCorrupt, err))
				}
			},
			DataCorruption: func(info pebble.DataCorruptionInfo) {
				s.log.Error("pebble detected corruption", "info", info.String())
				s.setFailed(fmt.Errorf("%w: %s", store.ErrCorrupt, info.String()))
			},
		},
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("embedded: open pebble: %v", r)
		}
		if err != nil && s.failure.Load() != nil && !errors.Is(err, store.ErrCorrupt) {
			if f := *s.failure.Load(); errors.Is(f, store.ErrCorrupt) {
				err = fmt.Errorf("%w (%v)", f, err)
			}
		}
	}()
	db, err := pebble.Open(dir, po)
	if err != nil {
		if errors.Is(err, pebble.ErrCorruption) {
			return fmt.Errorf("embedded: open %s: %w: %w", dir, store.ErrCorrupt, err)
		}
		return fmt.Errorf("embedded: open %s: %w", dir, err)
	}
	s.db = db
	return nil
}

// syncInterval is Pebble's WALMinSyncInterval callback: the fixed
// MinSyncInterval when set, otherwise the gather step (which waits itself
// and returns 0), or nothing when SyncGather is negative.
func (s *Store) syncInterval(minSync, gather time.Duration) func() time.Duration {
	if minSync > 0 {
		return func() time.Duration { return minSync }
	}
	if gather == 0 {
		gather = DefaultSyncGather
	}
	g := &gatherer{max: gather, io: &s.io}
	return g.wait
}

// closeDB closes Pebble, converting a panic or fatal error into an error.
func (s *Store) closeDB() (err error) {
	if s.db == nil || s.bgFatal.Load() {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("embedded: close pebble: %v", r)
		}
	}()
	db := s.db
	s.db = nil
	return db.Close()
}

// rebuild loads every record into memory and bumps the token epoch.
func (s *Store) rebuild(opts Options) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("embedded: rebuild: %v", r)
		}
	}()
	corrupt := func(key []byte, cause error) error {
		return fmt.Errorf("embedded: %s: record %q: %w: %w", s.dir, keyString(key), store.ErrCorrupt, cause)
	}
	it, err := s.db.NewIter(nil)
	if err != nil {
		return fmt.Errorf("embedded: rebuild: %w", err)
	}
	defer it.Close()
	openNow := toNanos(opts.Now())
	var maxID store.ID
	var epoch uint64
	var queueSettings []*queue
	for ok := it.First(); ok; ok = it.Next() {
		key := it.Key()
		val, verr := it.ValueAndErr()
		if verr != nil {
			return s.wrapReadErr(verr)
		}
		if len(key) == 0 {
			return corrupt(key, errors.New("empty key"))
		}
		switch key[0] {
		case prefixJob:
			if len(key) != 17 {
				return corrupt(key, errors.New("bad job key length"))
			}
			id := store.ID(key[1:])
			j, qname, derr := decodeJob(id, val, &s.strs)
			if derr != nil {
				return corrupt(key, derr)
			}
			j.q = s.queueLocked(qname)
			s.loadJobLocked(j, openNow, opts.ExpireLeasesOnOpen)
			if idLess(&maxID, &id) { // events (topic.go) share the ID sequence
				maxID = id
			}
		case prefixQueue:
			q := s.queueLocked(string(key[1:]))
			if derr := decodeQueue(val, q); derr != nil {
				return corrupt(key, derr)
			}
			queueSettings = append(queueSettings, q)
		case prefixLeader:
			l, derr := decodeLeader(string(key[1:]), val)
			if derr != nil {
				return corrupt(key, derr)
			}
			s.leaders[l.Name] = l
		case prefixSchedule:
			if derr := s.loadScheduleLocked(key, val); derr != nil {
				return corrupt(key, derr)
			}
		case prefixTopic, prefixSub, prefixEvent: // topic.go
			if derr := s.loadTopicRecordLocked(key, val, &maxID); derr != nil {
				return corrupt(key, derr)
			}
		case prefixMeta:
			if string(key[1:]) == metaTokenEpoch {
				if epoch, err = decodeMetaUint(val); err != nil {
					return corrupt(key, err)
				}
			}
		default:
			return corrupt(key, errors.New("unknown record kind"))
		}
	}
	if err := it.Error(); err != nil {
		return s.wrapReadErr(err)
	}
	s.pickHoldersLocked() // ordering-key lines (ordering.go), before heapifying
	// Heaps were filled unordered; order them once (O(n)).
	for _, q := range s.queues {
		for _, b := range q.buckets {
			b.ready.init()
			b.wait.init()
		}
	}
	s.leases.init()
	s.due.init()
	s.ids.last = maxID

	// A new epoch for lease tokens, durable before any claim. (s.epoch
	// holds the highest epoch seen in a running job's token.)
	s.epoch = max(s.epoch, epoch) + 1
	if s.epoch >= 1<<(64-tokenSeqBits) {
		s.epoch = 1 // wrapped after 16 million opens; tokens stay non-zero
	}
	var k [64]byte
	key := append(k[:0], prefixMeta)
	key = append(key, metaTokenEpoch...)
	if err := s.db.Set(key, appendMetaUint(nil, s.epoch), pebble.Sync); err != nil {
		return fmt.Errorf("embedded: write token epoch: %w", err)
	}
	return nil
}

func (s *Store) wrapReadErr(err error) error {
	if errors.Is(err, pebble.ErrCorruption) {
		return fmt.Errorf("embedded: %s: %w: %w", s.dir, store.ErrCorrupt, err)
	}
	if f := s.failure.Load(); f != nil && errors.Is(*f, store.ErrCorrupt) {
		return fmt.Errorf("embedded: %s: %w (%v)", s.dir, *f, err)
	}
	return fmt.Errorf("embedded: %s: read: %w", s.dir, err)
}

func keyString(k []byte) string {
	if len(k) == 17 && k[0] == prefixJob {
		return "j/" + store.ID(k[1:]).String()
	}
	if len(k) > 40 {
		k = k[:40]
	}
	return string(k)
}

// loadJobLocked indexes a job read by the rebuild; heaps are appended to
// unordered and initialised afterwards.
func (s *Store) loadJobLocked(j *job, openNow int64, expireLeases bool) {
	s.indexLocked(j)
	if k := j.uniqueKey(); k != "" {
		s.uniq[k] = j // IDs ascend, so the newest job with a key wins
	}
	s.loadDeliveryLocked(j) // subscription lag (topic.go)
	if s.loadLineLocked(j) {
		return // waits behind its ordering key; pickHoldersLocked decides (ordering.go)
	}
	switch {
	case j.state == stAvailable:
		j.q.bucket(j.prio).ready.load(j)
	case waiting(j.state):
		h := &j.q.bucket(j.prio).wait
		h.items = append(h.items, j)
		s.due.items = append(s.due.items, j)
	case j.state == stRunning:
		if expireLeases && j.leaseDeadline > openNow {
			j.leaseDeadline = openNow
		}
		s.leases.items = append(s.leases.items, j)
	}
	s.epoch = max(s.epoch, j.leaseToken>>tokenSeqBits)
}

// Close stops the store: it waits for in-flight calls to finish syncing,
// stops the wake-up timer, closes Pebble and releases the directory lock.
// Later calls return store.ErrClosed. Close is safe to call more than once;
// later calls return nil.
func (s *Store) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.inflight.Wait()
		close(s.stop)
		<-s.done
		s.subMu.Lock()
		s.subs.Store(&subIndex{}) // channels are dropped, not closed
		s.subMu.Unlock()
		err := s.closeDB()
		if lerr := s.lock.unlock(); err == nil {
			err = lerr
		}
		if f := s.failure.Load(); f != nil && err != nil {
			err = nil // the failure was already reported; closing a failed Pebble may complain
		}
		s.closeErr = err
	})
	return s.closeErr
}

// Stats reports cumulative I/O counters since Open: Commits are write
// batches applied, Syncs real fsyncs of WAL files, Bytes bytes written to
// WAL files, SyncTime the wall time spent in those fsyncs.
func (s *Store) Stats() store.Stats {
	return store.Stats{
		Commits:  s.io.commits.Load(),
		Syncs:    s.io.syncs.Load(),
		Bytes:    s.io.bytes.Load(),
		SyncTime: time.Duration(s.io.syncNanos.Load()),
	}
}

// ---- failure handling

func (s *Store) setFailed(cause error) {
	err := fmt.Errorf("%w: %w", store.ErrStoreFailed, cause)
	if s.failure.CompareAndSwap(nil, &err) {
		s.log.Error("store failed; every later call fails until it is reopened", "err", cause)
	}
}

func (s *Store) failed() error {
	if f := s.failure.Load(); f != nil {
		return *f
	}
	return nil
}

// begin checks ctx, takes s.mu and checks that the store is usable. On
// success the caller holds s.mu.
func (s *Store) begin(ctx context.Context) error {
	if ctx != nil {
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return store.ErrClosed
	}
	if err := s.failed(); err != nil {
		s.mu.Unlock()
		return err
	}
	return nil
}

// applyLocked hands b to Pebble's commit pipeline while s.mu is held, so the
// WAL order is the order in which changes were made to memory. It does not
// wait for the fsync: the caller unlocks s.mu and then calls syncWait,
// which is where concurrent callers share one fsync. An empty batch is
// released at once and reported as not committed (there is nothing to
// wait for).
func (s *Store) applyLocked(b *pebble.Batch) (committed bool, err error) {
	if b.Empty() {
		_ = b.Close()
		return false, nil
	}
	defer func() {
		if r := recover(); r != nil {
			s.setFailed(fmt.Errorf("commit: %v", r))
			committed, err = false, s.failed()
		}
	}()
	if err := s.db.ApplyNoSyncWait(b, pebble.Sync); err != nil {
		s.setFailed(fmt.Errorf("commit: %w", err))
		return false, s.failed()
	}
	s.io.commits.Add(1)
	s.inflight.Add(1)
	return true, nil
}

// syncWait waits for the fsync covering b (shared with every batch applied
// before it) and releases b. Call it without s.mu, after applyLocked
// committed b.
func (s *Store) syncWait(b *pebble.Batch) error {
	defer s.inflight.Done()
	if err := b.SyncWait(); err != nil {
		s.setFailed(fmt.Errorf("wal sync: %w", err))
		return s.failed()
	}
	_ = b.Close()
	return nil
}

// pebbleLogger routes Pebble's log lines to slog. Fatalf never exits the
// process: on a goroutine of this package (a commit, open, or close) it
// panics, and the panic is recovered there and turned into a failed store;
// on one of Pebble's own goroutines it fails the store and parks the
// goroutine forever (Pebble's invariants no longer hold there, so letting
// it continue could corrupt data).
type pebbleLogger struct{ s *Store }

func (l *pebbleLogger) Infof(format string, args ...any) {
	l.s.log.Debug(strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (l *pebbleLogger) Errorf(format string, args ...any) {
	l.s.log.Error(strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (l *pebbleLogger) Fatalf(format string, args ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, args...))
	cause := errors.New("pebble fatal error: " + msg)
	if strings.Contains(msg, "corrupt") {
		cause = fmt.Errorf("%w: %s", store.ErrCorrupt, msg)
	}
	l.s.setFailed(cause)
	if onOwnGoroutine() {
		panic(cause)
	}
	l.s.bgFatal.Store(true)
	l.s.log.Error("pebble goroutine stopped after a fatal error", "err", msg)
	select {} // park: see the type's comment
}

var pkgPath = reflect.TypeFor[Store]().PkgPath() + "."

// onOwnGoroutine reports whether a function of this package is on the
// calling goroutine's stack.
func onOwnGoroutine() bool {
	pcs := make([]uintptr, 128)
	n := runtime.Callers(2, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if strings.HasPrefix(f.Function, pkgPath) && !strings.Contains(f.Function, "pebbleLogger") {
			return true
		}
		if !more {
			return false
		}
	}
}

// ---- small helpers

func durationOf(n int64) time.Duration { return time.Duration(n) }

// nowOr returns t in nanoseconds, or the store's clock when t is zero.
func (s *Store) nowOr(t time.Time) int64 {
	if t.IsZero() {
		return toNanos(s.now())
	}
	return toNanos(t)
}

func addDur(t int64, d time.Duration) int64 {
	r := t + int64(d)
	if d > 0 && r < t {
		return math.MaxInt64
	}
	if d < 0 && r > t {
		return math.MinInt64 + 1
	}
	return r
}

func invalid(field, reason string) error {
	return &store.InvalidArgumentError{Field: field, Reason: reason}
}

// queueLocked returns the queue named name, creating its in-memory state.
func (s *Store) queueLocked(name string) *queue {
	if q, ok := s.queues[name]; ok {
		return q
	}
	name = s.strs.str(name)
	q := &queue{name: name}
	s.queues[name] = q
	return q
}

// ---- locks for non-disk filesystems

var memLocks struct {
	sync.Mutex
	held map[string]bool
}

type memLock struct{ dir string }

func (l *memLock) unlock() error {
	memLocks.Lock()
	delete(memLocks.held, l.dir)
	memLocks.Unlock()
	return nil
}

// acquireLock locks dir: with flock(2) when fs reaches the OS filesystem,
// otherwise in a process-wide registry (an in-memory FS is private to the
// process anyway).
func acquireLock(fs vfs.FS, dir string) (interface{ unlock() error }, error) {
	if onDisk(fs) {
		return lockDir(dir)
	}
	memLocks.Lock()
	defer memLocks.Unlock()
	key := fmt.Sprintf("%p:%s", vfs.Root(fs), dir)
	if memLocks.held[key] {
		return nil, &store.LockedError{Dir: dir, PID: processID()}
	}
	if memLocks.held == nil {
		memLocks.held = map[string]bool{}
	}
	memLocks.held[key] = true
	return &memLock{dir: key}, nil
}

func onDisk(fs vfs.FS) bool {
	return vfs.Root(fs) == vfs.Default
}

func processID() int { return os.Getpid() }
