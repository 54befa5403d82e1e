package troika

import "time"

// SetIdlePoll sets how long w's idle claim loop waits without a wake-up
// (default 1s). Call it before Run.
func SetIdlePoll(w *Worker, d time.Duration) { w.impl.idlePoll = d }

// WithClock makes a Dial'd Client read time from now (tests share one
// clock between the server and the client).
func WithClock(now func() time.Time) DialOption { return func(o *dialOptions) { o.now = now } }
