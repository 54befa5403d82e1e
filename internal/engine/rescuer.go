package engine

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/troikahq/troika/store"
)

// rescuePageLimit is how many expired leases the rescuer handles per store
// call; maxPages bounds the calls of one pass so that a pass ends.
const (
	rescuePageLimit = 1000
	maxPages        = 100
)

// Rescuer fails the attempts of jobs whose lease expired (their worker died
// or stalled): each becomes retryable with back-off, or dead when its
// attempts are exhausted, with the AttemptError "lease expired …". The acks
// go through JobAckMany, whose compare-and-set makes a race with a late ack
// of the original worker safe: whichever comes second fails with
// ErrLeaseLost and changes nothing. Safe for concurrent use, but passes are
// meant to run one at a time (a Service).
type Rescuer struct {
	st       store.Store
	now      func() time.Time
	backoff  func(attempt int) time.Duration
	counters *Counters
	log      *slog.Logger
}

// NewRescuer returns a Rescuer. backoff nil means DefaultBackoff.
func NewRescuer(st store.Store, now func() time.Time, backoff func(int) time.Duration, c *Counters, log *slog.Logger) *Rescuer {
	if backoff == nil {
		backoff = DefaultBackoff
	}
	return &Rescuer{st: st, now: now, backoff: backoff, counters: c, log: log}
}

// Pass rescues every lease expired now (up to 100,000 per pass).
func (r *Rescuer) Pass(ctx context.Context) error {
	for range maxPages {
		now := r.now()
		jobs, err := r.st.JobLeaseExpiredList(ctx, &store.JobLeaseExpiredListParams{Now: now, Limit: rescuePageLimit})
		if err != nil || len(jobs) == 0 {
			return err
		}
		if err := r.rescue(ctx, jobs, now); err != nil {
			return err
		}
		if len(jobs) < rescuePageLimit {
			return nil
		}
	}
	return nil
}

func (r *Rescuer) rescue(ctx context.Context, jobs []*store.Job, now time.Time) error {
	acks := make([]store.JobAck, len(jobs))
	for i, j := range jobs {
		msg := fmt.Sprintf("lease expired: worker %q stopped heartbeating (lease deadline %s)", j.LeaseHolder, j.LeaseDeadline.UTC().Format(time.RFC3339Nano))
		acks[i] = FailAck(j, now, store.AttemptError{Message: msg}, r.backoff(j.Attempt))
	}
	errs, err := r.st.JobAckMany(ctx, &store.JobAckManyParams{Acks: acks, Now: now})
	if err != nil {
		return err
	}
	for i, j := range jobs {
		if i < len(errs) && errs[i] != nil {
			continue // acked or rescued by someone else meanwhile
		}
		r.counters.LeasesRescued.Add(1)
		r.log.Warn("troika: rescued job with expired lease", "job_id", j.ID.String(), "kind", j.Kind, "queue", j.Queue,
			"attempt", j.Attempt, "worker", j.LeaseHolder, "outcome", outcomeName(acks[i].Outcome))
	}
	return nil
}

func outcomeName(o store.AckOutcome) string {
	switch o {
	case store.AckComplete:
		return "completed"
	case store.AckRetry:
		return "retry"
	case store.AckDead:
		return "dead"
	case store.AckCancel:
		return "cancelled"
	case store.AckSnooze:
		return "snoozed"
	}
	return "unknown"
}
