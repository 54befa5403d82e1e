package troika

import (
	"context"
	"fmt"
	"time"

	"github.com/troikahq/troika/internal/engine"
	"github.com/troikahq/troika/store"
)

// bulkPage is how many jobs one store call of a bulk operation handles.
const bulkPage = 1000

func (c *clientImpl) getJob(ctx context.Context, id JobID) (*JobRow, error) {
	return c.st.JobGet(ctx, &store.JobGetParams{ID: id})
}

func (c *clientImpl) listJobs(ctx context.Context, p ListParams) (*JobPage, error) {
	if p.Limit < 0 {
		return nil, &InvalidArgumentError{Field: "limit", Reason: fmt.Sprintf("%d is negative", p.Limit)}
	}
	if p.State != "" && !p.State.Valid() {
		return nil, &InvalidArgumentError{Field: "state", Reason: fmt.Sprintf("%q is not a job state", string(p.State))}
	}
	res, err := c.st.JobList(ctx, &store.JobListParams{
		Queue: p.Queue, State: p.State, Kind: p.Kind, Tag: p.Tag, After: p.Cursor, Limit: p.Limit, Desc: p.Desc,
	})
	if err != nil {
		return nil, err
	}
	return &JobPage{Jobs: res.Jobs, Next: res.Next}, nil
}

func (c *clientImpl) cancelJob(ctx context.Context, id JobID) (*JobRow, error) {
	return c.st.JobCancel(ctx, &store.JobCancelParams{ID: id, Reason: "cancelled by an operator (CancelJob)", Now: c.now()})
}

func (c *clientImpl) retryJob(ctx context.Context, id JobID) (*JobRow, error) {
	jobs, err := c.st.JobRetry(ctx, &store.JobRetryParams{IDs: []store.ID{id}, Now: c.now()})
	if err != nil {
		return nil, err
	}
	if len(jobs) != 1 {
		return nil, fmt.Errorf("troika: store retried %d jobs for one id", len(jobs))
	}
	return jobs[0], nil
}

func (c *clientImpl) deleteJob(ctx context.Context, id JobID) error {
	_, err := c.st.JobDelete(ctx, &store.JobDeleteParams{IDs: []store.ID{id}})
	return err
}

// bulk calls page with the size of each page until it returns fewer than
// asked or limit (0: no limit) is reached, and returns the total.
func bulk(limit int, page func(n int) (int, error)) (int, error) {
	if limit < 0 {
		return 0, &InvalidArgumentError{Field: "limit", Reason: fmt.Sprintf("%d is negative", limit)}
	}
	total := 0
	for {
		want := bulkPage
		if limit > 0 {
			want = min(want, limit-total)
		}
		n, err := page(want)
		total += n
		if err != nil || n < want || (limit > 0 && total >= limit) {
			return total, err
		}
	}
}

func (c *clientImpl) retryDead(ctx context.Context, f DeadFilter) (int, error) {
	return bulk(f.Limit, func(n int) (int, error) {
		jobs, err := c.st.JobRetry(ctx, &store.JobRetryParams{Queue: f.Queue, Kind: f.Kind, Limit: n, Now: c.now()})
		return len(jobs), err
	})
}

func (c *clientImpl) purgeDead(ctx context.Context, f DeadFilter) (int, error) {
	return bulk(f.Limit, func(n int) (int, error) {
		return c.st.JobDelete(ctx, &store.JobDeleteParams{State: store.StateDead, Queue: f.Queue, Kind: f.Kind, Limit: n})
	})
}

func (c *clientImpl) queueInfo(q *store.Queue, now time.Time) *QueueInfo {
	info := &QueueInfo{
		Name:               q.Name,
		Paused:             q.Settings.Paused,
		Counts:             make(map[JobState]int64, len(store.AllStates)),
		CompletedRetention: c.retention.Effective(store.StateCompleted, q.Settings),
		DeadRetention:      c.retention.Effective(store.StateDead, q.Settings),
		CancelledRetention: c.retention.Effective(store.StateCancelled, q.Settings),
	}
	for _, s := range store.AllStates {
		info.Counts[s] = q.Counts[s]
	}
	if !q.OldestAvailableAt.IsZero() {
		info.OldestAvailableAge = max(now.Sub(q.OldestAvailableAt), 0)
	}
	return info
}

func (c *clientImpl) listQueues(ctx context.Context) ([]*QueueInfo, error) {
	now := c.now()
	qs, err := c.st.QueueList(ctx, &store.QueueListParams{Now: now})
	if err != nil {
		return nil, err
	}
	out := make([]*QueueInfo, len(qs))
	for i, q := range qs {
		out[i] = c.queueInfo(q, now)
	}
	return out, nil
}

func checkQueue(name string) error {
	if r := engine.CheckQueueName(name); r != "" {
		return &InvalidArgumentError{Field: "queue", Reason: r}
	}
	return nil
}

func (c *clientImpl) queueStats(ctx context.Context, name string) (*QueueInfo, error) {
	if err := checkQueue(name); err != nil {
		return nil, err
	}
	now := c.now()
	q, err := c.st.QueueGet(ctx, &store.QueueGetParams{Name: name, Now: now})
	if err != nil {
		return nil, err
	}
	return c.queueInfo(q, now), nil
}

func (c *clientImpl) pauseQueue(ctx context.Context, name string, paused bool) error {
	_, err := c.updateQueue(ctx, name, QueueUpdate{Paused: &paused})
	return err
}

func (c *clientImpl) updateQueue(ctx context.Context, name string, u QueueUpdate) (*QueueInfo, error) {
	if err := checkQueue(name); err != nil {
		return nil, err
	}
	for field, d := range map[string]*time.Duration{
		"completedRetention": u.CompletedRetention, "deadRetention": u.DeadRetention, "cancelledRetention": u.CancelledRetention,
	} {
		if d != nil && *d < 0 {
			return nil, &InvalidArgumentError{Field: field, Reason: fmt.Sprintf("%s is negative", *d)}
		}
	}
	now := c.now()
	q, err := c.st.QueueUpdate(ctx, &store.QueueUpdateParams{
		Name: name, Paused: u.Paused, CompletedRetention: u.CompletedRetention,
		DeadRetention: u.DeadRetention, CancelledRetention: u.CancelledRetention, Now: now,
	})
	if err != nil {
		return nil, err
	}
	return c.queueInfo(q, now), nil
}
