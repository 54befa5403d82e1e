package embedded

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/troikahq/troika/store"
)

// TestScheduleSurvivesReopen: a schedule, its state, its history and the
// jobs its fires inserted are all read back after a reopen.
func TestScheduleSurvivesReopen(t *testing.T) {
	t.Parallel()
	fs := vfs.NewMem()
	open := func() *Store {
		s, err := Open("data", Options{FS: fs, Logger: quietLogger()})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	}
	ctx := t.Context()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	def := store.ScheduleDefinition{
		ID: "nightly", Spec: "0 3 * * *", TimeZone: "Europe/Berlin", Jitter: time.Second,
		StartAt: t0, EndAt: t0.Add(24 * 365 * time.Hour),
		MisfirePolicy: store.MisfireCatchUp, CatchUpLimit: 2, OverlapPolicy: store.OverlapQueueOne,
		Job: store.JobTemplate{Kind: "report", Args: []byte(`{"a": [1, 2]}`), Queue: "q", Priority: 1, MaxAttempts: 3,
			Timeout: time.Minute, Metadata: map[string]string{"k": "v"}, Tags: []string{"t"}},
	}
	s := open()
	if _, err := s.ScheduleUpsert(ctx, &store.ScheduleUpsertParams{Definition: def, NextFireAt: t0.Add(time.Hour), Now: t0}); err != nil {
		t.Fatal(err)
	}
	job := store.InsertJob{Kind: "report", Queue: "q", Priority: 1, MaxAttempts: 3, RunAt: t0.Add(time.Hour),
		UniqueKey: "troika:schedule:nightly:x", UniqueUntil: t0.Add(48 * time.Hour)}
	fired, err := s.ScheduleFire(ctx, &store.ScheduleFireParams{ID: "nightly", ExpectNextFireAt: t0.Add(time.Hour),
		Fires: []store.ScheduleFireItem{
			{Instant: t0.Add(30 * time.Minute), Outcome: store.FireMissed, Missed: 2},
			{Instant: t0.Add(time.Hour), Outcome: store.FireEnqueued, Job: &job},
		},
		LastFireAt: t0.Add(time.Hour), NextFireAt: t0.Add(25 * time.Hour), Now: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SchedulePause(ctx, &store.SchedulePauseParams{ID: "nightly", Paused: true, Now: t0.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open()
	defer s.Close()
	got, err := s.ScheduleGet(ctx, &store.ScheduleGetParams{ID: "nightly"})
	if err != nil {
		t.Fatal(err)
	}
	if !got.ScheduleDefinition.Equal(&def) || !bytes.Equal(got.Job.Args, def.Job.Args) {
		t.Errorf("definition after reopen:\n got  %+v\n want %+v", got.ScheduleDefinition, def)
	}
	if !got.Paused || !got.LastFireAt.Equal(t0.Add(time.Hour)) || !got.NextFireAt.Equal(t0.Add(25*time.Hour)) ||
		!got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(t0.Add(2*time.Hour)) || got.LastJobID != fired.LastJobID {
		t.Errorf("state after reopen: %+v", got)
	}
	if len(got.Fires) != 2 || got.Fires[0].Outcome != store.FireMissed || got.Fires[0].Missed != 2 ||
		got.Fires[1].JobID != fired.LastJobID || !got.Fires[1].At.Equal(t0.Add(time.Hour)) {
		t.Errorf("history after reopen: %+v", got.Fires)
	}
	j, err := s.JobGet(ctx, &store.JobGetParams{ID: fired.LastJobID})
	if err != nil || j.UniqueKey != job.UniqueKey {
		t.Fatalf("fired job after reopen: %+v, %v", j, err)
	}
	// The unique key survives too: the same instant is a duplicate.
	if _, err := s.SchedulePause(ctx, &store.SchedulePauseParams{ID: "nightly", Paused: false, NextFireAt: t0.Add(time.Hour), Now: t0.Add(3 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	again, err := s.ScheduleFire(ctx, &store.ScheduleFireParams{ID: "nightly", ExpectNextFireAt: t0.Add(time.Hour),
		Fires:      []store.ScheduleFireItem{{Instant: t0.Add(time.Hour), Outcome: store.FireEnqueued, Job: &job}},
		LastFireAt: t0.Add(time.Hour), NextFireAt: t0.Add(25 * time.Hour), Now: t0.Add(3 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if last := again.Fires[len(again.Fires)-1]; last.Outcome != store.FireDuplicate || last.JobID != fired.LastJobID {
		t.Errorf("refire of a durable instant: %+v, want a duplicate of %s", last, fired.LastJobID)
	}
}

// TestScheduleCorruptRecord: a damaged schedule record fails the open with
// ErrCorrupt rather than being skipped.
func TestScheduleCorruptRecord(t *testing.T) {
	t.Parallel()
	fs := vfs.NewMem()
	s, err := Open("data", Options{FS: fs, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Set(nameKey(prefixSchedule, "x"), []byte{scheduleVersion, '{', 0, 0, 0, 0}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open("data", Options{FS: fs, Logger: quietLogger()}); !errors.Is(err, store.ErrCorrupt) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open over a damaged schedule record: %v, want ErrCorrupt", err)
	}
}
