package engine

import (
	"math/rand/v2"
	"time"
)

// MaxBackoff caps DefaultBackoff: no retry waits longer than this.
const MaxBackoff = 7 * 24 * time.Hour

// DefaultBackoff returns the wait before the attempt after attempt (1 for
// the first failed attempt): attempt^4 seconds plus one second, with ±10%
// uniform jitter, capped at MaxBackoff. attempt < 1 is treated as 1. It is
// safe for concurrent use and never panics.
//
// Without jitter: 2s, 17s, 82s, 4m17s, 10m26s, … 4.5 days after attempt 25;
// the 24 waits of a job with 25 attempts add up to about 20 days.
func DefaultBackoff(attempt int) time.Duration {
	return min(Jitter(baseBackoff(attempt), 0.1), MaxBackoff)
}

// baseBackoff is attempt^4 s + 1 s, capped at MaxBackoff.
func baseBackoff(attempt int) time.Duration {
	a := int64(max(attempt, 1))
	if a > 200 { // 200^4 s is years: beyond the cap, and a^4 stays far from overflow
		return MaxBackoff
	}
	d := time.Duration(a*a*a*a+1) * time.Second
	return min(d, MaxBackoff)
}

// Jitter returns d moved uniformly at random by up to ±frac of itself
// (frac in [0, 1]); never negative. It is safe for concurrent use.
func Jitter(d time.Duration, frac float64) time.Duration {
	if d <= 0 || frac <= 0 {
		return max(d, 0)
	}
	j := time.Duration((rand.Float64()*2 - 1) * frac * float64(d))
	return max(d+j, 0)
}
