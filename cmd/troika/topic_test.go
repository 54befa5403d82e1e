package main

import (
	"time"

	"github.com/troikahq/troika/internal/cli"
	"path/filepath"
	"strings"
	"testing"
)

type wireTopics struct {
	Topics []struct {
		Name          string
		Events        int64
		Retention     string
		Subscriptions []struct {
			Name  string
			Queue string
			Kinds []string
			Lag   struct {
				Undelivered      int64
				OldestAgeSeconds float64
			}
		}
	}
}

func TestTopicCommands(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	var pub struct {
		ID         string
		Deliveries int
	}
	// Publishing to a topic nobody subscribes to is stored, 0 deliveries.
	runT(t, "publish", "orders", "order.placed", `{"order":1}`, "--data", dir, "--json").ok(t).decode(t, &pub)
	if pub.ID == "" || pub.Deliveries != 0 {
		t.Fatalf("publish without subscriptions: %+v", pub)
	}
	var sub struct {
		Name, Queue string
		Delivered   int
		Lag         struct{ Undelivered int64 }
	}
	runT(t, "topic", "subscribe", "orders", "billing", "--start", "earliest", "--data", dir, "--json").ok(t).decode(t, &sub)
	if sub.Name != "billing" || sub.Queue != "orders.billing" || sub.Delivered != 1 || sub.Lag.Undelivered != 1 {
		t.Fatalf("subscribe --start earliest: %+v", sub)
	}
	runT(t, "topic", "subscribe", "orders", "shipping", "--kind", "order.paid", "--queue", "ship", "--data", dir).ok(t)
	runT(t, "publish", "orders", "order.paid", `{"order":1}`, "--ordering-key", "c-1", "--meta", "tenant=acme", "--data", dir, "--json").ok(t).decode(t, &pub)
	if pub.Deliveries != 2 {
		t.Fatalf("publish order.paid: %+v, want 2 deliveries", pub)
	}
	var list wireTopics
	runT(t, "topic", "list", "--data", dir, "--json").ok(t).decode(t, &list)
	if len(list.Topics) != 1 || list.Topics[0].Events != 2 || len(list.Topics[0].Subscriptions) != 2 {
		t.Fatalf("topic list: %+v", list)
	}
	billing, ship := list.Topics[0].Subscriptions[0], list.Topics[0].Subscriptions[1]
	if billing.Name != "billing" || billing.Lag.Undelivered != 2 || ship.Queue != "ship" || ship.Lag.Undelivered != 1 || ship.Kinds[0] != "order.paid" {
		t.Errorf("subscriptions: %+v", list.Topics[0].Subscriptions)
	}
	table := runT(t, "topic", "list", "--data", dir).ok(t).stdout
	if !strings.Contains(table, "billing") || !strings.Contains(table, "UNDELIVERED") {
		t.Errorf("topic list table:\n%s", table)
	}
	var rep struct{ Delivered int }
	runT(t, "topic", "replay", "orders", "shipping", "--data", dir, "--json").ok(t).decode(t, &rep)
	if rep.Delivered != 1 {
		t.Errorf("replay: %+v, want 1 (shipping takes only order.paid)", rep)
	}
	runT(t, "topic", "unsubscribe", "orders", "shipping", "--data", dir).ok(t)
	runT(t, "topic", "list", "orders", "--data", dir, "--json").ok(t).decode(t, &list)
	if len(list.Topics[0].Subscriptions) != 1 {
		t.Errorf("after unsubscribe: %+v", list)
	}
}

func TestTopicCommandErrors(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	runT(t, "topic", "subscribe", "orders", "billing", "--data", dir).ok(t)
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"NameTaken", []string{"topic", "subscribe", "orders", "billing"}, 1, "already exists"},
		{"UnknownSubscription", []string{"topic", "unsubscribe", "orders", "nope"}, 3, "not found"},
		{"UnknownTopicReplay", []string{"topic", "replay", "nope", "billing"}, 3, "not found"},
		{"UnknownTopicList", []string{"topic", "list", "nope"}, 3, "not found"},
		{"FutureStart", []string{"topic", "subscribe", "orders", "late", "--start", "+1h"}, 1, "in the future"},
		{"BadStart", []string{"topic", "subscribe", "orders", "late", "--start", "yesterday"}, 2, "--start"},
		{"BadJSON", []string{"publish", "orders", "k", "{"}, 1, "not valid JSON"},
		{"BadOrderingKey", []string{"publish", "orders", "k", "--ordering-key", ""}, 1, "orderingKey"},
		{"BadTopicName", []string{"publish", "Orders!", "k"}, 1, "topic"},
		{"MissingArgs", []string{"publish", "orders"}, 2, "arg"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runT(t, append(tc.args, "--data", dir)...)
			r.exit(t, tc.code, tc.want)
		})
	}
	// Args on standard input over the payload limit (1 MiB) are refused as
	// too large, not cut short and reported as bad JSON.
	big := `{"x":"` + strings.Repeat("a", 1100000) + `"}`
	t.Run("ArgsOverLimitOnStdin", func(t *testing.T) {
		troikaIn(t, strings.NewReader(big), "publish", "orders", "k", "-", "--data", dir).exit(t, 1, "over the limit")
		troikaIn(t, strings.NewReader(big), "enqueue", "k", "-", "--data", dir).exit(t, 1, "over the limit")
	})
	t.Run("BadJSONOnStdin", func(t *testing.T) {
		troikaIn(t, strings.NewReader(`{"a":`), "publish", "orders", "k", "-", "--data", dir).exit(t, 1, "not valid JSON")
	})
	var list wireTopics
	runT(t, "topic", "list", "--data", dir, "--json").ok(t).decode(t, &list)
	if len(list.Topics) != 1 || list.Topics[0].Events != 0 || len(list.Topics[0].Subscriptions) != 1 {
		t.Errorf("after bad input: %+v; want the one topic and subscription, no events", list)
	}
}

// The topic, publish and schedule commands work over the API (--server).
func TestTopicAndScheduleCommandsOverTheAPI(t *testing.T) {
	t.Parallel()
	url, _ := startServerCmd(t)
	srv := func(args ...string) []string { return append(args, "--server", url) }
	runT(t, srv("topic", "subscribe", "orders", "billing")...).ok(t)
	runT(t, srv("topic", "subscribe", "orders", "billing")...).exit(t, 1, "already exists")
	var pub publishResult
	runT(t, srv("publish", "orders", "order.placed", `{"order":1}`, "--ordering-key", "c-1", "--json")...).ok(t).decode(t, &pub)
	if pub.Deliveries != 1 || len(pub.JobIDs) != 1 {
		t.Fatalf("publish over the API = %+v", pub)
	}
	var list wireTopics
	runT(t, srv("topic", "list", "--json")...).ok(t).decode(t, &list)
	if len(list.Topics) != 1 || list.Topics[0].Events != 1 || len(list.Topics[0].Subscriptions) != 1 {
		t.Fatalf("topic list over the API = %+v", list)
	}
	runT(t, srv("topic", "replay", "orders", "billing")...).ok(t)
	runT(t, srv("topic", "unsubscribe", "orders", "billing")...).ok(t)
	runT(t, srv("topic", "unsubscribe", "orders", "billing")...).exit(t, 3, "")

	runT(t, srv("schedule", "add", "hb", "@every 90s", "ping")...).ok(t)
	runT(t, srv("schedule", "add", "bad", "61 * * * *", "ping")...).exit(t, 1, `schedule.spec: minute field "61"`)
	runT(t, srv("schedule", "pause", "hb")...).ok(t)
	runT(t, srv("schedule", "resume", "hb")...).ok(t)
	runT(t, srv("schedule", "trigger", "hb")...).ok(t)
	if out := runT(t, srv("schedule", "list")...).ok(t).stdout; !strings.Contains(out, "hb") || !strings.Contains(out, "@every 90s") {
		t.Fatalf("schedule list over the API:\n%s", out)
	}
	runT(t, srv("schedule", "remove", "hb")...).ok(t)
	runT(t, srv("schedule", "trigger", "hb")...).exit(t, 3, "")
}

func FuzzParseStart(f *testing.F) {
	for _, s := range []string{"now", "earliest", "2026-11-25T10:00:00Z", "2026-11-25 10:00", "+5m", "x", ""} {
		f.Add(s)
	}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := parseStart(s, now); err != nil && cli.ExitCode(err) != cli.ExitUsage {
			t.Fatalf("parseStart(%q): %v is not a usage error", s, err)
		}
	})
}
