//go:build !unix

package embedded

import "time"

// cpuNow reports 0 where getrusage(2) is missing: CPU metrics read as 0.
func cpuNow() time.Duration { return 0 }
