package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/troikahq/troika"
	v1 "github.com/troikahq/troika/gen/troika/v1"
	"github.com/troikahq/troika/internal/engine"
	"github.com/troikahq/troika/internal/wire"
	"github.com/troikahq/troika/store"
)

// jobService implements troika.v1.JobService.
type jobService struct{ s *Server }

// buildInsert validates one enqueue request (index -1 for a single one) and
// fills dst, exactly as the Go SDK's Enqueue does.
func (s *Server) buildInsert(dst *store.InsertJob, index int, r *v1.EnqueueRequest, now time.Time) error {
	field := func(f string) string {
		if index < 0 {
			return f
		}
		return "jobs[" + strconv.Itoa(index) + "]." + f
	}
	if r == nil {
		return &store.InvalidArgumentError{Field: field("job"), Reason: "null"}
	}
	o, args, err := enqueueOptions(r, field)
	if err != nil {
		return err
	}
	return o.Build(dst, index, r.GetKind(), args, now, engine.Limits{})
}

// enqueueOptions decodes the wire fields of an enqueue request (also a
// schedule's job template) into the engine's options and the args' JSON;
// field names a rejected field. The engine validates the values.
func enqueueOptions(r *v1.EnqueueRequest, field func(string) string) (engine.JobOptions, []byte, error) {
	args, err := wire.Raw(field("args"), r.GetArgs(), r.ArgsJson)
	if err != nil {
		return engine.JobOptions{}, nil, err
	}
	o := engine.JobOptions{
		Queue: r.GetQueue(), HasQueue: r.GetQueue() != "",
		Priority: int(r.GetPriority()), HasPriority: r.GetPriority() != 0,
		MaxAttempts: int(r.GetMaxAttempts()), HasMaxAttempts: r.GetMaxAttempts() != 0,
		Metadata: r.GetMetadata(), Tags: r.GetTags(), RunAt: wire.FromTime(r.GetRunAt()),
		OrderingKey: r.GetOrderingKey(), HasOrderingKey: r.GetOrderingKey() != "",
	}
	if r.GetRunAt() != nil {
		if err := r.GetRunAt().CheckValid(); err != nil {
			return o, nil, &store.InvalidArgumentError{Field: field("runAt"), Reason: err.Error()}
		}
	}
	if r.GetDelay() != nil {
		if r.GetRunAt() != nil {
			return o, nil, &store.InvalidArgumentError{Field: field("delay"), Reason: "runAt and delay are exclusive"}
		}
		if o.Delay, err = wire.FromDuration(field("delay"), r.GetDelay()); err != nil {
			return o, nil, err
		}
		o.HasDelay = true
	}
	if o.Timeout, err = wire.FromDuration(field("timeout"), r.GetTimeout()); err != nil {
		return o, nil, err
	}
	if r.GetUniqueKey() != "" || r.GetUniqueFor() != nil {
		o.HasUnique, o.UniqueKey = true, r.GetUniqueKey()
		if o.UniqueFor, err = wire.FromDuration(field("uniqueFor"), r.GetUniqueFor()); err != nil {
			return o, nil, err
		}
	}
	return o, args, nil
}

func (j *jobService) Enqueue(ctx context.Context, req *connect.Request[v1.EnqueueRequest]) (*connect.Response[v1.EnqueueResponse], error) {
	res, err := j.s.insert(ctx, []*v1.EnqueueRequest{req.Msg}, -1)
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(res[0]), nil
}

func (j *jobService) EnqueueMany(ctx context.Context, req *connect.Request[v1.EnqueueManyRequest]) (*connect.Response[v1.EnqueueManyResponse], error) {
	if n := len(req.Msg.GetJobs()); n > j.s.cfg.MaxBatch {
		return nil, invalid("jobs", fmt.Sprintf("%d jobs, over the limit of %d per call", n, j.s.cfg.MaxBatch))
	}
	res, err := j.s.insert(ctx, req.Msg.GetJobs(), 0)
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&v1.EnqueueManyResponse{Results: res}), nil
}

// insert validates and inserts reqs atomically; first is -1 for a single
// Enqueue (fields named without an index) and 0 for EnqueueMany.
func (s *Server) insert(ctx context.Context, reqs []*v1.EnqueueRequest, first int) ([]*v1.EnqueueResponse, error) {
	if len(reqs) == 0 {
		return []*v1.EnqueueResponse{}, nil
	}
	now := s.now()
	jobs := make([]store.InsertJob, len(reqs))
	for i, r := range reqs {
		index := i
		if first < 0 {
			index = -1
		}
		if err := s.buildInsert(&jobs[i], index, r, now); err != nil {
			return nil, err
		}
	}
	res, err := s.st.JobInsertMany(context.WithoutCancel(ctx), &store.JobInsertManyParams{Jobs: jobs, Now: now})
	if err != nil {
		return nil, err
	}
	if len(res) != len(jobs) {
		return nil, fmt.Errorf("troika: store returned %d results for %d jobs", len(res), len(jobs))
	}
	out := make([]*v1.EnqueueResponse, len(res))
	for i, r := range res {
		out[i] = &v1.EnqueueResponse{Id: r.Job.ID.String(), Duplicate: r.Duplicate, State: string(r.Job.State)}
	}
	return out, nil
}

// parseID parses a job id from the wire.
func parseID(field, s string) (store.ID, error) {
	if s == "" {
		return store.ID{}, invalid(field, "empty: a job id is required")
	}
	id, err := store.ParseID(s)
	if err != nil {
		return store.ID{}, invalid(field, fmt.Sprintf("%q is not a job id", truncate(s, 80)))
	}
	return id, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// binary reports whether a request uses a binary protobuf codec (then jobs
// carry their args as raw JSON bytes, see wire.Job).
func binary(h http.Header) bool { return !strings.Contains(h.Get("Content-Type"), "json") }

// jobOut converts a job for a response (raw: for a binary client).
func jobOut(j *store.Job, raw bool) (*v1.Job, error) {
	out, err := wire.Job(j, false, raw)
	if err != nil {
		return nil, toConnect(err)
	}
	return out, nil
}

func (j *jobService) GetJob(ctx context.Context, req *connect.Request[v1.GetJobRequest]) (*connect.Response[v1.GetJobResponse], error) {
	id, err := parseID("id", req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	row, err := j.s.client.GetJob(ctx, id)
	if err != nil {
		return nil, toConnect(err)
	}
	out, err := jobOut(row, binary(req.Header()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.GetJobResponse{Job: out}), nil
}

func (j *jobService) ListJobs(ctx context.Context, req *connect.Request[v1.ListJobsRequest]) (*connect.Response[v1.ListJobsResponse], error) {
	m := req.Msg
	p := troika.ListParams{Queue: m.GetQueue(), State: store.JobState(m.GetState()), Kind: m.GetKind(), Tag: m.GetTag(),
		Limit: int(m.GetLimit()), Desc: m.GetDesc()}
	if m.GetCursor() != "" {
		id, err := parseID("cursor", m.GetCursor())
		if err != nil {
			return nil, err
		}
		p.Cursor = id
	}
	page, err := j.s.client.ListJobs(ctx, p)
	if err != nil {
		return nil, toConnect(err)
	}
	resp := &v1.ListJobsResponse{Jobs: make([]*v1.Job, len(page.Jobs))}
	for i, row := range page.Jobs {
		if resp.Jobs[i], err = jobOut(row, binary(req.Header())); err != nil {
			return nil, err
		}
	}
	if !page.Next.IsZero() {
		resp.NextCursor = page.Next.String()
	}
	return connect.NewResponse(resp), nil
}

func (j *jobService) CancelJob(ctx context.Context, req *connect.Request[v1.CancelJobRequest]) (*connect.Response[v1.CancelJobResponse], error) {
	id, err := parseID("id", req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	row, err := j.s.client.CancelJob(context.WithoutCancel(ctx), id)
	if err != nil {
		return nil, toConnect(err)
	}
	out, err := jobOut(row, binary(req.Header()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.CancelJobResponse{Job: out}), nil
}

func (j *jobService) RetryJob(ctx context.Context, req *connect.Request[v1.RetryJobRequest]) (*connect.Response[v1.RetryJobResponse], error) {
	id, err := parseID("id", req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	row, err := j.s.client.RetryJob(context.WithoutCancel(ctx), id)
	if err != nil {
		return nil, toConnect(err)
	}
	out, err := jobOut(row, binary(req.Header()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.RetryJobResponse{Job: out}), nil
}

func (j *jobService) DeleteJob(ctx context.Context, req *connect.Request[v1.DeleteJobRequest]) (*connect.Response[v1.DeleteJobResponse], error) {
	id, err := parseID("id", req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	row, err := j.s.client.GetJob(ctx, id)
	if err != nil {
		return nil, toConnect(err)
	}
	if err := j.s.client.DeleteJob(context.WithoutCancel(ctx), id); err != nil {
		return nil, toConnect(err)
	}
	out, err := jobOut(row, binary(req.Header()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.DeleteJobResponse{Job: out}), nil
}

// deadPage checks a dead-letter filter and returns its page size.
func deadPage(queue, kind string, limit int32) (int, error) {
	if queue != "" {
		if r := engine.CheckQueueName(queue); r != "" {
			return 0, invalid("queue", r)
		}
	}
	if kind != "" {
		if r := engine.CheckKind(kind); r != "" {
			return 0, invalid("kind", r)
		}
	}
	switch {
	case limit < 0:
		return 0, invalid("limit", fmt.Sprintf("%d is negative", limit))
	case limit == 0:
		return 1000, nil
	case limit > 10000:
		return 0, invalid("limit", fmt.Sprintf("%d is over the limit of 10000 per call", limit))
	}
	return int(limit), nil
}

func (j *jobService) RetryDeadJobs(ctx context.Context, req *connect.Request[v1.RetryDeadJobsRequest]) (*connect.Response[v1.RetryDeadJobsResponse], error) {
	m := req.Msg
	n, err := deadPage(m.GetQueue(), m.GetKind(), m.GetLimit())
	if err != nil {
		return nil, err
	}
	jobs, err := j.s.st.JobRetry(context.WithoutCancel(ctx), &store.JobRetryParams{Queue: m.GetQueue(), Kind: m.GetKind(), Limit: n, Now: j.s.now()})
	if err != nil {
		return nil, toConnect(err)
	}
	resp := &v1.RetryDeadJobsResponse{Count: int32(len(jobs)), Ids: make([]string, len(jobs))}
	for i, row := range jobs {
		resp.Ids[i] = row.ID.String()
	}
	return connect.NewResponse(resp), nil
}

func (j *jobService) PurgeDeadJobs(ctx context.Context, req *connect.Request[v1.PurgeDeadJobsRequest]) (*connect.Response[v1.PurgeDeadJobsResponse], error) {
	m := req.Msg
	n, err := deadPage(m.GetQueue(), m.GetKind(), m.GetLimit())
	if err != nil {
		return nil, err
	}
	count, err := j.s.st.JobDelete(context.WithoutCancel(ctx), &store.JobDeleteParams{State: store.StateDead, Queue: m.GetQueue(), Kind: m.GetKind(), Limit: n})
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&v1.PurgeDeadJobsResponse{Count: int32(count)}), nil
}
