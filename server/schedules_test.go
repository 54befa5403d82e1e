package server_test

import (
	"testing"
	"time"
)

// The ScheduleService over JSON, as curl would call it.
func TestScheduleServiceJSON(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	upsert := `{"schedule":{"id":"nightly","spec":"0 3 * * *","timezone":"Europe/Paris","jitter":"30s",
		"misfirePolicy":"catch_up","catchUpLimit":3,"overlapPolicy":"skip_if_running",
		"job":{"kind":"report","args":{"full":true},"queue":"reports","priority":3,"tags":["nightly"]}}}`
	t.Run("create", func(t *testing.T) {
		r := e.ok(t, "ScheduleService/UpsertSchedule", "", upsert)
		if r["created"] != true || r["changed"] != true {
			t.Fatalf("upsert = %v", r)
		}
		sc := r["schedule"].(map[string]any)
		job := sc["job"].(map[string]any)
		if sc["misfirePolicy"] != "catch_up" || sc["overlapPolicy"] != "skip_if_running" || sc["paused"] != false ||
			sc["jitter"] != "30s" || sc["catchUpLimit"].(float64) != 3 || job["queue"] != "reports" ||
			compact(t, job["args"]) != `{"full":true}` || job["maxAttempts"].(float64) != 25 {
			t.Fatalf("schedule = %v", compact(t, sc))
		}
		next := sc["nextFireTimes"].([]any)
		if len(next) != 5 {
			t.Fatalf("nextFireTimes = %v", next)
		}
		paris, _ := time.LoadLocation("Europe/Paris")
		for _, s := range next {
			at, err := time.Parse(time.RFC3339, s.(string))
			if err != nil || at.In(paris).Hour() != 3 || at.In(paris).Minute() != 0 {
				t.Fatalf("next fire %v (%v) is not 03:00 Paris", s, err)
			}
		}
	})
	t.Run("same definition writes nothing", func(t *testing.T) {
		r := e.ok(t, "ScheduleService/UpsertSchedule", "", upsert)
		if r["created"] != false || r["changed"] != false {
			t.Fatalf("second upsert = %v", r)
		}
	})
	t.Run("pause, absent paused keeps it, resume", func(t *testing.T) {
		sc := e.ok(t, "ScheduleService/PauseSchedule", "", `{"id":"nightly"}`)["schedule"].(map[string]any)
		if sc["paused"] != true || len(sc["nextFireTimes"].([]any)) != 0 {
			t.Fatalf("paused = %v", sc)
		}
		if sc := e.ok(t, "ScheduleService/UpsertSchedule", "", upsert)["schedule"].(map[string]any); sc["paused"] != true {
			t.Fatalf("upsert without paused unpaused it: %v", sc)
		}
		sc = e.ok(t, "ScheduleService/ResumeSchedule", "", `{"id":"nightly"}`)["schedule"].(map[string]any)
		if sc["paused"] != false || len(sc["nextFireTimes"].([]any)) != 5 {
			t.Fatalf("resumed = %v", sc)
		}
	})
	t.Run("trigger enqueues once and is in the history", func(t *testing.T) {
		before := e.jobCount(t)
		r := e.ok(t, "ScheduleService/TriggerSchedule", "", `{"id":"nightly"}`)
		if r["state"] != "available" || r["id"] == "" || r["duplicate"] != false {
			t.Fatalf("trigger = %v", r)
		}
		if e.jobCount(t) != before+1 {
			t.Fatalf("trigger made %d jobs", e.jobCount(t)-before)
		}
		job := e.ok(t, "JobService/GetJob", "", `{"id":"`+r["id"].(string)+`"}`)["job"].(map[string]any)
		if job["kind"] != "report" || job["queue"] != "reports" {
			t.Fatalf("triggered job = %v", job)
		}
		list := e.ok(t, "ScheduleService/ListSchedules", "", `{"next":2}`)["schedules"].([]any)
		sc := list[0].(map[string]any)
		fires := sc["fires"].([]any)
		if len(list) != 1 || len(sc["nextFireTimes"].([]any)) != 2 || len(fires) != 1 ||
			fires[0].(map[string]any)["outcome"] != "triggered" || fires[0].(map[string]any)["jobId"] != r["id"] || sc["lastJobId"] != r["id"] {
			t.Fatalf("list = %v", compact(t, list))
		}
		if got := e.ok(t, "ScheduleService/GetSchedule", "", `{"id":"nightly"}`)["schedule"].(map[string]any); got["id"] != "nightly" {
			t.Fatalf("get = %v", got)
		}
	})
	t.Run("delete keeps the jobs", func(t *testing.T) {
		before := e.jobCount(t)
		e.ok(t, "ScheduleService/DeleteSchedule", "", `{"id":"nightly"}`)
		if r := e.call(t, "ScheduleService/DeleteSchedule", "", `{"id":"nightly"}`); r.code() != "not_found" {
			t.Fatalf("second delete = %s", r.raw)
		}
		if e.jobCount(t) != before {
			t.Fatal("delete removed jobs")
		}
	})
}

// The server's maintenance fires a schedule created over the API.
func TestScheduleServiceFires(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	e.ok(t, "ScheduleService/UpsertSchedule", "", `{"schedule":{"id":"tick","spec":"@every 1s","job":{"kind":"tick","queue":"ticks"}}}`)
	eventually(t, 10*time.Second, "the schedule fired", func() bool {
		jobs := e.ok(t, "JobService/ListJobs", "", `{"queue":"ticks"}`)["jobs"].([]any)
		return len(jobs) > 0 && jobs[0].(map[string]any)["kind"] == "tick"
	})
	sc := e.ok(t, "ScheduleService/GetSchedule", "", `{"id":"tick"}`)["schedule"].(map[string]any)
	if f := sc["fires"].([]any); len(f) == 0 || f[0].(map[string]any)["outcome"] != "enqueued" {
		t.Fatalf("fires = %v", f)
	}
}
