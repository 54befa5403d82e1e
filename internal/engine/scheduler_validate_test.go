package engine

import (
	"errors"
	"testing"
	"time"

	"github.com/troikahq/troika/store"
)

// FuzzBuildSchedule: no schedule input panics; every rejection is an
// *InvalidArgumentError naming a schedule field with a reason; every
// accepted one has a next fire instant after now, or none at all.
func FuzzBuildSchedule(f *testing.F) {
	f.Add("s", "*/5 * * * *", "Europe/Berlin", "run_once", "allow", 0, int64(0), "tick", `{}`, "default", int64(0), int64(0))
	f.Add("a/b:c", "@every 90s", "", "catch_up", "queue_one", 3, int64(time.Second), "k", `[1]`, "q", int64(-1), int64(1))
	f.Add("", "61 * * * *", "Nope/Zone", "x", "y", -1, int64(-5), "", `{`, "Bad Q", int64(5), int64(-5))
	f.Fuzz(func(t *testing.T, id, spec, tz, misfire, overlap string, catchUp int, jitter int64, kind, args, queue string, startOff, endOff int64) {
		now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		in := &ScheduleInput{ID: id, Spec: spec, TimeZone: tz, Jitter: time.Duration(jitter),
			MisfirePolicy: store.MisfirePolicy(misfire), CatchUpLimit: catchUp, OverlapPolicy: store.OverlapPolicy(overlap),
			Kind: kind, Args: []byte(args), Job: JobOptions{Queue: queue, HasQueue: true}}
		if startOff != 0 {
			in.StartAt = now.Add(time.Duration(startOff%1e6) * time.Hour)
		}
		if endOff != 0 {
			in.EndAt = now.Add(time.Duration(endOff%1e6) * time.Hour)
		}
		d, cs, err := BuildSchedule(in, "schedule.", now, Limits{})
		if err != nil {
			var ie *store.InvalidArgumentError
			if !errors.As(err, &ie) || len(ie.Field) <= len("schedule.") || ie.Reason == "" {
				t.Fatalf("BuildSchedule: %T %v: want an *InvalidArgumentError naming a schedule field", err, err)
			}
			return
		}
		if !d.MisfirePolicy.Valid() || !d.OverlapPolicy.Valid() || d.Job.Kind != kind || d.Job.MaxAttempts < 1 {
			t.Fatalf("accepted definition without defaults: %+v", d)
		}
		if next := NextFire(cs, d, now, Anchor(d, now)); !next.IsZero() && !next.After(now) {
			t.Fatalf("next fire %s is not after %s", next, now)
		}
	})
}
