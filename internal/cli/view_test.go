package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/troikahq/troika"
)

func TestExitCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, ExitOK},
		{"plain", errors.New("boom"), ExitFailure},
		{"usage", Usagef("bad"), ExitUsage},
		{"not found", fmt.Errorf("get: %w", troika.ErrNotFound), ExitNotFound},
		{"invalid", &troika.InvalidArgumentError{Field: "queue", Reason: "bad"}, ExitFailure},
		{"explicit wins", &ExitError{Code: 7, Err: troika.ErrNotFound}, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := ExitCode(tc.err); got != tc.want {
				t.Fatalf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}

func TestMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"sdk prefix", troika.ErrNotFound, "not found"},
		{"wrapped sdk", fmt.Errorf("open x: %w", troika.ErrNotFound), "open x: not found"},
		{"suggestions", errors.New("unknown command \"enqeue\" for \"troika\"\n\nDid you mean this?\n\tenqueue\n"),
			`unknown command "enqeue" for "troika" (did you mean enqueue?)`},
		{"newlines", errors.New("a\nb"), "a; b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Message(tc.err); got != tc.want {
				t.Fatalf("Message = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestProtoDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0:                        "0s",
		1500 * time.Millisecond:  "1.500s",
		24 * time.Hour:           "86400s",
		time.Microsecond:         "0.000001s",
		time.Nanosecond:          "0.000000001s",
		-2500 * time.Millisecond: "-2.500s",
	} {
		if got := ProtoDuration(d); got != want {
			t.Errorf("ProtoDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0:                             "0s",
		250 * time.Millisecond:        "250ms",
		1500 * time.Millisecond:       "1.5s",
		90 * time.Second:              "1m30s",
		time.Hour:                     "1h",
		7 * 24 * time.Hour:            "7d",
		36*time.Hour + 30*time.Second: "1d12h30s",
		-90 * time.Second:             "-1m30s",
		time.Duration(-1 << 63):       time.Duration(-1 << 63).String(),
	} {
		if got := HumanDuration(d); got != want {
			t.Errorf("HumanDuration(%d) = %q, want %q", d, got, want)
		}
	}
}

func TestJobViewFieldNames(t *testing.T) {
	t.Parallel()
	id, err := troika.ParseJobID("0190f7d5-6c1e-7c3a-9b1e-2f6d7a1b9c00")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	j := &troika.JobRow{
		ID: id, Kind: "email.send", Args: []byte(`{"to":"ada"}`), Queue: "emails", Priority: 2,
		State: troika.StateDead, Attempt: 3, MaxAttempts: 3, RunAt: at, CreatedAt: at, AttemptedAt: at, FinishedAt: at,
		Errors:    []troika.AttemptError{{At: at, Attempt: 1, Message: "boom"}},
		UniqueKey: "u", Metadata: map[string]string{"k": "v"}, Tags: []string{"t"}, Result: []byte(`1`),
		Timeout: 1500 * time.Millisecond,
	}
	b, err := json.Marshal(JobView(j))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := []string{"id", "kind", "args", "queue", "priority", "state", "attempt", "maxAttempts", "runAt",
		"createdAt", "attemptedAt", "finishedAt", "timeout", "errors", "uniqueKey", "metadata", "tags", "result"}
	got := slices.Sorted(func(y func(string) bool) {
		for k := range m {
			if !y(k) {
				return
			}
		}
	})
	if !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Fatalf("JSON keys = %v, want %v", got, want)
	}
	if m["runAt"] != "2026-11-25T10:00:00Z" || m["timeout"] != "1.500s" || m["state"] != "dead" {
		t.Fatalf("values: %s", b)
	}
	if !reflect.DeepEqual(m["args"], map[string]any{"to": "ada"}) {
		t.Fatalf("args = %v, want the raw JSON object", m["args"])
	}
	e := m["errors"].([]any)[0].(map[string]any)
	if e["at"] != "2026-11-25T10:00:00Z" || e["attempt"] != 1.0 || e["message"] != "boom" {
		t.Fatalf("errors[0] = %v", e)
	}

	// Empty optional fields are left out; args of a fresh job is {}.
	b, _ = json.Marshal(JobView(&troika.JobRow{ID: id, Kind: "k", Queue: "default", State: troika.StateAvailable}))
	for _, k := range []string{"attemptedAt", "finishedAt", "errors", "uniqueKey", "metadata", "tags", "result", "timeout"} {
		if strings.Contains(string(b), `"`+k+`"`) {
			t.Errorf("empty %s present: %s", k, b)
		}
	}
	if !strings.Contains(string(b), `"args":{}`) || !strings.Contains(string(b), `"attempt":0`) {
		t.Errorf("want args {} and attempt 0: %s", b)
	}
	// Invalid stored bytes still give valid JSON.
	if b, err = json.Marshal(JobView(&troika.JobRow{ID: id, Args: []byte("not json")})); err != nil || !json.Valid(b) {
		t.Fatalf("invalid args: %s, %v", b, err)
	}
}

func TestQueueView(t *testing.T) {
	t.Parallel()
	q := &troika.QueueInfo{Name: "emails", Paused: true, Counts: map[troika.JobState]int64{troika.StateDead: 2},
		OldestAvailableAge: 1500 * time.Millisecond, CompletedRetention: time.Hour}
	v := QueueView(q)
	if len(v.Counts) != len(States) || v.Counts["dead"] != 2 || v.Counts["available"] != 0 {
		t.Fatalf("counts = %v, want every state", v.Counts)
	}
	if v.CompletedRetention != "3600s" || v.OldestAvailableAgeSeconds != 1.5 {
		t.Fatalf("view = %+v", v)
	}
}

func TestProgressLine(t *testing.T) {
	t.Parallel()
	got := ProgressLine("insert", 200, 50, 1500*time.Millisecond)
	if !strings.Contains(got, " 25%") || !strings.Contains(got, "50/200") || !strings.Contains(got, "1.5s") {
		t.Fatalf("ProgressLine = %q", got)
	}
	if got := ProgressLine("x", 10, 99, 0); !strings.Contains(got, "100%") {
		t.Fatalf("over-full bar = %q", got)
	}
	if got := ProgressLine("tail", 0, 7, 0); !strings.Contains(got, "7") {
		t.Fatalf("counter = %q", got)
	}
}

func TestStartProgress(t *testing.T) {
	t.Parallel()
	var b syncBuffer
	stop := StartProgress(&b, "work", 10, func() int64 { return 5 })
	stop()
	stop() // safe twice
	if s := b.String(); !strings.Contains(s, "5/10") || !strings.HasSuffix(s, "\r\x1b[K") {
		t.Fatalf("output = %q", s)
	}
}

func TestIsTerminal(t *testing.T) {
	t.Parallel()
	if IsTerminal(&strings.Builder{}) || IsTerminal(nil) {
		t.Fatal("a builder is not a terminal")
	}
}
