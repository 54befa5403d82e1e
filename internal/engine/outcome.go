package engine

import (
	"time"

	"github.com/troikahq/troika/store"
)

// FailAck returns the ack of a failed attempt of j (as claimed): a retry at
// now+backoff while attempts remain, otherwise dead, with e recorded as the
// attempt's error (e.Attempt and e.At are filled in when zero). When the
// job is dead because its attempts are exhausted, the message says so.
// backoff < 0 is treated as 0.
func FailAck(j *store.Job, now time.Time, e store.AttemptError, backoff time.Duration) store.JobAck {
	if e.Attempt == 0 {
		e.Attempt = j.Attempt
	}
	if e.At.IsZero() {
		e.At = now
	}
	if j.Attempt >= j.MaxAttempts {
		e.Message += " (attempts exhausted: " + itoa(j.Attempt) + " of " + itoa(j.MaxAttempts) + ")"
		return store.JobAck{Lease: j.Lease(), Outcome: store.AckDead, Error: &e}
	}
	return store.JobAck{Lease: j.Lease(), Outcome: store.AckRetry, RunAt: now.Add(max(backoff, 0)), Error: &e}
}

// DeadAck returns the ack that makes j dead at once (a permanent failure),
// recording e as the attempt's error (Attempt and At filled in when zero).
func DeadAck(j *store.Job, now time.Time, e store.AttemptError) store.JobAck {
	if e.Attempt == 0 {
		e.Attempt = j.Attempt
	}
	if e.At.IsZero() {
		e.At = now
	}
	return store.JobAck{Lease: j.Lease(), Outcome: store.AckDead, Error: &e}
}
