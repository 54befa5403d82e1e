package server

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/troikahq/troika/gen/troika/v1"
	"github.com/troikahq/troika/internal/engine"
	"github.com/troikahq/troika/internal/wire"
	"github.com/troikahq/troika/store"
)

// workerService implements troika.v1.WorkerService.
type workerService struct{ s *Server }

const (
	defaultLease = 30 * time.Second
	maxLease     = time.Hour
)

// seconds converts a wire number of seconds, checking its range.
func seconds(field string, v float64, def, limit time.Duration) (time.Duration, error) {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return 0, invalid(field, "not a number")
	case v < 0:
		return 0, invalid(field, fmt.Sprintf("%g is negative", v))
	case v == 0:
		return def, nil
	case v > limit.Seconds():
		return 0, invalid(field, fmt.Sprintf("%g is over the limit of %g", v, limit.Seconds()))
	}
	return time.Duration(v * float64(time.Second)), nil
}

// claimParams validates a Claim request.
func (w *workerService) claimParams(ctx context.Context, peer string, m *v1.ClaimRequest) (store.JobClaimParams, time.Duration, error) {
	var p store.JobClaimParams
	queues := m.GetQueues()
	if len(queues) == 0 {
		queues = []string{engine.DefaultQueue}
	}
	if len(queues) > 100 {
		return p, 0, invalid("queues", fmt.Sprintf("%d queues, over the limit of 100", len(queues)))
	}
	who := principalFrom(ctx)
	p.Queues = make([]store.QueueWeight, 0, len(queues))
	for i, q := range queues {
		if r := engine.CheckQueueName(q); r != "" {
			return p, 0, invalid(fmt.Sprintf("queues[%d]", i), r)
		}
		if !who.mayUseQueue(q) {
			return p, 0, connect.NewError(connect.CodePermissionDenied, fmt.Errorf("troika: token %q may not claim from queue %q", who.name, q))
		}
		weight := 1
		if wt, ok := m.GetWeights()[q]; ok {
			if wt < 1 || wt > 1000 {
				return p, 0, invalid("weights["+q+"]", fmt.Sprintf("%d is outside 1 to 1000", wt))
			}
			weight = int(wt)
		}
		for _, prev := range p.Queues {
			if prev.Name == q {
				return p, 0, invalid(fmt.Sprintf("queues[%d]", i), fmt.Sprintf("%q is listed twice", q))
			}
		}
		p.Queues = append(p.Queues, store.QueueWeight{Name: q, Weight: weight})
	}
	for q := range m.GetWeights() {
		found := false
		for _, qw := range p.Queues {
			found = found || qw.Name == q
		}
		if !found {
			return p, 0, invalid("weights", fmt.Sprintf("%q is not one of the queues", truncate(q, 64)))
		}
	}
	switch max := m.GetMax(); {
	case max < 0:
		return p, 0, invalid("max", fmt.Sprintf("%d is negative", max))
	case max == 0:
		p.Max = 1
	default:
		p.Max = min(int(max), w.s.cfg.MaxClaim)
	}
	var err error
	if p.LeaseTTL, err = seconds("leaseSeconds", m.GetLeaseSeconds(), defaultLease, maxLease); err != nil {
		return p, 0, err
	}
	wait, err := seconds("waitSeconds", m.GetWaitSeconds(), 0, time.Duration(math.MaxInt64))
	if err != nil {
		return p, 0, err
	}
	wait = min(wait, w.s.cfg.MaxWait)
	p.Worker = m.GetWorkerId()
	if len(p.Worker) > 200 {
		return p, 0, invalid("workerId", "over 200 bytes")
	}
	if p.Worker == "" {
		p.Worker = "remote@" + peer
	}
	return p, wait, nil
}

// Claim leases ready jobs; with waitSeconds it waits for work, woken by the
// store's JobSubscribe (never by polling). Jobs claimed for a caller that
// went away before the response are handed back at once.
func (w *workerService) Claim(ctx context.Context, req *connect.Request[v1.ClaimRequest]) (*connect.Response[v1.ClaimResponse], error) {
	p, wait, err := w.claimParams(ctx, req.Peer().Addr, req.Msg)
	if err != nil {
		return nil, err
	}
	var wake <-chan struct{}
	var timer *time.Timer
	for {
		p.Now = w.s.now()
		jobs, err := w.s.st.JobClaim(context.WithoutCancel(ctx), &p)
		if err != nil {
			return nil, toConnect(err)
		}
		if len(jobs) > 0 {
			if ctx.Err() != nil {
				w.s.handBack(jobs)
				return nil, toConnect(ctx.Err())
			}
			return w.claimed(jobs, binary(req.Header()))
		}
		if wait <= 0 || w.s.isDraining() {
			return connect.NewResponse(&v1.ClaimResponse{Jobs: []*v1.Job{}}), nil
		}
		if wake == nil {
			// Subscribe, then claim once more: a job inserted between the
			// first claim and the subscription is not missed.
			names := make([]string, len(p.Queues))
			for i, q := range p.Queues {
				names[i] = q.Name
			}
			var cancel func()
			wake, cancel = w.s.st.JobSubscribe(&store.JobSubscribeParams{Queues: names})
			defer cancel()
			timer = time.NewTimer(wait)
			defer timer.Stop()
			continue
		}
		select {
		case <-wake:
		case <-timer.C:
			wait = 0 // one last claim, then return empty
		case <-ctx.Done():
			return connect.NewResponse(&v1.ClaimResponse{Jobs: []*v1.Job{}}), nil
		case <-w.s.draining:
			wait = 0
		}
	}
}

func (w *workerService) claimed(jobs []*store.Job, raw bool) (*connect.Response[v1.ClaimResponse], error) {
	resp := &v1.ClaimResponse{Jobs: make([]*v1.Job, len(jobs))}
	for i, j := range jobs {
		out, err := wire.Job(j, true, raw)
		if err != nil {
			w.s.handBack(jobs)
			return nil, toConnect(err)
		}
		resp.Jobs[i] = out
	}
	return connect.NewResponse(resp), nil
}

// handBack returns claimed jobs at once (attempt not spent).
func (s *Server) handBack(jobs []*store.Job) {
	now := s.now()
	acks := make([]store.JobAck, len(jobs))
	for i, j := range jobs {
		acks[i] = store.JobAck{Lease: j.Lease(), Outcome: store.AckSnooze, RunAt: now}
	}
	if _, err := s.st.JobAckMany(context.Background(), &store.JobAckManyParams{Acks: acks, Now: now}); err != nil {
		s.log.Warn("troika: could not hand back jobs of a cancelled claim; they return when their leases expire", "count", len(jobs), "error", err)
	}
}

// leaseItem is the common part of every leased item.
type leaseItem interface {
	GetId() string
	GetLeaseToken() string
}

// batch runs the per-item protocol of Heartbeat, Complete, Fail and Snooze:
// decode and check every item's lease (bad items get their own code and
// change nothing), let apply handle the good ones, and return one result
// per item in order.
type batch struct {
	results []*v1.LeaseResult
	refs    []store.LeaseRef
	index   []int // index into results of each ref
}

func (s *Server) newBatch(ctx context.Context, items []leaseItem) (*batch, error) {
	if len(items) > s.cfg.MaxBatch {
		return nil, invalid("leases", fmt.Sprintf("%d items, over the limit of %d per call", len(items), s.cfg.MaxBatch))
	}
	b := &batch{results: make([]*v1.LeaseResult, len(items))}
	who := principalFrom(ctx)
	for i, it := range items {
		b.results[i] = &v1.LeaseResult{Id: it.GetId()}
		ref, err := wire.DecodeLease(it.GetLeaseToken())
		if err != nil {
			b.set(i, &store.InvalidArgumentError{Field: fmt.Sprintf("leases[%d].leaseToken", i), Reason: "not a lease token from Claim"})
			continue
		}
		if it.GetId() == "" {
			b.results[i].Id = ref.ID.String()
		} else if id, err := store.ParseID(it.GetId()); err != nil || id != ref.ID {
			b.set(i, &store.InvalidArgumentError{Field: fmt.Sprintf("leases[%d].id", i), Reason: "does not match the lease token"})
			continue
		}
		if who != nil && len(who.queues) > 0 {
			j, err := s.st.JobGet(ctx, &store.JobGetParams{ID: ref.ID})
			if err != nil {
				b.set(i, err)
				continue
			}
			if !who.mayUseQueue(j.Queue) {
				b.set(i, fmt.Errorf("%w: token %q may not act on jobs of queue %q", errPermission, who.name, j.Queue))
				continue
			}
		}
		b.refs = append(b.refs, ref)
		b.index = append(b.index, i)
	}
	return b, nil
}

func (b *batch) set(i int, err error) {
	b.results[i].Code, b.results[i].Message = itemCode(err)
}

// apply records the per-item errors of a store call over refs[k] for the
// items at index[k].
func (b *batch) apply(index []int, errs []error) {
	for k, i := range index {
		var err error
		if k < len(errs) {
			err = errs[k]
		}
		b.set(i, err)
	}
}

func (b *batch) response() *connect.Response[v1.LeaseResults] {
	return connect.NewResponse(&v1.LeaseResults{Results: b.results})
}

func items[T leaseItem](in []T) []leaseItem {
	out := make([]leaseItem, len(in))
	for i, it := range in {
		out[i] = it
	}
	return out
}

func (w *workerService) Heartbeat(ctx context.Context, req *connect.Request[v1.HeartbeatRequest]) (*connect.Response[v1.LeaseResults], error) {
	in := req.Msg.GetLeases()
	b, err := w.s.newBatch(ctx, items(in))
	if err != nil {
		return nil, err
	}
	// Group the good items by TTL: one store call per distinct TTL.
	groups := map[time.Duration][]int{}
	var order []time.Duration
	for k, i := range b.index {
		ttl, err := seconds(fmt.Sprintf("leases[%d].leaseSeconds", i), in[i].GetLeaseSeconds(), defaultLease, maxLease)
		if err != nil {
			b.results[i].Code, b.results[i].Message = "invalid_argument", errMessage(err)
			continue
		}
		if _, ok := groups[ttl]; !ok {
			order = append(order, ttl)
		}
		groups[ttl] = append(groups[ttl], k)
	}
	for _, ttl := range order {
		ks := groups[ttl]
		refs, index := make([]store.LeaseRef, len(ks)), make([]int, len(ks))
		for n, k := range ks {
			refs[n], index[n] = b.refs[k], b.index[k]
		}
		errs, err := w.s.st.JobLeaseExtendMany(context.WithoutCancel(ctx), &store.JobLeaseExtendManyParams{Leases: refs, TTL: ttl, Now: w.s.now()})
		if err != nil {
			return nil, toConnect(err)
		}
		b.apply(index, errs)
	}
	return b.response(), nil
}

// ack applies acks built for the good items of b (build returns false for
// an item it rejected itself).
func (s *Server) ack(ctx context.Context, b *batch, build func(k, i int, a *store.JobAck) error) (*connect.Response[v1.LeaseResults], error) {
	acks := make([]store.JobAck, 0, len(b.refs))
	index := make([]int, 0, len(b.refs))
	for k, i := range b.index {
		a := store.JobAck{Lease: b.refs[k]}
		if err := build(k, i, &a); err != nil {
			b.set(i, err)
			continue
		}
		acks = append(acks, a)
		index = append(index, i)
	}
	if len(acks) > 0 {
		errs, err := s.st.JobAckMany(context.WithoutCancel(ctx), &store.JobAckManyParams{Acks: acks, Now: s.now()})
		if err != nil {
			return nil, toConnect(err)
		}
		b.apply(index, errs)
	}
	return b.response(), nil
}

func (w *workerService) Complete(ctx context.Context, req *connect.Request[v1.CompleteRequest]) (*connect.Response[v1.LeaseResults], error) {
	in := req.Msg.GetLeases()
	b, err := w.s.newBatch(ctx, items(in))
	if err != nil {
		return nil, err
	}
	return w.s.ack(ctx, b, func(_, i int, a *store.JobAck) error {
		res, err := wire.Raw(fmt.Sprintf("leases[%d].result", i), in[i].GetResult(), in[i].ResultJson)
		if err != nil {
			return err
		}
		a.Outcome, a.Result = store.AckComplete, res
		return nil
	})
}

// maxErrorLen bounds a recorded error message and stack.
const maxErrorLen = 16 << 10

func (w *workerService) Fail(ctx context.Context, req *connect.Request[v1.FailRequest]) (*connect.Response[v1.LeaseResults], error) {
	in := req.Msg.GetLeases()
	b, err := w.s.newBatch(ctx, items(in))
	if err != nil {
		return nil, err
	}
	now := w.s.now()
	return w.s.ack(ctx, b, func(k, i int, a *store.JobAck) error {
		it := in[i]
		msg := strings.ToValidUTF8(truncate(it.GetError(), maxErrorLen), "?")
		if msg == "" {
			msg = "failed (no error message given)"
		}
		e := store.AttemptError{At: now, Attempt: a.Lease.Attempt, Message: msg, Stack: strings.ToValidUTF8(truncate(it.GetStack(), maxErrorLen), "?")}
		retryIn, err := wire.FromDuration(fmt.Sprintf("leases[%d].retryIn", i), it.GetRetryIn())
		if err != nil {
			return err
		}
		if retryIn < 0 {
			return &store.InvalidArgumentError{Field: fmt.Sprintf("leases[%d].retryIn", i), Reason: "negative"}
		}
		switch {
		case it.GetCancel():
			a.Outcome = store.AckCancel
			if it.GetError() != "" {
				a.Error = &e
			}
			return nil
		case it.Retryable != nil && !it.GetRetryable():
			a.Outcome, a.Error = store.AckDead, &e
			return nil
		}
		// Retry while attempts remain: the job's MaxAttempts decides.
		j, err := w.s.st.JobGet(ctx, &store.JobGetParams{ID: a.Lease.ID})
		if err != nil {
			return err
		}
		claimed := *j
		claimed.Attempt, claimed.LeaseToken = a.Lease.Attempt, a.Lease.Token
		if it.GetRetryIn() == nil {
			retryIn = engine.DefaultBackoff(a.Lease.Attempt)
		}
		*a = engine.FailAck(&claimed, now, e, retryIn)
		return nil
	})
}

func (w *workerService) Snooze(ctx context.Context, req *connect.Request[v1.SnoozeRequest]) (*connect.Response[v1.LeaseResults], error) {
	in := req.Msg.GetLeases()
	b, err := w.s.newBatch(ctx, items(in))
	if err != nil {
		return nil, err
	}
	now := w.s.now()
	return w.s.ack(ctx, b, func(_, i int, a *store.JobAck) error {
		d, err := wire.FromDuration(fmt.Sprintf("leases[%d].delay", i), in[i].GetDelay())
		if err != nil {
			return err
		}
		if d < 0 {
			return &store.InvalidArgumentError{Field: fmt.Sprintf("leases[%d].delay", i), Reason: "negative"}
		}
		a.Outcome, a.RunAt = store.AckSnooze, now.Add(d)
		return nil
	})
}

// Watch streams wake-ups for the queues until the caller goes away or the
// server drains. The first message is sent at once (so the caller knows the
// stream is up and claims what is already ready).
func (w *workerService) Watch(ctx context.Context, req *connect.Request[v1.WatchRequest], stream *connect.ServerStream[v1.WatchResponse]) error {
	queues := req.Msg.GetQueues()
	if len(queues) > 100 {
		return invalid("queues", fmt.Sprintf("%d queues, over the limit of 100", len(queues)))
	}
	who := principalFrom(ctx)
	for i, q := range queues {
		if r := engine.CheckQueueName(q); r != "" {
			return invalid(fmt.Sprintf("queues[%d]", i), r)
		}
		if !who.mayUseQueue(q) {
			return connect.NewError(connect.CodePermissionDenied, fmt.Errorf("troika: token %q may not watch queue %q", who.name, q))
		}
	}
	if len(queues) == 0 && who != nil && len(who.queues) > 0 {
		queues = who.queues
	}
	if w.s.isDraining() {
		return toConnect(errServerDraining)
	}
	wake, cancel := w.s.st.JobSubscribe(&store.JobSubscribeParams{Queues: queues})
	defer cancel()
	msg := &v1.WatchResponse{}
	if err := stream.Send(msg); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.s.draining:
			return toConnect(errServerDraining)
		case <-wake:
			if err := stream.Send(msg); err != nil {
				return err
			}
		}
	}
}

// errMessage returns the message of a Connect error without its code.
func errMessage(err error) string {
	if ce, ok := err.(*connect.Error); ok {
		return ce.Message()
	}
	return err.Error()
}
