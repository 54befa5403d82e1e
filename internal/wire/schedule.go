package wire

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	v1 "github.com/troikahq/troika/gen/troika/v1"
	"github.com/troikahq/troika/store"
)

// JobTemplate converts a schedule's job template to its wire form, an
// EnqueueRequest with the defaults applied. With raw (binary protobuf
// clients) args travel as bytes in argsJson.
func JobTemplate(t *store.JobTemplate, raw bool) (*v1.EnqueueRequest, error) {
	out := &v1.EnqueueRequest{
		Kind: t.Kind, Queue: t.Queue, Priority: int32(t.Priority), MaxAttempts: int32(t.MaxAttempts),
		Timeout: Duration(t.Timeout), Metadata: t.Metadata, Tags: t.Tags,
	}
	if raw {
		out.ArgsJson = t.Args
		if out.ArgsJson == nil {
			out.ArgsJson = []byte{}
		}
		return out, nil
	}
	args, err := Value("job.args", t.Args)
	if err != nil {
		return nil, err
	}
	out.Args = args
	return out, nil
}

// Schedule converts a stored schedule and its upcoming fire times to the
// wire form (raw as for JobTemplate).
func Schedule(sc *store.Schedule, next []time.Time, raw bool) (*v1.Schedule, error) {
	job, err := JobTemplate(&sc.Job, raw)
	if err != nil {
		return nil, err
	}
	paused := sc.Paused
	out := &v1.Schedule{
		Id: sc.ID, Spec: sc.Spec, Timezone: sc.TimeZone, Jitter: Duration(sc.Jitter),
		MisfirePolicy: string(sc.MisfirePolicy), OverlapPolicy: string(sc.OverlapPolicy), Paused: &paused,
		Job: job, StartAt: Time(sc.StartAt), EndAt: Time(sc.EndAt), CatchUpLimit: int32(sc.CatchUpLimit),
		CreatedAt: Time(sc.CreatedAt), UpdatedAt: Time(sc.UpdatedAt), LastFireAt: Time(sc.LastFireAt),
		NextFireAt: inRange(sc.NextFireAt),
	}
	if !sc.LastJobID.IsZero() {
		out.LastJobId = sc.LastJobID.String()
	}
	out.NextFireTimes = make([]*timestamppb.Timestamp, 0, len(next))
	for _, t := range next {
		if ts := inRange(t); ts != nil {
			out.NextFireTimes = append(out.NextFireTimes, ts)
		}
	}
	out.Fires = make([]*v1.ScheduleFire, len(sc.Fires))
	for i, f := range sc.Fires {
		out.Fires[i] = &v1.ScheduleFire{Instant: Time(f.Instant), At: Time(f.At), Outcome: string(f.Outcome), Missed: int32(f.Missed)}
		if !f.JobID.IsZero() {
			out.Fires[i].JobId = f.JobID.String()
		}
	}
	return out, nil
}

// inRange is Time(t), but nil for an instant after year 9999 that RFC 3339
// and protobuf Timestamps cannot express (a schedule bounded near the end
// of time: such an instant never comes).
func inRange(t time.Time) *timestamppb.Timestamp {
	ts := Time(t)
	if ts != nil && ts.CheckValid() != nil {
		return nil
	}
	return ts
}

// FromSchedule converts a wire schedule (as a server returns it) back to
// the store's record, and its upcoming fire times.
func FromSchedule(p *v1.Schedule) (*store.Schedule, []time.Time, error) {
	if p == nil {
		return nil, nil, fmt.Errorf("troika: server returned no schedule")
	}
	jitter, err := FromDuration("jitter", p.GetJitter())
	if err != nil {
		return nil, nil, err
	}
	j := p.GetJob()
	args, err := Raw("job.args", j.GetArgs(), j.ArgsJson)
	if err != nil {
		return nil, nil, err
	}
	timeout, err := FromDuration("job.timeout", j.GetTimeout())
	if err != nil {
		return nil, nil, err
	}
	sc := &store.Schedule{
		ScheduleDefinition: store.ScheduleDefinition{
			ID: p.GetId(), Spec: p.GetSpec(), TimeZone: p.GetTimezone(), Jitter: jitter,
			StartAt: FromTime(p.GetStartAt()), EndAt: FromTime(p.GetEndAt()),
			MisfirePolicy: store.MisfirePolicy(p.GetMisfirePolicy()), CatchUpLimit: int(p.GetCatchUpLimit()),
			OverlapPolicy: store.OverlapPolicy(p.GetOverlapPolicy()),
			Job: store.JobTemplate{
				Kind: j.GetKind(), Args: args, Queue: j.GetQueue(), Priority: int(j.GetPriority()),
				MaxAttempts: int(j.GetMaxAttempts()), Timeout: timeout, Metadata: j.GetMetadata(), Tags: j.GetTags(),
			},
		},
		Paused: p.GetPaused(), CreatedAt: FromTime(p.GetCreatedAt()), UpdatedAt: FromTime(p.GetUpdatedAt()),
		LastFireAt: FromTime(p.GetLastFireAt()), NextFireAt: FromTime(p.GetNextFireAt()),
	}
	if id := p.GetLastJobId(); id != "" {
		if sc.LastJobID, err = store.ParseID(id); err != nil {
			return nil, nil, fmt.Errorf("schedule lastJobId: %w", err)
		}
	}
	for _, f := range p.GetFires() {
		r := store.ScheduleFireRecord{Instant: FromTime(f.GetInstant()), At: FromTime(f.GetAt()),
			Outcome: store.FireOutcome(f.GetOutcome()), Missed: int(f.GetMissed())}
		if id := f.GetJobId(); id != "" {
			if r.JobID, err = store.ParseID(id); err != nil {
				return nil, nil, fmt.Errorf("schedule fire jobId: %w", err)
			}
		}
		sc.Fires = append(sc.Fires, r)
	}
	next := make([]time.Time, 0, len(p.GetNextFireTimes()))
	for _, t := range p.GetNextFireTimes() {
		next = append(next, t.AsTime())
	}
	return sc, next, nil
}
