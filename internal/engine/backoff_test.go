package engine

import (
	"testing"
	"time"

	"github.com/troikahq/troika/store"
)

func TestDefaultBackoff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		attempt int
		base    time.Duration
	}{
		{-3, 2 * time.Second}, {0, 2 * time.Second}, {1, 2 * time.Second}, {2, 17 * time.Second},
		{3, 82 * time.Second}, {4, 257 * time.Second}, {25, 390626 * time.Second},
		{100, MaxBackoff}, {1 << 40, MaxBackoff}, {int(^uint(0) >> 1), MaxBackoff},
	} {
		t.Run(tc.base.String(), func(t *testing.T) {
			t.Parallel()
			if got := baseBackoff(tc.attempt); got != tc.base {
				t.Fatalf("baseBackoff(%d) = %s, want %s", tc.attempt, got, tc.base)
			}
			lo, hi := tc.base-tc.base/10, min(tc.base+tc.base/10, MaxBackoff)
			for range 200 {
				if d := DefaultBackoff(tc.attempt); d < lo || d > hi {
					t.Fatalf("DefaultBackoff(%d) = %s, outside [%s, %s]", tc.attempt, d, lo, hi)
				}
			}
		})
	}
}

func TestJitterSpreads(t *testing.T) {
	t.Parallel()
	seen := map[time.Duration]bool{}
	for range 100 {
		seen[Jitter(time.Hour, 0.1)] = true
	}
	if len(seen) < 50 {
		t.Fatalf("100 jittered values gave only %d distinct ones", len(seen))
	}
	if Jitter(-time.Second, 0.1) != 0 || Jitter(time.Second, 0) != time.Second {
		t.Fatal("Jitter of a negative duration or zero fraction")
	}
}

func TestFailAck(t *testing.T) {
	t.Parallel()
	now := base
	j := &store.Job{ID: store.NewID(), Attempt: 2, MaxAttempts: 3, LeaseToken: 7}
	t.Run("Retry", func(t *testing.T) {
		t.Parallel()
		a := FailAck(j, now, store.AttemptError{Message: "boom"}, time.Minute)
		if a.Outcome != store.AckRetry || !a.RunAt.Equal(now.Add(time.Minute)) || a.Lease != j.Lease() ||
			a.Error.Message != "boom" || a.Error.Attempt != 2 || !a.Error.At.Equal(now) {
			t.Fatalf("FailAck = %+v (error %+v)", a, a.Error)
		}
	})
	t.Run("Exhausted", func(t *testing.T) {
		t.Parallel()
		last := *j
		last.Attempt = 3
		a := FailAck(&last, now, store.AttemptError{Message: "boom"}, time.Minute)
		if a.Outcome != store.AckDead || a.Error.Message != "boom (attempts exhausted: 3 of 3)" {
			t.Fatalf("FailAck = %+v (error %+v)", a, a.Error)
		}
	})
	t.Run("NegativeBackoff", func(t *testing.T) {
		t.Parallel()
		if a := FailAck(j, now, store.AttemptError{}, -time.Minute); !a.RunAt.Equal(now) {
			t.Fatalf("RunAt = %v, want now", a.RunAt)
		}
	})
	t.Run("Dead", func(t *testing.T) {
		t.Parallel()
		a := DeadAck(j, now, store.AttemptError{Message: "bad"})
		if a.Outcome != store.AckDead || a.Error.Message != "bad" || a.Error.Attempt != 2 {
			t.Fatalf("DeadAck = %+v", a)
		}
	})
}
