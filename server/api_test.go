package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// The worker protocol over JSON, as another language would speak it.
func TestWorkerProtocolJSON(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	res := e.ok(t, "JobService/Enqueue", "", `{"kind":"email.send","args":{"to":"ada@example.com"},"queue":"emails","tags":["welcome"],"metadata":{"tenant":"acme"},"orderingKey":"customer-7"}`)
	id, _ := res["id"].(string)
	if id == "" || res["state"] != "available" || res["duplicate"] != false {
		t.Fatalf("Enqueue = %v", res)
	}
	claim := e.ok(t, "WorkerService/Claim", "", `{"queues":["emails"],"max":10,"leaseSeconds":30,"workerId":"py-1"}`)
	jobs, _ := claim["jobs"].([]any)
	if len(jobs) != 1 {
		t.Fatalf("Claim = %v", claim)
	}
	j := jobs[0].(map[string]any)
	tok, _ := j["leaseToken"].(string)
	if j["id"] != id || tok == "" || j["state"] != "running" || j["attempt"] != float64(1) || compact(t, j["args"]) != `{"to":"ada@example.com"}` || j["leaseHolder"] != "py-1" {
		t.Fatalf("claimed job = %v", j)
	}
	hb := e.ok(t, "WorkerService/Heartbeat", "", `{"leases":[{"id":"`+id+`","leaseToken":"`+tok+`","leaseSeconds":60}]}`)
	if compact(t, hb["results"]) != `[{"code":"ok","id":"`+id+`","message":""}]` {
		t.Fatalf("Heartbeat = %v", hb)
	}
	done := e.ok(t, "WorkerService/Complete", "", `{"leases":[{"id":"`+id+`","leaseToken":"`+tok+`","result":{"sent":true}}]}`)
	if compact(t, done["results"]) != `[{"code":"ok","id":"`+id+`","message":""}]` {
		t.Fatalf("Complete = %v", done)
	}
	got := e.ok(t, "JobService/GetJob", "", `{"id":"`+id+`"}`)["job"].(map[string]any)
	if got["state"] != "completed" || compact(t, got["result"]) != `{"sent":true}` || got["leaseToken"] != "" || got["finishedAt"] == nil || got["orderingKey"] != "customer-7" {
		t.Fatalf("GetJob = %v", got)
	}
	// A second Complete with the now stale token changes nothing.
	again := e.ok(t, "WorkerService/Complete", "", `{"leases":[{"id":"`+id+`","leaseToken":"`+tok+`","result":{"sent":false}}]}`)
	if r := again["results"].([]any)[0].(map[string]any); r["code"] != "failed_precondition" {
		t.Fatalf("stale Complete = %v", again)
	}
	if got := e.ok(t, "JobService/GetJob", "", `{"id":"`+id+`"}`)["job"].(map[string]any); compact(t, got["result"]) != `{"sent":true}` {
		t.Fatalf("stale Complete changed the job: %v", got)
	}
}

// Fail, Snooze and the per-item codes of a mixed batch.
func TestWorkerFailSnooze(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	for range 3 {
		e.ok(t, "JobService/Enqueue", "", `{"kind":"k","maxAttempts":2}`)
	}
	jobs := e.ok(t, "WorkerService/Claim", "", `{"max":3}`)["jobs"].([]any)
	if len(jobs) != 3 {
		t.Fatalf("claimed %d", len(jobs))
	}
	lease := func(i int) string {
		j := jobs[i].(map[string]any)
		return `"id":"` + j["id"].(string) + `","leaseToken":"` + j["leaseToken"].(string) + `"`
	}
	r := e.ok(t, "WorkerService/Fail", "", `{"leases":[{`+lease(0)+`,"error":"boom","retryIn":"0s"},{`+lease(1)+`,"error":"bad input","retryable":false}]}`)
	if compact(t, r["results"]) != `[{"code":"ok","id":"`+jobs[0].(map[string]any)["id"].(string)+`","message":""},{"code":"ok","id":"`+jobs[1].(map[string]any)["id"].(string)+`","message":""}]` {
		t.Fatalf("Fail = %v", r)
	}
	r = e.ok(t, "WorkerService/Snooze", "", `{"leases":[{`+lease(2)+`,"delay":"3600s"},{"id":"`+jobs[2].(map[string]any)["id"].(string)+`","leaseToken":"garbage"}]}`)
	codes := []string{}
	for _, it := range r["results"].([]any) {
		codes = append(codes, it.(map[string]any)["code"].(string))
	}
	if strings.Join(codes, ",") != "ok,invalid_argument" {
		t.Fatalf("Snooze codes = %v", codes)
	}
	state := func(i int) map[string]any {
		return e.ok(t, "JobService/GetJob", "", `{"id":"`+jobs[i].(map[string]any)["id"].(string)+`"}`)["job"].(map[string]any)
	}
	if j := state(0); j["state"] != "retryable" && j["state"] != "available" {
		t.Fatalf("failed job = %v", j["state"])
	}
	if j := state(1); j["state"] != "dead" || len(j["errors"].([]any)) != 1 {
		t.Fatalf("permanent failure = %v", j)
	}
	if j := state(2); j["state"] != "scheduled" || j["attempt"] != float64(0) {
		t.Fatalf("snoozed = %v", j)
	}
	// The retried job runs again; its second failure exhausts maxAttempts 2.
	again := e.ok(t, "WorkerService/Claim", "", `{"max":1}`)["jobs"].([]any)
	if len(again) != 1 || again[0].(map[string]any)["attempt"] != float64(2) {
		t.Fatalf("second claim = %v", again)
	}
	j := again[0].(map[string]any)
	e.ok(t, "WorkerService/Fail", "", `{"leases":[{"id":"`+j["id"].(string)+`","leaseToken":"`+j["leaseToken"].(string)+`","error":"boom again"}]}`)
	if got := e.ok(t, "JobService/GetJob", "", `{"id":"`+j["id"].(string)+`"}`)["job"].(map[string]any); got["state"] != "dead" {
		t.Fatalf("exhausted job = %v", got["state"])
	}
}

// A long-polling Claim returns as soon as a job is enqueued (woken by the
// store, not by its timeout), and an idle one returns empty at its timeout.
func TestClaimLongPoll(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	got := make(chan reply, 1)
	start := time.Now()
	go func() { got <- e.call(t, "WorkerService/Claim", "", `{"queues":["lp"],"waitSeconds":30}`) }()
	// The claim is parked: enqueue until it is taken (the first enqueue can
	// race the subscription; later ones cannot miss it).
	var r reply
	for r.status == 0 {
		e.ok(t, "JobService/Enqueue", "", `{"kind":"k","queue":"lp"}`)
		select {
		case r = <-got:
		case <-time.After(50 * time.Millisecond):
		}
	}
	if r.status != http.StatusOK || len(r.body["jobs"].([]any)) != 1 || time.Since(start) > 10*time.Second {
		t.Fatalf("long poll = %d %s after %s", r.status, r.raw, time.Since(start))
	}
	start = time.Now()
	empty := e.ok(t, "WorkerService/Claim", "", `{"queues":["idle"],"waitSeconds":0.2}`)
	if len(empty["jobs"].([]any)) != 0 || time.Since(start) < 150*time.Millisecond {
		t.Fatalf("idle claim = %v after %s", empty, time.Since(start))
	}
}

// Health endpoints: /livez, /readyz, and readiness off while draining.
func TestHealth(t *testing.T) {
	t.Parallel()
	e := setup(t, true)
	for _, p := range []string{"/livez", "/readyz"} {
		resp, err := http.Get(e.url + p)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %v %v", p, resp, err)
		}
		resp.Body.Close()
	}
	// grpc.health.v1 over Connect JSON needs no token.
	r := e.callPath(t, "/grpc.health.v1.Health/Check", "", `{}`)
	if r.status != http.StatusOK || r.body["status"] != "SERVING_STATUS_SERVING" {
		t.Fatalf("health check = %d %s", r.status, r.raw)
	}
}
