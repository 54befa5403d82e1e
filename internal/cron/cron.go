package cron

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // zones work on hosts without a zoneinfo database
	"unicode/utf8"

	robfig "github.com/robfig/cron/v3"
)

// Limits of specs.
const (
	// MaxSpecLen is the longest spec accepted, in bytes.
	MaxSpecLen = 256
	// MinInterval is the shortest "@every" interval.
	MinInterval = time.Second
	// MaxInterval is the longest "@every" interval (about ten years).
	MaxInterval = 10 * 366 * 24 * time.Hour
)

// Error says why a spec or time zone was rejected. Field is "spec" or
// "timezone"; Reason is a sentence for a person naming what is wrong.
type Error struct {
	Field  string
	Reason string
}

func (e *Error) Error() string { return "invalid " + e.Field + ": " + e.Reason }

// Schedule is a parsed spec in a time zone. It is immutable and safe for
// concurrent use.
type Schedule struct {
	spec  string
	loc   *time.Location
	cron  *robfig.SpecSchedule // nil for an interval
	every time.Duration        // > 0 for an interval
}

// fieldNames are the six fields of a cron spec with seconds.
var fieldNames = [6]string{"second", "minute", "hour", "day-of-month", "month", "day-of-week"}

// fieldParser parses a full six-field spec; Parse checks the fields one by
// one with it to name the one that is wrong.
var fieldParser = robfig.NewParser(robfig.Second | robfig.Minute | robfig.Hour | robfig.Dom | robfig.Month | robfig.Dow)

// descriptors maps the accepted descriptors to their six-field form.
var descriptors = map[string]string{
	"@yearly":   "0 0 0 1 1 *",
	"@annually": "0 0 0 1 1 *",
	"@monthly":  "0 0 0 1 * *",
	"@weekly":   "0 0 0 * * 0",
	"@daily":    "0 0 0 * * *",
	"@midnight": "0 0 0 * * *",
	"@hourly":   "0 0 * * * *",
}

// neverCheckFrom is where Parse starts looking for a first fire instant; a
// spec with none in the five years after it never fires (robfig's search
// horizon), e.g. "0 0 30 2 *".
var neverCheckFrom = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Parse parses spec in the IANA time zone tz ("" means UTC). Every
// rejection is an *Error naming the field and what is wrong with it. Parse
// never panics.
func Parse(spec, tz string) (s *Schedule, err error) {
	defer func() {
		if r := recover(); r != nil { // defence in depth: the library must not take us down
			s, err = nil, &Error{Field: "spec", Reason: fmt.Sprintf("%s cannot be parsed (%v)", quote(spec), r)}
		}
	}()
	loc, err := LoadZone(tz)
	if err != nil {
		return nil, err
	}
	spec = strings.TrimSpace(spec)
	switch {
	case spec == "":
		return nil, &Error{Field: "spec", Reason: "empty: want 5 cron fields (minute hour day-of-month month day-of-week), 6 with seconds first, a descriptor such as @hourly, or @every <duration>"}
	case len(spec) > MaxSpecLen:
		return nil, &Error{Field: "spec", Reason: fmt.Sprintf("%d bytes, over the limit of %d", len(spec), MaxSpecLen)}
	case !utf8.ValidString(spec):
		return nil, &Error{Field: "spec", Reason: "not valid UTF-8"}
	case strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ="):
		return nil, &Error{Field: "spec", Reason: "a time-zone prefix is not allowed in the spec; set the schedule's time zone instead"}
	}
	if rest, ok := strings.CutPrefix(spec, "@every"); ok {
		d, err := parseEvery(rest)
		if err != nil {
			return nil, err
		}
		return &Schedule{spec: "@every " + d.String(), loc: loc, every: d}, nil
	}
	six := spec
	if strings.HasPrefix(spec, "@") {
		var ok bool
		if six, ok = descriptors[spec]; !ok {
			return nil, &Error{Field: "spec", Reason: fmt.Sprintf("unknown descriptor %s (want @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @every <duration>)", quote(spec))}
		}
	} else {
		fields := strings.Fields(spec)
		switch len(fields) {
		case 5:
			fields = append([]string{"0"}, fields...)
		case 6:
		default:
			return nil, &Error{Field: "spec", Reason: fmt.Sprintf("%s has %d fields: want 5 (minute hour day-of-month month day-of-week) or 6 (second first)", quote(spec), len(fields))}
		}
		if err := checkFields(fields); err != nil {
			return nil, err
		}
		six = strings.Join(fields, " ")
	}
	parsed, perr := fieldParser.Parse(six)
	if perr != nil {
		return nil, &Error{Field: "spec", Reason: fmt.Sprintf("%s: %v", quote(spec), perr)}
	}
	cs, ok := parsed.(*robfig.SpecSchedule)
	if !ok {
		return nil, &Error{Field: "spec", Reason: fmt.Sprintf("%s is not a cron schedule", quote(spec))}
	}
	cs.Location = time.UTC // we evaluate on wall times expressed in UTC; see Next
	if cs.Next(neverCheckFrom).IsZero() {
		return nil, &Error{Field: "spec", Reason: fmt.Sprintf("%s never fires (no date matches it, e.g. February 30)", quote(spec))}
	}
	return &Schedule{spec: spec, loc: loc, cron: cs}, nil
}

// checkFields parses each of the six fields alone (the others "*"), so the
// error names the field that is wrong.
func checkFields(fields []string) error {
	for i, f := range fields {
		probe := [6]string{"*", "*", "*", "*", "*", "*"}
		probe[i] = f
		if _, err := fieldParser.Parse(strings.Join(probe[:], " ")); err != nil {
			return &Error{Field: "spec", Reason: fmt.Sprintf("%s field %s: %v", fieldNames[i], quote(f), err)}
		}
	}
	return nil
}

func parseEvery(rest string) (time.Duration, error) {
	if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
		return 0, &Error{Field: "spec", Reason: fmt.Sprintf("%s: want \"@every <duration>\", e.g. @every 90s", quote("@every"+rest))}
	}
	arg := strings.TrimSpace(rest)
	if arg == "" {
		return 0, &Error{Field: "spec", Reason: "@every needs a duration, e.g. @every 90s or @every 1h30m"}
	}
	d, err := time.ParseDuration(arg)
	switch {
	case err != nil:
		return 0, &Error{Field: "spec", Reason: fmt.Sprintf("@every %s: not a duration (want e.g. 90s, 5m, 1h30m)", quote(arg))}
	case d < MinInterval:
		return 0, &Error{Field: "spec", Reason: fmt.Sprintf("@every %s: the interval must be at least %s", arg, MinInterval)}
	case d > MaxInterval:
		return 0, &Error{Field: "spec", Reason: fmt.Sprintf("@every %s: the interval must be at most %s", arg, MaxInterval)}
	}
	return d, nil
}

// LoadZone loads an IANA time zone; "" and "UTC" are UTC. "Local" is
// rejected (it would depend on the machine that fires). Errors are *Error
// with Field "timezone".
func LoadZone(tz string) (*time.Location, error) {
	switch {
	case tz == "" || tz == "UTC":
		return time.UTC, nil
	case tz == "Local":
		return nil, &Error{Field: "timezone", Reason: `"Local" depends on the machine; name an IANA zone such as Europe/Berlin`}
	case len(tz) > 64 || !utf8.ValidString(tz):
		return nil, &Error{Field: "timezone", Reason: fmt.Sprintf("%s is not an IANA time zone name", quote(tz))}
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, &Error{Field: "timezone", Reason: fmt.Sprintf("unknown time zone %s (want an IANA name such as America/New_York or UTC)", quote(tz))}
	}
	return loc, nil
}

// String returns the spec as parsed (intervals normalised, e.g.
// "@every 1m30s").
func (s *Schedule) String() string { return s.spec }

// Location returns the schedule's time zone.
func (s *Schedule) Location() *time.Location { return s.loc }

// Interval returns the interval of an "@every" schedule, and 0 for a cron
// schedule.
func (s *Schedule) Interval() time.Duration { return s.every }

// maxSteps bounds the wall-clock walk of Next (a fall-back hour of an
// every-second schedule takes 3,600 steps).
const maxSteps = 100_000

// Next returns the first fire instant strictly after after, or the zero
// time if there is none (within the library's five-year horizon).
//
// Intervals fire at anchor + k·interval for k >= 0: the first instant after
// after on that grid (anchor itself when after is before it).
//
// Cron schedules fire at the instants whose wall clock in the time zone
// matches the fields, with these daylight-saving rules:
//   - A matching wall time inside a spring-forward gap (02:30 when clocks
//     jump from 02:00 to 03:00) fires at the first valid instant after the
//     gap, 03:00; several such wall times (every minute of the gap) fire
//     once, together with 03:00 itself if it matches.
//   - A matching wall time that occurs twice at a fall-back (01:30 when
//     clocks go back from 02:00 to 01:00) fires once, at its first
//     occurrence; the repeated hour does not fire again.
//
// Instants returned by successive calls (Next(Next(t))…) strictly increase.
func (s *Schedule) Next(after, anchor time.Time) time.Time {
	if s.cron == nil {
		return s.nextInterval(after, anchor)
	}
	w := wallOf(after, s.loc)
	for range maxSteps {
		w = s.cron.Next(w)
		if w.IsZero() {
			return time.Time{}
		}
		if t := instantOf(w, s.loc); t.After(after) {
			return t
		}
	}
	return time.Time{}
}

// NextN returns up to n successive fire instants after after.
func (s *Schedule) NextN(after, anchor time.Time, n int) []time.Time {
	out := make([]time.Time, 0, max(n, 0))
	for range n {
		t := s.Next(after, anchor)
		if t.IsZero() {
			break
		}
		out = append(out, t)
		after = t
	}
	return out
}

func (s *Schedule) nextInterval(after, anchor time.Time) time.Time {
	if after.Before(anchor) {
		return anchor
	}
	diff := after.Sub(anchor)
	if diff == time.Duration(1<<63-1) { // saturated: too far apart to count steps
		return time.Time{}
	}
	k := diff/s.every + 1
	return anchor.Add(k * s.every)
}

// wallOf returns t's wall clock in loc, expressed as a UTC time (so that
// the cron search sees no transitions).
func wallOf(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
}

// instantOf maps a wall time (expressed as UTC) in loc to an instant: the
// earliest instant whose wall clock it is, or, for a wall time that does
// not exist (a spring-forward gap), the instant the gap ends.
func instantOf(w time.Time, loc *time.Location) time.Time {
	if loc == time.UTC {
		return w
	}
	u := w.Unix()
	ns := int64(w.Nanosecond())
	// The offsets in force a day either side bracket any transition near w.
	_, o1 := time.Unix(u-86400, 0).In(loc).Zone()
	_, o2 := time.Unix(u+86400, 0).In(loc).Zone()
	var best int64
	found := false
	for _, o := range [2]int{o1, o2} {
		c := u - int64(o)
		if _, oc := time.Unix(c, 0).In(loc).Zone(); oc == o && (!found || c < best) {
			best, found = c, true
		}
	}
	if found {
		return time.Unix(best, ns).UTC()
	}
	// A gap: the wall time was skipped. The instant computed with the
	// earlier (pre-transition) offset lies before the transition; the end
	// of its zone period is the first valid instant after the gap.
	c := min(u-int64(o1), u-int64(o2))
	_, end := time.Unix(c, 0).In(loc).ZoneBounds()
	if end.IsZero() || end.Unix() <= c {
		return time.Unix(c, ns).UTC()
	}
	return end.UTC()
}

func quote(s string) string {
	if len(s) > 64 {
		return strconv.Quote(s[:64]) + "…"
	}
	return strconv.Quote(s)
}
