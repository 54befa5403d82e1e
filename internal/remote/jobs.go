package remote

import (
	"context"
	"fmt"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/troikahq/troika/gen/troika/v1"
	"github.com/troikahq/troika/internal/wire"
	"github.com/troikahq/troika/store"
)

type watchRequest = v1.WatchRequest

// enqueueRequest converts an already validated job for the wire. Times
// relative to p.Now (the unique window) are sent as durations, so the
// server's clock decides.
func (s *Store) enqueueRequest(j *store.InsertJob, now time.Time, index int) (*v1.EnqueueRequest, error) {
	r := &v1.EnqueueRequest{
		Kind: j.Kind, Queue: j.Queue, Priority: int32(j.Priority), MaxAttempts: int32(j.MaxAttempts),
		Timeout: wire.Duration(j.Timeout), Metadata: j.Metadata, Tags: j.Tags, OrderingKey: j.OrderingKey,
	}
	if s.json {
		field := "args"
		if index >= 0 {
			field = fmt.Sprintf("jobs[%d].args", index)
		}
		args, err := wire.Value(field, j.Args)
		if err != nil {
			return nil, err
		}
		r.Args = args
	} else {
		r.ArgsJson = j.Args
		if r.ArgsJson == nil {
			r.ArgsJson = []byte{}
		}
	}
	if !j.RunAt.IsZero() && j.RunAt.After(now) {
		r.RunAt = wire.Time(j.RunAt)
	}
	if j.UniqueKey != "" {
		r.UniqueKey = j.UniqueKey
		r.UniqueFor = wire.Duration(max(j.UniqueUntil.Sub(now), time.Millisecond))
	}
	return r, nil
}

// JobInsertMany enqueues through JobService (one Enqueue, or EnqueueMany
// for several). The returned jobs carry only ID, State and the fields sent;
// call JobGet for the stored record.
func (s *Store) JobInsertMany(ctx context.Context, p *store.JobInsertManyParams) ([]store.InsertResult, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	now := p.Now
	if now.IsZero() {
		now = time.Now()
	}
	reqs := make([]*v1.EnqueueRequest, len(p.Jobs))
	for i := range p.Jobs {
		index := i
		if len(p.Jobs) == 1 {
			index = -1
		}
		r, err := s.enqueueRequest(&p.Jobs[i], now, index)
		if err != nil {
			return nil, err
		}
		reqs[i] = r
	}
	var res []*v1.EnqueueResponse
	switch len(reqs) {
	case 0:
		return []store.InsertResult{}, nil
	case 1:
		out, err := s.jobs.Enqueue(ctx, connect.NewRequest(reqs[0]))
		if err != nil {
			return nil, s.errClosedOr(err)
		}
		res = []*v1.EnqueueResponse{out.Msg}
	default:
		out, err := s.jobs.EnqueueMany(ctx, connect.NewRequest(&v1.EnqueueManyRequest{Jobs: reqs}))
		if err != nil {
			return nil, s.errClosedOr(err)
		}
		res = out.Msg.GetResults()
	}
	if len(res) != len(reqs) {
		return nil, fmt.Errorf("troika: server returned %d results for %d jobs", len(res), len(reqs))
	}
	results := make([]store.InsertResult, len(res))
	for i, r := range res {
		id, err := store.ParseID(r.GetId())
		if err != nil {
			return nil, fmt.Errorf("troika: server returned a bad job id: %w", err)
		}
		in := &p.Jobs[i]
		results[i] = store.InsertResult{Duplicate: r.GetDuplicate(), Job: &store.Job{
			ID: id, State: store.JobState(r.GetState()), Kind: in.Kind, Queue: in.Queue, Priority: in.Priority,
			MaxAttempts: in.MaxAttempts, RunAt: in.RunAt, UniqueKey: in.UniqueKey, OrderingKey: in.OrderingKey,
		}}
	}
	return results, nil
}

// jobFrom converts a wire job, wrapping conversion errors.
func jobFrom(p *v1.Job) (*store.Job, error) {
	j, err := wire.FromJob(p)
	if err != nil {
		return nil, fmt.Errorf("troika: server returned a malformed job: %w", err)
	}
	return j, nil
}

// JobGet calls JobService.GetJob.
func (s *Store) JobGet(ctx context.Context, p *store.JobGetParams) (*store.Job, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	out, err := s.jobs.GetJob(ctx, connect.NewRequest(&v1.GetJobRequest{Id: p.ID.String()}))
	if err != nil {
		return nil, s.errClosedOr(err)
	}
	return jobFrom(out.Msg.GetJob())
}

// JobList calls JobService.ListJobs.
func (s *Store) JobList(ctx context.Context, p *store.JobListParams) (*store.JobListResult, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	req := &v1.ListJobsRequest{Queue: p.Queue, State: string(p.State), Kind: p.Kind, Tag: p.Tag, Limit: int32(min(p.Limit, 1<<30)), Desc: p.Desc}
	if !p.After.IsZero() {
		req.Cursor = p.After.String()
	}
	out, err := s.jobs.ListJobs(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, s.errClosedOr(err)
	}
	res := &store.JobListResult{Jobs: make([]*store.Job, 0, len(out.Msg.GetJobs()))}
	for _, pj := range out.Msg.GetJobs() {
		j, err := jobFrom(pj)
		if err != nil {
			return nil, err
		}
		res.Jobs = append(res.Jobs, j)
	}
	if c := out.Msg.GetNextCursor(); c != "" {
		if res.Next, err = store.ParseID(c); err != nil {
			return nil, fmt.Errorf("troika: server returned a bad cursor: %w", err)
		}
	}
	return res, nil
}

// JobCancel calls JobService.CancelJob (the server records its own reason).
func (s *Store) JobCancel(ctx context.Context, p *store.JobCancelParams) (*store.Job, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	out, err := s.jobs.CancelJob(ctx, connect.NewRequest(&v1.CancelJobRequest{Id: p.ID.String()}))
	if err != nil {
		return nil, s.errClosedOr(err)
	}
	return jobFrom(out.Msg.GetJob())
}

// JobRetry calls JobService.RetryJob for one id, or RetryDeadJobs for a
// filter (whose results carry only ID and State).
func (s *Store) JobRetry(ctx context.Context, p *store.JobRetryParams) ([]*store.Job, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	switch len(p.IDs) {
	case 0:
	case 1:
		out, err := s.jobs.RetryJob(ctx, connect.NewRequest(&v1.RetryJobRequest{Id: p.IDs[0].String()}))
		if err != nil {
			return nil, s.errClosedOr(err)
		}
		j, err := jobFrom(out.Msg.GetJob())
		if err != nil {
			return nil, err
		}
		return []*store.Job{j}, nil
	default:
		return nil, unsupported("JobRetry of several ids at once")
	}
	out, err := s.jobs.RetryDeadJobs(ctx, connect.NewRequest(&v1.RetryDeadJobsRequest{Queue: p.Queue, Kind: p.Kind, Limit: int32(min(max(p.Limit, 0), 10000))}))
	if err != nil {
		return nil, s.errClosedOr(err)
	}
	jobs := make([]*store.Job, 0, len(out.Msg.GetIds()))
	for _, s := range out.Msg.GetIds() {
		id, err := store.ParseID(s)
		if err != nil {
			return nil, fmt.Errorf("troika: server returned a bad job id: %w", err)
		}
		jobs = append(jobs, &store.Job{ID: id, State: store.StateAvailable, Queue: p.Queue, Kind: p.Kind})
	}
	return jobs, nil
}

// JobDelete calls JobService.DeleteJob for one id, or PurgeDeadJobs for
// dead jobs by filter; other filters are the server's retention.
func (s *Store) JobDelete(ctx context.Context, p *store.JobDeleteParams) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	switch {
	case len(p.IDs) == 1:
		if _, err := s.jobs.DeleteJob(ctx, connect.NewRequest(&v1.DeleteJobRequest{Id: p.IDs[0].String()})); err != nil {
			return 0, s.errClosedOr(err)
		}
		return 1, nil
	case len(p.IDs) > 1:
		return 0, unsupported("JobDelete of several ids at once")
	case p.State != store.StateDead || !p.FinishedBefore.IsZero():
		return 0, unsupported("JobDelete by state " + string(p.State))
	}
	out, err := s.jobs.PurgeDeadJobs(ctx, connect.NewRequest(&v1.PurgeDeadJobsRequest{Queue: p.Queue, Kind: p.Kind, Limit: int32(min(max(p.Limit, 0), 10000))}))
	if err != nil {
		return 0, s.errClosedOr(err)
	}
	return int(out.Msg.GetCount()), nil
}

// JobLeaseExpiredList is the server's maintenance: unsupported.
func (s *Store) JobLeaseExpiredList(context.Context, *store.JobLeaseExpiredListParams) ([]*store.Job, error) {
	return nil, unsupported("JobLeaseExpiredList")
}

// JobPromoteDue is the server's maintenance: unsupported.
func (s *Store) JobPromoteDue(context.Context, *store.JobPromoteDueParams) (int, error) {
	return 0, unsupported("JobPromoteDue")
}

// LeaderAcquire is the server's business: unsupported.
func (s *Store) LeaderAcquire(context.Context, *store.LeaderAcquireParams) (*store.Leader, error) {
	return nil, unsupported("LeaderAcquire")
}

// LeaderRelease is the server's business: unsupported.
func (s *Store) LeaderRelease(context.Context, *store.LeaderReleaseParams) error {
	return unsupported("LeaderRelease")
}
