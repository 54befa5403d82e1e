//go:build unix

package embedded

import (
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkFdatasync is the disk's floor under every durable write: one
// 200-byte append and one fdatasync (what Pebble's WAL sync uses) per op,
// on one goroutine. It reports the process CPU each costs as well: on a
// virtual disk the guest pays for it.
//
//	go test -run '^$' -bench Fdatasync -benchtime 2000x ./store/embedded
func BenchmarkFdatasync(b *testing.B) {
	f, err := os.Create(b.TempDir() + "/wal")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 200)
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
}

// cpuNow is the process's user plus system CPU time.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
