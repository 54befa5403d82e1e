package embedded

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/troikahq/troika/store"
)

// These tests cover what the conformance suite cannot: the embedded store's
// own promises about its directory (the lock), its durable record (reopen,
// corruption) and its fail-stop behaviour on I/O errors.

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// bundle is what setup returns: a store over dir and the options it was
// opened with, so a test can close and reopen it.
type bundle struct {
	t    *testing.T
	dir  string
	opts Options
	st   *Store
}

func setup(t *testing.T, opts Options) *bundle {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	b := &bundle{t: t, dir: t.TempDir(), opts: opts}
	b.reopen()
	return b
}

// reopen closes the current store (if any) and opens dir again.
func (b *bundle) reopen() {
	b.t.Helper()
	if b.st != nil {
		_ = b.st.Close()
	}
	st, err := Open(b.dir, b.opts)
	if err != nil {
		b.t.Fatalf("Open(%s): %v", b.dir, err)
	}
	b.st = st
	b.t.Cleanup(func() { _ = st.Close() })
}

func insert(t *testing.T, st store.Store, jobs ...store.InsertJob) []store.InsertResult {
	t.Helper()
	res, err := st.JobInsertMany(context.Background(), &store.JobInsertManyParams{Jobs: jobs, Now: t0})
	if err != nil {
		t.Fatalf("JobInsertMany: %v", err)
	}
	return res
}

func newJob(kind string, prio int) store.InsertJob {
	return store.InsertJob{Kind: kind, Args: []byte(`{"n":1}`), Queue: "default", Priority: prio, MaxAttempts: 3}
}

func TestLock(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})

	_, err := Open(b.dir, Options{Logger: quietLogger()})
	var le *store.LockedError
	if !errors.As(err, &le) || !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second Open: got %v, want a *store.LockedError", err)
	}
	if le.PID != os.Getpid() {
		t.Errorf("LockedError.PID = %d, want the holder's pid %d", le.PID, os.Getpid())
	}
	if !strings.Contains(err.Error(), fmt.Sprint(os.Getpid())) {
		t.Errorf("error %q does not name the holder's pid", err)
	}

	t.Run("released by Close", func(t *testing.T) {
		if err := b.st.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		st, err := Open(b.dir, Options{Logger: quietLogger()})
		if err != nil {
			t.Fatalf("Open after Close: %v", err)
		}
		_ = st.Close()
	})
}

func TestReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, Options{ExpireLeasesOnOpen: true, Now: func() time.Time { return t0.Add(time.Second) }})

	res := insert(t, b.st, newJob("low", 4), newJob("urgent", 1), newJob("normal", 2),
		store.InsertJob{Kind: "later", Args: []byte(`{}`), Queue: "default", Priority: 2, MaxAttempts: 3,
			RunAt: t0.Add(time.Hour), UniqueKey: "k1", UniqueUntil: t0.Add(24 * time.Hour)})
	claimed, err := b.st.JobClaim(ctx, &store.JobClaimParams{
		Queues: []store.QueueWeight{{Name: "default", Weight: 1}}, Max: 1, Worker: "w", LeaseTTL: time.Hour, Now: t0})
	if err != nil || len(claimed) != 1 || claimed[0].Kind != "urgent" {
		t.Fatalf("claim before reopen: %v, %v", claimed, err)
	}
	oldToken := claimed[0].LeaseToken

	b.reopen()

	t.Run("every job is back with its state", func(t *testing.T) {
		want := map[string]store.JobState{"low": store.StateAvailable, "urgent": store.StateRunning,
			"normal": store.StateAvailable, "later": store.StateScheduled}
		for _, r := range res {
			j, err := b.st.JobGet(ctx, &store.JobGetParams{ID: r.Job.ID})
			if err != nil {
				t.Fatalf("JobGet(%s): %v", r.Job.Kind, err)
			}
			if j.State != want[j.Kind] {
				t.Errorf("%s: state %s, want %s", j.Kind, j.State, want[j.Kind])
			}
			if string(j.Args) != string(r.Job.Args) {
				t.Errorf("%s: args %q, want %q", j.Kind, j.Args, r.Job.Args)
			}
		}
	})

	t.Run("a running job's lease is expired at once", func(t *testing.T) {
		exp, err := b.st.JobLeaseExpiredList(ctx, &store.JobLeaseExpiredListParams{Now: t0.Add(2 * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		if len(exp) != 1 || exp[0].Kind != "urgent" {
			t.Fatalf("expired leases after reopen = %v, want the job that was running", exp)
		}
	})

	t.Run("claim order survives", func(t *testing.T) {
		got, err := b.st.JobClaim(ctx, &store.JobClaimParams{
			Queues: []store.QueueWeight{{Name: "default", Weight: 1}}, Max: 10, Worker: "w2", LeaseTTL: time.Hour, Now: t0.Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, j := range got {
			kinds = append(kinds, j.Kind)
			if j.LeaseToken == oldToken {
				t.Errorf("lease token %d reused across an open", oldToken)
			}
		}
		if strings.Join(kinds, ",") != "normal,low" {
			t.Errorf("claimed %v, want [normal low] (priority order; the scheduled job is not due)", kinds)
		}
	})

	t.Run("unique keys survive", func(t *testing.T) {
		r := insert(t, b.st, store.InsertJob{Kind: "later", Args: []byte(`{}`), Queue: "default", Priority: 2,
			MaxAttempts: 3, UniqueKey: "k1", UniqueUntil: t0.Add(24 * time.Hour)})
		if !r[0].Duplicate || r[0].Job.ID != res[3].Job.ID {
			t.Errorf("insert with a live unique key after reopen: duplicate=%v id=%s, want the existing %s",
				r[0].Duplicate, r[0].Job.ID, res[3].Job.ID)
		}
	})
}

// TestRetentionAfterReopen: finished jobs loaded by the rebuild are found
// by retention (their finish-time index is rebuilt too).
func TestRetentionAfterReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, Options{})
	res := insert(t, b.st, newJob("a", 2), newJob("b", 2), newJob("c", 2))
	claimed, err := b.st.JobClaim(ctx, &store.JobClaimParams{
		Queues: []store.QueueWeight{{Name: "default", Weight: 1}}, Max: 3, Worker: "w", LeaseTTL: time.Hour, Now: t0})
	if err != nil || len(claimed) != 3 {
		t.Fatalf("claim: %d jobs, %v", len(claimed), err)
	}
	for i, j := range claimed { // finished at t0+1m, +2m, +3m
		if _, err := b.st.JobAckMany(ctx, &store.JobAckManyParams{Now: t0.Add(time.Duration(i+1) * time.Minute),
			Acks: []store.JobAck{{Lease: j.Lease(), Outcome: store.AckComplete}}}); err != nil {
			t.Fatal(err)
		}
	}
	b.reopen()
	n, err := b.st.JobDelete(ctx, &store.JobDeleteParams{State: store.StateCompleted, FinishedBefore: t0.Add(150 * time.Second)})
	if err != nil || n != 2 {
		t.Fatalf("JobDelete(completed before 2m30s) after reopen: (%d, %v), want (2, nil)", n, err)
	}
	left, err := b.st.JobList(ctx, &store.JobListParams{State: store.StateCompleted})
	if err != nil || len(left.Jobs) != 1 || left.Jobs[0].ID != claimed[2].ID {
		t.Fatalf("left after retention: %v, %v; want only %s", left, err, res[2].Job.ID)
	}
}

// TestSyncFailureStopsStore injects an error into the write-ahead log's
// writes and syncs: the write in progress is not acknowledged, every later
// call fails with ErrStoreFailed, and a reopen serves what was acknowledged.
func TestSyncFailureStopsStore(t *testing.T) {
	t.Parallel()
	for _, op := range []string{"sync", "write"} {
		t.Run(op, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			toggle := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(o errorfs.Op) error {
				if !strings.HasSuffix(o.Path, ".log") {
					return nil
				}
				switch o.Kind {
				case errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
					if op == "sync" {
						return errorfs.ErrInjected
					}
				case errorfs.OpFileWrite, errorfs.OpFileWriteAt:
					if op == "write" {
						return errorfs.ErrInjected
					}
				}
				return nil
			})}
			b := setup(t, Options{FS: errorfs.Wrap(vfs.Default, toggle)})
			acked := insert(t, b.st, newJob("before", 2))

			toggle.On()
			_, err := b.st.JobInsertMany(ctx, &store.JobInsertManyParams{Jobs: []store.InsertJob{newJob("during", 2)}, Now: t0})
			if !errors.Is(err, store.ErrStoreFailed) {
				t.Fatalf("insert during a %s error: %v, want ErrStoreFailed", op, err)
			}
			toggle.Off() // the disk is fine again; the store must stay stopped

			if _, err := b.st.JobGet(ctx, &store.JobGetParams{ID: acked[0].Job.ID}); !errors.Is(err, store.ErrStoreFailed) {
				t.Errorf("JobGet after the failure: %v, want ErrStoreFailed", err)
			}
			if _, err := b.st.JobInsertMany(ctx, &store.JobInsertManyParams{Jobs: []store.InsertJob{newJob("after", 2)}, Now: t0}); !errors.Is(err, store.ErrStoreFailed) {
				t.Errorf("insert after the failure: %v, want ErrStoreFailed", err)
			}
			if _, err := b.st.JobClaim(ctx, &store.JobClaimParams{Queues: []store.QueueWeight{{Name: "default", Weight: 1}},
				Max: 1, Worker: "w", LeaseTTL: time.Minute, Now: t0}); !errors.Is(err, store.ErrStoreFailed) {
				t.Errorf("claim after the failure: %v, want ErrStoreFailed", err)
			}
			_ = b.st.Close()

			b.opts.FS = nil
			b.st = nil
			b.reopen()
			j, err := b.st.JobGet(ctx, &store.JobGetParams{ID: acked[0].Job.ID})
			if err != nil || j.Kind != "before" {
				t.Fatalf("the acknowledged job after reopen: %v, %v", j, err)
			}
			list, err := b.st.JobList(ctx, &store.JobListParams{Kind: "after"})
			if err != nil || len(list.Jobs) != 0 {
				t.Errorf("a job refused after the failure is stored: %v, %v", list, err)
			}
		})
	}
}

// TestCorruptionIsReported flips bytes in the middle of a table file: Open
// fails with ErrCorrupt instead of serving a partial store.
func TestCorruptionIsReported(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	jobs := make([]store.InsertJob, 2000)
	for i := range jobs {
		jobs[i] = store.InsertJob{Kind: "k", Args: []byte(fmt.Sprintf(`{"payload":"%0200d"}`, i)), Queue: "default", Priority: 2, MaxAttempts: 3}
	}
	insert(t, b.st, jobs...)
	if err := b.st.db.Flush(); err != nil { // move the data from the WAL into a table file
		t.Fatalf("flush: %v", err)
	}
	if err := b.st.Close(); err != nil {
		t.Fatal(err)
	}

	ssts, _ := filepath.Glob(filepath.Join(b.dir, "*.sst"))
	if len(ssts) == 0 {
		t.Fatal("no table file after a flush")
	}
	data, err := os.ReadFile(ssts[0])
	if err != nil {
		t.Fatal(err)
	}
	for i := len(data) / 4; i < len(data)/4+64; i++ {
		data[i] ^= 0xff
	}
	if err := os.WriteFile(ssts[0], data, 0o644); err != nil {
		t.Fatal(err)
	}

	st, err := Open(b.dir, Options{Logger: quietLogger()})
	if err == nil {
		_ = st.Close()
		t.Fatal("Open served a store whose table file is corrupt")
	}
	if !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("Open of a corrupt store: %v, want an error matching ErrCorrupt", err)
	}
	// The lock is released: the operator can move the directory aside or
	// restore it without killing anything.
	l, lerr := lockDir(b.dir)
	if lerr != nil {
		t.Fatalf("lock after a failed Open: %v", lerr)
	}
	_ = l.unlock()
}

// TestGroupCommit: concurrent single-job writers share fsyncs, and every
// acknowledged write is counted.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	before := b.st.Stats()
	const writers, each = 32, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() {
			for range each {
				if _, err := b.st.JobInsertMany(context.Background(),
					&store.JobInsertManyParams{Jobs: []store.InsertJob{newJob("k", 2)}}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := b.st.Stats()
	commits, syncs := st.Commits-before.Commits, st.Syncs-before.Syncs
	if commits != writers*each {
		t.Errorf("commits = %d, want %d (one per acknowledged insert)", commits, writers*each)
	}
	if syncs == 0 || syncs >= commits {
		t.Errorf("syncs = %d for %d concurrent commits: want at least one and fewer than one each (group commit)", syncs, commits)
	}
	t.Logf("%d commits shared %d fsyncs (%.2f commits per fsync)", commits, syncs, float64(commits)/float64(syncs))
}
