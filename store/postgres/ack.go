package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/troikahq/troika/store"
)

// JobAckMany implements store.Store with one statement per batch: an
// UPDATE … FROM unnest(…) whose WHERE clause is the compare-and-set on
// (state = running, attempt, token), so a stale item changes nothing and a
// race with another ack of the same lease has one winner. Items naming one
// job twice go in successive statements (the first wins).
func (s *Store) JobAckMany(ctx context.Context, p *store.JobAckManyParams) ([]error, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if err := s.enter(); err != nil {
		return nil, err
	}
	s.leave()
	now := s.clock(p.Now)
	errs := make([]error, len(p.Acks))
	// Split into rounds in which every job appears once.
	var rounds [][]int
	seen := map[store.ID]int{} // id → rounds it appears in so far
	for i := range p.Acks {
		a := &p.Acks[i]
		switch {
		case a.Outcome < store.AckComplete || a.Outcome > store.AckSnooze:
			errs[i] = invalid(fmt.Sprintf("acks[%d].outcome", i), fmt.Sprintf("unknown outcome %d", a.Outcome))
			continue
		case a.Lease.ID.IsZero():
			errs[i] = fmt.Errorf("job %s: %w", a.Lease.ID, store.ErrNotFound)
			continue
		case a.Lease.Attempt < math.MinInt32 || a.Lease.Attempt > math.MaxInt32:
			errs[i] = fmt.Errorf("job %s: %w", a.Lease.ID, store.ErrLeaseLost)
			continue
		}
		r := seen[a.Lease.ID]
		seen[a.Lease.ID] = r + 1
		if r == len(rounds) {
			rounds = append(rounds, nil)
		}
		rounds[r] = append(rounds[r], i)
	}
	for _, items := range rounds {
		if err := s.ackRound(ctx, p, now, items, errs); err != nil {
			return nil, err
		}
	}
	return errs, nil
}

// ackRound applies the acks p.Acks[items] (distinct jobs) in one statement.
func (s *Store) ackRound(ctx context.Context, p *store.JobAckManyParams, now time.Time, items []int, errs []error) error {
	n := len(items)
	ids := make([]store.ID, n)
	attempts := make([]int32, n)
	tokens := make([]int64, n)
	outcomes := make([]int16, n)
	runAts := make([]time.Time, n)
	aErrs := make([]*string, n)
	results := make([]*string, n)
	for k, i := range items {
		a := &p.Acks[i]
		ids[k], attempts[k], tokens[k], outcomes[k] = a.Lease.ID, int32(a.Lease.Attempt), int64(a.Lease.Token), int16(a.Outcome)
		runAts[k] = now
		if !a.RunAt.IsZero() {
			runAts[k] = a.RunAt.UTC().Truncate(time.Microsecond)
		}
		if a.Error != nil && a.Outcome != store.AckComplete && a.Outcome != store.AckSnooze {
			e := *a.Error
			e.At = e.At.UTC()
			buf, _ := json.Marshal(e)
			str := string(buf)
			aErrs[k] = &str
		}
		if a.Outcome == store.AckComplete && a.Result != nil {
			str := string(a.Result)
			results[k] = &str
		}
	}
	var woken []string
	err := s.call(ctx, "JobAckMany", func(ctx context.Context) error {
		woken = woken[:0]
		// One round trip, one implicit transaction: the line locks of the
		// ordered jobs among ids (before the row locks), the ack, and the
		// hand-over of the lines whose holder became final (see
		// ordering.go); for unordered jobs the first and last statements
		// find no key. The rare follow-ups (which missed items exist)
		// run after it.
		tx := s.pool
		return func() error {
			var b pgx.Batch
			b.Queue(s.q.ord.lockLinesOf, s.lineLockPrefix(), ids)
			b.Queue(s.q.ack, ids, attempts, tokens, outcomes, runAts, aErrs, results, now)
			b.Queue(s.q.ord.release, ids, nil, nil)
			br := tx.SendBatch(ctx, &b)
			defer br.Close()
			if _, err := br.Exec(); err != nil {
				return err
			}
			rows, err := br.Query()
			if err != nil {
				return err
			}
			applied := make([]bool, n)
			for rows.Next() {
				var ord int64
				var queue, state string
				if err := rows.Scan(&ord, &queue, &state); err != nil {
					rows.Close()
					return err
				}
				applied[ord-1] = true
				if state == string(store.StateAvailable) && indexOf(woken, queue) < 0 {
					woken = append(woken, queue)
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			rows, err = br.Query()
			if err != nil {
				return err
			}
			handed, err := readyQueuesOf(rows)
			if err != nil {
				return err
			}
			for _, q := range handed {
				if indexOf(woken, q) < 0 {
					woken = append(woken, q)
				}
			}
			if err := br.Close(); err != nil {
				return err
			}
			s.commits.Add(1)
			var missed []store.ID
			for k, ok := range applied {
				if !ok {
					missed = append(missed, ids[k])
				}
			}
			found := map[store.ID]bool{}
			if len(missed) > 0 { // rare: tell lost leases from unknown jobs
				rows, err := tx.Query(ctx, s.q.exist, missed)
				if err != nil {
					return err
				}
				for rows.Next() {
					var id store.ID
					if err := rows.Scan(&id); err != nil {
						rows.Close()
						return err
					}
					found[id] = true
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					return err
				}
			}
			for k, i := range items {
				switch {
				case applied[k]:
					errs[i] = nil
				case found[ids[k]]:
					errs[i] = fmt.Errorf("job %s: %w", ids[k], store.ErrLeaseLost)
				default:
					errs[i] = fmt.Errorf("job %s: %w", ids[k], store.ErrNotFound)
				}
			}
			return nil
		}()
	})
	if err != nil {
		return err
	}
	s.subs.wake(woken) // hand-backs: wake workers here and everywhere
	s.notifier.add(woken)
	return nil
}

// JobLeaseExtendMany implements store.Store with one fenced UPDATE per
// batch. The lease deadline is not indexed, so a heartbeat is a HOT update.
func (s *Store) JobLeaseExtendMany(ctx context.Context, p *store.JobLeaseExtendManyParams) ([]error, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if p.TTL <= 0 {
		return nil, invalid("ttl", "must be > 0")
	}
	if err := s.enter(); err != nil {
		return nil, err
	}
	s.leave()
	now := s.clock(p.Now)
	errs := make([]error, len(p.Leases))
	var ids []store.ID
	var attempts []int32
	var tokens []int64
	var idx []int
	for i, l := range p.Leases {
		switch {
		case l.ID.IsZero():
			errs[i] = fmt.Errorf("job %s: %w", l.ID, store.ErrNotFound)
		case l.Attempt < math.MinInt32 || l.Attempt > math.MaxInt32:
			errs[i] = fmt.Errorf("job %s: %w", l.ID, store.ErrLeaseLost)
		default:
			ids, attempts, tokens, idx = append(ids, l.ID), append(attempts, int32(l.Attempt)), append(tokens, int64(l.Token)), append(idx, i)
		}
	}
	if len(ids) == 0 {
		return errs, nil
	}
	deadline := now.Add(min(p.TTL, 100*365*24*time.Hour))
	err := s.call(ctx, "JobLeaseExtendMany", func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, s.q.extend, ids, attempts, tokens, deadline)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var ord int64
			var ok, found bool
			if err := rows.Scan(&ord, &ok, &found); err != nil {
				return err
			}
			i := idx[ord-1]
			switch {
			case ok:
				errs[i] = nil
			case found:
				errs[i] = fmt.Errorf("job %s: %w", p.Leases[i].ID, store.ErrLeaseLost)
			default:
				errs[i] = fmt.Errorf("job %s: %w", p.Leases[i].ID, store.ErrNotFound)
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		s.commits.Add(1)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return errs, nil
}

// JobLeaseExpiredList implements store.Store. It scans the running jobs
// (jobs_state_idx), a set bounded by the workers' concurrency.
func (s *Store) JobLeaseExpiredList(ctx context.Context, p *store.JobLeaseExpiredListParams) ([]*store.Job, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 1000
	}
	now := s.clock(p.Now)
	var jobs []*store.Job
	err := s.call(ctx, "JobLeaseExpiredList", func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, s.q.expired, now, limit)
		if err != nil {
			return err
		}
		jobs, err = scanJobs(rows)
		return err
	})
	if err != nil {
		return nil, err
	}
	if jobs == nil {
		jobs = []*store.Job{}
	}
	return jobs, nil
}

// JobPromoteDue implements store.Store.
func (s *Store) JobPromoteDue(ctx context.Context, p *store.JobPromoteDueParams) (int, error) {
	if p == nil {
		return 0, invalid("params", "nil")
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 10_000
	}
	now := s.clock(p.Now)
	var n, notified int64
	err := s.call(ctx, "JobPromoteDue", func(ctx context.Context) error {
		if err := s.pool.QueryRow(ctx, s.q.promote, now, limit, s.channel).Scan(&n, &notified); err != nil {
			return err
		}
		if n > 0 {
			s.commits.Add(1)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if n > 0 {
		s.subs.wakeAll()
	}
	return int(n), nil
}
