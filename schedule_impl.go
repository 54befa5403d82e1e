package troika

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/troikahq/troika/internal/engine"
	"github.com/troikahq/troika/internal/sdkhook"
	"github.com/troikahq/troika/store"
)

const (
	defaultNextFires = 5
	maxNextFires     = 100
)

// schedules returns the store's schedule seam, or an error saying the
// backend has none.
func (c *clientImpl) schedules() (store.ScheduleStore, error) {
	ss, ok := c.st.(store.ScheduleStore)
	if !ok {
		return nil, fmt.Errorf("troika: the %T store does not support schedules: %w", c.st, errors.ErrUnsupported)
	}
	return ss, nil
}

// startScheduler starts the firing service when the client runs
// maintenance over a store with schedules: it fires only while this
// process holds the maintenance leader lease.
func (c *clientImpl) startScheduler(ctx context.Context) error {
	ss, ok := c.st.(store.ScheduleStore)
	if !ok || c.maint == nil {
		return nil
	}
	c.sched = engine.NewScheduler(engine.SchedulerConfig{
		Store: c.st, Schedules: ss, IsLeader: c.maint.IsLeader, Now: c.now, Logger: c.log,
	})
	return c.sched.Start(ctx)
}

func init() {
	sdkhook.KickScheduler = func(c any) {
		if cl, ok := c.(*Client); ok && cl != nil && cl.impl != nil {
			cl.impl.kickScheduler()
		}
	}
}

// kickScheduler wakes this process's firer after a change.
func (c *clientImpl) kickScheduler() {
	if c.sched != nil {
		c.sched.Kick()
	}
}

// scheduleInput converts a declared Schedule to the engine's input; field
// prefixes the names of rejected fields.
func scheduleInput(s *Schedule, field string) (*engine.ScheduleInput, error) {
	kind, payload, err := encodeArgs(s.Args)
	if err != nil {
		return nil, &InvalidArgumentError{Field: field + "job.args", Reason: err.Error()}
	}
	in := &engine.ScheduleInput{
		ID: s.ID, Spec: s.Spec, TimeZone: s.TimeZone, Jitter: s.Jitter, StartAt: s.Start, EndAt: s.End,
		MisfirePolicy: s.Misfire, CatchUpLimit: s.CatchUpLimit, OverlapPolicy: s.Overlap,
		Kind: kind, Args: payload,
	}
	for _, opt := range s.Options {
		if opt != nil {
			opt(&in.Job)
		}
	}
	return in, nil
}

func (c *clientImpl) upsertSchedule(ctx context.Context, s Schedule) (*UpsertScheduleResult, error) {
	ss, err := c.schedules()
	if err != nil {
		return nil, err
	}
	in, err := scheduleInput(&s, "schedule.")
	if err != nil {
		return nil, err
	}
	paused := s.Paused
	res, err := engine.UpsertSchedule(ctx, ss, in, &paused, "schedule.", c.now(), c.limits)
	if err != nil {
		return nil, err
	}
	if res.Changed {
		c.kickScheduler()
	}
	return &UpsertScheduleResult{Schedule: scheduleInfo(res.Schedule, defaultNextFires), Created: res.Created, Changed: res.Changed}, nil
}

func scheduleInfo(sc *store.Schedule, next int) *ScheduleInfo {
	return &ScheduleInfo{ScheduleRow: sc, NextFireTimes: engine.UpcomingFires(sc, next)}
}

func (c *clientImpl) listSchedules(ctx context.Context, p ScheduleListParams) ([]*ScheduleInfo, error) {
	ss, err := c.schedules()
	if err != nil {
		return nil, err
	}
	next := p.Next
	switch {
	case next < 0:
		return nil, &InvalidArgumentError{Field: "next", Reason: fmt.Sprintf("%d is negative", next)}
	case next == 0:
		next = defaultNextFires
	case next > maxNextFires:
		return nil, &InvalidArgumentError{Field: "next", Reason: fmt.Sprintf("%d is over the limit of %d", next, maxNextFires)}
	}
	list, err := ss.ScheduleList(ctx, &store.ScheduleListParams{})
	if err != nil {
		return nil, err
	}
	out := make([]*ScheduleInfo, len(list))
	for i, sc := range list {
		out[i] = scheduleInfo(sc, next)
	}
	return out, nil
}

func checkID(id string) error {
	if r := engine.CheckScheduleID(id); r != "" {
		return &InvalidArgumentError{Field: "id", Reason: r}
	}
	return nil
}

func (c *clientImpl) getSchedule(ctx context.Context, id string) (*ScheduleInfo, error) {
	ss, err := c.schedules()
	if err != nil {
		return nil, err
	}
	if err := checkID(id); err != nil {
		return nil, err
	}
	sc, err := ss.ScheduleGet(ctx, &store.ScheduleGetParams{ID: id})
	if err != nil {
		return nil, err
	}
	return scheduleInfo(sc, defaultNextFires), nil
}

func (c *clientImpl) deleteSchedule(ctx context.Context, id string) error {
	ss, err := c.schedules()
	if err != nil {
		return err
	}
	if err := checkID(id); err != nil {
		return err
	}
	return ss.ScheduleDelete(ctx, &store.ScheduleDeleteParams{ID: id})
}

func (c *clientImpl) pauseSchedule(ctx context.Context, id string, paused bool) (*ScheduleInfo, error) {
	ss, err := c.schedules()
	if err != nil {
		return nil, err
	}
	sc, err := engine.PauseSchedule(ctx, ss, id, paused, c.now())
	if err != nil {
		return nil, err
	}
	if !paused {
		c.kickScheduler()
	}
	return scheduleInfo(sc, defaultNextFires), nil
}

func (c *clientImpl) triggerSchedule(ctx context.Context, id string) (*EnqueueResult, error) {
	ss, err := c.schedules()
	if err != nil {
		return nil, err
	}
	sc, err := engine.TriggerSchedule(ctx, ss, id, c.now())
	if err != nil {
		return nil, err
	}
	f := sc.Fires[len(sc.Fires)-1]
	j, err := c.st.JobGet(ctx, &store.JobGetParams{ID: f.JobID})
	if err != nil {
		return nil, fmt.Errorf("troika: triggered job %s: %w", f.JobID, err)
	}
	return &EnqueueResult{ID: j.ID, State: j.State, Duplicate: f.Outcome == FireDuplicate}, nil
}

func (c *clientImpl) reconcileSchedules(ctx context.Context, set []Schedule, prune bool) (*ReconcileResult, error) {
	ss, err := c.schedules()
	if err != nil {
		return nil, err
	}
	now := c.now()
	inputs := make([]*engine.ScheduleInput, len(set))
	seen := make(map[string]int, len(set))
	for i := range set {
		field := "schedules[" + strconv.Itoa(i) + "]."
		in, err := scheduleInput(&set[i], field)
		if err != nil {
			return nil, err
		}
		if _, _, err := engine.BuildSchedule(in, field, now, c.limits); err != nil {
			return nil, err
		}
		if j, dup := seen[in.ID]; dup {
			return nil, &InvalidArgumentError{Field: field + "id", Reason: fmt.Sprintf("%q is also schedules[%d]", in.ID, j)}
		}
		seen[in.ID] = i
		inputs[i] = in
	}
	res := &ReconcileResult{}
	for i, in := range inputs {
		field := "schedules[" + strconv.Itoa(i) + "]."
		var paused *bool
		if set[i].Paused {
			// Paused applies to a schedule being created; an existing one
			// keeps its state (ScheduleUpsert keeps it with nil).
			if _, err := ss.ScheduleGet(ctx, &store.ScheduleGetParams{ID: in.ID}); errors.Is(err, store.ErrNotFound) {
				p := true
				paused = &p
			}
		}
		r, err := engine.UpsertSchedule(ctx, ss, in, paused, field, now, c.limits)
		if err != nil {
			return res, err
		}
		switch {
		case r.Created:
			res.Created = append(res.Created, in.ID)
		case r.Changed:
			res.Updated = append(res.Updated, in.ID)
		default:
			res.Unchanged = append(res.Unchanged, in.ID)
		}
	}
	if prune {
		list, err := ss.ScheduleList(ctx, &store.ScheduleListParams{})
		if err != nil {
			return res, err
		}
		for _, sc := range list {
			if _, keep := seen[sc.ID]; keep {
				continue
			}
			if err := ss.ScheduleDelete(ctx, &store.ScheduleDeleteParams{ID: sc.ID}); err != nil && !errors.Is(err, store.ErrNotFound) {
				return res, err
			}
			res.Deleted = append(res.Deleted, sc.ID)
		}
	}
	if len(res.Created)+len(res.Updated) > 0 {
		c.kickScheduler()
	}
	return res, nil
}
