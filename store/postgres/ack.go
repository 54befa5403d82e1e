package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
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

// ackRound applies the acks p.Acks[items] (distinct jobs).
//
// Unordered jobs (no ordering key) need no line lock and no hand-over, so
// unless this store has seen ordered jobs lately (orderedRecently), the
// round first acks the unordered ones with one autocommit statement
// (ackUnordered). The items it leaves (ordered jobs, lost leases, unknown
// ids) go through ackLines: the line locks, the ack and the hand-over in
// one pipelined implicit transaction. Items are independent (the store
// contract), so the two commits need not be atomic together. Items applied
// by an earlier try of the retry loop stay applied.
func (s *Store) ackRound(ctx context.Context, p *store.JobAckManyParams, now time.Time, items []int, errs []error) error {
	n := len(items)
	a := ackArrays{
		ids: make([]store.ID, n), attempts: make([]int32, n), tokens: make([]int64, n), outcomes: make([]int16, n),
		runAts: make([]time.Time, n), errs: make([]*string, n), results: make([]*string, n),
	}
	for k, i := range items {
		ack := &p.Acks[i]
		a.ids[k], a.attempts[k], a.tokens[k], a.outcomes[k] = ack.Lease.ID, int32(ack.Lease.Attempt), int64(ack.Lease.Token), int16(ack.Outcome)
		a.runAts[k] = now
		if !ack.RunAt.IsZero() {
			a.runAts[k] = ack.RunAt.UTC().Truncate(time.Microsecond)
		}
		if ack.Error != nil && ack.Outcome != store.AckComplete && ack.Outcome != store.AckSnooze {
			e := *ack.Error
			e.At = e.At.UTC()
			buf, _ := json.Marshal(e)
			str := string(buf)
			a.errs[k] = &str
		}
		if ack.Outcome == store.AckComplete && ack.Result != nil {
			str := string(ack.Result)
			a.results[k] = &str
		}
	}
	applied := make([]bool, n)
	var woken []string
	err := s.call(ctx, "JobAckMany", func(ctx context.Context) error {
		rest := make([]int, 0, n) // positions not applied yet
		for k := range n {
			if !applied[k] {
				rest = append(rest, k)
			}
		}
		if len(rest) > 0 && !s.orderedRecently() {
			sub := a.subset(rest, n)
			rows, err := s.pool.Query(ctx, s.q.ackUnordered, sub.ids, sub.attempts, sub.tokens, sub.outcomes, sub.runAts,
				sub.errs, sub.results, now)
			if err != nil {
				return err
			}
			if err := s.readAcked(rows, rest, applied, &woken); err != nil {
				return err
			}
			s.commits.Add(1)
			rest = slices.DeleteFunc(rest, func(k int) bool { return applied[k] })
		}
		if len(rest) > 0 {
			if err := s.ackLines(ctx, a.subset(rest, n), now, rest, applied, &woken); err != nil {
				return err
			}
			rest = slices.DeleteFunc(rest, func(k int) bool { return applied[k] })
		}
		found := map[store.ID]bool{}
		if len(rest) > 0 { // rare: tell lost leases from unknown jobs
			missed := make([]store.ID, len(rest))
			for i, k := range rest {
				missed[i] = a.ids[k]
			}
			rows, err := s.pool.Query(ctx, s.q.exist, missed)
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
			case found[a.ids[k]]:
				errs[i] = fmt.Errorf("job %s: %w", a.ids[k], store.ErrLeaseLost)
			default:
				errs[i] = fmt.Errorf("job %s: %w", a.ids[k], store.ErrNotFound)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.subs.wake(woken) // hand-backs: wake workers here and everywhere
	s.notifier.add(woken)
	return nil
}

// ackLines applies the acks a (positions pos of the round) in one round
// trip, one implicit transaction: the line locks of the ordered jobs among
// them (before the row locks), the ack, and the hand-over of the lines
// whose holder became final (see ordering.go).
func (s *Store) ackLines(ctx context.Context, a ackArrays, now time.Time, pos []int, applied []bool, woken *[]string) error {
	var b pgx.Batch
	b.Queue(s.q.ord.lockLinesOf, s.lineLockPrefix(), a.ids)
	b.Queue(s.q.ack, a.ids, a.attempts, a.tokens, a.outcomes, a.runAts, a.errs, a.results, now)
	b.Queue(s.q.ord.release, a.ids, nil, nil)
	br := s.pool.SendBatch(ctx, &b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return err
	}
	rows, err := br.Query()
	if err != nil {
		return err
	}
	// Not applied until the transaction commits: collect first.
	got := make([]bool, len(applied))
	var w []string
	if err := s.readAcked(rows, pos, got, &w); err != nil {
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
	if err := br.Close(); err != nil {
		return err
	}
	s.commits.Add(1)
	for k, ok := range got {
		if ok {
			applied[k] = true
		}
	}
	for _, q := range append(w, handed...) {
		if indexOf(*woken, q) < 0 {
			*woken = append(*woken, q)
		}
	}
	return nil
}

// readAcked reads the (ord, queue, state, ordered) rows of an ack
// statement run on the positions pos: it marks them applied, adds the
// queues of hand-backs (available again) to woken, and notes ordered jobs
// (orderedRecently). It closes rows.
func (s *Store) readAcked(rows pgx.Rows, pos []int, applied []bool, woken *[]string) error {
	defer rows.Close()
	for rows.Next() {
		var ord int64
		var queue, state string
		var ordered bool
		if err := rows.Scan(&ord, &queue, &state, &ordered); err != nil {
			return err
		}
		applied[pos[ord-1]] = true
		if ordered {
			s.noteOrdered()
		}
		if state == string(store.StateAvailable) && indexOf(*woken, queue) < 0 {
			*woken = append(*woken, queue)
		}
	}
	return rows.Err()
}

// orderedWindow is how long after seeing an ordered job (claimed, or
// acked) a store sends every ack through ackLines directly, instead of
// trying the unordered statement first.
const orderedWindow = 30 * time.Second

// noteOrdered records that an ordered job was just seen.
func (s *Store) noteOrdered() { s.orderedAt.Store(time.Now().UnixNano()) }

// orderedRecently reports whether an ordered job was seen within
// orderedWindow.
func (s *Store) orderedRecently() bool {
	t := s.orderedAt.Load()
	return t != 0 && time.Now().UnixNano()-t < int64(orderedWindow)
}

// ackArrays are the columns of an ack statement.
type ackArrays struct {
	ids      []store.ID
	attempts []int32
	tokens   []int64
	outcomes []int16
	runAts   []time.Time
	errs     []*string
	results  []*string
}

// subset returns the rows at positions pos (all n of them: a itself).
func (a ackArrays) subset(pos []int, n int) ackArrays {
	if len(pos) == n {
		return a
	}
	var b ackArrays
	for _, k := range pos {
		b.ids, b.attempts, b.tokens = append(b.ids, a.ids[k]), append(b.attempts, a.attempts[k]), append(b.tokens, a.tokens[k])
		b.outcomes, b.runAts = append(b.outcomes, a.outcomes[k]), append(b.runAts, a.runAts[k])
		b.errs, b.results = append(b.errs, a.errs[k]), append(b.results, a.results[k])
	}
	return b
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
	ttl := min(p.TTL, 100*365*24*time.Hour)
	err := s.callAt(ctx, "JobLeaseExtendMany", now, func(ctx context.Context, now time.Time) error {
		deadline := now.Add(ttl)
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
