package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progressEvery is how often a progress bar redraws.
const progressEvery = 100 * time.Millisecond

// StartProgress draws a one-line progress bar on w, redrawn every 100 ms
// from done() until the returned stop function is called, which erases the
// line. total <= 0 draws a counter without a bar. done is called from the
// bar's own goroutine, so the measured code pays nothing per item. Use it
// only when w is a terminal (see IsTerminal): it writes carriage returns
// and an ANSI erase-line sequence.
func StartProgress(w io.Writer, label string, total int64, done func() int64) (stop func()) {
	start := time.Now()
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			drawProgress(w, label, total, done(), time.Since(start))
			select {
			case <-quit:
				fmt.Fprint(w, "\r\x1b[K")
				return
			case <-t.C:
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			close(quit)
			wg.Wait()
		})
	}
}

// ProgressLine renders one state of a progress bar (no carriage return).
func ProgressLine(label string, total, done int64, elapsed time.Duration) string {
	const width = 30
	secs := elapsed.Round(100 * time.Millisecond).Seconds()
	if total <= 0 {
		return fmt.Sprintf("%-14s %d  %.1fs", label, done, secs)
	}
	done = max(0, min(done, total))
	filled := int(int64(width) * done / total)
	return fmt.Sprintf("%-14s [%s%s] %3d%%  %d/%d  %.1fs", label,
		strings.Repeat("#", filled), strings.Repeat(".", width-filled),
		100*done/total, done, total, secs)
}

func drawProgress(w io.Writer, label string, total, done int64, elapsed time.Duration) {
	fmt.Fprint(w, "\r\x1b[K"+ProgressLine(label, total, done, elapsed))
}
