package server_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/troikahq/troika/server"
)

// Bad input gets the right Connect code and a message naming the problem,
// and changes nothing.
func TestBadInput(t *testing.T) {
	t.Parallel()
	e := setup(t, false, func(c *server.Config) { c.MaxBodyBytes = 64 << 10; c.MaxClaim = 5 })
	for _, tc := range []struct {
		name, proc, body, code, want string
	}{
		{"malformed JSON", "JobService/Enqueue", `{"kind":`, "invalid_argument", ""},
		{"unknown field", "JobService/Enqueue", `{"kind":"k","colour":"red"}`, "invalid_argument", "colour"},
		{"wrong type", "JobService/Enqueue", `{"kind":"k","priority":"high"}`, "invalid_argument", "priority"},
		{"missing kind", "JobService/Enqueue", `{}`, "invalid_argument", "kind"},
		{"bad priority", "JobService/Enqueue", `{"kind":"k","priority":9}`, "invalid_argument", "priority"},
		{"bad queue", "JobService/Enqueue", `{"kind":"k","queue":"No Spaces"}`, "invalid_argument", "queue"},
		{"negative delay", "JobService/Enqueue", `{"kind":"k","delay":"-5s"}`, "invalid_argument", "delay"},
		{"bad duration", "JobService/Enqueue", `{"kind":"k","delay":"soon"}`, "invalid_argument", ""},
		{"runAt and delay", "JobService/Enqueue", `{"kind":"k","delay":"1s","runAt":"2030-01-01T00:00:00Z"}`, "invalid_argument", "exclusive"},
		{"bad ordering key", "JobService/Enqueue", `{"kind":"k","orderingKey":"` + strings.Repeat("o", 5000) + `"}`, "invalid_argument", "orderingKey"},
		{"one bad of many", "JobService/EnqueueMany", `{"jobs":[{"kind":"k"},{"kind":""}]}`, "invalid_argument", "jobs[1].kind"},
		{"oversized body", "JobService/Enqueue", `{"kind":"k","args":"` + strings.Repeat("x", 70<<10) + `"}`, "resource_exhausted", ""},
		{"unknown id", "JobService/GetJob", `{"id":"0190f7d5-6c1e-7c3a-9b1e-2f6d7a1b9c00"}`, "not_found", ""},
		{"bad id", "JobService/CancelJob", `{"id":"nope"}`, "invalid_argument", "not a job id"},
		{"bad state filter", "JobService/ListJobs", `{"state":"sleeping"}`, "invalid_argument", "state"},
		{"negative lease", "WorkerService/Claim", `{"leaseSeconds":-1}`, "invalid_argument", "leaseSeconds"},
		{"huge lease", "WorkerService/Claim", `{"leaseSeconds":1e9}`, "invalid_argument", "leaseSeconds"},
		{"negative max", "WorkerService/Claim", `{"max":-3}`, "invalid_argument", "max"},
		{"negative wait", "WorkerService/Claim", `{"waitSeconds":-1}`, "invalid_argument", "waitSeconds"},
		{"bad claim queue", "WorkerService/Claim", `{"queues":["A B"]}`, "invalid_argument", "queues[0]"},
		{"weight of another queue", "WorkerService/Claim", `{"queues":["a"],"weights":{"b":2}}`, "invalid_argument", "weights"},
		{"bad queue name", "QueueService/PauseQueue", `{"name":""}`, "invalid_argument", "queue"},
		{"schedule missing", "ScheduleService/UpsertSchedule", `{}`, "invalid_argument", "schedule"},
		{"schedule bad spec", "ScheduleService/UpsertSchedule", `{"schedule":{"id":"s","spec":"61 * * * *","job":{"kind":"k"}}}`, "invalid_argument", "schedule."},
		{"schedule bad id", "ScheduleService/UpsertSchedule", `{"schedule":{"id":"no spaces","spec":"@daily","job":{"kind":"k"}}}`, "invalid_argument", "schedule.id"},
		{"schedule bad policy", "ScheduleService/UpsertSchedule", `{"schedule":{"id":"s","spec":"@daily","misfirePolicy":"later","job":{"kind":"k"}}}`, "invalid_argument", "schedule.misfirePolicy"},
		{"schedule bad overlap", "ScheduleService/UpsertSchedule", `{"schedule":{"id":"s","spec":"@daily","overlapPolicy":"Allow","job":{"kind":"k"}}}`, "invalid_argument", "schedule.overlapPolicy"},
		{"schedule bad zone", "ScheduleService/UpsertSchedule", `{"schedule":{"id":"s","spec":"@daily","timezone":"Mars/Olympus","job":{"kind":"k"}}}`, "invalid_argument", "Mars/Olympus"},
		{"schedule no job", "ScheduleService/UpsertSchedule", `{"schedule":{"id":"s","spec":"@daily"}}`, "invalid_argument", "schedule.job"},
		{"schedule job delay", "ScheduleService/UpsertSchedule", `{"schedule":{"id":"s","spec":"@daily","job":{"kind":"k","delay":"1s"}}}`, "invalid_argument", "schedule.job.runAt"},
		{"schedule job queue", "ScheduleService/UpsertSchedule", `{"schedule":{"id":"s","spec":"@daily","job":{"kind":"k","queue":"A B"}}}`, "invalid_argument", "schedule.job.queue"},
		{"schedule end before start", "ScheduleService/UpsertSchedule", `{"schedule":{"id":"s","spec":"@daily","startAt":"2030-01-02T00:00:00Z","endAt":"2030-01-01T00:00:00Z","job":{"kind":"k"}}}`, "invalid_argument", "schedule.endAt"},
		{"schedule huge next", "ScheduleService/ListSchedules", `{"next":1000}`, "invalid_argument", "next"},
		{"unknown schedule", "ScheduleService/TriggerSchedule", `{"id":"nope"}`, "not_found", ""},
		{"unknown schedule pause", "ScheduleService/PauseSchedule", `{"id":"nope"}`, "not_found", ""},
		{"empty schedule id", "ScheduleService/DeleteSchedule", `{"id":""}`, "invalid_argument", "id"},
		{"publish bad topic", "TopicService/Publish", `{"topic":"No Spaces","kind":"k"}`, "invalid_argument", "topic"},
		{"publish no kind", "TopicService/Publish", `{"topic":"t"}`, "invalid_argument", "kind"},
		{"publish reserved metadata", "TopicService/Publish", `{"topic":"t","kind":"k","metadata":{"troika.topic":"x"}}`, "invalid_argument", "metadata"},
		{"publish bad ordering key", "TopicService/Publish", `{"topic":"t","kind":"k","orderingKey":"` + strings.Repeat("o", 5000) + `"}`, "invalid_argument", "orderingKey"},
		{"publish one bad of many", "TopicService/PublishMany", `{"topic":"t","events":[{"kind":"k"},{"kind":""}]}`, "invalid_argument", "events[1].kind"},
		{"subscription bad start", "TopicService/CreateSubscription", `{"topic":"t","name":"s","start":"yesterday"}`, "invalid_argument", "start"},
		{"subscription future start", "TopicService/CreateSubscription", `{"topic":"t","name":"s","start":"2999-01-01T00:00:00Z"}`, "invalid_argument", "future"},
		{"subscription bad name", "TopicService/CreateSubscription", `{"topic":"t","name":"S S"}`, "invalid_argument", "name"},
		{"subscription bad kinds", "TopicService/CreateSubscription", `{"topic":"t","name":"s","kinds":[""]}`, "invalid_argument", "kinds[0]"},
		{"unknown subscription", "TopicService/DeleteSubscription", `{"topic":"t","name":"nope"}`, "not_found", ""},
		{"replay future", "TopicService/ReplaySubscription", `{"topic":"t","name":"s","from":"2999-01-01T00:00:00Z"}`, "invalid_argument", "from"},
		{"unknown topic subscriptions", "TopicService/ListSubscriptions", `{"topic":"nope"}`, "not_found", ""},
		{"negative retention", "TopicService/UpdateTopic", `{"name":"t","retention":"-1s"}`, "invalid_argument", "retention"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.jobCount(t)
			r := e.call(t, tc.proc, "", tc.body)
			if r.code() != tc.code || !strings.Contains(r.raw, tc.want) {
				t.Fatalf("%s %s: %d %s, want %s mentioning %q", tc.proc, truncate(tc.body), r.status, r.raw, tc.code, tc.want)
			}
			if msg, _ := r.body["message"].(string); msg == "" {
				t.Fatalf("no message: %s", r.raw)
			}
			if after := e.jobCount(t); after != before {
				t.Fatalf("jobs %d -> %d after a rejected call", before, after)
			}
			if s := e.ok(t, "ScheduleService/ListSchedules", "", `{}`)["schedules"].([]any); len(s) != 0 {
				t.Fatalf("a rejected call stored schedules: %v", s)
			}
			if tp := e.ok(t, "TopicService/ListTopics", "", `{}`)["topics"].([]any); len(tp) != 0 {
				t.Fatalf("a rejected call stored topics: %v", tp)
			}
		})
	}
	t.Run("huge max is capped", func(t *testing.T) {
		e.ok(t, "JobService/EnqueueMany", "", `{"jobs":[`+strings.Repeat(`{"kind":"k","queue":"cap"},`, 9)+`{"kind":"k","queue":"cap"}]}`)
		jobs := e.ok(t, "WorkerService/Claim", "", `{"queues":["cap"],"max":2000000000}`)["jobs"].([]any)
		if len(jobs) != 5 {
			t.Fatalf("claimed %d, want the cap of 5", len(jobs))
		}
	})
	t.Run("per-item bad tokens", func(t *testing.T) {
		r := e.ok(t, "WorkerService/Heartbeat", "", `{"leases":[{"leaseToken":""},{"leaseToken":"AQID"},{"id":"x","leaseToken":"`+strings.Repeat("A", 200)+`"}]}`)
		for i, it := range r["results"].([]any) {
			if c := it.(map[string]any)["code"]; c != "invalid_argument" {
				t.Fatalf("item %d: %v", i, it)
			}
		}
	})
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// FuzzRequestDecoding feeds arbitrary bodies to every kind of request:
// the server must answer (never panic, never 5xx other than for a store
// failure) and never claim a job it was not asked for validly.
func FuzzRequestDecoding(f *testing.F) {
	e := setup(f, false)
	h := e.srv.Handler()
	procs := []string{"JobService/Enqueue", "JobService/EnqueueMany", "JobService/ListJobs", "WorkerService/Claim",
		"WorkerService/Complete", "WorkerService/Fail", "WorkerService/Heartbeat", "WorkerService/Snooze", "QueueService/UpdateQueue",
		"ScheduleService/UpsertSchedule", "TopicService/Publish", "TopicService/PublishMany", "TopicService/CreateSubscription", "TopicService/ReplaySubscription"}
	for _, seed := range []string{`{}`, `{"kind":"k","args":[1,{"a":null}]}`, `{"jobs":[{"kind":"k","delay":"1s"}]}`,
		`{"leases":[{"id":"x","leaseToken":"AQ"}]}`, `{"max":1e308,"leaseSeconds":"NaN"}`, `{"name":"q","completedRetention":"-1s"}`,
		`{"kind":"k","runAt":"0001-01-01T00:00:00Z"}`, `{"kind":"k","uniqueKey":"u","uniqueFor":"999999999999s"}`, "\x00", `[]`,
		`{"schedule":{"id":"s","spec":"*/5 * * * *","timezone":"Europe/Paris","jitter":"1s","job":{"kind":"k","args":{}}}}`,
		`{"schedule":{"id":"s","spec":"@every 1s","startAt":"9999-12-31T23:59:59Z","job":{"kind":"k"}}}`,
		`{"topic":"t","kind":"k","orderingKey":"o","metadata":{"a":"b"}}`, `{"topic":"t","events":[{"kind":"k"}]}`,
		`{"topic":"t","name":"s","start":"earliest","kinds":["k"]}`, `{"topic":"t","name":"s","from":"0001-01-01T00:00:00Z"}`} {
		for i := range procs {
			f.Add(uint8(i), []byte(seed))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		proc := procs[int(which)%len(procs)]
		req := httptest.NewRequest(http.MethodPost, "/troika.v1."+proc, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %q: %d %s", proc, body, w.Code, w.Body.String())
		}
	})
}
