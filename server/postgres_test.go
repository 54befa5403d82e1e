package server_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/troikahq/troika/server"
)

// pgURL is the test database; set TROIKA_TEST_POSTGRES_URL to use another.
func pgURL() string {
	if u := os.Getenv("TROIKA_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// The server over PostgreSQL (--postgres): the worker protocol works the
// same. Skips without a database, fails without one when CI=true.
func TestPostgresBackend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgURL())
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL required when CI=true: %v", err)
		}
		t.Skipf("no PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	schema := fmt.Sprintf("troika_server_test_%d", rand.Uint32())
	t.Cleanup(func() { _, _ = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE") })

	cfg := server.Defaults()
	cfg.Addr, cfg.Postgres, cfg.PostgresSchema = "127.0.0.1:0", pgURL(), schema
	b, err := server.OpenBackend(ctx, cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	srv, err := server.New(server.Options{Config: cfg, Store: b.Store, Client: b.Client, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Stop(ctx) }()
	e := &env{srv: srv, url: srv.URL(), client: b.Client}

	id := e.ok(t, "JobService/Enqueue", "", `{"kind":"pg.job","args":{"n":1}}`)["id"].(string)
	jobs := e.ok(t, "WorkerService/Claim", "", `{"max":5}`)["jobs"].([]any)
	if len(jobs) != 1 || jobs[0].(map[string]any)["id"] != id {
		t.Fatalf("claim = %v", jobs)
	}
	tok := jobs[0].(map[string]any)["leaseToken"].(string)
	r := e.ok(t, "WorkerService/Complete", "", `{"leases":[{"id":"`+id+`","leaseToken":"`+tok+`"}]}`)
	if c := r["results"].([]any)[0].(map[string]any)["code"]; c != "ok" {
		t.Fatalf("complete = %v", r)
	}
	r = e.ok(t, "WorkerService/Complete", "", `{"leases":[{"id":"`+id+`","leaseToken":"`+tok+`"}]}`)
	if c := r["results"].([]any)[0].(map[string]any)["code"]; c != "failed_precondition" {
		t.Fatalf("stale complete = %v", r)
	}
	if j := e.ok(t, "JobService/GetJob", "", `{"id":"`+id+`"}`)["job"].(map[string]any); j["state"] != "completed" {
		t.Fatalf("job = %v", j)
	}

	// Schedules and topics over the PostgreSQL store.
	up := e.ok(t, "ScheduleService/UpsertSchedule", "", `{"schedule":{"id":"pg.tick","spec":"@hourly","job":{"kind":"pg.tick"}}}`)
	if up["created"] != true || len(up["schedule"].(map[string]any)["nextFireTimes"].([]any)) != 5 {
		t.Fatalf("upsert = %v", up)
	}
	if tr := e.ok(t, "ScheduleService/TriggerSchedule", "", `{"id":"pg.tick"}`); tr["state"] != "available" {
		t.Fatalf("trigger = %v", tr)
	}
	e.ok(t, "TopicService/CreateSubscription", "", `{"topic":"pg.orders","name":"a"}`)
	e.ok(t, "TopicService/CreateSubscription", "", `{"topic":"pg.orders","name":"b"}`)
	if r := e.call(t, "TopicService/CreateSubscription", "", `{"topic":"pg.orders","name":"b"}`); r.code() != "already_exists" {
		t.Fatalf("duplicate subscription = %s", r.raw)
	}
	pub := e.ok(t, "TopicService/Publish", "", `{"topic":"pg.orders","kind":"order","orderingKey":"c-1"}`)
	if pub["deliveries"].(float64) != 2 {
		t.Fatalf("publish = %v", pub)
	}
	subs := e.ok(t, "TopicService/ListSubscriptions", "", `{"topic":"pg.orders"}`)["subscriptions"].([]any)
	if len(subs) != 2 || subs[0].(map[string]any)["lag"].(map[string]any)["undelivered"] != "1" {
		t.Fatalf("subscriptions = %v", subs)
	}
}
