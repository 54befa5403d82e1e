package cron

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzParse: no input panics; every rejection is an *Error naming the field
// with a reason; every accepted spec yields strictly increasing instants.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"* * * * *", "*/5 * * * * *", "0 9 * * MON-FRI", "@hourly", "@every 90s", "@every 1h30m",
		"TZ=", "CRON_TZ=UTC * * * * *", "0 0 30 2 *", "1-5/2,7 1 1 1 1", "@every 0s", "? ? ? ? ?",
		"0-59/60 * * * *", "* * * * * * *", "@every 9999999h", "59 23 31 12 SUN",
	} {
		for _, tz := range []string{"", "America/New_York", "Europe/Berlin", "Nope/Zone"} {
			f.Add(seed, tz, int64(1900000000))
		}
	}
	f.Fuzz(func(t *testing.T, spec, tz string, from int64) {
		s, err := Parse(spec, tz)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%q, %q): error %T %v is not an *Error", spec, tz, err, err)
			}
			if (e.Field != "spec" && e.Field != "timezone") || strings.TrimSpace(e.Reason) == "" {
				t.Fatalf("Parse(%q, %q): error without a field or reason: %+v", spec, tz, e)
			}
			return
		}
		// Keep instants within ±100 years of 2030: the engine's range.
		base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		at := base.Add(time.Duration(from%(100*365*24)) * time.Hour)
		prev := at
		for range 5 {
			next := s.Next(prev, base)
			if next.IsZero() {
				if s.Interval() > 0 {
					t.Fatalf("interval %q: no next instant after %s", spec, prev)
				}
				return
			}
			if !next.After(prev) {
				t.Fatalf("Parse(%q, %q).Next(%s) = %s: not after", spec, tz, prev, next)
			}
			prev = next
		}
	})
}
