package store

import (
	"testing"
	"time"
)

func TestScheduleDefinitionEqual(t *testing.T) {
	t.Parallel()
	base := func() ScheduleDefinition {
		return ScheduleDefinition{ID: "s", Spec: "@hourly", StartAt: time.Date(2030, 1, 1, 0, 0, 0, 1500, time.UTC),
			MisfirePolicy: MisfireSkip, OverlapPolicy: OverlapAllow,
			Job: JobTemplate{Kind: "k", Args: []byte(`{"a": 1, "b": [true, null]}`), Queue: "q", Priority: 2, MaxAttempts: 3,
				Metadata: map[string]string{"x": "y"}, Tags: []string{"t"}}}
	}
	for _, tc := range []struct {
		name string
		mod  func(*ScheduleDefinition)
		want bool
	}{
		{"identical", func(*ScheduleDefinition) {}, true},
		{"args respaced and reordered (jsonb)", func(d *ScheduleDefinition) { d.Job.Args = []byte(`{"b":[true,null],"a":1}`) }, true},
		{"time at microsecond precision", func(d *ScheduleDefinition) { d.StartAt = d.StartAt.Truncate(time.Microsecond) }, true},
		{"time in another zone", func(d *ScheduleDefinition) { d.StartAt = d.StartAt.In(time.FixedZone("x", 3600)) }, true},
		{"args differ", func(d *ScheduleDefinition) { d.Job.Args = []byte(`{"a": 2, "b": [true, null]}`) }, false},
		{"number text differs", func(d *ScheduleDefinition) { d.Job.Args = []byte(`{"a": 1.0, "b": [true, null]}`) }, false},
		{"args invalid", func(d *ScheduleDefinition) { d.Job.Args = []byte(`{"a": 1`) }, false},
		{"spec", func(d *ScheduleDefinition) { d.Spec = "@daily" }, false},
		{"metadata value", func(d *ScheduleDefinition) { d.Job.Metadata = map[string]string{"x": "z"} }, false},
		{"metadata key", func(d *ScheduleDefinition) { d.Job.Metadata = map[string]string{"w": "y"} }, false},
		{"tags", func(d *ScheduleDefinition) { d.Job.Tags = []string{"u"} }, false},
		{"policy", func(d *ScheduleDefinition) { d.OverlapPolicy = OverlapQueueOne }, false},
		{"start a microsecond later", func(d *ScheduleDefinition) { d.StartAt = d.StartAt.Add(time.Microsecond) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := base(), base()
			tc.mod(&b)
			if got := a.Equal(&b); got != tc.want {
				t.Errorf("Equal = %t, want %t", got, tc.want)
			}
			if got := b.Equal(&a); got != tc.want {
				t.Errorf("Equal (reversed) = %t, want %t", got, tc.want)
			}
		})
	}
}
