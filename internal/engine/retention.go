package engine

import (
	"context"
	"log/slog"
	"time"

	"github.com/troikahq/troika/store"
)

// Default retention periods of finished jobs.
const (
	DefaultCompletedRetention = 24 * time.Hour
	DefaultDeadRetention      = 7 * 24 * time.Hour
	DefaultCancelledRetention = 7 * 24 * time.Hour
)

const deletePageLimit = 1000

// RetentionPolicy is how long finished jobs are kept when their queue has
// no setting of its own. Zero fields mean the defaults above.
type RetentionPolicy struct {
	Completed time.Duration
	Dead      time.Duration
	Cancelled time.Duration
}

// Effective returns the retention of the final state st in a queue with
// settings qs: the queue's own setting, else the policy's, else the
// default. It returns 0 for a state that is not final.
func (p RetentionPolicy) Effective(st store.JobState, qs store.QueueSettings) time.Duration {
	switch st {
	case store.StateCompleted:
		return firstPositive(qs.CompletedRetention, p.Completed, DefaultCompletedRetention)
	case store.StateDead:
		return firstPositive(qs.DeadRetention, p.Dead, DefaultDeadRetention)
	case store.StateCancelled:
		return firstPositive(qs.CancelledRetention, p.Cancelled, DefaultCancelledRetention)
	}
	return 0
}

func firstPositive(ds ...time.Duration) time.Duration {
	for _, d := range ds {
		if d > 0 {
			return d
		}
	}
	return 0
}

// Retention deletes finished jobs (completed, dead, cancelled) that
// finished longer ago than their queue's retention, and counts every
// deletion in Counters.RetentionDeleted.
type Retention struct {
	st       store.Store
	now      func() time.Time
	policy   RetentionPolicy
	counters *Counters
	log      *slog.Logger
}

// NewRetention returns a Retention service's pass holder.
func NewRetention(st store.Store, now func() time.Time, p RetentionPolicy, c *Counters, log *slog.Logger) *Retention {
	return &Retention{st: st, now: now, policy: p, counters: c, log: log}
}

var finalStates = [...]store.JobState{store.StateCompleted, store.StateDead, store.StateCancelled}

// Pass deletes, queue by queue, the finished jobs past retention now (up to
// 100,000 per queue and state per pass).
func (r *Retention) Pass(ctx context.Context) error {
	now := r.now()
	queues, err := r.st.QueueList(ctx, &store.QueueListParams{Now: now})
	if err != nil {
		return err
	}
	for _, q := range queues {
		for _, st := range finalStates {
			if q.Counts[st] == 0 && q.Counts != nil {
				continue
			}
			before := now.Add(-r.policy.Effective(st, q.Settings))
			if err := r.deleteBefore(ctx, q.Name, st, before); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *Retention) deleteBefore(ctx context.Context, queue string, st store.JobState, before time.Time) error {
	for range maxPages {
		n, err := r.st.JobDelete(ctx, &store.JobDeleteParams{State: st, Queue: queue, FinishedBefore: before, Limit: deletePageLimit})
		if n > 0 {
			r.counters.RetentionDeleted.Add(int64(n))
			r.log.Debug("troika: retention deleted jobs", "queue", queue, "state", string(st), "count", n)
		}
		if err != nil || n < deletePageLimit {
			return err
		}
	}
	return nil
}
