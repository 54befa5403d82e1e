package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/troikahq/troika/internal/cron"
	"github.com/troikahq/troika/store"
)

// The schedule operations shared by the SDK and the server: each validates
// input, computes instants with the schedule's spec and calls the
// ScheduleStore. now is the caller's clock.

// UpsertSchedule validates in (see BuildSchedule; field prefixes rejected
// field names) and creates or replaces the schedule. paused nil keeps the
// stored paused state (false for a new schedule). The next fire instant is
// computed after now, or after the last handled instant if that is later,
// so a redefinition never refires an instant. Upserting an unchanged
// definition writes nothing (idempotent; safe from many processes at once).
func UpsertSchedule(ctx context.Context, ss store.ScheduleStore, in *ScheduleInput, paused *bool, field string, now time.Time, lim Limits) (*store.ScheduleUpsertResult, error) {
	d, cs, err := BuildSchedule(in, field, now, lim)
	if err != nil {
		return nil, err
	}
	created, last := now, time.Time{}
	old, err := ss.ScheduleGet(ctx, &store.ScheduleGetParams{ID: d.ID})
	switch {
	case err == nil:
		created, last = old.CreatedAt, old.LastFireAt
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	next := NextFire(cs, d, maxTime(now, last), Anchor(d, created))
	return ss.ScheduleUpsert(ctx, &store.ScheduleUpsertParams{Definition: *d, Paused: paused, NextFireAt: next, Now: now})
}

// PauseSchedule pauses (paused true) or resumes a schedule. A resumed
// schedule fires next at its first instant after now: instants that passed
// while it was paused are not misfires.
func PauseSchedule(ctx context.Context, ss store.ScheduleStore, id string, paused bool, now time.Time) (*store.Schedule, error) {
	if r := CheckScheduleID(id); r != "" {
		return nil, &store.InvalidArgumentError{Field: "id", Reason: r}
	}
	p := &store.SchedulePauseParams{ID: id, Paused: paused, Now: now}
	if !paused {
		sc, err := ss.ScheduleGet(ctx, &store.ScheduleGetParams{ID: id})
		if err != nil {
			return nil, err
		}
		cs, err := cron.Parse(sc.Spec, sc.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("schedule %q: stored spec: %w", id, err)
		}
		p.NextFireAt = NextFire(cs, &sc.ScheduleDefinition, maxTime(now, sc.LastFireAt), Anchor(&sc.ScheduleDefinition, sc.CreatedAt))
	}
	return ss.SchedulePause(ctx, p)
}

// TriggerSchedule fires a schedule once now, outside its timetable: a job
// from its template, runnable at once, with its own unique key. It ignores
// the overlap policy and paused state (an operator asked) and leaves the
// timetable (LastFireAt, NextFireAt) alone. It returns the schedule with the
// trigger as the newest entry of its history.
func TriggerSchedule(ctx context.Context, ss store.ScheduleStore, id string, now time.Time) (*store.Schedule, error) {
	if r := CheckScheduleID(id); r != "" {
		return nil, &store.InvalidArgumentError{Field: "id", Reason: r}
	}
	sc, err := ss.ScheduleGet(ctx, &store.ScheduleGetParams{ID: id})
	if err != nil {
		return nil, err
	}
	j := FireJob(&sc.ScheduleDefinition, now)
	j.RunAt = now
	j.UniqueKey = "troika:schedule:" + id + ":trigger:" + now.UTC().Format(time.RFC3339Nano)
	j.UniqueUntil = now.Add(uniqueFor)
	return ss.ScheduleFire(ctx, &store.ScheduleFireParams{ID: id, Manual: true,
		Fires: []store.ScheduleFireItem{{Instant: now, Outcome: store.FireTriggered, Job: j}}, Now: now})
}

// UpcomingFires returns the next n fire instants of a schedule as stored:
// its NextFireAt and the instants after it; none when it is paused, has no
// next fire, or its spec no longer parses.
func UpcomingFires(sc *store.Schedule, n int) []time.Time {
	if sc.Paused || sc.NextFireAt.IsZero() || n <= 0 {
		return nil
	}
	cs, err := cron.Parse(sc.Spec, sc.TimeZone)
	if err != nil {
		return nil
	}
	out := []time.Time{sc.NextFireAt}
	return append(out, NextFires(cs, &sc.ScheduleDefinition, sc.NextFireAt, Anchor(&sc.ScheduleDefinition, sc.CreatedAt), n-1)...)
}
