//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package bench

import "time"

// cpuTimes is not available on this platform: it reports zeros.
func cpuTimes() (user, sys time.Duration) { return 0, 0 }
