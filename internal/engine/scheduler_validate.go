package engine

import (
	"errors"
	"fmt"
	"time"

	"github.com/troikahq/troika/internal/cron"
	"github.com/troikahq/troika/store"
)

// Defaults and limits of schedules. The root package re-exports them.
const (
	DefaultMisfirePolicy = store.MisfireRunOnce
	DefaultOverlapPolicy = store.OverlapAllow
	DefaultCatchUpLimit  = 10   // catch_up without a limit
	MaxCatchUpLimit      = 1000 // instants fired by one catch-up
	MaxScheduleIDLen     = 128  // bytes, [A-Za-z0-9._:/-]
	MaxJitter            = 24 * time.Hour
)

// ScheduleInput is a schedule as a user declares it. Build it into a
// store.ScheduleDefinition with BuildSchedule. Zero policies take the
// defaults. Job holds the job options of the template: Queue, Priority,
// MaxAttempts, Timeout, Metadata and Tags; a delay, run time or unique key
// is rejected (a schedule sets run_at from its instants and its own unique
// key).
type ScheduleInput struct {
	ID            string
	Spec          string
	TimeZone      string
	Jitter        time.Duration
	StartAt       time.Time
	EndAt         time.Time
	MisfirePolicy store.MisfirePolicy
	CatchUpLimit  int
	OverlapPolicy store.OverlapPolicy
	Kind          string
	Args          []byte // JSON; empty means {}
	Job           JobOptions
}

// BuildSchedule validates in and returns its definition, defaults applied,
// with the parsed spec. field prefixes the names of rejected fields (e.g.
// "schedule." or "schedules[2]."). Every rejection is a
// *store.InvalidArgumentError naming the field; BuildSchedule never panics.
// now is the instant template validation counts from.
func BuildSchedule(in *ScheduleInput, field string, now time.Time, lim Limits) (*store.ScheduleDefinition, *cron.Schedule, error) {
	bad := func(name, reason string) error {
		return &store.InvalidArgumentError{Field: field + name, Reason: reason}
	}
	if r := CheckScheduleID(in.ID); r != "" {
		return nil, nil, bad("id", r)
	}
	cs, err := cron.Parse(in.Spec, in.TimeZone)
	if err != nil {
		var ce *cron.Error
		if errors.As(err, &ce) {
			return nil, nil, bad(ce.Field, ce.Reason)
		}
		return nil, nil, bad("spec", err.Error())
	}
	d := &store.ScheduleDefinition{
		ID: in.ID, Spec: in.Spec, TimeZone: in.TimeZone, Jitter: in.Jitter,
		StartAt: in.StartAt.Truncate(time.Microsecond), EndAt: in.EndAt.Truncate(time.Microsecond),
		MisfirePolicy: in.MisfirePolicy, CatchUpLimit: in.CatchUpLimit, OverlapPolicy: in.OverlapPolicy,
	}
	if d.TimeZone == "UTC" {
		d.TimeZone = ""
	}
	switch {
	case in.Jitter < 0:
		return nil, nil, bad("jitter", fmt.Sprintf("%s is negative", in.Jitter))
	case in.Jitter > MaxJitter:
		return nil, nil, bad("jitter", fmt.Sprintf("%s is over the limit of %s", in.Jitter, MaxJitter))
	case cs.Interval() > 0 && in.Jitter >= cs.Interval():
		return nil, nil, bad("jitter", fmt.Sprintf("%s is not shorter than the interval %s (fires would overtake each other)", in.Jitter, cs.Interval()))
	case !in.StartAt.IsZero() && !in.EndAt.IsZero() && in.EndAt.Before(in.StartAt):
		return nil, nil, bad("endAt", fmt.Sprintf("%s is before startAt %s", in.EndAt.UTC().Format(time.RFC3339), in.StartAt.UTC().Format(time.RFC3339)))
	case in.StartAt.After(maxRunAt) || in.EndAt.After(maxRunAt):
		return nil, nil, bad("endAt", fmt.Sprintf("after %s", maxRunAt.Format(time.RFC3339)))
	}
	if err := buildPolicies(d, bad); err != nil {
		return nil, nil, err
	}
	if err := buildTemplate(d, in, field, now, lim); err != nil {
		return nil, nil, err
	}
	return d, cs, nil
}

func buildPolicies(d *store.ScheduleDefinition, bad func(name, reason string) error) error {
	if d.MisfirePolicy == "" {
		d.MisfirePolicy = DefaultMisfirePolicy
	}
	if d.OverlapPolicy == "" {
		d.OverlapPolicy = DefaultOverlapPolicy
	}
	switch {
	case !d.MisfirePolicy.Valid():
		return bad("misfirePolicy", fmt.Sprintf("unknown policy %s (want skip, run_once or catch_up)", quote(string(d.MisfirePolicy))))
	case !d.OverlapPolicy.Valid():
		return bad("overlapPolicy", fmt.Sprintf("unknown policy %s (want allow, skip_if_running or queue_one)", quote(string(d.OverlapPolicy))))
	case d.CatchUpLimit < 0:
		return bad("catchUpLimit", fmt.Sprintf("%d is negative", d.CatchUpLimit))
	case d.CatchUpLimit > MaxCatchUpLimit:
		return bad("catchUpLimit", fmt.Sprintf("%d is over the limit of %d", d.CatchUpLimit, MaxCatchUpLimit))
	case d.CatchUpLimit > 0 && d.MisfirePolicy != store.MisfireCatchUp:
		return bad("catchUpLimit", fmt.Sprintf("only applies to misfire policy catch_up, not %s", d.MisfirePolicy))
	}
	if d.MisfirePolicy == store.MisfireCatchUp && d.CatchUpLimit == 0 {
		d.CatchUpLimit = DefaultCatchUpLimit
	}
	return nil
}

// buildTemplate validates the job template with the enqueue rules and fills
// d.Job with the result (defaults applied).
func buildTemplate(d *store.ScheduleDefinition, in *ScheduleInput, field string, now time.Time, lim Limits) error {
	o := in.Job
	switch {
	case o.HasDelay || !o.RunAt.IsZero():
		return &store.InvalidArgumentError{Field: field + "job.runAt", Reason: "not allowed: a schedule's jobs run at its fire instants"}
	case o.HasUnique:
		return &store.InvalidArgumentError{Field: field + "job.uniqueKey", Reason: "not allowed: each fire instant already has its own unique key"}
	case o.HasOrderingKey: // a JobTemplate has no ordering key: refuse rather than drop it (topic.go)
		return &store.InvalidArgumentError{Field: field + "job.orderingKey", Reason: "not supported on schedules yet"}
	}
	var ij store.InsertJob
	if err := o.Build(&ij, -1, in.Kind, in.Args, now, lim); err != nil {
		var ie *store.InvalidArgumentError
		if errors.As(err, &ie) {
			return &store.InvalidArgumentError{Field: field + "job." + ie.Field, Reason: ie.Reason}
		}
		return err
	}
	d.Job = store.JobTemplate{
		Kind: ij.Kind, Args: append([]byte(nil), ij.Args...), Queue: ij.Queue, Priority: ij.Priority,
		MaxAttempts: ij.MaxAttempts, Timeout: ij.Timeout, Metadata: ij.Metadata, Tags: ij.Tags,
	}
	return nil
}

// CheckScheduleID returns why id is not a valid schedule id
// ([A-Za-z0-9._:/-]{1,128}), or "" if it is.
func CheckScheduleID(id string) string {
	if id == "" {
		return "empty"
	}
	if len(id) > MaxScheduleIDLen {
		return fmt.Sprintf("%d bytes, over the limit of %d", len(id), MaxScheduleIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == ':' || c == '/') {
			return fmt.Sprintf("%s: only A-Z, a-z, 0-9, '.', '_', '-', ':' and '/' are allowed", quote(id))
		}
	}
	return ""
}
