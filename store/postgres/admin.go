package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/troikahq/troika/store"
)

// JobGet implements store.Store.
func (s *Store) JobGet(ctx context.Context, p *store.JobGetParams) (*store.Job, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	var j *store.Job
	err := s.call(ctx, "JobGet", func(ctx context.Context) error {
		var err error
		j, err = scanJob(s.pool.QueryRow(ctx, s.q.get, p.ID))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("job %s: %w", p.ID, store.ErrNotFound)
		}
		return err
	})
	return j, err
}

// JobList implements store.Store. Filters become WHERE terms (so each
// combination gets its own plan); the page is read with Limit+1 rows to
// know whether another follows.
func (s *Store) JobList(ctx context.Context, p *store.JobListParams) (*store.JobListResult, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if p.State != "" && !p.State.Valid() {
		return nil, invalid("state", fmt.Sprintf("unknown state %q", truncate(string(p.State), 64)))
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 10_000)
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if p.Queue != "" {
		where = append(where, "queue = "+arg(p.Queue))
	}
	if p.State != "" {
		where = append(where, "state = "+arg(string(p.State)))
	}
	if p.Kind != "" {
		where = append(where, "kind = "+arg(p.Kind))
	}
	if p.Tag != "" {
		where = append(where, "tags ? "+arg(p.Tag))
	}
	order := "ASC"
	if p.Desc {
		order = "DESC"
	}
	if !p.After.IsZero() {
		op := ">"
		if p.Desc {
			op = "<"
		}
		where = append(where, "id "+op+" "+arg(p.After))
	}
	sql := "SELECT " + cols("") + " FROM " + pgx.Identifier{s.schema}.Sanitize() + ".jobs"
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY id " + order + " LIMIT " + arg(limit+1)
	res := &store.JobListResult{}
	err := s.call(ctx, "JobList", func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		jobs, err := scanJobs(rows)
		if err != nil {
			return err
		}
		res.Jobs, res.Next = jobs, store.ID{}
		if len(jobs) > limit {
			res.Jobs = jobs[:limit]
			res.Next = jobs[limit-1].ID
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if res.Jobs == nil {
		res.Jobs = []*store.Job{}
	}
	return res, nil
}

// JobCancel implements store.Store: one fenced UPDATE; when it changes
// nothing, a read says whether the job is final or unknown.
func (s *Store) JobCancel(ctx context.Context, p *store.JobCancelParams) (*store.Job, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	now := s.clock(p.Now)
	var j *store.Job
	var woken []string
	err := s.call(ctx, "JobCancel", func(ctx context.Context) error {
		woken = nil
		return s.tx(ctx, func(tx pgx.Tx) error {
			ids := []store.ID{p.ID}
			if err := s.lockLinesOf(ctx, tx, ids); err != nil { // before the row lock
				return err
			}
			var cur *store.Job
			var err error
			cur, err = scanJob(tx.QueryRow(ctx, s.q.get+" FOR UPDATE", p.ID))
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("job %s: %w", p.ID, store.ErrNotFound)
			}
			if err != nil {
				return err
			}
			if cur.State.Final() {
				return &store.StateError{ID: p.ID, Op: "cancel", State: cur.State}
			}
			var reason *string
			if p.Reason != "" {
				buf, _ := json.Marshal(store.AttemptError{At: now, Attempt: cur.Attempt, Message: p.Reason})
				r := string(buf)
				reason = &r
			}
			j, err = scanJob(tx.QueryRow(ctx, s.q.cancel, p.ID, now, reason))
			if err != nil || j.OrderingKey == "" {
				return err
			}
			// Cancelled is final: hand the line on, and wake its queue.
			if woken, err = s.release(ctx, tx, ids, nil, nil); err != nil || len(woken) == 0 {
				return err
			}
			var n int64
			return tx.QueryRow(ctx, s.q.notify, s.channel, woken).Scan(&n)
		})
	})
	if err != nil {
		return nil, err
	}
	s.subs.wake(woken)
	return j, nil
}

// lockIDs locks the jobs ids in tx and returns their states; an unknown id
// is ErrNotFound.
func (s *Store) lockIDs(ctx context.Context, tx pgx.Tx, ids []store.ID) (map[store.ID]store.JobState, error) {
	rows, err := tx.Query(ctx, s.q.lockIDs, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	states := map[store.ID]store.JobState{}
	for rows.Next() {
		var id store.ID
		var st string
		if err := rows.Scan(&id, &st); err != nil {
			return nil, err
		}
		states[id] = store.JobState(st)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, id := range ids {
		if _, ok := states[id]; !ok {
			return nil, fmt.Errorf("job %s: %w", id, store.ErrNotFound)
		}
	}
	return states, nil
}

// JobRetry implements store.Store.
func (s *Store) JobRetry(ctx context.Context, p *store.JobRetryParams) ([]*store.Job, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	now := s.clock(p.Now)
	var jobs []*store.Job
	err := s.call(ctx, "JobRetry", func(ctx context.Context) error {
		return s.tx(ctx, func(tx pgx.Tx) error {
			var rows pgx.Rows
			var err error
			var retried []store.ID
			if len(p.IDs) > 0 {
				if err := s.lockLinesOf(ctx, tx, p.IDs); err != nil { // before the row locks
					return err
				}
				states, err := s.lockIDs(ctx, tx, p.IDs)
				if err != nil {
					return err
				}
				for _, id := range p.IDs {
					if st := states[id]; st != store.StateDead {
						return &store.StateError{ID: id, Op: "retry", State: st}
					}
				}
				retried = p.IDs
			} else {
				limit := p.Limit
				if limit <= 0 {
					limit = 1000
				}
				// The candidates first, unlocked, so that their lines are
				// locked before their rows (see ordering.go).
				sql, args := s.filterSQL("state = 'dead'", nil, p.Queue, p.Kind, nil, limit)
				if retried, err = s.selectIDs(ctx, tx, sql, args); err != nil {
					return err
				}
				if err := s.lockLinesOf(ctx, tx, retried); err != nil {
					return err
				}
			}
			rows, err = tx.Query(ctx, s.q.retryIDs, retried, now)
			if err != nil {
				return err
			}
			jobs, err = scanJobs(rows)
			if err != nil {
				return err
			}
			// Retried ordered jobs rejoined their lines blocked: hand each
			// line without a holder to its first job.
			if _, err := s.release(ctx, tx, retried, nil, nil); err != nil {
				return err
			}
			var queues []string
			for _, j := range jobs {
				if indexOf(queues, j.Queue) < 0 {
					queues = append(queues, j.Queue)
				}
			}
			if len(queues) > 0 {
				var n int64
				return tx.QueryRow(ctx, s.q.notify, s.channel, queues).Scan(&n)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	var queues []string
	for _, j := range jobs {
		queues = append(queues, j.Queue)
	}
	s.subs.wake(queues)
	if jobs == nil {
		jobs = []*store.Job{}
	}
	return jobs, nil
}

// filterSQL returns "SELECT id FROM jobs WHERE cond [AND queue] [AND kind]
// [AND finished_at < …] LIMIT n" and its args.
func (s *Store) filterSQL(cond string, args []any, queue, kind string, finishedBefore any, limit int) (string, []any) {
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	where := []string{cond}
	if queue != "" {
		where = append(where, "queue = "+arg(queue))
	}
	if kind != "" {
		where = append(where, "kind = "+arg(kind))
	}
	if finishedBefore != nil {
		where = append(where, "finished_at < "+arg(finishedBefore))
	}
	return "SELECT id FROM " + pgx.Identifier{s.schema}.Sanitize() + ".jobs WHERE " + strings.Join(where, " AND ") +
		" LIMIT " + arg(limit), args
}

// JobDelete implements store.Store.
func (s *Store) JobDelete(ctx context.Context, p *store.JobDeleteParams) (int, error) {
	if p == nil {
		return 0, invalid("params", "nil")
	}
	if len(p.IDs) == 0 {
		switch {
		case p.State == "":
			return 0, invalid("state", "required without ids")
		case p.State == store.StateRunning:
			return 0, invalid("state", "running jobs cannot be deleted (cancel them first)")
		case !p.State.Valid():
			return 0, invalid("state", fmt.Sprintf("unknown state %q", truncate(string(p.State), 64)))
		}
	}
	var n int64
	var woken []string
	err := s.call(ctx, "JobDelete", func(ctx context.Context) error {
		woken = nil
		if len(p.IDs) > 0 {
			return s.tx(ctx, func(tx pgx.Tx) error {
				if err := s.lockLinesOf(ctx, tx, p.IDs); err != nil { // before the row locks
					return err
				}
				states, err := s.lockIDs(ctx, tx, p.IDs)
				if err != nil {
					return err
				}
				for _, id := range p.IDs {
					if states[id] == store.StateRunning {
						return &store.StateError{ID: id, Op: "delete", State: store.StateRunning}
					}
				}
				var err2 error
				n, woken, err2 = s.deleteLocked(ctx, tx, p.IDs, nil)
				return err2
			})
		}
		limit := p.Limit
		if limit <= 0 {
			limit = 1000
		}
		var before any
		if !p.FinishedBefore.IsZero() {
			before = p.FinishedBefore.UTC()
		}
		sql, args := s.filterSQL("state = $1", []any{string(p.State)}, p.Queue, p.Kind, before, limit)
		if !p.State.Final() {
			// Unfinished jobs may be in ordering lines: lock the lines of
			// the candidates before their rows, delete those still in the
			// state, and hand the lines on (see ordering.go).
			return s.tx(ctx, func(tx pgx.Tx) error {
				ids, err := s.selectIDs(ctx, tx, sql, args)
				if err != nil || len(ids) == 0 {
					return err
				}
				if err := s.lockLinesOf(ctx, tx, ids); err != nil {
					return err
				}
				st := string(p.State)
				n, woken, err = s.deleteLocked(ctx, tx, ids, &st)
				return err
			})
		}
		sql = "DELETE FROM " + pgx.Identifier{s.schema}.Sanitize() + ".jobs WHERE id IN (" + sql + " FOR UPDATE SKIP LOCKED)"
		tag, err := s.pool.Exec(ctx, sql, args...)
		n = tag.RowsAffected()
		if err == nil && n > 0 {
			s.commits.Add(1)
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	s.subs.wake(woken)
	return int(n), nil
}

// deleteLocked deletes the jobs ids that are not running (and, with state,
// still in *state) in tx, which holds their lines' locks, hands on the
// lines of the deleted ordered jobs, and NOTIFYs the queues of new
// holders. It returns how many it deleted and those queues.
func (s *Store) deleteLocked(ctx context.Context, tx pgx.Tx, ids []store.ID, state *string) (int64, []string, error) {
	var n int64
	var queues, keys []string
	if err := tx.QueryRow(ctx, s.q.deleteIDs, ids, state).Scan(&n, &queues, &keys); err != nil {
		return 0, nil, err
	}
	if len(keys) == 0 {
		return n, nil, nil
	}
	woken, err := s.release(ctx, tx, nil, queues, keys)
	if err != nil || len(woken) == 0 {
		return n, nil, err
	}
	var x int64
	return n, woken, tx.QueryRow(ctx, s.q.notify, s.channel, woken).Scan(&x)
}

// selectIDs runs a "SELECT id …" query in tx.
func (s *Store) selectIDs(ctx context.Context, tx pgx.Tx, sql string, args []any) ([]store.ID, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []store.ID
	for rows.Next() {
		var id store.ID
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
