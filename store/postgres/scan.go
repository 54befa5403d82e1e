package postgres

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/troikahq/troika/store"
)

// jobColumns are the columns of a job as scanJob reads them.
var jobColumns = []string{
	"id", "kind", "args", "queue", "priority", "state", "run_at", "attempt", "max_attempts", "timeout_ns",
	"unique_key", "unique_until", "metadata", "tags", "created_at", "attempted_at", "finished_at", "errors",
	"result", "lease_holder", "lease_token", "lease_deadline", "ordering_key",
}

// cols returns the job columns qualified with alias ("" for none).
func cols(alias string) string {
	if alias == "" {
		return strings.Join(jobColumns, ", ")
	}
	return alias + "." + strings.Join(jobColumns, ", "+alias+".")
}

// jobScan holds the scan targets of one row.
type jobScan struct {
	id                                   pgtype.UUID
	kind, queue, state                   string
	args, result, metadata, tags, errors []byte
	priority                             int16
	attempt, maxAttempts                 int32
	timeout, token                       int64
	runAt, createdAt                     time.Time
	uniqueKey, holder, orderingKey       pgtype.Text
	uniqueUntil, attemptedAt, finishedAt pgtype.Timestamptz
	deadline                             pgtype.Timestamptz
}

func (s *jobScan) targets() []any {
	return []any{&s.id, &s.kind, &s.args, &s.queue, &s.priority, &s.state, &s.runAt, &s.attempt, &s.maxAttempts,
		&s.timeout, &s.uniqueKey, &s.uniqueUntil, &s.metadata, &s.tags, &s.createdAt, &s.attemptedAt, &s.finishedAt,
		&s.errors, &s.result, &s.holder, &s.token, &s.deadline, &s.orderingKey}
}

// job converts the scanned row; the byte slices it keeps were copied by
// pgx and are owned by the new job.
func (s *jobScan) job() (*store.Job, error) {
	j := &store.Job{
		ID: store.ID(s.id.Bytes), Kind: s.kind, Args: s.args, Queue: s.queue, Priority: int(s.priority),
		State: store.JobState(s.state), RunAt: s.runAt.UTC(), Attempt: int(s.attempt), MaxAttempts: int(s.maxAttempts),
		Timeout: time.Duration(s.timeout), UniqueKey: s.uniqueKey.String, UniqueUntil: utc(s.uniqueUntil),
		CreatedAt: s.createdAt.UTC(), AttemptedAt: utc(s.attemptedAt), FinishedAt: utc(s.finishedAt),
		Result: s.result, LeaseHolder: s.holder.String, LeaseToken: uint64(s.token), LeaseDeadline: utc(s.deadline),
		OrderingKey: s.orderingKey.String,
	}
	if len(s.metadata) > 0 {
		if err := json.Unmarshal(s.metadata, &j.Metadata); err != nil {
			return nil, fmt.Errorf("%w: job %s metadata: %v", store.ErrCorrupt, j.ID, err)
		}
	}
	if len(s.tags) > 0 {
		if err := json.Unmarshal(s.tags, &j.Tags); err != nil {
			return nil, fmt.Errorf("%w: job %s tags: %v", store.ErrCorrupt, j.ID, err)
		}
	}
	if len(s.errors) > 0 {
		if err := json.Unmarshal(s.errors, &j.Errors); err != nil {
			return nil, fmt.Errorf("%w: job %s errors: %v", store.ErrCorrupt, j.ID, err)
		}
		for i := range j.Errors {
			j.Errors[i].At = j.Errors[i].At.UTC()
		}
	}
	return j, nil
}

func utc(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

func ts(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: t, Valid: true}
}

// scanJobs reads every row of rows as a job and closes rows.
func scanJobs(rows pgx.Rows) ([]*store.Job, error) {
	defer rows.Close()
	var out []*store.Job
	var sc jobScan
	t := sc.targets()
	for rows.Next() {
		sc = jobScan{}
		if err := rows.Scan(t...); err != nil {
			return nil, err
		}
		j, err := sc.job()
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// scanJob reads one row.
func scanJob(row pgx.Row) (*store.Job, error) {
	var sc jobScan
	if err := row.Scan(sc.targets()...); err != nil {
		return nil, err
	}
	return sc.job()
}
