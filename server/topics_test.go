package server_test

import (
	"testing"
	"time"
)

// The TopicService over JSON, as curl would call it.
func TestTopicServiceJSON(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	e.ok(t, "TopicService/Publish", "", `{"topic":"orders","kind":"order.created","args":{"n":0}}`) // retained, no subscriber yet
	t.Run("subscriptions", func(t *testing.T) {
		r := e.ok(t, "TopicService/CreateSubscription", "", `{"topic":"orders","name":"billing","kinds":["order.created"],"start":"earliest","maxAttempts":3}`)
		sub := r["subscription"].(map[string]any)
		if r["delivered"].(float64) != 1 || sub["queue"] != "orders.billing" || sub["maxAttempts"].(float64) != 3 {
			t.Fatalf("create billing = %v", compact(t, r))
		}
		r = e.ok(t, "TopicService/CreateSubscription", "", `{"topic":"orders","name":"email","queue":"emails"}`)
		if r["delivered"].(float64) != 0 {
			t.Fatalf("start now delivered %v", r["delivered"])
		}
		if r := e.call(t, "TopicService/CreateSubscription", "", `{"topic":"orders","name":"email"}`); r.code() != "already_exists" {
			t.Fatalf("duplicate = %s", r.raw)
		}
	})
	t.Run("publish fans out with the ordering key", func(t *testing.T) {
		r := e.ok(t, "TopicService/Publish", "", `{"topic":"orders","kind":"order.created","args":{"n":1},"orderingKey":"cust-1","metadata":{"src":"test"}}`)
		if r["deliveries"].(float64) != 2 || r["id"] == "" || len(r["jobIds"].([]any)) != 2 {
			t.Fatalf("publish = %v", r)
		}
		for _, id := range r["jobIds"].([]any) {
			j := e.ok(t, "JobService/GetJob", "", `{"id":"`+id.(string)+`"}`)["job"].(map[string]any)
			md := j["metadata"].(map[string]any)
			if j["orderingKey"] != "cust-1" || md["src"] != "test" || md["troika.event"] != r["id"] || compact(t, j["args"]) != `{"n":1}` {
				t.Fatalf("delivery = %v", compact(t, j))
			}
		}
		r = e.ok(t, "TopicService/Publish", "", `{"topic":"orders","kind":"order.shipped"}`)
		if r["deliveries"].(float64) != 1 { // billing takes only order.created
			t.Fatalf("filtered publish = %v", r)
		}
		m := e.ok(t, "TopicService/PublishMany", "", `{"topic":"orders","events":[{"kind":"order.shipped"},{"kind":"order.created"}]}`)
		if res := m["results"].([]any); len(res) != 2 || res[1].(map[string]any)["deliveries"].(float64) != 2 {
			t.Fatalf("publish many = %v", m)
		}
	})
	t.Run("lists with lag", func(t *testing.T) {
		subs := e.ok(t, "TopicService/ListSubscriptions", "", `{"topic":"orders"}`)["subscriptions"].([]any)
		want := map[string]string{"billing": "3", "email": "4"}
		if len(subs) != 2 {
			t.Fatalf("subs = %v", subs)
		}
		for _, s := range subs {
			s := s.(map[string]any)
			lag := s["lag"].(map[string]any)
			if lag["undelivered"] != want[s["name"].(string)] || lag["oldestPendingAt"] == nil {
				t.Fatalf("%s lag = %v", s["name"], lag)
			}
		}
		topics := e.ok(t, "TopicService/ListTopics", "", `{}`)["topics"].([]any)
		tp := topics[0].(map[string]any)
		if len(topics) != 1 || tp["events"] != "5" || tp["subscriptions"].(float64) != 2 || tp["retention"] != "604800s" {
			t.Fatalf("topics = %v", compact(t, topics))
		}
		tp = e.ok(t, "TopicService/UpdateTopic", "", `{"name":"orders","retention":"3600s"}`)["topic"].(map[string]any)
		if tp["retention"] != "3600s" {
			t.Fatalf("update = %v", tp)
		}
	})
	t.Run("replay and delete", func(t *testing.T) {
		before := e.jobCount(t)
		r := e.ok(t, "TopicService/ReplaySubscription", "", `{"topic":"orders","name":"billing"}`)
		if r["delivered"].(float64) != 3 || e.jobCount(t) != before+3 {
			t.Fatalf("replay = %v (%d jobs)", r, e.jobCount(t)-before)
		}
		from := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		if r := e.call(t, "TopicService/ReplaySubscription", "", `{"topic":"orders","name":"billing","from":"`+from+`"}`); r.code() != "invalid_argument" {
			t.Fatalf("future replay = %s", r.raw)
		}
		e.ok(t, "TopicService/DeleteSubscription", "", `{"topic":"orders","name":"email"}`)
		if r := e.ok(t, "TopicService/Publish", "", `{"topic":"orders","kind":"order.shipped"}`); r["deliveries"].(float64) != 0 {
			t.Fatalf("publish after delete = %v", r)
		}
	})
}
