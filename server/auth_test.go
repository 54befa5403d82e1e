package server_test

import (
	"net/http"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/troikahq/troika"

	v1 "github.com/troikahq/troika/gen/troika/v1"
)

// procedures lists every unary procedure of the API, by "Service/Method".
func procedures() []string {
	var out []string
	for _, fd := range []protoreflect.FileDescriptor{v1.File_troika_v1_job_proto, v1.File_troika_v1_worker_proto, v1.File_troika_v1_queue_proto,
		v1.File_troika_v1_schedule_proto, v1.File_troika_v1_topic_proto} {
		for i := range fd.Services().Len() {
			svc := fd.Services().Get(i)
			for k := range svc.Methods().Len() {
				m := svc.Methods().Get(k)
				if m.IsStreamingServer() {
					continue // Watch: covered by TestAuthWatch
				}
				out = append(out, string(svc.Name())+"/"+string(m.Name()))
			}
		}
	}
	return out
}

// allowed reports whether a scope may call a procedure.
func allowed(scope, procedure string) bool {
	switch scope {
	case "admin":
		return true
	case "producer":
		return procedure == "JobService/Enqueue" || procedure == "JobService/EnqueueMany" ||
			procedure == "TopicService/Publish" || procedure == "TopicService/PublishMany"
	case "worker":
		return strings.HasPrefix(procedure, "WorkerService/")
	}
	return false
}

// The auth matrix: no token, a bad token, and each scope against every
// procedure. A rejected call has the right code and changes nothing.
func TestAuthMatrix(t *testing.T) {
	t.Parallel()
	e := setup(t, true)
	before := e.jobCount(t)
	// Bodies that would change something if let through.
	body := map[string]string{
		"JobService/Enqueue":              `{"kind":"k"}`,
		"JobService/EnqueueMany":          `{"jobs":[{"kind":"k"}]}`,
		"QueueService/PauseQueue":         `{"name":"default"}`,
		"ScheduleService/UpsertSchedule":  `{"schedule":{"id":"s-{scope}","spec":"@daily","job":{"kind":"k"}}}`,
		"TopicService/CreateSubscription": `{"topic":"t","name":"sub-{scope}"}`,
		"TopicService/Publish":            `{"topic":"p","kind":"k"}`,
		"TopicService/PublishMany":        `{"topic":"other","events":[{"kind":"k"}]}`,
		"TopicService/UpdateTopic":        `{"name":"u-{scope}"}`,
	}
	procs := procedures()
	if len(procs) != 34 { // 9 JobService + 5 WorkerService (unary) + 5 QueueService + 7 ScheduleService + 8 TopicService
		t.Fatalf("only %d procedures found", len(procs))
	}
	for _, tc := range []struct{ name, token, scope string }{
		{"no token", "", ""}, {"bad token", "not-a-real-token-0123456789", ""},
		{"admin", adminToken, "admin"}, {"producer", producerToken, "producer"}, {"worker", workerToken, "worker"},
	} {
		for _, p := range procs {
			b := body[p]
			if b == "" {
				b = `{}`
			}
			b = strings.ReplaceAll(b, "{scope}", strings.ReplaceAll(tc.name, " ", "-"))
			r := e.call(t, p, tc.token, b)
			switch {
			case tc.scope == "":
				if r.status != http.StatusUnauthorized || r.code() != "unauthenticated" {
					t.Errorf("%s %s: %d %s, want unauthenticated", tc.name, p, r.status, r.raw)
				}
			case allowed(tc.scope, p):
				if c := r.code(); c == "unauthenticated" || c == "permission_denied" {
					t.Errorf("%s %s: %s, want it let through", tc.name, p, r.raw)
				}
			default:
				if r.status != http.StatusForbidden || r.code() != "permission_denied" || !strings.Contains(r.raw, "needs") {
					t.Errorf("%s %s: %d %s, want permission_denied", tc.name, p, r.status, r.raw)
				}
			}
		}
	}
	// Exactly the allowed enqueues happened (admin and producer, twice each).
	if got := e.jobCount(t); got != before+4 {
		page, _ := e.client.ListJobs(t.Context(), troika.ListParams{})
		for _, j := range page.Jobs {
			t.Logf("job %s %s %v", j.Kind, j.Queue, j.Metadata)
		}
		t.Fatalf("jobs = %d, want %d: a rejected call changed something", got, before+4)
	}
	q := e.ok(t, "QueueService/GetQueue", adminToken, `{"name":"default"}`)["queue"].(map[string]any)
	if q["paused"] != true { // only admin's PauseQueue went through
		t.Fatalf("queue = %v", q)
	}
	// Only admin's schedule, subscription and topic were created; the
	// publishes of admin and producer stored one event on each topic.
	if s := e.ok(t, "ScheduleService/ListSchedules", adminToken, `{}`)["schedules"].([]any); len(s) != 1 || s[0].(map[string]any)["id"] != "s-admin" {
		t.Fatalf("schedules = %v", s)
	}
	if s := e.ok(t, "TopicService/ListSubscriptions", adminToken, `{}`)["subscriptions"].([]any); len(s) != 1 || s[0].(map[string]any)["name"] != "sub-admin" {
		t.Fatalf("subscriptions = %v", s)
	}
	events := map[string]any{}
	for _, tp := range e.ok(t, "TopicService/ListTopics", adminToken, `{}`)["topics"].([]any) {
		events[tp.(map[string]any)["name"].(string)] = tp.(map[string]any)["events"]
	}
	if compact(t, events) != `{"other":"2","p":"2","t":"0","u-admin":"0"}` {
		t.Fatalf("topics = %v", events)
	}
}

// A worker token limited to a queue may claim and ack only there.
func TestAuthQueueLimitedWorker(t *testing.T) {
	t.Parallel()
	e := setup(t, true)
	e.ok(t, "JobService/Enqueue", producerToken, `{"kind":"k","queue":"emails"}`)
	e.ok(t, "JobService/Enqueue", producerToken, `{"kind":"k","queue":"other"}`)
	if r := e.call(t, "WorkerService/Claim", emailsToken, `{"queues":["other"]}`); r.code() != "permission_denied" {
		t.Fatalf("claim other = %s", r.raw)
	}
	got := e.ok(t, "WorkerService/Claim", emailsToken, `{"queues":["emails"]}`)["jobs"].([]any)
	if len(got) != 1 {
		t.Fatalf("claim emails = %v", got)
	}
	// Claimed with an unrestricted token, acked with the limited one: refused.
	other := e.ok(t, "WorkerService/Claim", workerToken, `{"queues":["other"]}`)["jobs"].([]any)[0].(map[string]any)
	r := e.ok(t, "WorkerService/Complete", emailsToken, `{"leases":[{"id":"`+other["id"].(string)+`","leaseToken":"`+other["leaseToken"].(string)+`"}]}`)
	if c := r["results"].([]any)[0].(map[string]any)["code"]; c != "permission_denied" {
		t.Fatalf("cross-queue Complete = %v", r)
	}
	if j := e.ok(t, "JobService/GetJob", adminToken, `{"id":"`+other["id"].(string)+`"}`)["job"].(map[string]any); j["state"] != "running" {
		t.Fatalf("refused Complete changed the job: %v", j["state"])
	}
}
