package cli

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/troikahq/troika"
)

// ParseMeta parses one metadata pair "key=value". The key must not be empty
// (and is trimmed of spaces); the value may be empty and may contain "=".
func ParseMeta(s string) (key, value string, err error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return "", "", fmt.Errorf("%q is not key=value", clip(s))
	}
	k = strings.TrimSpace(k)
	if k == "" {
		return "", "", fmt.Errorf("%q has an empty key (want key=value)", clip(s))
	}
	return k, v, nil
}

// maxDays bounds the day part of ParseDuration so days*24h fits a Duration.
const maxDays = float64(math.MaxInt64/int64(24*time.Hour)) - 1

// ParseDuration parses a duration as time.ParseDuration does ("90s", "1h30m",
// "250ms"), and also with a leading number of days: "7d", "1.5d", "1d12h".
// The result may be negative only if s starts with "-".
func ParseDuration(s string) (time.Duration, error) {
	in := s
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty duration")
	}
	dayPart, rest, hasDays := strings.Cut(s, "d")
	if !hasDays {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration (e.g. 30s, 5m, 1h30m, 7d)", clip(in))
		}
		return d, nil
	}
	bad := fmt.Errorf("%q is not a duration (e.g. 30s, 5m, 1h30m, 7d)", clip(in))
	neg := strings.HasPrefix(dayPart, "-")
	num := strings.TrimPrefix(strings.TrimPrefix(dayPart, "-"), "+")
	if num == "" || strings.ContainsAny(num, "+-eEnNiIxX_") {
		return 0, bad
	}
	days, err := strconv.ParseFloat(num, 64)
	if err != nil || days < 0 || days > maxDays {
		return 0, bad
	}
	total := time.Duration(days * float64(24*time.Hour))
	if rest != "" {
		if strings.HasPrefix(rest, "-") || strings.HasPrefix(rest, "+") {
			return 0, bad
		}
		r, err := time.ParseDuration(rest)
		if err != nil || r < 0 || total > math.MaxInt64-r {
			return 0, bad
		}
		total += r
	}
	if neg {
		total = -total
	}
	return total, nil
}

// localLayouts are the layouts ParseTime accepts without a zone (read in
// the local time zone).
var localLayouts = []string{
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04",
	"2006-01-02",
}

// ParseTime parses an instant: RFC 3339 ("2026-11-25T10:00:00Z",
// "2026-11-25T10:00:00+01:00"), a date and time without zone, read in loc
// ("2026-11-25 10:00", "2026-11-25T10:00:30", "2026-11-25"), "now", or a
// duration from now with a leading "+" ("+5m", "+1d").
func ParseTime(s string, now time.Time, loc *time.Location) (time.Time, error) {
	in := s
	s = strings.TrimSpace(s)
	if loc == nil {
		loc = time.Local
	}
	switch {
	case s == "":
		return time.Time{}, errors.New("empty time")
	case strings.EqualFold(s, "now"):
		return now, nil
	case strings.HasPrefix(s, "+"):
		d, err := ParseDuration(s[1:])
		if err != nil || strings.HasPrefix(s[1:], "-") || strings.HasPrefix(s[1:], "+") {
			return time.Time{}, fmt.Errorf("%q is not a time: after + want a duration such as +5m", clip(in))
		}
		return now.Add(d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range localLayouts {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time (want RFC 3339 such as 2026-11-25T10:00:00Z, a local \"2026-11-25 10:00\", or +5m)", clip(in))
}

// ParseState parses a job state name ("available", "dead"…).
func ParseState(s string) (troika.JobState, error) {
	st := troika.JobState(strings.ToLower(strings.TrimSpace(s)))
	if !st.Valid() {
		return "", fmt.Errorf("%q is not a job state (want one of %s)", clip(s), stateNames())
	}
	return st, nil
}

func stateNames() string {
	names := make([]string, 0, 7)
	for _, st := range []troika.JobState{troika.StateScheduled, troika.StateAvailable, troika.StateRunning,
		troika.StateRetryable, troika.StateCompleted, troika.StateDead, troika.StateCancelled} {
		names = append(names, string(st))
	}
	return strings.Join(names, ", ")
}

// clip shortens s for an error message.
func clip(s string) string {
	const n = 80
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// MetaValue is a repeatable pflag value collecting key=value pairs.
type MetaValue struct{ M map[string]string }

// String returns the pairs as k=v,k=v in key order.
func (m *MetaValue) String() string {
	if m == nil || len(m.M) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m.M))
	for k := range m.M {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m.M[k]
	}
	return strings.Join(parts, ",")
}

// Set adds one key=value pair; a repeated key takes the last value.
func (m *MetaValue) Set(s string) error {
	k, v, err := ParseMeta(s)
	if err != nil {
		return err
	}
	if m.M == nil {
		m.M = map[string]string{}
	}
	m.M[k] = v
	return nil
}

// Type names the value in help.
func (m *MetaValue) Type() string { return "key=value" }

// DurationValue is a pflag value parsed with ParseDuration.
type DurationValue struct{ D time.Duration }

// String returns the duration, or "" when zero.
func (d *DurationValue) String() string {
	if d == nil || d.D == 0 {
		return ""
	}
	return d.D.String()
}

// Set parses s with ParseDuration.
func (d *DurationValue) Set(s string) error {
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	d.D = v
	return nil
}

// Type names the value in help.
func (d *DurationValue) Type() string { return "duration" }

// TimeValue is a pflag value parsed with ParseTime against Now (time.Now
// when nil) in the local time zone.
type TimeValue struct {
	T   time.Time
	Now func() time.Time
}

// String returns the time in RFC 3339, or "" when unset.
func (t *TimeValue) String() string {
	if t == nil || t.T.IsZero() {
		return ""
	}
	return t.T.Format(time.RFC3339)
}

// Set parses s with ParseTime.
func (t *TimeValue) Set(s string) error {
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	v, err := ParseTime(s, now(), time.Local)
	if err != nil {
		return err
	}
	t.T = v
	return nil
}

// Type names the value in help.
func (t *TimeValue) Type() string { return "time" }

// StateValue is a pflag value holding a job state.
type StateValue struct{ S troika.JobState }

// String returns the state name.
func (s *StateValue) String() string {
	if s == nil {
		return ""
	}
	return string(s.S)
}

// Set parses a state name.
func (s *StateValue) Set(v string) error {
	st, err := ParseState(v)
	if err != nil {
		return err
	}
	s.S = st
	return nil
}

// Type names the value in help.
func (s *StateValue) Type() string { return "state" }
