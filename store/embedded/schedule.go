package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cockroachdb/pebble/v2"

	"github.com/troikahq/troika/store"
)

// Schedules are few (hundreds, not millions): they live in memory as
// *store.Schedule values that are replaced, never modified in place (so a
// snapshot is a shallow copy), and durably as one record each:
//
//	's' + schedule id → [scheduleVersion][JSON of scheduleRecord][CRC32C]
const (
	prefixSchedule  = 's'
	scheduleVersion = 1
	maxScheduleID   = 256 // bytes; the engine allows less
	dueListDefault  = 100
)

var _ store.ScheduleStore = (*Store)(nil)

// scheduleRecord is the durable form of a schedule. Field names are the
// format; add fields, never rename them.
type scheduleRecord struct {
	ID           string            `json:"id"`
	Spec         string            `json:"spec"`
	TimeZone     string            `json:"tz,omitempty"`
	Jitter       int64             `json:"jitter,omitempty"`
	StartAt      int64             `json:"start,omitempty"`
	EndAt        int64             `json:"end,omitempty"`
	Misfire      string            `json:"misfire"`
	CatchUpLimit int               `json:"catchUp,omitempty"`
	Overlap      string            `json:"overlap"`
	Kind         string            `json:"kind"`
	Args         []byte            `json:"args,omitempty"` // base64: byte-exact (a RawMessage would be compacted)
	Queue        string            `json:"queue"`
	Priority     int               `json:"prio"`
	MaxAttempts  int               `json:"maxAttempts"`
	Timeout      int64             `json:"timeout,omitempty"`
	Metadata     map[string]string `json:"meta,omitempty"`
	Tags         []string          `json:"tags,omitempty"`
	Paused       bool              `json:"paused,omitempty"`
	CreatedAt    int64             `json:"created"`
	UpdatedAt    int64             `json:"updated"`
	LastFireAt   int64             `json:"last,omitempty"`
	NextFireAt   int64             `json:"next,omitempty"`
	LastJobID    *store.ID         `json:"lastJob,omitempty"`
	Fires        []fireRecord      `json:"fires,omitempty"`
}

type fireRecord struct {
	Instant int64     `json:"i"`
	At      int64     `json:"at"`
	Outcome string    `json:"o"`
	JobID   *store.ID `json:"job,omitempty"`
	Missed  int       `json:"n,omitempty"`
}

func encodeSchedule(sc *store.Schedule) ([]byte, error) {
	d := &sc.ScheduleDefinition
	r := scheduleRecord{
		ID: d.ID, Spec: d.Spec, TimeZone: d.TimeZone, Jitter: int64(d.Jitter),
		StartAt: toNanos(d.StartAt), EndAt: toNanos(d.EndAt),
		Misfire: string(d.MisfirePolicy), CatchUpLimit: d.CatchUpLimit, Overlap: string(d.OverlapPolicy),
		Kind: d.Job.Kind, Args: d.Job.Args, Queue: d.Job.Queue, Priority: d.Job.Priority,
		MaxAttempts: d.Job.MaxAttempts, Timeout: int64(d.Job.Timeout), Metadata: d.Job.Metadata, Tags: d.Job.Tags,
		Paused: sc.Paused, CreatedAt: toNanos(sc.CreatedAt), UpdatedAt: toNanos(sc.UpdatedAt),
		LastFireAt: toNanos(sc.LastFireAt), NextFireAt: toNanos(sc.NextFireAt),
	}
	if !sc.LastJobID.IsZero() {
		id := sc.LastJobID
		r.LastJobID = &id
	}
	for _, f := range sc.Fires {
		fr := fireRecord{Instant: toNanos(f.Instant), At: toNanos(f.At), Outcome: string(f.Outcome), Missed: f.Missed}
		if !f.JobID.IsZero() {
			id := f.JobID
			fr.JobID = &id
		}
		r.Fires = append(r.Fires, fr)
	}
	body, err := json.Marshal(&r)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 1+len(body)+crcLen)
	b = append(b, scheduleVersion)
	b = append(b, body...)
	return sealValue(b, 0), nil
}

func decodeSchedule(id string, v []byte) (*store.Schedule, error) {
	body, err := openValue(v, scheduleVersion)
	if err != nil {
		return nil, err
	}
	var r scheduleRecord
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadRecord, err)
	}
	if r.ID != id {
		return nil, fmt.Errorf("%w: schedule record names %q under key %q", errBadRecord, r.ID, id)
	}
	sc := &store.Schedule{
		ScheduleDefinition: store.ScheduleDefinition{
			ID: r.ID, Spec: r.Spec, TimeZone: r.TimeZone, Jitter: time.Duration(r.Jitter),
			StartAt: fromNanos(r.StartAt), EndAt: fromNanos(r.EndAt),
			MisfirePolicy: store.MisfirePolicy(r.Misfire), CatchUpLimit: r.CatchUpLimit,
			OverlapPolicy: store.OverlapPolicy(r.Overlap),
			Job: store.JobTemplate{
				Kind: r.Kind, Args: r.Args, Queue: r.Queue, Priority: r.Priority,
				MaxAttempts: r.MaxAttempts, Timeout: time.Duration(r.Timeout), Metadata: r.Metadata, Tags: r.Tags,
			},
		},
		Paused: r.Paused, CreatedAt: fromNanos(r.CreatedAt), UpdatedAt: fromNanos(r.UpdatedAt),
		LastFireAt: fromNanos(r.LastFireAt), NextFireAt: fromNanos(r.NextFireAt),
	}
	if r.LastJobID != nil {
		sc.LastJobID = *r.LastJobID
	}
	for _, f := range r.Fires {
		fr := store.ScheduleFireRecord{Instant: fromNanos(f.Instant), At: fromNanos(f.At), Outcome: store.FireOutcome(f.Outcome), Missed: f.Missed}
		if f.JobID != nil {
			fr.JobID = *f.JobID
		}
		sc.Fires = append(sc.Fires, fr)
	}
	return sc, nil
}

// loadScheduleLocked indexes a schedule record read by the rebuild.
func (s *Store) loadScheduleLocked(key, val []byte) error {
	sc, err := decodeSchedule(string(key[1:]), val)
	if err != nil {
		return err
	}
	if s.schedules == nil {
		s.schedules = make(map[string]*store.Schedule)
	}
	s.schedules[sc.ID] = sc
	return nil
}

func snapSchedule(sc *store.Schedule) *store.Schedule {
	c := *sc
	return &c
}

// checkDefinition rejects params the store cannot store faithfully; the
// engine validates everything else before it calls.
func checkDefinition(d *store.ScheduleDefinition) error {
	switch {
	case d.ID == "":
		return invalid("id", "empty")
	case len(d.ID) > maxScheduleID:
		return invalid("id", fmt.Sprintf("%d bytes, over the limit of %d", len(d.ID), maxScheduleID))
	case !utf8.ValidString(d.ID) || strings.ContainsRune(d.ID, 0):
		return invalid("id", "not valid UTF-8 or contains a NUL byte")
	case d.Spec == "":
		return invalid("spec", "empty")
	case !d.MisfirePolicy.Valid():
		return invalid("misfirePolicy", fmt.Sprintf("unknown policy %q", d.MisfirePolicy))
	case !d.OverlapPolicy.Valid():
		return invalid("overlapPolicy", fmt.Sprintf("unknown policy %q", d.OverlapPolicy))
	case d.CatchUpLimit < 0:
		return invalid("catchUpLimit", "negative")
	case d.Jitter < 0:
		return invalid("jitter", "negative")
	case d.Job.Kind == "":
		return invalid("job.kind", "empty")
	case !fitsInt32(d.Job.Priority):
		return invalid("job.priority", "out of range")
	case !fitsInt32(d.Job.MaxAttempts):
		return invalid("job.maxAttempts", "out of range")
	case len(d.Job.Args) > 0 && !json.Valid(d.Job.Args):
		return invalid("job.args", "not valid JSON")
	}
	return nil
}

// ScheduleUpsert creates or replaces a schedule (see store.ScheduleStore).
func (s *Store) ScheduleUpsert(ctx context.Context, p *store.ScheduleUpsertParams) (*store.ScheduleUpsertResult, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if err := checkDefinition(&p.Definition); err != nil {
		return nil, err
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	now := fromNanos(s.nowOr(p.Now))
	old := s.schedules[p.Definition.ID]
	var sc store.Schedule
	res := &store.ScheduleUpsertResult{}
	switch {
	case old == nil:
		sc = store.Schedule{CreatedAt: now, UpdatedAt: now, NextFireAt: p.NextFireAt}
		if p.Paused != nil {
			sc.Paused = *p.Paused
		}
		res.Created, res.Changed = true, true
	default:
		sc = *old
		if !old.ScheduleDefinition.Equal(&p.Definition) {
			sc.NextFireAt = p.NextFireAt
			res.Changed = true
		}
		if p.Paused != nil && *p.Paused != old.Paused {
			sc.Paused = *p.Paused
			res.Changed = true
			if !sc.Paused {
				sc.NextFireAt = p.NextFireAt // resumed: instants passed while paused are not misfires
			}
		}
		if !res.Changed {
			s.mu.Unlock()
			res.Schedule = snapSchedule(old)
			return res, nil
		}
		sc.UpdatedAt = now
	}
	sc.ScheduleDefinition = cloneDefinition(&p.Definition)
	if err := s.writeScheduleLocked(&sc, nil, nil); err != nil {
		return nil, err
	}
	res.Schedule = snapSchedule(&sc)
	return res, nil
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

// writeScheduleLocked encodes sc (a fresh value the caller no longer
// modifies) into a batch with the job records already in b (nil: a new
// batch), installs it in memory, commits (releasing s.mu), wakes w, and
// waits for the fsync.
func (s *Store) writeScheduleLocked(sc *store.Schedule, b *pebble.Batch, w *wakeSet) error {
	val, err := encodeSchedule(sc)
	if err != nil {
		s.mu.Unlock()
		if b != nil {
			_ = b.Close()
		}
		return fmt.Errorf("embedded: encode schedule %q: %w", sc.ID, err)
	}
	if b == nil {
		b = s.db.NewBatch()
	}
	_ = b.Set(nameKey(prefixSchedule, sc.ID), val, nil)
	if s.schedules == nil {
		s.schedules = make(map[string]*store.Schedule)
	}
	s.schedules[sc.ID] = sc
	return s.finish(b, w)
}

// ScheduleGet returns one schedule (see store.ScheduleStore).
func (s *Store) ScheduleGet(ctx context.Context, p *store.ScheduleGetParams) (*store.Schedule, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	sc := s.schedules[p.ID]
	if sc == nil {
		return nil, scheduleNotFound(p.ID)
	}
	return snapSchedule(sc), nil
}

func scheduleNotFound(id string) error {
	return fmt.Errorf("schedule %q: %w", id, store.ErrNotFound)
}

// ScheduleList returns every schedule by ID (see store.ScheduleStore).
func (s *Store) ScheduleList(ctx context.Context, p *store.ScheduleListParams) ([]*store.Schedule, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	out := make([]*store.Schedule, 0, len(s.schedules))
	for _, sc := range s.schedules {
		out = append(out, snapSchedule(sc))
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b *store.Schedule) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// ScheduleDelete deletes a schedule (see store.ScheduleStore).
func (s *Store) ScheduleDelete(ctx context.Context, p *store.ScheduleDeleteParams) error {
	if p == nil {
		return invalid("params", "nil")
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	if s.schedules[p.ID] == nil {
		s.mu.Unlock()
		return scheduleNotFound(p.ID)
	}
	delete(s.schedules, p.ID)
	b := s.db.NewBatch()
	_ = b.Delete(nameKey(prefixSchedule, p.ID), nil)
	return s.finish(b, nil)
}

// SchedulePause pauses or resumes a schedule (see store.ScheduleStore).
func (s *Store) SchedulePause(ctx context.Context, p *store.SchedulePauseParams) (*store.Schedule, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	old := s.schedules[p.ID]
	switch {
	case old == nil:
		s.mu.Unlock()
		return nil, scheduleNotFound(p.ID)
	case old.Paused == p.Paused:
		s.mu.Unlock()
		return snapSchedule(old), nil
	}
	sc := *old
	sc.Paused = p.Paused
	sc.UpdatedAt = fromNanos(s.nowOr(p.Now))
	if !p.Paused {
		sc.NextFireAt = p.NextFireAt
	}
	if err := s.writeScheduleLocked(&sc, nil, nil); err != nil {
		return nil, err
	}
	return snapSchedule(&sc), nil
}

// ScheduleDueList returns the schedules due at Now (see store.ScheduleStore).
// It scans every schedule: they are few.
func (s *Store) ScheduleDueList(ctx context.Context, p *store.ScheduleDueListParams) (*store.ScheduleDueListResult, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	limit := p.Limit
	if limit <= 0 {
		limit = dueListDefault
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	now := fromNanos(s.nowOr(p.Now))
	res := &store.ScheduleDueListResult{}
	var due []*store.Schedule
	for _, sc := range s.schedules {
		switch {
		case sc.Paused || sc.NextFireAt.IsZero():
		case !sc.NextFireAt.After(now):
			due = append(due, sc)
		case res.NextAt.IsZero() || sc.NextFireAt.Before(res.NextAt):
			res.NextAt = sc.NextFireAt
		}
	}
	s.mu.Unlock()
	slices.SortFunc(due, func(a, b *store.Schedule) int {
		if c := a.NextFireAt.Compare(b.NextFireAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if len(due) > limit {
		// The first one left out is due: the caller should come back at once.
		res.NextAt = due[limit].NextFireAt
		due = due[:limit]
	}
	res.Due = make([]*store.Schedule, len(due))
	for i, sc := range due {
		res.Due[i] = snapSchedule(sc)
	}
	return res, nil
}

// ScheduleFire records fires and inserts their jobs in one atomic, durable
// write (see store.ScheduleStore).
func (s *Store) ScheduleFire(ctx context.Context, p *store.ScheduleFireParams) (*store.Schedule, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	jobs, err := p.FireJobs(func(field string, j *store.InsertJob) error {
		switch {
		case !fitsInt32(j.Priority):
			return invalid(field+".priority", "out of range")
		case !fitsInt32(j.MaxAttempts):
			return invalid(field+".max_attempts", "out of range")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	argBytes := 0
	for i := range jobs {
		argBytes += len(jobs[i].Args)
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	old := s.schedules[p.ID]
	switch {
	case old == nil:
		s.mu.Unlock()
		return nil, scheduleNotFound(p.ID)
	case !p.Manual && (old.Paused || !sameInstant(old.NextFireAt, p.ExpectNextFireAt)):
		s.mu.Unlock()
		return nil, fmt.Errorf("schedule %q: next fire is %s (paused %t), expected %s: %w",
			p.ID, old.NextFireAt.UTC().Format(time.RFC3339Nano), old.Paused, p.ExpectNextFireAt.UTC().Format(time.RFC3339Nano), store.ErrScheduleConflict)
	}
	now, clock := s.clocks(p.Now)
	b := s.db.NewBatch()
	var w wakeSet
	results := s.insertJobsLocked(b, &w, jobs, argBytes, now, clock)
	sc := *old
	fires := make([]store.ScheduleFireRecord, 0, len(old.Fires)+len(p.Fires))
	fires = append(fires, old.Fires...)
	at := fromNanos(now)
	k := 0
	for _, f := range p.Fires {
		rec := store.ScheduleFireRecord{Instant: f.Instant, At: at, Outcome: f.Outcome, Missed: f.Missed}
		if f.Job != nil {
			r := results[k]
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
		fires = slices.Clone(fires[len(fires)-store.MaxScheduleFires:])
	}
	sc.Fires = fires
	if !p.Manual {
		sc.LastFireAt, sc.NextFireAt = p.LastFireAt, p.NextFireAt
	}
	if err := s.writeScheduleLocked(&sc, b, &w); err != nil {
		return nil, err
	}
	return snapSchedule(&sc), nil
}

// sameInstant compares at the precision the store keeps (nanoseconds, zero
// as zero).
func sameInstant(a, b time.Time) bool { return toNanos(a) == toNanos(b) }
