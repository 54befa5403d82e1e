package remote

import (
	"context"
	"fmt"
	"sort"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	v1 "github.com/troikahq/troika/gen/troika/v1"
	"github.com/troikahq/troika/internal/wire"
	"github.com/troikahq/troika/store"
)

// JobClaim leases up to p.Max jobs: first from what a parked claim got for the
// same parameters (see ahead.go), then with a Claim call that does not
// wait. While a parked claim is in flight it may return fewer jobs than are
// ready: the worker is woken when the parked claim returns. The jobs carry
// their leases.
func (s *Store) JobClaim(ctx context.Context, p *store.JobClaimParams) ([]*store.Job, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if p.Max <= 0 {
		return []*store.Job{}, nil
	}
	req := &v1.ClaimRequest{Max: int32(min(p.Max, 1<<30)), LeaseSeconds: p.LeaseTTL.Seconds(), WorkerId: p.Worker,
		Queues: make([]string, len(p.Queues))}
	for i, q := range p.Queues {
		req.Queues[i] = q.Name
		if q.Weight != 1 {
			if req.Weights == nil {
				req.Weights = make(map[string]int32, len(p.Queues))
			}
			req.Weights[q.Name] = int32(min(q.Weight, 1000))
		}
	}
	key := laneKey(&v1.ClaimRequest{Queues: sortedCopy(req.Queues), Weights: req.Weights, WorkerId: req.WorkerId, LeaseSeconds: req.LeaseSeconds})
	jobs, busy := s.take(key, p.Max)
	if len(jobs) < p.Max && !busy {
		req.Max = int32(p.Max - len(jobs))
		out, err := s.workers.Claim(ctx, connect.NewRequest(req))
		if err != nil {
			if len(jobs) > 0 {
				s.handBack(jobs)
			}
			return nil, s.errClosedOr(err)
		}
		more, err := claimedJobs(out.Msg)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, more...)
	}
	if !busy && len(jobs) < p.Max {
		// The queues ran dry: park a claim on the server. A full claim
		// starts no prefetch: the worker claims ahead itself (its
		// claim-ahead, worker_claim.go), and a second layer of it here cost
		// a quarter of the remote drain's throughput.
		req.Max = int32(min(p.Max, 1<<30))
		s.startAhead(key, req)
	}
	if jobs == nil {
		jobs = []*store.Job{}
	}
	return jobs, nil
}

func sortedCopy(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	return out
}

// claimedJobs converts a Claim response.
func claimedJobs(m *v1.ClaimResponse) ([]*store.Job, error) {
	jobs := make([]*store.Job, 0, len(m.GetJobs()))
	for _, pj := range m.GetJobs() {
		j, err := jobFrom(pj)
		if err != nil {
			return nil, err
		}
		if j.LeaseToken == 0 {
			return nil, fmt.Errorf("troika: server returned claimed job %s without a lease token", j.ID)
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

func encodeLease(j *store.Job) string { return wire.EncodeLease(j.Lease()) }

// JobLeaseExtendMany calls WorkerService.Heartbeat.
func (s *Store) JobLeaseExtendMany(ctx context.Context, p *store.JobLeaseExtendManyParams) ([]error, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	req := &v1.HeartbeatRequest{Leases: make([]*v1.HeartbeatItem, len(p.Leases))}
	for i, ref := range p.Leases {
		req.Leases[i] = &v1.HeartbeatItem{Id: ref.ID.String(), LeaseToken: wire.EncodeLease(ref), LeaseSeconds: p.TTL.Seconds()}
	}
	out, err := s.workers.Heartbeat(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, s.errClosedOr(err)
	}
	return results(out.Msg, len(p.Leases))
}

// results converts per-item results, checking their number.
func results(r *v1.LeaseResults, n int) ([]error, error) {
	if len(r.GetResults()) != n {
		return nil, fmt.Errorf("troika: server returned %d results for %d leases", len(r.GetResults()), n)
	}
	errs := make([]error, n)
	for i, res := range r.GetResults() {
		errs[i] = itemError(res.GetCode(), res.GetMessage())
	}
	return errs, nil
}

// JobAckMany sends the acks with one call per kind of outcome present:
// Complete, Fail (retry, dead, cancel) and Snooze. A call that fails
// because the server is unreachable is retried for a while (a repeated ack
// is refused harmlessly by the lease check).
func (s *Store) JobAckMany(ctx context.Context, p *store.JobAckManyParams) ([]error, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	now := nowOr(p.Now)
	var complete v1.CompleteRequest
	var fail v1.FailRequest
	var snooze v1.SnoozeRequest
	var ci, fi, si []int
	for i := range p.Acks {
		a := &p.Acks[i]
		id, tok := a.Lease.ID.String(), wire.EncodeLease(a.Lease)
		switch a.Outcome {
		case store.AckComplete:
			it := &v1.CompleteItem{Id: id, LeaseToken: tok}
			if s.json {
				res, err := wire.Value(fmt.Sprintf("acks[%d].result", i), a.Result)
				if err != nil {
					return nil, err
				}
				it.Result = res
			} else {
				it.ResultJson = a.Result
			}
			complete.Leases = append(complete.Leases, it)
			ci = append(ci, i)
		case store.AckRetry, store.AckDead, store.AckCancel:
			it := &v1.FailItem{Id: id, LeaseToken: tok}
			if a.Error != nil {
				it.Error, it.Stack = a.Error.Message, a.Error.Stack
			}
			switch a.Outcome {
			case store.AckRetry:
				it.RetryIn = durationOf(max(a.RunAt.Sub(now), 0))
			case store.AckDead:
				retryable := false
				it.Retryable = &retryable
			case store.AckCancel:
				it.Cancel = true
			}
			fail.Leases = append(fail.Leases, it)
			fi = append(fi, i)
		case store.AckSnooze:
			snooze.Leases = append(snooze.Leases, &v1.SnoozeItem{Id: id, LeaseToken: tok, Delay: durationOf(max(a.RunAt.Sub(now), 0))})
			si = append(si, i)
		default:
			return nil, &store.InvalidArgumentError{Field: fmt.Sprintf("acks[%d].outcome", i), Reason: fmt.Sprintf("unknown outcome %d", a.Outcome)}
		}
	}
	errs := make([]error, len(p.Acks))
	send := func(index []int, call func() (*v1.LeaseResults, error)) error {
		if len(index) == 0 {
			return nil
		}
		var out *v1.LeaseResults
		err := s.retryTransient(ctx, func() (err error) { out, err = call(); return err })
		if err != nil {
			return s.errClosedOr(err)
		}
		got, err := results(out, len(index))
		if err != nil {
			return err
		}
		for k, i := range index {
			errs[i] = got[k]
		}
		return nil
	}
	if err := send(ci, func() (*v1.LeaseResults, error) {
		r, err := s.workers.Complete(ctx, connect.NewRequest(&complete))
		return msg(r), err
	}); err != nil {
		return nil, err
	}
	if err := send(fi, func() (*v1.LeaseResults, error) {
		r, err := s.workers.Fail(ctx, connect.NewRequest(&fail))
		return msg(r), err
	}); err != nil {
		return nil, err
	}
	if err := send(si, func() (*v1.LeaseResults, error) {
		r, err := s.workers.Snooze(ctx, connect.NewRequest(&snooze))
		return msg(r), err
	}); err != nil {
		return nil, err
	}
	return errs, nil
}

func msg(r *connect.Response[v1.LeaseResults]) *v1.LeaseResults {
	if r == nil {
		return nil
	}
	return r.Msg
}

// durationOf is wire.Duration but never nil, so 0 is sent explicitly.
func durationOf(d time.Duration) *durationpb.Duration { return durationpb.New(d) }
