package postgres

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/troikahq/troika/store"
)

func zeroCounts() map[store.JobState]int64 {
	m := make(map[store.JobState]int64, len(store.AllStates))
	for _, st := range store.AllStates {
		m[st] = 0
	}
	return m
}

// scanSettings reads a queues row into q.
func scanSettings(row pgx.Row, q *store.Queue) error {
	var completed, dead, cancelled, maxLen int64
	var updated time.Time
	if err := row.Scan(&q.Name, &q.Settings.Paused, &completed, &dead, &cancelled, &maxLen, &updated); err != nil {
		return err
	}
	q.Settings.CompletedRetention = time.Duration(completed)
	q.Settings.DeadRetention = time.Duration(dead)
	q.Settings.CancelledRetention = time.Duration(cancelled)
	q.Settings.MaxLength = int(maxLen)
	q.UpdatedAt = updated.UTC()
	return nil
}

// fillQueue reads counts and the oldest ready job of q.Name.
func (s *Store) fillQueue(ctx context.Context, db dbtx, q *store.Queue, now time.Time) error {
	q.Counts = zeroCounts()
	rows, err := db.Query(ctx, s.q.counts, q.Name)
	if err != nil {
		return err
	}
	var deltas int64
	for rows.Next() {
		var st string
		var n, k int64
		if err := rows.Scan(&st, &n, &k); err != nil {
			rows.Close()
			return err
		}
		q.Counts[store.JobState(st)] = n
		deltas += k
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if deltas > foldAfter {
		s.fold(ctx, q.Name)
	}
	return s.fillOldest(ctx, db, q, now)
}

func (s *Store) fillOldest(ctx context.Context, db dbtx, q *store.Queue, now time.Time) error {
	var oldest pgtype.Timestamptz
	if err := db.QueryRow(ctx, s.q.oldest, q.Name, now).Scan(&oldest); err != nil {
		return err
	}
	q.OldestAvailableAt = utc(oldest)
	return nil
}

// foldAfter is how many delta rows a queue's counts may have before a read
// folds them.
const foldAfter = 64

// fold folds the count rows of queue (best effort: a failure only leaves
// more rows to sum next time).
func (s *Store) fold(ctx context.Context, queue string) {
	if _, err := s.pool.Exec(ctx, s.q.foldCounts, queue); err != nil {
		s.log.Debug("troika: folding queue counts failed", "queue", queue, "error", err)
	}
}

func allZero(m map[store.JobState]int64) bool {
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

// QueueGet implements store.Store.
func (s *Store) QueueGet(ctx context.Context, p *store.QueueGetParams) (*store.Queue, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if p.Name == "" {
		return nil, invalid("name", "must not be empty")
	}
	now := s.clock(p.Now)
	var q *store.Queue
	err := s.call(ctx, "QueueGet", func(ctx context.Context) error {
		q = &store.Queue{Name: p.Name}
		err := scanSettings(s.pool.QueryRow(ctx, s.q.settings, p.Name), q)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		q.Name = p.Name
		return s.fillQueue(ctx, s.pool, q, now)
	})
	if err != nil {
		return nil, err
	}
	return q, nil
}

// QueueList implements store.Store. Counts come from one GROUP BY over the
// table: its cost grows with the number of jobs kept (see docs/postgres.md).
func (s *Store) QueueList(ctx context.Context, p *store.QueueListParams) ([]*store.Queue, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	now := s.clock(p.Now)
	var out []*store.Queue
	err := s.call(ctx, "QueueList", func(ctx context.Context) error {
		byName := map[string]*store.Queue{}
		get := func(name string) *store.Queue {
			q := byName[name]
			if q == nil {
				q = &store.Queue{Name: name, Counts: zeroCounts()}
				byName[name] = q
			}
			return q
		}
		rows, err := s.pool.Query(ctx, s.q.settingsAll)
		if err != nil {
			return err
		}
		for rows.Next() {
			var q store.Queue
			if err := scanSettings(rows, &q); err != nil {
				rows.Close()
				return err
			}
			g := get(q.Name)
			g.Settings, g.UpdatedAt = q.Settings, q.UpdatedAt
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = s.pool.Query(ctx, s.q.countsAll)
		if err != nil {
			return err
		}
		deltas := map[string]int64{}
		for rows.Next() {
			var name, st string
			var n, k int64
			if err := rows.Scan(&name, &st, &n, &k); err != nil {
				rows.Close()
				return err
			}
			q := get(name)
			q.Counts[store.JobState(st)] = n
			deltas[name] += k
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for name, k := range deltas {
			if k > foldAfter {
				s.fold(ctx, name)
			}
		}
		out = out[:0]
		for _, q := range byName {
			if q.Settings == (store.QueueSettings{}) && q.UpdatedAt.IsZero() && allZero(q.Counts) {
				continue // every job of the queue was deleted
			}
			if err := s.fillOldest(ctx, s.pool, q, now); err != nil {
				return err
			}
			out = append(out, q)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []*store.Queue{}
	}
	return out, nil
}

// QueueUpdate implements store.Store. Resuming a queue wakes its
// subscribers here and, through NOTIFY, everywhere.
func (s *Store) QueueUpdate(ctx context.Context, p *store.QueueUpdateParams) (*store.Queue, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if p.Name == "" {
		return nil, invalid("name", "must not be empty")
	}
	now := s.clock(p.Now)
	durNs := func(d *time.Duration) *int64 {
		if d == nil {
			return nil
		}
		v := int64(*d)
		return &v
	}
	var maxLen *int64
	if p.MaxLength != nil {
		v := int64(*p.MaxLength)
		maxLen = &v
	}
	var q *store.Queue
	err := s.call(ctx, "QueueUpdate", func(ctx context.Context) error {
		return s.tx(ctx, func(tx pgx.Tx) error {
			q = &store.Queue{}
			if err := scanSettings(tx.QueryRow(ctx, s.q.queueUpsert, p.Name, p.Paused, durNs(p.CompletedRetention),
				durNs(p.DeadRetention), durNs(p.CancelledRetention), maxLen, now), q); err != nil {
				return err
			}
			if p.Paused != nil && !*p.Paused {
				var n int64
				if err := tx.QueryRow(ctx, s.q.notify, s.channel, []string{p.Name}).Scan(&n); err != nil {
					return err
				}
			}
			return s.fillQueue(ctx, tx, q, now)
		})
	})
	if err != nil {
		return nil, err
	}
	if p.Paused != nil && !*p.Paused {
		s.subs.wake([]string{p.Name})
	}
	return q, nil
}

// LeaderAcquire implements store.Store with one upsert whose WHERE clause
// grants the lease when it is free, expired or already the holder's; the
// epoch goes up whenever the holder changes.
func (s *Store) LeaderAcquire(ctx context.Context, p *store.LeaderAcquireParams) (*store.Leader, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	switch {
	case p.Name == "":
		return nil, invalid("name", "must not be empty")
	case p.Holder == "":
		return nil, invalid("holder", "must not be empty")
	case p.TTL <= 0:
		return nil, invalid("ttl", "must be > 0")
	}
	ttl := min(p.TTL, 100*365*24*time.Hour)
	var l store.Leader
	err := s.callAt(ctx, "LeaderAcquire", s.clock(p.Now), func(ctx context.Context, now time.Time) error {
		expires := now.Add(ttl)
		err := s.pool.QueryRow(ctx, s.q.leaderAcquire, p.Name, p.Holder, now, expires).Scan(&l.Name, &l.Holder, &l.Epoch, &l.Expires)
		if errors.Is(err, pgx.ErrNoRows) { // refused: read the lease as it stands
			err = s.pool.QueryRow(ctx, s.q.leaderGet, p.Name).Scan(&l.Name, &l.Holder, &l.Epoch, &l.Expires)
		} else if err == nil {
			s.commits.Add(1)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	l.Expires = l.Expires.UTC()
	return &l, nil
}

// LeaderRelease implements store.Store.
func (s *Store) LeaderRelease(ctx context.Context, p *store.LeaderReleaseParams) error {
	if p == nil {
		return invalid("params", "nil")
	}
	if p.Name == "" || p.Holder == "" {
		return invalid("name", "name and holder must not be empty")
	}
	return s.call(ctx, "LeaderRelease", func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, s.q.leaderRelease, p.Name, p.Holder)
		return err
	})
}
