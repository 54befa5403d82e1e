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
// virtual disk the guest pays for it. With filled=zeros the same writes
// land on blocks written with zeros and synced beforehand, which is what
// the zero-filled WAL (walfill.go) gives every commit: its fdatasync then
// has no file-system metadata to commit.
//
//	go test -run '^$' -bench Fdatasync -benchtime 1000x ./store/embedded
func BenchmarkFdatasync(b *testing.B) {
	for _, filled := range []string{"none", "zeros"} {
		for _, size := range []int{200, 4 << 10, 64 << 10, 256 << 10} {
			b.Run(fmt.Sprintf("filled=%s/bytes=%d", filled, size), func(b *testing.B) {
				benchFdatasync(b, size, filled == "zeros")
			})
		}
	}
}

func benchFdatasync(b *testing.B, size int, zeroFilled bool) {
	f, err := os.Create(b.TempDir() + "/wal")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, size)
	if zeroFilled {
		if err := writeZeros(f, 0, int64(b.N*size)); err != nil {
			b.Fatal(err)
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
	}
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
