package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// wireSchedule is the --json schedule as a script reads it.
type wireSchedule struct {
	ID            string      `json:"id"`
	Spec          string      `json:"spec"`
	Timezone      string      `json:"timezone"`
	MisfirePolicy string      `json:"misfirePolicy"`
	CatchUpLimit  int         `json:"catchUpLimit"`
	OverlapPolicy string      `json:"overlapPolicy"`
	Paused        bool        `json:"paused"`
	NextFireTimes []time.Time `json:"nextFireTimes"`
	Job           struct {
		Kind     string         `json:"kind"`
		Args     map[string]any `json:"args"`
		Queue    string         `json:"queue"`
		Priority int            `json:"priority"`
		Tags     []string       `json:"tags"`
	} `json:"job"`
	Fires []struct {
		Outcome string `json:"outcome"`
		JobID   string `json:"jobId"`
	} `json:"fires"`
}

func listSchedules(t *testing.T, dir string, extra ...string) []wireSchedule {
	t.Helper()
	var out struct{ Schedules []wireSchedule }
	runT(t, append([]string{"schedule", "list", "--data", dir, "--json"}, extra...)...).ok(t).decode(t, &out)
	return out.Schedules
}

func TestScheduleCommands(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	var added struct {
		Result   string
		Schedule wireSchedule
	}
	runT(t, "schedule", "add", "nightly", "30 2 * * *", "report.build", `{"k":1}`, "--data", dir, "--json",
		"--tz", "Europe/Berlin", "--misfire", "catch_up", "--catch-up", "3", "--overlap", "queue_one",
		"--queue", "reports", "--priority", "1", "--tag", "cron", "--next", "4").ok(t).decode(t, &added)
	s := added.Schedule
	if added.Result != "created" || s.ID != "nightly" || s.Timezone != "Europe/Berlin" || s.MisfirePolicy != "catch_up" ||
		s.CatchUpLimit != 3 || s.OverlapPolicy != "queue_one" || s.Job.Kind != "report.build" || s.Job.Args["k"] != 1.0 ||
		s.Job.Queue != "reports" || s.Job.Priority != 1 || len(s.Job.Tags) != 1 || len(s.NextFireTimes) != 4 {
		t.Fatalf("add --json: %+v", added)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	for _, nt := range s.NextFireTimes {
		if l := nt.In(berlin); l.Hour() != 2 && l.Hour() != 3 || l.Minute() != 30 && l.Minute() != 0 {
			t.Errorf("next fire %s is not 02:30 Berlin (or 03:00 on a spring-forward day)", l)
		}
	}
	// The same definition again is a no-op; a changed one an update.
	out := runT(t, "schedule", "add", "nightly", "30 2 * * *", "report.build", `{"k":1}`, "--data", dir,
		"--tz", "Europe/Berlin", "--misfire", "catch_up", "--catch-up", "3", "--overlap", "queue_one",
		"--queue", "reports", "--priority", "1", "--tag", "cron").ok(t)
	if !strings.HasPrefix(out.stdout, "unchanged schedule nightly") {
		t.Errorf("re-adding: %q", out.stdout)
	}
	runT(t, "schedule", "add", "hb", "@every 90s", "ping", "--data", dir).ok(t)

	// Table with next fire times and last outcomes.
	trig := runT(t, "schedule", "trigger", "hb", "--data", dir).ok(t)
	list := runT(t, "schedule", "list", "--next", "3", "--data", dir).ok(t).stdout
	for _, want := range []string{"ID", "NEXT FIRE", "LAST OUTCOME", "nightly", "Europe/Berlin", "hb", "@every 90s", "triggered", "available", "hb: next "} {
		if !strings.Contains(list, want) {
			t.Errorf("schedule list output lacks %q:\n%s", want, list)
		}
	}
	if !strings.Contains(trig.stdout, "available") {
		t.Errorf("trigger output: %q", trig.stdout)
	}
	if n := countJobs(t, dir); n != 1 {
		t.Errorf("%d jobs after one trigger, want 1", n)
	}

	runT(t, "schedule", "pause", "nightly", "--data", dir).ok(t)
	for _, s := range listSchedules(t, dir) {
		if s.ID == "nightly" && (!s.Paused || len(s.NextFireTimes) != 0) {
			t.Errorf("paused schedule: %+v", s)
		}
		if s.ID == "hb" && (len(s.Fires) != 1 || s.Fires[0].Outcome != "triggered" || s.Fires[0].JobID == "") {
			t.Errorf("hb history: %+v", s.Fires)
		}
	}
	if out := runT(t, "schedule", "resume", "nightly", "--data", dir).ok(t).stdout; !strings.Contains(out, "resumed schedule nightly") || !strings.Contains(out, "next ") {
		t.Errorf("resume: %q", out)
	}
	runT(t, "schedule", "remove", "hb", "--data", dir).ok(t)
	if got := listSchedules(t, dir); len(got) != 1 || got[0].ID != "nightly" {
		t.Errorf("after remove: %+v", got)
	}
}

func TestScheduleCommandErrors(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	runT(t, "schedule", "add", "ok", "@hourly", "k", "--data", dir).ok(t)
	runT(t, "schedule", "add", "bad", "61 * * * *", "k", "--data", dir).exit(t, 1, `schedule.spec: minute field "61"`)
	runT(t, "schedule", "add", "bad", "@every 10ms", "k", "--data", dir).exit(t, 1, "at least 1s")
	runT(t, "schedule", "add", "bad", "@daily", "k", "--tz", "Nowhere/City", "--data", dir).exit(t, 1, "schedule.timezone")
	runT(t, "schedule", "add", "bad", "@daily", "k", "--misfire", "later", "--data", dir).exit(t, 1, "schedule.misfirePolicy")
	runT(t, "schedule", "add", "bad", "@daily", "k", "--overlap", "never", "--data", dir).exit(t, 1, "schedule.overlapPolicy")
	runT(t, "schedule", "add", "bad", "@daily", "k", "--queue", "Bad Queue", "--data", dir).exit(t, 1, "schedule.job.queue")
	runT(t, "schedule", "add", "bad", "@daily", "k", "--start", "2030-01-02T00:00:00Z", "--end", "2030-01-01T00:00:00Z", "--data", dir).exit(t, 1, "schedule.endAt")
	runT(t, "schedule", "add", "bad", "@daily", "k", "{", "--data", dir).exit(t, 1, "not valid JSON")
	runT(t, "schedule", "add", "only-two", "@daily", "--data", dir).exit(t, 2, "accepts between 3 and 4 arg(s)")
	runT(t, "schedule", "list", "--next", "0", "--data", dir).exit(t, 2, "--next")
	for _, verb := range []string{"remove", "pause", "resume", "trigger"} {
		runT(t, "schedule", verb, "missing", "--data", dir).exit(t, 3, "not found")
	}
	runT(t, "schedule", "frobnicate", "--data", dir).exit(t, 2, "unknown command")
	if got := listSchedules(t, dir); len(got) != 1 || got[0].ID != "ok" {
		t.Errorf("rejected adds stored something: %+v", got)
	}
}
