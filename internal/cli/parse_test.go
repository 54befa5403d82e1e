package cli

import (
	"strings"
	"testing"
	"time"
)

func TestParseMeta(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in, key, value string
		ok                   bool
	}{
		{"simple", "tenant=acme", "tenant", "acme", true},
		{"empty value", "k=", "k", "", true},
		{"equals in value", "q=a=b", "q", "a=b", true},
		{"key trimmed", " k =v", "k", "v", true},
		{"no equals", "tenant", "", "", false},
		{"empty key", "=v", "", "", false},
		{"blank key", "  =v", "", "", false},
		{"empty", "", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k, v, err := ParseMeta(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseMeta(%q) error = %v, want ok=%t", tc.in, err, tc.ok)
			}
			if tc.ok && (k != tc.key || v != tc.value) {
				t.Fatalf("ParseMeta(%q) = %q, %q; want %q, %q", tc.in, k, v, tc.key, tc.value)
			}
		})
	}
}

func TestMetaValue(t *testing.T) {
	t.Parallel()
	var m MetaValue
	for _, s := range []string{"b=2", "a=1", "b=3"} {
		if err := m.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := m.String(), "a=1,b=3"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	if err := m.Set("nope"); err == nil {
		t.Fatal("Set(nope) succeeded")
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30s", 30 * time.Second, true},
		{"1h30m", 90 * time.Minute, true},
		{"250ms", 250 * time.Millisecond, true},
		{"0", 0, true},
		{"7d", 7 * day, true},
		{"1.5d", 36 * time.Hour, true},
		{"1d12h", 36 * time.Hour, true},
		{"-1d", -day, true},
		{" 2d ", 2 * day, true},
		{"", 0, false},
		{"d", 0, false},
		{"1d-1h", 0, false},
		{"1dd", 0, false},
		{"1e3d", 0, false},
		{"infd", 0, false},
		{"nand", 0, false},
		{"0x10d", 0, false},
		{"999999999999d", 0, false},
		{"5 minutes", 0, false},
		{"10", 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseDuration(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseDuration(%q) error = %v, want ok=%t", tc.in, err, tc.ok)
			}
			if tc.ok && got != tc.want {
				t.Fatalf("ParseDuration(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	loc := time.FixedZone("X", 3600)
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, in string
		want     time.Time
		ok       bool
	}{
		{"rfc3339 utc", "2026-11-25T12:30:00Z", time.Date(2026, 11, 25, 12, 30, 0, 0, time.UTC), true},
		{"rfc3339 offset", "2026-11-25T12:30:00+02:00", time.Date(2026, 11, 25, 10, 30, 0, 0, time.UTC), true},
		{"rfc3339 nanos", "2026-11-25T12:30:00.5Z", time.Date(2026, 11, 25, 12, 30, 0, 5e8, time.UTC), true},
		{"local minutes", "2026-11-25 12:30", time.Date(2026, 11, 25, 12, 30, 0, 0, loc), true},
		{"local T seconds", "2026-11-25T12:30:15", time.Date(2026, 11, 25, 12, 30, 15, 0, loc), true},
		{"date", "2026-11-25", time.Date(2026, 11, 25, 0, 0, 0, 0, loc), true},
		{"now", "now", now, true},
		{"relative", "+5m", now.Add(5 * time.Minute), true},
		{"relative days", "+1d", now.Add(24 * time.Hour), true},
		{"relative negative", "+-5m", time.Time{}, false},
		{"relative empty", "+", time.Time{}, false},
		{"garbage", "tomorrow", time.Time{}, false},
		{"empty", "", time.Time{}, false},
		{"bad month", "2026-13-01", time.Time{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseTime(tc.in, now, loc)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseTime(%q) error = %v, want ok=%t", tc.in, err, tc.ok)
			}
			if tc.ok && !got.Equal(tc.want) {
				t.Fatalf("ParseTime(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseState(t *testing.T) {
	t.Parallel()
	for _, s := range States {
		got, err := ParseState(strings.ToUpper(string(s)))
		if err != nil || got != s {
			t.Fatalf("ParseState(%q) = %q, %v", s, got, err)
		}
	}
	if _, err := ParseState("done"); err == nil || !strings.Contains(err.Error(), "available") {
		t.Fatalf("ParseState(done) error = %v, want one listing the states", err)
	}
}

// FuzzParseMeta: never panics; a success round-trips through key=value.
func FuzzParseMeta(f *testing.F) {
	for _, s := range []string{"a=b", "=", "k=", "=v", "a=b=c", " k = v ", "", "\x00=\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, v, err := ParseMeta(s)
		if err != nil {
			return
		}
		if k == "" || strings.TrimSpace(k) != k {
			t.Fatalf("ParseMeta(%q) key %q not trimmed or empty", s, k)
		}
		if !strings.HasSuffix(s, "="+v) {
			t.Fatalf("ParseMeta(%q) value %q is not the text after the first =", s, v)
		}
	})
}

// FuzzParseDuration: never panics; what time.ParseDuration accepts parses
// to the same value; nothing is negative unless written with a minus sign.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"1d", "1.5d", "1d2h", "-3d", "30s", "d", "9999999999999999999d", "1d-1s", "+1d", "0.000000001d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if want, gerr := time.ParseDuration(strings.TrimSpace(s)); gerr == nil && want != d {
			t.Fatalf("ParseDuration(%q) = %s, time.ParseDuration says %s", s, d, want)
		}
		if d < 0 && !strings.HasPrefix(strings.TrimSpace(s), "-") {
			t.Fatalf("ParseDuration(%q) = %s: negative without a minus sign", s, d)
		}
	})
}

// FuzzParseTime: never panics.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"now", "+5m", "+1d", "2026-11-25", "2026-11-25T10:00:00Z", "2026-11-25 10:00", "+", "+-1d"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTime(s, now, time.UTC)
		if err == nil && got.IsZero() && !strings.Contains(s, "0001") {
			t.Fatalf("ParseTime(%q) = zero time without error", s)
		}
	})
}
