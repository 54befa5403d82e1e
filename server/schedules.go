package server

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	v1 "github.com/troikahq/troika/gen/troika/v1"
	"github.com/troikahq/troika/internal/engine"
	"github.com/troikahq/troika/internal/sdkhook"
	"github.com/troikahq/troika/internal/wire"
	"github.com/troikahq/troika/store"
)

// scheduleService implements troika.v1.ScheduleService with the engine's
// schedule operations over the server's store, exactly as the Go SDK does;
// the server's maintenance leader fires the schedules.
type scheduleService struct{ s *Server }

const (
	defaultNextFires = 5
	maxNextFires     = 100
)

// schedules returns the store's schedule seam.
func (s *Server) schedules() (store.ScheduleStore, error) {
	ss, ok := s.st.(store.ScheduleStore)
	if !ok {
		return nil, connect.NewError(connect.CodeUnimplemented, fmt.Errorf("troika: the server's %T store does not support schedules: %w", s.st, errors.ErrUnsupported))
	}
	return ss, nil
}

// scheduleInput decodes a wire schedule into the engine's input; field
// names are prefixed "schedule.".
func scheduleInput(p *v1.Schedule) (*engine.ScheduleInput, *bool, error) {
	if p == nil {
		return nil, nil, &store.InvalidArgumentError{Field: "schedule", Reason: "required"}
	}
	jitter, err := wire.FromDuration("schedule.jitter", p.GetJitter())
	if err != nil {
		return nil, nil, err
	}
	for _, t := range []struct {
		name string
		ok   error
	}{{"schedule.startAt", checkTime(p.GetStartAt())}, {"schedule.endAt", checkTime(p.GetEndAt())}} {
		if t.ok != nil {
			return nil, nil, &store.InvalidArgumentError{Field: t.name, Reason: t.ok.Error()}
		}
	}
	in := &engine.ScheduleInput{
		ID: p.GetId(), Spec: p.GetSpec(), TimeZone: p.GetTimezone(), Jitter: jitter,
		StartAt: wire.FromTime(p.GetStartAt()), EndAt: wire.FromTime(p.GetEndAt()),
		MisfirePolicy: store.MisfirePolicy(p.GetMisfirePolicy()), CatchUpLimit: int(p.GetCatchUpLimit()),
		OverlapPolicy: store.OverlapPolicy(p.GetOverlapPolicy()),
	}
	job := p.GetJob()
	if job == nil {
		return nil, nil, &store.InvalidArgumentError{Field: "schedule.job", Reason: "required: the job to enqueue ({\"kind\": …})"}
	}
	o, args, err := enqueueOptions(job, func(f string) string { return "schedule.job." + f })
	if err != nil {
		return nil, nil, err
	}
	in.Kind, in.Args, in.Job = job.GetKind(), args, o
	return in, p.Paused, nil
}

// checkTime rejects a Timestamp outside the range RFC 3339 can express.
func checkTime(ts *timestamppb.Timestamp) error {
	if ts == nil {
		return nil
	}
	return ts.CheckValid()
}

// scheduleOut converts a schedule for a response with its next n fire times.
func scheduleOut(sc *store.Schedule, n int, raw bool) (*v1.Schedule, error) {
	out, err := wire.Schedule(sc, engine.UpcomingFires(sc, n), raw)
	if err != nil {
		return nil, toConnect(err)
	}
	return out, nil
}

func checkScheduleID(id string) error {
	if r := engine.CheckScheduleID(id); r != "" {
		return invalid("id", r)
	}
	return nil
}

func (h *scheduleService) UpsertSchedule(ctx context.Context, req *connect.Request[v1.UpsertScheduleRequest]) (*connect.Response[v1.UpsertScheduleResponse], error) {
	ss, err := h.s.schedules()
	if err != nil {
		return nil, err
	}
	in, paused, err := scheduleInput(req.Msg.GetSchedule())
	if err != nil {
		return nil, toConnect(err)
	}
	res, err := engine.UpsertSchedule(context.WithoutCancel(ctx), ss, in, paused, "schedule.", h.s.now(), engine.Limits{})
	if err != nil {
		return nil, toConnect(err)
	}
	h.kick()
	out, err := scheduleOut(res.Schedule, defaultNextFires, binary(req.Header()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.UpsertScheduleResponse{Schedule: out, Created: res.Created, Changed: res.Changed}), nil
}

func (h *scheduleService) ListSchedules(ctx context.Context, req *connect.Request[v1.ListSchedulesRequest]) (*connect.Response[v1.ListSchedulesResponse], error) {
	ss, err := h.s.schedules()
	if err != nil {
		return nil, err
	}
	n := int(req.Msg.GetNext())
	switch {
	case n < 0:
		return nil, invalid("next", fmt.Sprintf("%d is negative", n))
	case n == 0:
		n = defaultNextFires
	case n > maxNextFires:
		return nil, invalid("next", fmt.Sprintf("%d is over the limit of %d", n, maxNextFires))
	}
	list, err := ss.ScheduleList(ctx, &store.ScheduleListParams{})
	if err != nil {
		return nil, toConnect(err)
	}
	resp := &v1.ListSchedulesResponse{Schedules: make([]*v1.Schedule, len(list))}
	for i, sc := range list {
		if resp.Schedules[i], err = scheduleOut(sc, n, binary(req.Header())); err != nil {
			return nil, err
		}
	}
	return connect.NewResponse(resp), nil
}

func (h *scheduleService) GetSchedule(ctx context.Context, req *connect.Request[v1.GetScheduleRequest]) (*connect.Response[v1.GetScheduleResponse], error) {
	ss, err := h.s.schedules()
	if err != nil {
		return nil, err
	}
	if err := checkScheduleID(req.Msg.GetId()); err != nil {
		return nil, err
	}
	sc, err := ss.ScheduleGet(ctx, &store.ScheduleGetParams{ID: req.Msg.GetId()})
	if err != nil {
		return nil, toConnect(err)
	}
	out, err := scheduleOut(sc, defaultNextFires, binary(req.Header()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.GetScheduleResponse{Schedule: out}), nil
}

func (h *scheduleService) DeleteSchedule(ctx context.Context, req *connect.Request[v1.DeleteScheduleRequest]) (*connect.Response[v1.DeleteScheduleResponse], error) {
	ss, err := h.s.schedules()
	if err != nil {
		return nil, err
	}
	if err := checkScheduleID(req.Msg.GetId()); err != nil {
		return nil, err
	}
	if err := ss.ScheduleDelete(context.WithoutCancel(ctx), &store.ScheduleDeleteParams{ID: req.Msg.GetId()}); err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&v1.DeleteScheduleResponse{}), nil
}

// pause pauses or resumes a schedule and returns it.
// kick wakes the server's schedule firer after a change, so a new or
// resumed schedule fires at its next instant, not after the firer's poll.
func (h *scheduleService) kick() {
	if sdkhook.KickScheduler != nil && h.s.client != nil {
		sdkhook.KickScheduler(h.s.client)
	}
}

func (h *scheduleService) pause(ctx context.Context, id string, paused, raw bool) (*v1.Schedule, error) {
	ss, err := h.s.schedules()
	if err != nil {
		return nil, err
	}
	sc, err := engine.PauseSchedule(context.WithoutCancel(ctx), ss, id, paused, h.s.now())
	if err != nil {
		return nil, toConnect(err)
	}
	h.kick()
	return scheduleOut(sc, defaultNextFires, raw)
}

func (h *scheduleService) PauseSchedule(ctx context.Context, req *connect.Request[v1.PauseScheduleRequest]) (*connect.Response[v1.PauseScheduleResponse], error) {
	out, err := h.pause(ctx, req.Msg.GetId(), true, binary(req.Header()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.PauseScheduleResponse{Schedule: out}), nil
}

func (h *scheduleService) ResumeSchedule(ctx context.Context, req *connect.Request[v1.ResumeScheduleRequest]) (*connect.Response[v1.ResumeScheduleResponse], error) {
	out, err := h.pause(ctx, req.Msg.GetId(), false, binary(req.Header()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.ResumeScheduleResponse{Schedule: out}), nil
}

func (h *scheduleService) TriggerSchedule(ctx context.Context, req *connect.Request[v1.TriggerScheduleRequest]) (*connect.Response[v1.TriggerScheduleResponse], error) {
	ss, err := h.s.schedules()
	if err != nil {
		return nil, err
	}
	id := req.Msg.GetId()
	sc, err := engine.TriggerSchedule(context.WithoutCancel(ctx), ss, id, h.s.now())
	if err != nil {
		return nil, toConnect(err)
	}
	if len(sc.Fires) == 0 {
		return nil, connect.NewError(connect.CodeInternal, fmt.Errorf("troika: schedule %q: trigger left no fire record", id))
	}
	f := sc.Fires[len(sc.Fires)-1]
	j, err := h.s.st.JobGet(ctx, &store.JobGetParams{ID: f.JobID})
	if err != nil {
		return nil, toConnect(fmt.Errorf("troika: triggered job %s: %w", f.JobID, err))
	}
	out, err := scheduleOut(sc, defaultNextFires, binary(req.Header()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.TriggerScheduleResponse{Id: j.ID.String(), Duplicate: f.Outcome == store.FireDuplicate, State: string(j.State), Schedule: out}), nil
}
