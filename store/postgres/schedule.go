package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/troikahq/troika/store"
)

// Schedules (store.ScheduleStore) live in the table schedules (migration
// 0002_schedules.sql), one row each: the definition, the state and the
// recent fire history (jsonb). Every write locks the row (SELECT … FOR
// UPDATE), decides in Go, and rewrites the row in the same transaction, so
// concurrent writers of one schedule serialize on its row lock. A fire
// inserts its jobs with JobInsertMany's code (insertBatch) inside that
// transaction: the jobs exist if and only if the schedule advanced.

var _ store.ScheduleStore = (*Store)(nil)

const (
	maxScheduleIDBytes   = 256 // the engine allows less
	scheduleDueByDefault = 100
)

// errNoWrite ends a schedule transaction that decided to change nothing (a
// no-op upsert or pause, a lost compare-and-set): it rolls back instead of
// committing an empty transaction, and the caller turns it into its result.
var errNoWrite = errors.New("postgres: schedule unchanged")

// scheduleCols are the columns of schedules, in the order of
// scheduleScan.targets and scheduleArgs.
const scheduleCols = `id, spec, timezone, jitter_ns, start_at, end_at, misfire_policy, catch_up_limit, overlap_policy,
  job_kind, job_args, job_queue, job_priority, job_max_attempts, job_timeout_ns, job_metadata, job_tags,
  paused, created_at, updated_at, last_fire_at, next_fire_at, last_job_id, fires`

// scheduleQueries are the schedule statements of one schema.
type scheduleQueries struct {
	get, lock, list, insert, write, delete, due, nextAt string
}

var scheduleQueryCache sync.Map // schema → *scheduleQueries

func (s *Store) sq() *scheduleQueries {
	if q, ok := scheduleQueryCache.Load(s.schema); ok {
		return q.(*scheduleQueries)
	}
	// $1..$24 in scheduleCols order; json columns are sent as text.
	const values = `$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::text::json, $12, $13, $14, $15,
  $16::text::jsonb, $17::text::jsonb, $18, $19, $20, $21, $22, $23, $24::text::jsonb`
	r := strings.NewReplacer("{s}", pgx.Identifier{s.schema}.Sanitize(), "{cols}", scheduleCols)
	q := &scheduleQueries{
		get:    r.Replace(`SELECT {cols} FROM {s}.schedules WHERE id = $1`),
		lock:   r.Replace(`SELECT {cols} FROM {s}.schedules WHERE id = $1 FOR UPDATE`),
		list:   r.Replace(`SELECT {cols} FROM {s}.schedules ORDER BY id`),
		insert: r.Replace(`INSERT INTO {s}.schedules ({cols}) VALUES (` + values + `) ON CONFLICT (id) DO NOTHING`),
		write: r.Replace(`UPDATE {s}.schedules SET (spec, timezone, jitter_ns, start_at, end_at, misfire_policy, catch_up_limit,
  overlap_policy, job_kind, job_args, job_queue, job_priority, job_max_attempts, job_timeout_ns, job_metadata, job_tags,
  paused, created_at, updated_at, last_fire_at, next_fire_at, last_job_id, fires) = ROW(` + values[strings.Index(values, "$2"):] + `)
WHERE id = $1`),
		delete: r.Replace(`DELETE FROM {s}.schedules WHERE id = $1`),
		due: r.Replace(`SELECT {cols} FROM {s}.schedules
WHERE NOT paused AND next_fire_at IS NOT NULL AND next_fire_at <= $1
ORDER BY next_fire_at, id LIMIT $2`),
		nextAt: r.Replace(`SELECT min(next_fire_at) FROM {s}.schedules
WHERE NOT paused AND next_fire_at IS NOT NULL AND next_fire_at > $1`),
	}
	scheduleQueryCache.Store(s.schema, q)
	return q
}

// ---- encoding

// fireJSON is one entry of the fires column. Field names are the format:
// add fields, never rename them.
type fireJSON struct {
	Instant time.Time `json:"instant"`
	At      time.Time `json:"at"`
	Outcome string    `json:"outcome"`
	JobID   *store.ID `json:"jobId,omitempty"`
	Missed  int       `json:"missed,omitempty"`
}

// us is t at the precision PostgreSQL keeps, in UTC (zero stays zero).
func us(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

// scheduleArgs returns the row of sc in scheduleCols order.
func scheduleArgs(sc *store.Schedule) []any {
	d := &sc.ScheduleDefinition
	var args *string
	if len(d.Job.Args) > 0 {
		a := string(d.Job.Args)
		args = &a
	}
	var lastJob pgtype.UUID
	if !sc.LastJobID.IsZero() {
		lastJob = pgtype.UUID{Bytes: sc.LastJobID, Valid: true}
	}
	fires := make([]fireJSON, len(sc.Fires))
	for i, f := range sc.Fires {
		fires[i] = fireJSON{Instant: us(f.Instant), At: us(f.At), Outcome: string(f.Outcome), Missed: f.Missed}
		if !f.JobID.IsZero() {
			id := f.JobID
			fires[i].JobID = &id
		}
	}
	return []any{d.ID, d.Spec, d.TimeZone, int64(d.Jitter), ts(us(d.StartAt)), ts(us(d.EndAt)),
		string(d.MisfirePolicy), int32(d.CatchUpLimit), string(d.OverlapPolicy),
		d.Job.Kind, args, d.Job.Queue, int32(d.Job.Priority), int32(d.Job.MaxAttempts), int64(d.Job.Timeout),
		jsonText(d.Job.Metadata, len(d.Job.Metadata) > 0), jsonText(d.Job.Tags, len(d.Job.Tags) > 0),
		sc.Paused, us(sc.CreatedAt), us(sc.UpdatedAt), ts(us(sc.LastFireAt)), ts(us(sc.NextFireAt)), lastJob,
		jsonText(fires, true)}
}

// scheduleScan holds the scan targets of one schedules row.
type scheduleScan struct {
	id, spec, tz, misfire, overlap, kind, queue string
	jitter, timeout                             int64
	catchUp, prio, maxAtt                       int32
	start, end, last, next                      pgtype.Timestamptz
	created, updated                            time.Time
	args, meta, tags, fires                     []byte
	paused                                      bool
	lastJob                                     pgtype.UUID
}

func (r *scheduleScan) targets() []any {
	return []any{&r.id, &r.spec, &r.tz, &r.jitter, &r.start, &r.end, &r.misfire, &r.catchUp, &r.overlap,
		&r.kind, &r.args, &r.queue, &r.prio, &r.maxAtt, &r.timeout, &r.meta, &r.tags,
		&r.paused, &r.created, &r.updated, &r.last, &r.next, &r.lastJob, &r.fires}
}

func (r *scheduleScan) schedule() (*store.Schedule, error) {
	sc := &store.Schedule{
		ScheduleDefinition: store.ScheduleDefinition{
			ID: r.id, Spec: r.spec, TimeZone: r.tz, Jitter: time.Duration(r.jitter),
			StartAt: utc(r.start), EndAt: utc(r.end),
			MisfirePolicy: store.MisfirePolicy(r.misfire), CatchUpLimit: int(r.catchUp),
			OverlapPolicy: store.OverlapPolicy(r.overlap),
			Job: store.JobTemplate{Kind: r.kind, Args: r.args, Queue: r.queue, Priority: int(r.prio),
				MaxAttempts: int(r.maxAtt), Timeout: time.Duration(r.timeout)},
		},
		Paused: r.paused, CreatedAt: r.created.UTC(), UpdatedAt: r.updated.UTC(),
		LastFireAt: utc(r.last), NextFireAt: utc(r.next),
	}
	if r.lastJob.Valid {
		sc.LastJobID = store.ID(r.lastJob.Bytes)
	}
	if len(r.meta) > 0 {
		if err := json.Unmarshal(r.meta, &sc.Job.Metadata); err != nil {
			return nil, fmt.Errorf("%w: schedule %q metadata: %v", store.ErrCorrupt, r.id, err)
		}
	}
	if len(r.tags) > 0 {
		if err := json.Unmarshal(r.tags, &sc.Job.Tags); err != nil {
			return nil, fmt.Errorf("%w: schedule %q tags: %v", store.ErrCorrupt, r.id, err)
		}
	}
	var fires []fireJSON
	if err := json.Unmarshal(r.fires, &fires); err != nil {
		return nil, fmt.Errorf("%w: schedule %q fires: %v", store.ErrCorrupt, r.id, err)
	}
	for _, f := range fires {
		rec := store.ScheduleFireRecord{Instant: f.Instant.UTC(), At: f.At.UTC(), Outcome: store.FireOutcome(f.Outcome), Missed: f.Missed}
		if f.JobID != nil {
			rec.JobID = *f.JobID
		}
		sc.Fires = append(sc.Fires, rec)
	}
	return sc, nil
}

// scanSchedule reads one row; nil, nil when there is none.
func scanSchedule(row pgx.Row) (*store.Schedule, error) {
	var r scheduleScan
	if err := row.Scan(r.targets()...); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, nil
		}
		return nil, err
	}
	return r.schedule()
}

func scanSchedules(rows pgx.Rows) ([]*store.Schedule, error) {
	defer rows.Close()
	out := []*store.Schedule{}
	var r scheduleScan
	t := r.targets()
	for rows.Next() {
		r = scheduleScan{}
		if err := rows.Scan(t...); err != nil {
			return nil, err
		}
		sc, err := r.schedule()
		if err != nil {
			return nil, err
		}
		out = append(out, sc)
	}
	return out, rows.Err()
}

// ---- validation

func fitsInt32(v int) bool { return v >= math.MinInt32 && v <= math.MaxInt32 }

// badText says why s cannot be stored as PostgreSQL text, or "".
func badText(s string) string {
	if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return "not valid UTF-8 or contains a NUL byte"
	}
	return ""
}

// checkDefinition rejects definitions the store cannot store faithfully;
// the engine validates everything else before it calls.
func checkDefinition(d *store.ScheduleDefinition) error {
	switch {
	case d.ID == "":
		return invalid("id", "empty")
	case len(d.ID) > maxScheduleIDBytes:
		return invalid("id", fmt.Sprintf("%d bytes, over the limit of %d", len(d.ID), maxScheduleIDBytes))
	case badText(d.ID) != "":
		return invalid("id", badText(d.ID))
	case d.Spec == "":
		return invalid("spec", "empty")
	case badText(d.Spec) != "":
		return invalid("spec", badText(d.Spec))
	case badText(d.TimeZone) != "":
		return invalid("timeZone", badText(d.TimeZone))
	case !d.MisfirePolicy.Valid():
		return invalid("misfirePolicy", fmt.Sprintf("unknown policy %q", truncate(string(d.MisfirePolicy), 64)))
	case !d.OverlapPolicy.Valid():
		return invalid("overlapPolicy", fmt.Sprintf("unknown policy %q", truncate(string(d.OverlapPolicy), 64)))
	case d.CatchUpLimit < 0 || !fitsInt32(d.CatchUpLimit):
		return invalid("catchUpLimit", "negative or out of range")
	case d.Jitter < 0:
		return invalid("jitter", "negative")
	case d.Job.Kind == "":
		return invalid("job.kind", "empty")
	case badText(d.Job.Kind) != "":
		return invalid("job.kind", badText(d.Job.Kind))
	case badText(d.Job.Queue) != "":
		return invalid("job.queue", badText(d.Job.Queue))
	case !fitsInt32(d.Job.Priority):
		return invalid("job.priority", "out of range")
	case !fitsInt32(d.Job.MaxAttempts):
		return invalid("job.maxAttempts", "out of range")
	case len(d.Job.Args) > 0 && !json.Valid(d.Job.Args):
		return invalid("job.args", "not valid JSON")
	}
	for k, v := range d.Job.Metadata {
		if badText(k) != "" || badText(v) != "" {
			return invalid("job.metadata", "a key or value is not valid UTF-8 or contains a NUL byte")
		}
	}
	for _, tag := range d.Job.Tags {
		if badText(tag) != "" {
			return invalid("job.tags", "a tag is not valid UTF-8 or contains a NUL byte")
		}
	}
	return nil
}

// checkFires validates the items of a fire (store.ScheduleFireParams.FireJobs
// plus the ranges this schema holds) and returns their jobs, in order.
func checkFires(p *store.ScheduleFireParams) ([]store.InsertJob, error) {
	return p.FireJobs(func(field string, j *store.InsertJob) error {
		switch {
		case j.Queue == "":
			return invalid(field+".queue", "must not be empty")
		case j.Priority < math.MinInt16 || j.Priority > math.MaxInt16:
			return invalid(field+".priority", "out of range")
		case !fitsInt32(j.MaxAttempts):
			return invalid(field+".max_attempts", "out of range")
		}
		return nil
	})
}

func scheduleNotFound(id string) error {
	return fmt.Errorf("schedule %q: %w", truncate(id, 300), store.ErrNotFound)
}

func cloneDefinition(d *store.ScheduleDefinition) store.ScheduleDefinition {
	c := *d
	c.Job.Args = slices.Clone(d.Job.Args)
	c.Job.Tags = slices.Clone(d.Job.Tags)
	if d.Job.Metadata != nil {
		c.Job.Metadata = make(map[string]string, len(d.Job.Metadata))
		for k, v := range d.Job.Metadata {
			c.Job.Metadata[k] = v
		}
	}
	return c
}

// ---- the methods

// ScheduleUpsert implements store.ScheduleStore. The row is locked (or
// created with INSERT … ON CONFLICT DO NOTHING, which waits for a
// concurrent creator), compared with the given definition in Go, and
// rewritten only when something changed: N processes upserting one
// definition at once create it once and otherwise write nothing.
func (s *Store) ScheduleUpsert(ctx context.Context, p *store.ScheduleUpsertParams) (*store.ScheduleUpsertResult, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if err := checkDefinition(&p.Definition); err != nil {
		return nil, err
	}
	now := s.clock(p.Now)
	var res *store.ScheduleUpsertResult
	err := s.call(ctx, "ScheduleUpsert", func(ctx context.Context) error {
		res = &store.ScheduleUpsertResult{}
		return s.tx(ctx, func(tx pgx.Tx) error {
			old, err := scanSchedule(tx.QueryRow(ctx, s.sq().lock, p.Definition.ID))
			if err != nil {
				return err
			}
			if old == nil {
				sc := &store.Schedule{ScheduleDefinition: cloneDefinition(&p.Definition),
					CreatedAt: now, UpdatedAt: now, NextFireAt: us(p.NextFireAt)}
				if p.Paused != nil {
					sc.Paused = *p.Paused
				}
				tag, err := tx.Exec(ctx, s.sq().insert, scheduleArgs(sc)...)
				if err != nil {
					return err
				}
				if tag.RowsAffected() == 1 {
					res.Schedule, res.Created, res.Changed = sc, true, true
					return nil
				}
				// A concurrent upsert created it first (the insert waited
				// for its commit): compare with what it stored.
				if old, err = scanSchedule(tx.QueryRow(ctx, s.sq().lock, p.Definition.ID)); err != nil {
					return err
				}
				if old == nil {
					return fmt.Errorf("schedule %q was created and deleted concurrently", p.Definition.ID)
				}
			}
			sc := *old
			if !old.ScheduleDefinition.Equal(&p.Definition) {
				sc.NextFireAt = us(p.NextFireAt)
				res.Changed = true
			}
			if p.Paused != nil && *p.Paused != old.Paused {
				sc.Paused = *p.Paused
				res.Changed = true
				if !sc.Paused {
					sc.NextFireAt = us(p.NextFireAt) // resumed: instants passed while paused are not misfires
				}
			}
			if !res.Changed {
				res.Schedule = old
				return errNoWrite
			}
			sc.ScheduleDefinition = cloneDefinition(&p.Definition)
			sc.UpdatedAt = now
			if _, err := tx.Exec(ctx, s.sq().write, scheduleArgs(&sc)...); err != nil {
				return err
			}
			res.Schedule = &sc
			return nil
		})
	})
	if err != nil && !errors.Is(err, errNoWrite) {
		return nil, err
	}
	return res, nil
}

// ScheduleGet implements store.ScheduleStore.
func (s *Store) ScheduleGet(ctx context.Context, p *store.ScheduleGetParams) (*store.Schedule, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	var sc *store.Schedule
	err := s.call(ctx, "ScheduleGet", func(ctx context.Context) error {
		var err error
		if sc, err = scanSchedule(s.pool.QueryRow(ctx, s.sq().get, p.ID)); err == nil && sc == nil {
			err = scheduleNotFound(p.ID)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return sc, nil
}

// ScheduleList implements store.ScheduleStore (byte order of the ids).
func (s *Store) ScheduleList(ctx context.Context, p *store.ScheduleListParams) ([]*store.Schedule, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	var out []*store.Schedule
	err := s.call(ctx, "ScheduleList", func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, s.sq().list)
		if err != nil {
			return err
		}
		out, err = scanSchedules(rows)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ScheduleDelete implements store.ScheduleStore.
func (s *Store) ScheduleDelete(ctx context.Context, p *store.ScheduleDeleteParams) error {
	if p == nil {
		return invalid("params", "nil")
	}
	return s.call(ctx, "ScheduleDelete", func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, s.sq().delete, p.ID)
		if err != nil {
			return err
		}
		s.commits.Add(1)
		if tag.RowsAffected() == 0 {
			return scheduleNotFound(p.ID)
		}
		return nil
	})
}

// SchedulePause implements store.ScheduleStore.
func (s *Store) SchedulePause(ctx context.Context, p *store.SchedulePauseParams) (*store.Schedule, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	now := s.clock(p.Now)
	var out *store.Schedule
	err := s.call(ctx, "SchedulePause", func(ctx context.Context) error {
		return s.tx(ctx, func(tx pgx.Tx) error {
			old, err := scanSchedule(tx.QueryRow(ctx, s.sq().lock, p.ID))
			switch {
			case err != nil:
				return err
			case old == nil:
				return scheduleNotFound(p.ID)
			case old.Paused == p.Paused:
				out = old
				return errNoWrite
			}
			sc := *old
			sc.Paused, sc.UpdatedAt = p.Paused, now
			if !p.Paused {
				sc.NextFireAt = us(p.NextFireAt)
			}
			if _, err := tx.Exec(ctx, s.sq().write, scheduleArgs(&sc)...); err != nil {
				return err
			}
			out = &sc
			return nil
		})
	})
	if err != nil && !errors.Is(err, errNoWrite) {
		return nil, err
	}
	return out, nil
}

// ScheduleDueList implements store.ScheduleStore: one index range scan of
// schedules_due_idx, and (unless more are due than Limit) the earliest
// later instant, in one round trip.
func (s *Store) ScheduleDueList(ctx context.Context, p *store.ScheduleDueListParams) (*store.ScheduleDueListResult, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	limit := p.Limit
	if limit <= 0 {
		limit = scheduleDueByDefault
	}
	limit = min(limit, 10_000)
	now := s.clock(p.Now)
	res := &store.ScheduleDueListResult{}
	err := s.call(ctx, "ScheduleDueList", func(ctx context.Context) error {
		b := &pgx.Batch{}
		b.Queue(s.sq().due, now, limit+1)
		b.Queue(s.sq().nextAt, now)
		br := s.pool.SendBatch(ctx, b)
		defer br.Close()
		rows, err := br.Query()
		if err != nil {
			return err
		}
		due, err := scanSchedules(rows)
		if err != nil {
			return err
		}
		var next pgtype.Timestamptz
		if err := br.QueryRow().Scan(&next); err != nil {
			return err
		}
		res.Due, res.NextAt = due, utc(next)
		if len(due) > limit {
			// The first one left out is due: the caller should come back at once.
			res.Due, res.NextAt = due[:limit], due[limit].NextFireAt
		}
		return br.Close()
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// ScheduleFire implements store.ScheduleStore in one transaction: lock the
// schedule row, compare NextFireAt with ExpectNextFireAt (unless Manual),
// insert the items' jobs exactly as JobInsertMany does (the same
// insertBatch: unique keys under advisory locks, duplicates within the
// batch and against the table), append the history (trimmed to
// store.MaxScheduleFires) and rewrite the row. A retry after a commit
// whose reply was lost recognises its own job ids in the row and returns
// the schedule as its first attempt wrote it.
func (s *Store) ScheduleFire(ctx context.Context, p *store.ScheduleFireParams) (*store.Schedule, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	jobs, err := checkFires(p)
	if err != nil {
		return nil, err
	}
	b, err := s.prepareInsert(&store.JobInsertManyParams{Jobs: jobs, Now: p.Now})
	if err != nil {
		return nil, err
	}
	at := b.now
	var (
		out      *store.Schedule
		res      []store.InsertResult
		conflict error
		attempt  int
	)
	err = s.call(ctx, "ScheduleFire", func(ctx context.Context) error {
		attempt++
		res, conflict = nil, nil
		return s.tx(ctx, func(tx pgx.Tx) error {
			old, err := scanSchedule(tx.QueryRow(ctx, s.sq().lock, p.ID))
			switch {
			case err != nil:
				return err
			case old == nil:
				return scheduleNotFound(p.ID)
			case attempt > 1 && len(jobs) > 0 && slices.Contains(b.ids, old.LastJobID):
				out = old // our earlier attempt committed
				return errNoWrite
			case !p.Manual && (old.Paused || !old.NextFireAt.Equal(us(p.ExpectNextFireAt))):
				conflict = fmt.Errorf("schedule %q: next fire is %s (paused %t), expected %s: %w",
					p.ID, fmtInstant(old.NextFireAt), old.Paused, fmtInstant(p.ExpectNextFireAt), store.ErrScheduleConflict)
				return errNoWrite
			}
			if len(jobs) > 0 {
				if b.unique {
					if res, err = b.insertUnique(ctx, tx, s, false); err != nil {
						return err
					}
				} else {
					if err := b.exec(ctx, tx, s, false); err != nil {
						return err
					}
					res = b.results(nil)
				}
			}
			sc := *old
			fires := make([]store.ScheduleFireRecord, 0, len(old.Fires)+len(p.Fires))
			fires = append(fires, old.Fires...)
			k := 0
			for _, f := range p.Fires {
				rec := store.ScheduleFireRecord{Instant: us(f.Instant), At: at, Outcome: f.Outcome, Missed: f.Missed}
				if f.Job != nil {
					r := res[k]
					k++
					rec.JobID = r.Job.ID
					if r.Duplicate {
						rec.Outcome = store.FireDuplicate
					}
					sc.LastJobID = r.Job.ID
				}
				fires = append(fires, rec)
			}
			if len(fires) > store.MaxScheduleFires {
				fires = fires[len(fires)-store.MaxScheduleFires:]
			}
			sc.Fires = fires
			if !p.Manual {
				sc.LastFireAt, sc.NextFireAt = us(p.LastFireAt), us(p.NextFireAt)
			}
			if _, err := tx.Exec(ctx, s.sq().write, scheduleArgs(&sc)...); err != nil {
				return err
			}
			out = &sc
			return nil
		})
	})
	switch {
	case conflict != nil:
		return nil, conflict
	case err != nil && !errors.Is(err, errNoWrite):
		return nil, err
	}
	if res != nil { // after the commit, as JobInsertMany does
		ready := b.readyQueues(res)
		s.subs.wake(ready)
		s.notifier.add(ready)
	}
	return out, nil
}

func fmtInstant(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339Nano)
}
