package bench

import (
	"math"
	"slices"
	"time"
)

// Percentiles returns the p50, p99 and maximum of ds in milliseconds,
// nearest-rank (the smallest value with at least p of the sample at or
// below it), as the peer harness computes them. An empty sample gives
// zeros.
func Percentiles(ds []time.Duration) (p50, p99, maxv float64) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return ms(rank(s, 0.50)), ms(rank(s, 0.99)), ms(s[len(s)-1])
}

// rank returns the nearest-rank p-quantile of the sorted sample s.
func rank(s []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// Mean returns the mean of ds in milliseconds (0 for an empty sample).
func Mean(ds []time.Duration) float64 {
	if len(ds) == 0 {
		return 0
	}
	var sum float64
	for _, d := range ds {
		sum += ms(d)
	}
	return sum / float64(len(ds))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// perSecond returns n / d in events per second (0 when d <= 0).
func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// ratio returns a / b (0 when b == 0).
func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
