//go:build unix

package embedded

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkFdatasync is the disk's floor under every durable write: one
// append and one fdatasync (what Pebble's WAL sync uses) per op, on one
// goroutine, for appends of 200 bytes (one job) up to 256 KiB (a large
// group commit). It reports the process CPU each costs as well: on a
// virtual disk the guest pays for it.
//
//	go test -run '^$' -bench Fdatasync -benchtime 1000x ./store/embedded
func BenchmarkFdatasync(b *testing.B) {
	for _, size := range []int{200, 4 << 10, 64 << 10, 256 << 10} {
		b.Run(fmt.Sprintf("bytes=%d", size), func(b *testing.B) {
			f, err := os.Create(b.TempDir() + "/wal")
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			buf := make([]byte, size)
			cpu0 := cpuNow()
			b.ResetTimer()
			for range b.N {
				if _, err := f.Write(buf); err != nil {
					b.Fatal(err)
				}
				if err := unix.Fdatasync(int(f.Fd())); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuNow()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// cpuNow is the process's user plus system CPU time.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
