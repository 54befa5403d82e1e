package postgres

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/troikahq/troika/store"
)

// asyncCommit, queued first in an implicit transaction's batch, lets that
// transaction commit without waiting for its WAL flush (async claims,
// NOTIFYs).
const asyncCommit = `SELECT set_config('synchronous_commit', 'off', true)`

// JobClaim implements store.Store with one statement: per queue, the
// first Max ready jobs in (priority, run_at, id) order are locked with FOR
// UPDATE SKIP LOCKED (so concurrent claims never wait on each other and
// never take one job twice), the weighted shares are picked from them, and
// the picked jobs are leased, with a token from a sequence.
func (s *Store) JobClaim(ctx context.Context, p *store.JobClaimParams) ([]*store.Job, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if p.LeaseTTL <= 0 {
		return nil, invalid("lease_ttl", "must be > 0")
	}
	var names []string
	var weights []int
	sum := 0
	for i, q := range p.Queues {
		if q.Weight <= 0 {
			return nil, invalid(fmt.Sprintf("queues[%d].weight", i), "must be > 0")
		}
		if k := indexOf(names, q.Name); k >= 0 {
			weights[k] += q.Weight
		} else {
			names, weights = append(names, q.Name), append(weights, q.Weight)
		}
		sum = min(sum+q.Weight, math.MaxInt32)
	}
	if err := s.enter(); err != nil {
		return nil, err
	}
	s.leave()
	if p.Max <= 0 || len(names) == 0 {
		return []*store.Job{}, nil
	}
	max := min(p.Max, 100_000)
	shares := make([]int32, len(names))
	for i, w := range weights {
		shares[i] = int32(min((int64(max)*int64(w)+int64(sum)-1)/int64(sum), int64(max)))
	}
	ttl := min(p.LeaseTTL, 100*365*24*time.Hour)
	var jobs []*store.Job
	err := s.callAt(ctx, "JobClaim", s.clock(p.Now), func(ctx context.Context, now time.Time) error {
		deadline := now.Add(ttl)
		var b pgx.Batch
		if !s.syncClaims {
			// One implicit transaction (one round trip): the claim does
			// not wait for its WAL flush (see Options.SyncClaims).
			b.Queue(asyncCommit)
		}
		if len(names) == 1 {
			b.Queue(s.q.claimOne, names[0], now, max, p.Worker, deadline)
		} else {
			b.Queue(s.q.claim, names, shares, now, max, p.Worker, deadline)
		}
		br := s.pool.SendBatch(ctx, &b)
		defer br.Close()
		if !s.syncClaims {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		jobs, err = scanJobs(rows)
		if err == nil {
			err = br.Close()
		}
		if err == nil && len(jobs) > 0 {
			s.commits.Add(1)
			if !s.syncClaims {
				s.asyncCommits.Add(1)
			}
			for _, j := range jobs {
				if j.OrderingKey != "" {
					s.noteOrdered()
					break
				}
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if jobs == nil {
		jobs = []*store.Job{}
	}
	// RETURNING has no order: hand the jobs out in claim order (queue as
	// given, then priority, run_at, id), as the embedded store does.
	if len(jobs) > 1 {
		slices.SortFunc(jobs, func(a, b *store.Job) int {
			return cmp.Or(cmp.Compare(indexOf(names, a.Queue), indexOf(names, b.Queue)), cmp.Compare(a.Priority, b.Priority),
				a.RunAt.Compare(b.RunAt), a.ID.Compare(b.ID))
		})
	}
	return jobs, nil
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}
