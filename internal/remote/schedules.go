package remote

import (
	"context"
	"fmt"

	"connectrpc.com/connect"

	v1 "github.com/troikahq/troika/gen/troika/v1"
	"github.com/troikahq/troika/internal/wire"
	"github.com/troikahq/troika/store"
)

var _ store.ScheduleStore = (*Store)(nil)

// scheduleFrom converts a schedule of a response.
func scheduleFrom(p *v1.Schedule) (*store.Schedule, error) {
	sc, _, err := wire.FromSchedule(p)
	return sc, err
}

// ScheduleUpsert calls ScheduleService.UpsertSchedule with the definition.
// The server validates it again and computes NextFireAt itself (from the
// same rules, on its clock): p.NextFireAt is not sent.
func (s *Store) ScheduleUpsert(ctx context.Context, p *store.ScheduleUpsertParams) (*store.ScheduleUpsertResult, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	d := &p.Definition
	job, err := wire.JobTemplate(&d.Job, !s.json)
	if err != nil {
		return nil, err
	}
	req := &v1.Schedule{
		Id: d.ID, Spec: d.Spec, Timezone: d.TimeZone, Jitter: wire.Duration(d.Jitter),
		MisfirePolicy: string(d.MisfirePolicy), OverlapPolicy: string(d.OverlapPolicy), Paused: p.Paused,
		Job: job, StartAt: wire.Time(d.StartAt), EndAt: wire.Time(d.EndAt), CatchUpLimit: int32(d.CatchUpLimit),
	}
	out, err := s.schedulesC.UpsertSchedule(ctx, connect.NewRequest(&v1.UpsertScheduleRequest{Schedule: req}))
	if err != nil {
		return nil, s.errClosedOr(err)
	}
	sc, err := scheduleFrom(out.Msg.GetSchedule())
	if err != nil {
		return nil, err
	}
	return &store.ScheduleUpsertResult{Schedule: sc, Created: out.Msg.GetCreated(), Changed: out.Msg.GetChanged()}, nil
}

// ScheduleGet calls ScheduleService.GetSchedule.
func (s *Store) ScheduleGet(ctx context.Context, p *store.ScheduleGetParams) (*store.Schedule, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	out, err := s.schedulesC.GetSchedule(ctx, connect.NewRequest(&v1.GetScheduleRequest{Id: p.ID}))
	if err != nil {
		return nil, s.errClosedOr(err)
	}
	return scheduleFrom(out.Msg.GetSchedule())
}

// ScheduleList calls ScheduleService.ListSchedules.
func (s *Store) ScheduleList(ctx context.Context, _ *store.ScheduleListParams) ([]*store.Schedule, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	out, err := s.schedulesC.ListSchedules(ctx, connect.NewRequest(&v1.ListSchedulesRequest{Next: 1}))
	if err != nil {
		return nil, s.errClosedOr(err)
	}
	list := make([]*store.Schedule, 0, len(out.Msg.GetSchedules()))
	for _, p := range out.Msg.GetSchedules() {
		sc, err := scheduleFrom(p)
		if err != nil {
			return nil, err
		}
		list = append(list, sc)
	}
	return list, nil
}

// ScheduleDelete calls ScheduleService.DeleteSchedule.
func (s *Store) ScheduleDelete(ctx context.Context, p *store.ScheduleDeleteParams) error {
	if err := s.check(); err != nil {
		return err
	}
	_, err := s.schedulesC.DeleteSchedule(ctx, connect.NewRequest(&v1.DeleteScheduleRequest{Id: p.ID}))
	return s.errClosedOr(err)
}

// SchedulePause calls ScheduleService.PauseSchedule or ResumeSchedule; the
// server computes the resumed schedule's next instant (p.NextFireAt is not
// sent).
func (s *Store) SchedulePause(ctx context.Context, p *store.SchedulePauseParams) (*store.Schedule, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	var sc *v1.Schedule
	if p.Paused {
		out, err := s.schedulesC.PauseSchedule(ctx, connect.NewRequest(&v1.PauseScheduleRequest{Id: p.ID}))
		if err != nil {
			return nil, s.errClosedOr(err)
		}
		sc = out.Msg.GetSchedule()
	} else {
		out, err := s.schedulesC.ResumeSchedule(ctx, connect.NewRequest(&v1.ResumeScheduleRequest{Id: p.ID}))
		if err != nil {
			return nil, s.errClosedOr(err)
		}
		sc = out.Msg.GetSchedule()
	}
	return scheduleFrom(sc)
}

// ScheduleDueList is unsupported: the server fires schedules.
func (s *Store) ScheduleDueList(context.Context, *store.ScheduleDueListParams) (*store.ScheduleDueListResult, error) {
	return nil, unsupported("ScheduleDueList")
}

// ScheduleFire supports only a manual trigger (one FireTriggered item), as
// ScheduleService.TriggerSchedule: the server builds the job from the
// stored template on its clock, so the item's job is not sent. Timetabled
// fires are the server's and unsupported.
func (s *Store) ScheduleFire(ctx context.Context, p *store.ScheduleFireParams) (*store.Schedule, error) {
	if !p.Manual || len(p.Fires) != 1 || p.Fires[0].Outcome != store.FireTriggered {
		return nil, unsupported("ScheduleFire (timetabled fires)")
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	out, err := s.schedulesC.TriggerSchedule(ctx, connect.NewRequest(&v1.TriggerScheduleRequest{Id: p.ID}))
	if err != nil {
		return nil, s.errClosedOr(err)
	}
	sc, err := scheduleFrom(out.Msg.GetSchedule())
	if err != nil {
		return nil, err
	}
	if n := len(sc.Fires); n == 0 || sc.Fires[n-1].JobID.String() != out.Msg.GetId() {
		return nil, fmt.Errorf("troika: server's TriggerSchedule returned job %s but not as the newest fire", out.Msg.GetId())
	}
	return sc, nil
}
