package troika

import "github.com/troikahq/troika/internal/engine"

// MaxOrderingKeyLen is the longest ordering key, in bytes of printable UTF-8.
const MaxOrderingKeyLen = engine.MaxOrderingKeyLen // 256

// OrderingKey puts the job (or a published event's deliveries) in the FIFO
// line of (queue, key): jobs with the same queue and key start in enqueue
// order and one at a time. The next starts only once the previous one is
// completed, dead or cancelled (or deleted); a job that is retrying or
// snoozed keeps the key, so a failing job holds up the jobs behind it until
// it succeeds or runs out of attempts (head-of-line blocking: give ordered
// jobs a small MaxAttempts or a short back-off if that matters). Jobs of
// other keys, and jobs without a key, are not held up. Priority and run
// time do not reorder a line. The key must be 1-256 bytes of printable
// UTF-8. A store that cannot honour ordering keys refuses the job (an error
// matching errors.ErrUnsupported) rather than run it out of order.
func OrderingKey(key string) EnqueueOption {
	return func(o *enqueueOptions) { o.OrderingKey, o.HasOrderingKey = key, true }
}
