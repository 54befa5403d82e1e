package engine

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/troikahq/troika/store"
)

func TestBuildOrderingKey(t *testing.T) {
	t.Parallel()
	t.Run("Set", func(t *testing.T) {
		t.Parallel()
		o := JobOptions{OrderingKey: "customer-42", HasOrderingKey: true}
		var in store.InsertJob
		if err := o.Build(&in, -1, "k", nil, base, Limits{}); err != nil || in.OrderingKey != "customer-42" {
			t.Fatalf("Build: %+v, %v", in, err)
		}
	})
	for name, key := range map[string]string{
		"Empty": "", "TooLong": strings.Repeat("k", MaxOrderingKeyLen+1), "Control": "a\nb", "NUL": "a\x00", "BadUTF8": "\xff",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o := JobOptions{OrderingKey: key, HasOrderingKey: true}
			var in store.InsertJob
			if err := o.Build(&in, 3, "k", nil, base, Limits{}); !isInvalid(err, "jobs[3].orderingKey") {
				t.Fatalf("Build(%q): %v, want invalid jobs[3].orderingKey", key, err)
			}
		})
	}
}

func TestBuildEvent(t *testing.T) {
	t.Parallel()
	ok := EventOptions{JobOptions{OrderingKey: "o", HasOrderingKey: true, Metadata: map[string]string{"traceparent": "x"}}}
	var ev store.Event
	if err := ok.BuildEvent(&ev, -1, "order.paid", []byte(`{"id":1}`), Limits{}); err != nil ||
		ev.Kind != "order.paid" || ev.OrderingKey != "o" || ev.Metadata["traceparent"] != "x" || string(ev.Args) != `{"id":1}` {
		t.Fatalf("BuildEvent: %+v, %v", ev, err)
	}
	many := map[string]string{}
	for i := range MaxEventMetadataEntries + 1 {
		many[strings.Repeat("k", i+1)] = "v"
	}
	cases := []struct {
		name  string
		o     EventOptions
		kind  string
		args  string
		field string
	}{
		{"NoKind", EventOptions{}, "", `{}`, "events[0].kind"},
		{"BadJSON", EventOptions{}, "k", `{`, "events[0].args"},
		{"TooBig", EventOptions{}, "k", `"` + strings.Repeat("x", 100) + `"`, "events[0].args"},
		{"Queue", EventOptions{JobOptions{Queue: "q", HasQueue: true}}, "k", `{}`, "events[0].queue"},
		{"Priority", EventOptions{JobOptions{Priority: 1, HasPriority: true}}, "k", `{}`, "events[0].options"},
		{"Delay", EventOptions{JobOptions{Delay: time.Second, HasDelay: true}}, "k", `{}`, "events[0].runAt"},
		{"Unique", EventOptions{JobOptions{UniqueKey: "u", UniqueFor: time.Second, HasUnique: true}}, "k", `{}`, "events[0].uniqueKey"},
		{"ReservedMetadata", EventOptions{JobOptions{Metadata: map[string]string{"troika.topic": "x"}}}, "k", `{}`, "events[0].metadata"},
		{"TooMuchMetadata", EventOptions{JobOptions{Metadata: many}}, "k", `{}`, "events[0].metadata"},
		{"BadOrderingKey", EventOptions{JobOptions{OrderingKey: "", HasOrderingKey: true}}, "k", `{}`, "events[0].orderingKey"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var ev store.Event
			if err := tc.o.BuildEvent(&ev, 0, tc.kind, []byte(tc.args), Limits{MaxPayloadBytes: 64}); !isInvalid(err, tc.field) {
				t.Fatalf("BuildEvent: %v, want invalid %s", err, tc.field)
			}
		})
	}
}

func TestSubscriptionBuild(t *testing.T) {
	t.Parallel()
	now := base
	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()
		p, err := (&SubscriptionInput{Topic: "orders", Name: "billing"}).Build(now)
		if err != nil || p.Job.Queue != "orders.billing" || p.Job.Priority != DefaultPriority ||
			p.Job.MaxAttempts != DefaultMaxAttempts || !p.From.IsZero() {
			t.Fatalf("Build: %+v, %v", p, err)
		}
	})
	t.Run("Earliest", func(t *testing.T) {
		t.Parallel()
		p, err := (&SubscriptionInput{Topic: "t", Name: "s", Start: SubscriptionStart{Earliest: true}}).Build(now)
		if err != nil || !p.From.Equal(Earliest) {
			t.Fatalf("Build: %+v, %v", p, err)
		}
	})
	t.Run("PastTime", func(t *testing.T) {
		t.Parallel()
		p, err := (&SubscriptionInput{Topic: "t", Name: "s", Start: SubscriptionStart{At: now.Add(-time.Hour)}}).Build(now)
		if err != nil || !p.From.Equal(now.Add(-time.Hour)) {
			t.Fatalf("Build: %+v, %v", p, err)
		}
	})
	long := strings.Repeat("a", 40)
	cases := []struct {
		name  string
		in    SubscriptionInput
		field string
	}{
		{"NoTopic", SubscriptionInput{Name: "s"}, "topic"},
		{"BadTopic", SubscriptionInput{Topic: "Orders", Name: "s"}, "topic"},
		{"NoName", SubscriptionInput{Topic: "t"}, "name"},
		{"BadName", SubscriptionInput{Topic: "t", Name: "a b"}, "name"},
		{"DefaultQueueTooLong", SubscriptionInput{Topic: long, Name: long}, "queue"},
		{"BadQueue", SubscriptionInput{Topic: "t", Name: "s", Queue: "Q!"}, "queue"},
		{"BadKind", SubscriptionInput{Topic: "t", Name: "s", Kinds: []string{"ok", ""}}, "kinds[1]"},
		{"Priority", SubscriptionInput{Topic: "t", Name: "s", Priority: 9}, "priority"},
		{"Attempts", SubscriptionInput{Topic: "t", Name: "s", MaxAttempts: -1}, "maxAttempts"},
		{"Timeout", SubscriptionInput{Topic: "t", Name: "s", Timeout: -time.Second}, "timeout"},
		{"FutureStart", SubscriptionInput{Topic: "t", Name: "s", Start: SubscriptionStart{At: now.Add(time.Minute)}}, "start"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := tc.in.Build(now); !isInvalid(err, tc.field) {
				t.Fatalf("Build: %v, want invalid %s", err, tc.field)
			}
		})
	}
	if err := CheckReplayFrom(now.Add(time.Second), now); !isInvalid(err, "from") {
		t.Errorf("CheckReplayFrom(future): %v", err)
	}
	if err := CheckReplayFrom(time.Time{}, now); err != nil {
		t.Errorf("CheckReplayFrom(zero): %v", err)
	}
}

func TestParseStart(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]SubscriptionStart{
		"": {}, "now": {}, "earliest": {Earliest: true},
		"2030-01-01T00:00:00Z": {At: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		got, err := ParseStart(in, "start")
		if err != nil || got.Earliest != want.Earliest || !got.At.Equal(want.At) {
			t.Errorf("ParseStart(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"yesterday", "2030-01-01", "EARLIEST"} {
		if _, err := ParseStart(in, "start"); !isInvalid(err, "start") {
			t.Errorf("ParseStart(%q): %v, want invalid start", in, err)
		}
	}
}

func FuzzParseStart(f *testing.F) {
	for _, s := range []string{"now", "earliest", "2030-01-01T00:00:00Z", "x", "2030-13-01T00:00:00Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, err := ParseStart(s, "start")
		if err != nil {
			var ie *store.InvalidArgumentError
			if !errors.As(err, &ie) || ie.Field != "start" {
				t.Fatalf("ParseStart(%q): %T %v", s, err, err)
			}
			return
		}
		if _, err := (&SubscriptionInput{Topic: "t", Name: "s", Start: st}).Build(base); err != nil && !isInvalid(err, "start") {
			t.Fatalf("Build with start %q: %v", s, err)
		}
	})
}

func FuzzBuildEvent(f *testing.F) {
	f.Add("order.paid", []byte(`{"id":1}`), "key", "traceparent", "v")
	f.Add("", []byte(`{`), "", "troika.x", "\x00")
	f.Fuzz(func(t *testing.T, kind string, args []byte, okey, mk, mv string) {
		o := EventOptions{JobOptions{OrderingKey: okey, HasOrderingKey: okey != "", Metadata: map[string]string{mk: mv}}}
		var ev store.Event
		if err := o.BuildEvent(&ev, -1, kind, args, Limits{}); err != nil {
			var ie *store.InvalidArgumentError
			if !errors.As(err, &ie) || ie.Field == "" {
				t.Fatalf("BuildEvent: %T %v", err, err)
			}
			return
		}
		if ev.Kind != kind || CheckOrderingKey(ev.OrderingKey) != "" && ev.OrderingKey != "" || strings.HasPrefix(mk, "troika.") {
			t.Fatalf("accepted invalid input: %+v", ev)
		}
	})
}

// A schedule's job template cannot carry an ordering key yet: refused, not
// silently dropped.
func TestScheduleRefusesOrderingKey(t *testing.T) {
	t.Parallel()
	var d store.ScheduleDefinition
	in := ScheduleInput{Kind: "k", Job: JobOptions{OrderingKey: "o", HasOrderingKey: true}}
	if err := buildTemplate(&d, &in, "", base, Limits{}); !isInvalid(err, "job.orderingKey") {
		t.Fatalf("buildTemplate: %v, want invalid job.orderingKey", err)
	}
}
