package troika

import "time"

// SetIdlePoll sets how long w's idle claim loop waits without a wake-up
// (default 1s). Call it before Run.
func SetIdlePoll(w *Worker, d time.Duration) { w.impl.idlePoll = d }
