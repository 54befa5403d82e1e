package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/troikahq/troika/internal/cron"
	"github.com/troikahq/troika/store"
)

// DefaultSchedulerPoll is the longest the scheduler sleeps between looks at
// the store: how soon it sees schedules changed by another process, and a
// wall clock that jumped.
const DefaultSchedulerPoll = time.Second

// dueBatch is how many due schedules one store call returns.
const dueBatch = 100

// SchedulerConfig configures a Scheduler. Zero fields take defaults.
type SchedulerConfig struct {
	Store     store.Store         // the jobs (overlap checks); required
	Schedules store.ScheduleStore // the schedules; required (usually the same store)
	// IsLeader gates every pass: only the process holding the maintenance
	// leader lease fires (Maintenance.IsLeader). Nil means always.
	IsLeader func() bool
	Now      func() time.Time // default time.Now
	// Poll bounds the sleep between passes; default DefaultSchedulerPoll.
	Poll time.Duration
	// MisfireGrace is how late a due instant may be and still fire as on
	// time; default DefaultMisfireGrace.
	MisfireGrace time.Duration
	Logger       *slog.Logger // default slog.Default()
}

// SchedulerStats are a Scheduler's cumulative counters.
type SchedulerStats struct {
	Enqueued   int64 // jobs inserted by fires (duplicates included)
	Missed     int64 // instants dropped by misfire policies
	Overlapped int64 // instants skipped by overlap policies
	Conflicts  int64 // fires that lost a compare-and-set (another writer got there first)
}

// Scheduler fires due schedules: for each it plans the fires (misfire and
// overlap policies, see makePlan) and records them with
// ScheduleStore.ScheduleFire, which inserts their jobs in the same atomic
// write. Exactly one process fires (IsLeader); two at once still cannot
// make two jobs of one instant (compare-and-set on NextFireAt and a unique
// key per instant).
//
// Lifecycle: NewScheduler → Start (once) → Stop (idempotent; blocks until
// the loop has returned). The loop sleeps until the earliest next fire
// instant or Poll, whichever is sooner, or until Kick. It reads instants
// from the injected clock and sleeps in real time. Pass may also be called
// directly (tests, tools), alongside the loop.
type Scheduler struct {
	cfg   SchedulerConfig
	kick  chan struct{}
	parse sync.Map // spec+"\x00"+tz → *cron.Schedule

	enqueued, missed, overlapped, conflicts atomic.Int64

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// NewScheduler returns a stopped Scheduler. It panics if cfg.Store or
// cfg.Schedules is nil (programming errors).
func NewScheduler(cfg SchedulerConfig) *Scheduler {
	if cfg.Store == nil || cfg.Schedules == nil {
		panic("engine.NewScheduler: Store and Schedules are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultSchedulerPoll
	}
	if cfg.MisfireGrace <= 0 {
		cfg.MisfireGrace = DefaultMisfireGrace
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Scheduler{cfg: cfg, kick: make(chan struct{}, 1)}
}

// Stats returns the counters.
func (s *Scheduler) Stats() SchedulerStats {
	return SchedulerStats{Enqueued: s.enqueued.Load(), Missed: s.missed.Load(), Overlapped: s.overlapped.Load(), Conflicts: s.conflicts.Load()}
}

// Kick wakes the loop at once (a schedule was added or changed in this
// process). It never blocks.
func (s *Scheduler) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Start launches the loop. It returns ErrServiceStarted when called twice
// or after Stop.
func (s *Scheduler) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return ErrServiceStarted
	}
	s.started = true
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	go s.loop(ctx, s.done)
	return nil
}

// Stop stops the loop and waits for it. Safe to call more than once and
// before Start (the scheduler cannot be started afterwards).
func (s *Scheduler) Stop() {
	s.mu.Lock()
	s.started = true
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

func (s *Scheduler) loop(ctx context.Context, done chan struct{}) {
	defer close(done)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
			if !t.Stop() {
				select {
				case <-t.C:
				default:
				}
			}
		}
		wait := s.cfg.Poll
		if s.cfg.IsLeader == nil || s.cfg.IsLeader() {
			next, err := s.Pass(ctx)
			if err != nil && ctx.Err() == nil {
				s.cfg.Logger.Warn("troika: scheduler pass failed", "error", err)
			}
			if !next.IsZero() {
				wait = min(wait, max(next.Sub(s.cfg.Now()), 0))
			}
		}
		t.Reset(wait)
	}
}

// Pass fires every schedule due now and returns the earliest next fire
// instant it knows of (zero if none). A schedule that fails to fire is
// logged and left due for the next pass; the error returned is the first
// store failure.
func (s *Scheduler) Pass(ctx context.Context) (time.Time, error) {
	var firstErr error
	for range 100 { // bounded: 10,000 schedules per pass
		now := s.cfg.Now()
		res, err := s.cfg.Schedules.ScheduleDueList(ctx, &store.ScheduleDueListParams{Now: now, Limit: dueBatch})
		if err != nil {
			return time.Time{}, err
		}
		if err := s.fireAll(ctx, res.Due, now); err != nil {
			if ctx.Err() != nil {
				return time.Time{}, ctx.Err()
			}
			firstErr = err
		}
		// Stop when nothing was due: res.NextAt is then the next fire time.
		// After a list that fired something, list again: the due list's
		// NextAt ignores the schedules it returned, whose next fire times
		// the fires just moved (stopping here would sleep a whole Poll).
		if len(res.Due) == 0 || firstErr != nil {
			if firstErr != nil {
				// Do not spin on a failing schedule: come back after Poll.
				return time.Time{}, firstErr
			}
			return res.NextAt, nil
		}
	}
	return s.cfg.Now(), firstErr
}

// fireConcurrency is how many schedules one pass fires at once: their
// writes share the store's group commit (one fsync for many fires) instead
// of queueing one fsync each.
const fireConcurrency = 16

// fireAll fires due schedules concurrently and returns the first error;
// each failure is logged and its schedule stays due.
func (s *Scheduler) fireAll(ctx context.Context, due []*store.Schedule, now time.Time) error {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		sem      = make(chan struct{}, fireConcurrency)
	)
	for _, sc := range due {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := s.fire(ctx, sc, now); err != nil && ctx.Err() == nil {
				s.cfg.Logger.Warn("troika: schedule fire failed", "schedule", sc.ID, "error", err)
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	return firstErr
}

// fire plans and records the fires of one due schedule.
func (s *Scheduler) fire(ctx context.Context, sc *store.Schedule, now time.Time) error {
	cs, err := s.parsed(sc)
	if err != nil {
		// Stored by another version or validated elsewhere: stop it firing
		// rather than retrying forever, and say why.
		s.cfg.Logger.Error("troika: schedule has an invalid spec; it will not fire until it is fixed", "schedule", sc.ID, "error", err)
		_, ferr := s.cfg.Schedules.ScheduleFire(ctx, &store.ScheduleFireParams{ID: sc.ID, ExpectNextFireAt: sc.NextFireAt,
			LastFireAt: sc.LastFireAt, NextFireAt: time.Time{}, Now: now})
		return ignoreConflict(ferr)
	}
	prev, err := s.overlap(ctx, sc)
	if err != nil {
		return err
	}
	p := makePlan(sc, cs, now, s.cfg.MisfireGrace, prev)
	if p == nil {
		// Nothing due after all (a stale NextFireAt): move it on.
		next := NextFire(cs, &sc.ScheduleDefinition, maxTime(sc.LastFireAt, now), Anchor(&sc.ScheduleDefinition, sc.CreatedAt))
		_, err := s.cfg.Schedules.ScheduleFire(ctx, &store.ScheduleFireParams{ID: sc.ID, ExpectNextFireAt: sc.NextFireAt,
			LastFireAt: sc.LastFireAt, NextFireAt: next, Now: now})
		return ignoreConflict(err)
	}
	_, err = s.cfg.Schedules.ScheduleFire(ctx, &store.ScheduleFireParams{ID: sc.ID, ExpectNextFireAt: sc.NextFireAt,
		Fires: p.fires, LastFireAt: p.lastFireAt, NextFireAt: p.nextFireAt, Now: now})
	if errors.Is(err, store.ErrScheduleConflict) {
		s.conflicts.Add(1)
		return nil // someone else changed it; the next pass re-reads
	}
	if err != nil {
		return err
	}
	s.enqueued.Add(int64(p.enqueued))
	s.missed.Add(int64(p.missed))
	s.overlapped.Add(int64(p.overlapped))
	return nil
}

func ignoreConflict(err error) error {
	if errors.Is(err, store.ErrScheduleConflict) {
		return nil
	}
	return err
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// overlap reports what the previous fire's job is doing (only looked up
// when the policy needs it).
func (s *Scheduler) overlap(ctx context.Context, sc *store.Schedule) (overlapState, error) {
	if sc.OverlapPolicy == store.OverlapAllow || sc.LastJobID.IsZero() {
		return overlapNone, nil
	}
	j, err := s.cfg.Store.JobGet(ctx, &store.JobGetParams{ID: sc.LastJobID})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return overlapNone, nil
	case err != nil:
		return overlapNone, fmt.Errorf("overlap check: %w", err)
	case j.State.Final():
		return overlapNone, nil
	case j.State == store.StateRunning:
		return overlapRunning, nil
	default:
		return overlapWaiting, nil
	}
}

// parsed returns the parsed spec of sc, cached.
func (s *Scheduler) parsed(sc *store.Schedule) (*cron.Schedule, error) {
	key := sc.Spec + "\x00" + sc.TimeZone
	if v, ok := s.parse.Load(key); ok {
		return v.(*cron.Schedule), nil
	}
	cs, err := cron.Parse(sc.Spec, sc.TimeZone)
	if err != nil {
		return nil, err
	}
	s.parse.Store(key, cs)
	return cs, nil
}
