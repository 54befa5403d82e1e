package cron

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func mustParse(t *testing.T, spec, tz string) *Schedule {
	t.Helper()
	s, err := Parse(spec, tz)
	if err != nil {
		t.Fatalf("Parse(%q, %q): %v", spec, tz, err)
	}
	return s
}

func mustZone(t *testing.T, tz string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(tz)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// fmtIn formats instants in loc with their offset, so failures read as
// wall clocks.
func fmtIn(ts []time.Time, loc *time.Location) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.In(loc).Format("2006-01-02 15:04:05 MST")
	}
	return out
}

func wantTimes(t *testing.T, what string, got []time.Time, loc *time.Location, want ...string) {
	t.Helper()
	g := fmtIn(got, loc)
	if strings.Join(g, ", ") != strings.Join(want, ", ") {
		t.Errorf("%s:\n got  %v\n want %v", what, g, want)
	}
}

func TestParseAccepts(t *testing.T) {
	t.Parallel()
	from := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) // a Tuesday
	for _, tc := range []struct {
		spec string
		want []string // next three, UTC
	}{
		{"*/15 * * * *", []string{"2030-01-01 00:15:00 UTC", "2030-01-01 00:30:00 UTC", "2030-01-01 00:45:00 UTC"}},
		{"30 */20 * * * *", []string{"2030-01-01 00:00:30 UTC", "2030-01-01 00:20:30 UTC", "2030-01-01 00:40:30 UTC"}},
		{"0 9 * * MON-FRI", []string{"2030-01-01 09:00:00 UTC", "2030-01-02 09:00:00 UTC", "2030-01-03 09:00:00 UTC"}},
		{"@hourly", []string{"2030-01-01 01:00:00 UTC", "2030-01-01 02:00:00 UTC", "2030-01-01 03:00:00 UTC"}},
		{"@daily", []string{"2030-01-02 00:00:00 UTC", "2030-01-03 00:00:00 UTC", "2030-01-04 00:00:00 UTC"}},
		{"@midnight", []string{"2030-01-02 00:00:00 UTC", "2030-01-03 00:00:00 UTC", "2030-01-04 00:00:00 UTC"}},
		{"@weekly", []string{"2030-01-06 00:00:00 UTC", "2030-01-13 00:00:00 UTC", "2030-01-20 00:00:00 UTC"}},
		{"@monthly", []string{"2030-02-01 00:00:00 UTC", "2030-03-01 00:00:00 UTC", "2030-04-01 00:00:00 UTC"}},
		{"@yearly", []string{"2031-01-01 00:00:00 UTC", "2032-01-01 00:00:00 UTC", "2033-01-01 00:00:00 UTC"}},
		{"@annually", []string{"2031-01-01 00:00:00 UTC", "2032-01-01 00:00:00 UTC", "2033-01-01 00:00:00 UTC"}},
		{"0 0 29 2 *", []string{"2032-02-29 00:00:00 UTC", "2036-02-29 00:00:00 UTC", "2040-02-29 00:00:00 UTC"}},
		{"  5 4 * JAN,jul ?  ", []string{"2030-01-01 04:05:00 UTC", "2030-01-02 04:05:00 UTC", "2030-01-03 04:05:00 UTC"}},
		{"@every 90s", []string{"2030-01-01 00:01:30 UTC", "2030-01-01 00:03:00 UTC", "2030-01-01 00:04:30 UTC"}},
		{"@every 1h30m", []string{"2030-01-01 01:30:00 UTC", "2030-01-01 03:00:00 UTC", "2030-01-01 04:30:00 UTC"}},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			t.Parallel()
			s := mustParse(t, tc.spec, "")
			wantTimes(t, "NextN", s.NextN(from, from, 3), time.UTC, tc.want...)
		})
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec, tz string
		field    string
		says     string // a fragment the reason must contain
	}{
		{"", "", "spec", "empty"},
		{"   ", "", "spec", "empty"},
		{"* * *", "", "spec", "has 3 fields"},
		{"* * * * * * *", "", "spec", "has 7 fields"},
		{"70 * * * *", "", "spec", "minute field"},
		{"* 24 * * *", "", "spec", "hour field"},
		{"* * 0 * *", "", "spec", "day-of-month field"},
		{"* * * 13 *", "", "spec", "month field"},
		{"* * * * 8", "", "spec", "day-of-week field"},
		{"61 * * * * *", "", "spec", "second field"},
		{"*/0 * * * *", "", "spec", "minute field"},
		{"a-b * * * *", "", "spec", "minute field"},
		{"0 0 30 2 *", "", "spec", "never fires"},
		{"0 0 31 4,6,9,11 *", "", "spec", "never fires"},
		{"@sometimes", "", "spec", "unknown descriptor"},
		{"@every", "", "spec", "needs a duration"},
		{"@every 500ms", "", "spec", "at least 1s"},
		{"@every -5s", "", "spec", "at least 1s"},
		{"@every soon", "", "spec", "not a duration"},
		{"@every 100000h", "", "spec", "at most"},
		{"@everyday", "", "spec", "@every <duration>"},
		{"TZ=UTC * * * * *", "", "spec", "time-zone prefix"},
		{"CRON_TZ=Europe/Berlin 0 9 * * *", "", "spec", "time-zone prefix"},
		{"TZ=", "", "spec", "time-zone prefix"}, // panics inside robfig v3.0.1
		{strings.Repeat("1,", 200) + "1 * * * *", "", "spec", "over the limit"},
		{"* * * * \xff", "", "spec", "UTF-8"},
		{"@hourly", "Mars/Olympus_Mons", "timezone", "unknown time zone"},
		{"@hourly", "Local", "timezone", "depends on the machine"},
		{"@hourly", "../../etc/passwd", "timezone", "unknown time zone"},
	} {
		t.Run(tc.spec+"/"+tc.tz, func(t *testing.T) {
			t.Parallel()
			s, err := Parse(tc.spec, tc.tz)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%q, %q) = (%v, %v), want an *Error", tc.spec, tc.tz, s, err)
			}
			if e.Field != tc.field || !strings.Contains(e.Reason, tc.says) {
				t.Errorf("Parse(%q, %q): error {Field: %q, Reason: %q}, want field %q and a reason containing %q", tc.spec, tc.tz, e.Field, e.Reason, tc.field, tc.says)
			}
		})
	}
}

func TestIntervalAnchor(t *testing.T) {
	t.Parallel()
	s := mustParse(t, "@every 10s", "America/New_York")
	anchor := time.Date(2030, 3, 10, 6, 59, 55, 0, time.UTC) // five seconds before New York springs forward
	wantTimes(t, "from before the anchor", s.NextN(anchor.Add(-time.Hour), anchor, 3), time.UTC,
		"2030-03-10 06:59:55 UTC", "2030-03-10 07:00:05 UTC", "2030-03-10 07:00:15 UTC")
	wantTimes(t, "from the anchor", s.NextN(anchor, anchor, 2), time.UTC,
		"2030-03-10 07:00:05 UTC", "2030-03-10 07:00:15 UTC")
	wantTimes(t, "from between grid points", s.NextN(anchor.Add(12*time.Second), anchor, 1), time.UTC,
		"2030-03-10 07:00:15 UTC")
}

// DST transitions used below (2030):
//
//	America/New_York  spring forward Sun 10 Mar 02:00 EST → 03:00 EDT (07:00 UTC)
//	                  fall back      Sun  3 Nov 02:00 EDT → 01:00 EST (06:00 UTC)
//	Europe/Berlin     spring forward Sun 31 Mar 02:00 CET → 03:00 CEST (01:00 UTC)
//	                  fall back      Sun 27 Oct 03:00 CEST → 02:00 CET (01:00 UTC)
func TestDST(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, spec, tz string
		from           time.Time // in UTC
		n              int
		want           []string // in the zone
	}{
		{
			name: "NewYork/spring/daily in the gap fires at the end of the gap", spec: "30 2 * * *", tz: "America/New_York",
			from: time.Date(2030, 3, 9, 12, 0, 0, 0, time.UTC), n: 3,
			want: []string{"2030-03-10 03:00:00 EDT", "2030-03-11 02:30:00 EDT", "2030-03-12 02:30:00 EDT"},
		},
		{
			name: "NewYork/spring/every 30 minutes fires once for the gap", spec: "*/30 * * * *", tz: "America/New_York",
			from: time.Date(2030, 3, 10, 6, 15, 0, 0, time.UTC), n: 4, // 01:15 EST
			want: []string{"2030-03-10 01:30:00 EST", "2030-03-10 03:00:00 EDT", "2030-03-10 03:30:00 EDT", "2030-03-10 04:00:00 EDT"},
		},
		{
			name: "NewYork/spring/hourly", spec: "@hourly", tz: "America/New_York",
			from: time.Date(2030, 3, 10, 5, 30, 0, 0, time.UTC), n: 3, // 00:30 EST
			want: []string{"2030-03-10 01:00:00 EST", "2030-03-10 03:00:00 EDT", "2030-03-10 04:00:00 EDT"},
		},
		{
			name: "NewYork/fall/daily in the repeated hour fires at the first occurrence", spec: "30 1 * * *", tz: "America/New_York",
			from: time.Date(2030, 11, 2, 12, 0, 0, 0, time.UTC), n: 3,
			want: []string{"2030-11-03 01:30:00 EDT", "2030-11-04 01:30:00 EST", "2030-11-05 01:30:00 EST"},
		},
		{
			name: "NewYork/fall/every 20 minutes does not repeat the hour", spec: "*/20 * * * *", tz: "America/New_York",
			from: time.Date(2030, 11, 3, 4, 50, 0, 0, time.UTC), n: 6, // 00:50 EDT
			want: []string{
				"2030-11-03 01:00:00 EDT", "2030-11-03 01:20:00 EDT", "2030-11-03 01:40:00 EDT",
				"2030-11-03 02:00:00 EST", "2030-11-03 02:20:00 EST", "2030-11-03 02:40:00 EST",
			},
		},
		{
			name: "NewYork/fall/from inside the second occurrence", spec: "*/20 * * * *", tz: "America/New_York",
			from: time.Date(2030, 11, 3, 6, 10, 0, 0, time.UTC), n: 2, // 01:10 EST, the repeat
			want: []string{"2030-11-03 02:00:00 EST", "2030-11-03 02:20:00 EST"},
		},
		{
			name: "Berlin/spring/daily in the gap", spec: "15 2 * * *", tz: "Europe/Berlin",
			from: time.Date(2030, 3, 30, 12, 0, 0, 0, time.UTC), n: 2,
			want: []string{"2030-03-31 03:00:00 CEST", "2030-04-01 02:15:00 CEST"},
		},
		{
			name: "Berlin/spring/the gap's end also matching fires once", spec: "0 2,3 * * *", tz: "Europe/Berlin",
			from: time.Date(2030, 3, 30, 12, 0, 0, 0, time.UTC), n: 3,
			want: []string{"2030-03-31 03:00:00 CEST", "2030-04-01 02:00:00 CEST", "2030-04-01 03:00:00 CEST"},
		},
		{
			name: "Berlin/fall/daily in the repeated hour", spec: "30 2 * * *", tz: "Europe/Berlin",
			from: time.Date(2030, 10, 26, 12, 0, 0, 0, time.UTC), n: 2,
			want: []string{"2030-10-27 02:30:00 CEST", "2030-10-28 02:30:00 CET"},
		},
		{
			name: "Berlin/fall/every second across the repeat", spec: "* * * * * *", tz: "Europe/Berlin",
			from: time.Date(2030, 10, 27, 0, 59, 58, 0, time.UTC), n: 3, // 02:59:58 CEST
			want: []string{"2030-10-27 02:59:59 CEST", "2030-10-27 03:00:00 CET", "2030-10-27 03:00:01 CET"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := mustParse(t, tc.spec, tc.tz)
			wantTimes(t, tc.spec, s.NextN(tc.from, time.Time{}, tc.n), mustZone(t, tc.tz), tc.want...)
		})
	}
}

// TestDSTYearFiresEachWallTimeOnce walks a whole year of an every-15-minutes
// schedule in both zones: instants strictly increase, and every wall time
// of the year fires exactly once (gaps folded into the gap's end).
func TestDSTYearFiresEachWallTimeOnce(t *testing.T) {
	t.Parallel()
	for _, tz := range []string{"America/New_York", "Europe/Berlin"} {
		t.Run(tz, func(t *testing.T) {
			t.Parallel()
			s := mustParse(t, "*/15 * * * *", tz)
			loc := s.Location()
			from := time.Date(2030, 1, 1, 0, 0, 0, 0, loc)
			to := time.Date(2031, 1, 1, 0, 0, 0, 0, loc)
			seen := map[string]int{}
			prev := from
			n := 0
			for at := s.Next(from, time.Time{}); at.Before(to); at = s.Next(at, time.Time{}) {
				if !at.After(prev) {
					t.Fatalf("instants do not increase: %s after %s", at, prev)
				}
				prev = at
				seen[at.In(loc).Format("01-02 15:04")]++
				n++
			}
			// 365 days × 96 quarter hours, less 00:00 on 1 January (Next is
			// strictly after from) and less the spring gap's four quarters,
			// which fold into the fire at 03:00 that matches anyway.
			if want := 365*96 - 1 - 4; n != want {
				t.Errorf("fires in a year: %d, want %d", n, want)
			}
			for wall, c := range seen {
				if c != 1 {
					t.Errorf("wall time %s fired %d times", wall, c)
				}
			}
		})
	}
}
