package cli

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/troikahq/troika"
)

// Job is the JSON form of a job that --json prints: the wire Job of DESIGN §5
// (lowerCamelCase names, RFC 3339 times in UTC, durations as protobuf JSON
// durations such as "1.5s"). As in protobuf's JSON mapping, optional fields
// that are empty are left out; the identity, state and attempt counters are
// always present.
type Job struct {
	ID          string            `json:"id"`
	Kind        string            `json:"kind"`
	Args        json.RawMessage   `json:"args"`
	Queue       string            `json:"queue"`
	Priority    int               `json:"priority"`
	State       string            `json:"state"`
	Attempt     int               `json:"attempt"`
	MaxAttempts int               `json:"maxAttempts"`
	RunAt       string            `json:"runAt,omitempty"`
	CreatedAt   string            `json:"createdAt,omitempty"`
	AttemptedAt string            `json:"attemptedAt,omitempty"`
	FinishedAt  string            `json:"finishedAt,omitempty"`
	Timeout     string            `json:"timeout,omitempty"`
	Errors      []AttemptError    `json:"errors,omitempty"`
	UniqueKey   string            `json:"uniqueKey,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	Tags        []string          `json:"tags,omitempty"`
	Result      json.RawMessage   `json:"result,omitempty"`
}

// AttemptError is the JSON form of one failed attempt.
type AttemptError struct {
	At      string `json:"at"`
	Attempt int    `json:"attempt"`
	Message string `json:"message"`
	Stack   string `json:"stack,omitempty"`
}

// JobView returns the JSON form of j.
func JobView(j *troika.JobRow) Job {
	v := Job{
		ID:          j.ID.String(),
		Kind:        j.Kind,
		Args:        rawJSON(j.Args, true),
		Queue:       j.Queue,
		Priority:    j.Priority,
		State:       string(j.State),
		Attempt:     j.Attempt,
		MaxAttempts: j.MaxAttempts,
		RunAt:       Time(j.RunAt),
		CreatedAt:   Time(j.CreatedAt),
		AttemptedAt: Time(j.AttemptedAt),
		FinishedAt:  Time(j.FinishedAt),
		UniqueKey:   j.UniqueKey,
		Result:      rawJSON(j.Result, false),
	}
	if j.Timeout > 0 {
		v.Timeout = ProtoDuration(j.Timeout)
	}
	for _, e := range j.Errors {
		v.Errors = append(v.Errors, AttemptError{At: Time(e.At), Attempt: e.Attempt, Message: e.Message, Stack: e.Stack})
	}
	if len(j.Metadata) > 0 {
		v.Metadata = maps.Clone(j.Metadata)
	}
	if len(j.Tags) > 0 {
		v.Tags = slices.Clone(j.Tags)
	}
	return v
}

// rawJSON returns b if it is valid JSON. Invalid bytes (never expected from
// the SDK) are returned as a JSON string so the output stays valid. Empty b
// gives {} when emptyObject is set, nothing otherwise.
func rawJSON(b []byte, emptyObject bool) json.RawMessage {
	switch {
	case len(b) == 0 && emptyObject:
		return json.RawMessage("{}")
	case len(b) == 0:
		return nil
	case json.Valid(b):
		return json.RawMessage(b)
	}
	s, _ := json.Marshal(string(b))
	return s
}

// Time formats t as RFC 3339 in UTC with as many fractional digits as
// needed; the zero time gives "".
func Time(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// ProtoDuration formats d as protobuf's JSON mapping does: seconds with 0,
// 3, 6 or 9 fractional digits and an "s" suffix ("0s", "1.500s", "86400s").
func ProtoDuration(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign = "-"
	}
	secs := d / time.Second
	nanos := d % time.Second
	if secs < 0 {
		secs = -secs
	}
	if nanos < 0 {
		nanos = -nanos
	}
	s := sign + strconv.FormatInt(int64(secs), 10)
	switch {
	case nanos == 0:
	case nanos%time.Millisecond == 0:
		s += fmt.Sprintf(".%03d", nanos/time.Millisecond)
	case nanos%time.Microsecond == 0:
		s += fmt.Sprintf(".%06d", nanos/time.Microsecond)
	default:
		s += fmt.Sprintf(".%09d", nanos)
	}
	return s + "s"
}

// Queue is the JSON form of a queue (QueueService's queue).
type Queue struct {
	Name                      string           `json:"name"`
	Paused                    bool             `json:"paused"`
	Counts                    map[string]int64 `json:"counts"`
	OldestAvailableAgeSeconds float64          `json:"oldestAvailableAgeSeconds"`
	CompletedRetention        string           `json:"completedRetention"`
	DeadRetention             string           `json:"deadRetention"`
	CancelledRetention        string           `json:"cancelledRetention"`
}

// States lists every job state in lifecycle order.
var States = []troika.JobState{
	troika.StateScheduled, troika.StateAvailable, troika.StateRunning, troika.StateRetryable,
	troika.StateCompleted, troika.StateDead, troika.StateCancelled,
}

// QueueView returns the JSON form of q; every state has a count.
func QueueView(q *troika.QueueInfo) Queue {
	v := Queue{
		Name:                      q.Name,
		Paused:                    q.Paused,
		Counts:                    make(map[string]int64, len(States)),
		OldestAvailableAgeSeconds: q.OldestAvailableAge.Seconds(),
		CompletedRetention:        ProtoDuration(q.CompletedRetention),
		DeadRetention:             ProtoDuration(q.DeadRetention),
		CancelledRetention:        ProtoDuration(q.CancelledRetention),
	}
	for _, st := range States {
		v.Counts[string(st)] = q.Counts[st]
	}
	return v
}

// HumanDuration formats d for people: "250ms", "1.5s", "3m20s", "7d",
// "1d12h". Durations of a minute or more are rounded to the second.
func HumanDuration(d time.Duration) string {
	if d < 0 {
		if d == math.MinInt64 {
			return d.String()
		}
		return "-" + HumanDuration(-d)
	}
	if d < time.Minute {
		return d.String()
	}
	d = d.Round(time.Second)
	var b strings.Builder
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.unit; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10))
			b.WriteString(u.name)
			d -= n * u.unit
		}
	}
	return b.String()
}
