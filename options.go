package troika

import (
	"maps"
	"time"

	"github.com/troikahq/troika/internal/engine"
)

// Defaults and limits of enqueue options. Inputs outside the limits are
// rejected with an *InvalidArgumentError; nothing is enqueued.
const (
	DefaultQueue       = engine.DefaultQueue       // "default"
	DefaultPriority    = engine.DefaultPriority    // 2
	DefaultMaxAttempts = engine.DefaultMaxAttempts // 25
	MinPriority        = engine.MinPriority        // 1, most urgent
	MaxPriority        = engine.MaxPriority        // 4
	MaxKindLen         = engine.MaxKindLen         // 128 bytes
	MaxQueueNameLen    = engine.MaxQueueNameLen    // 64 bytes, [a-z0-9._-]
	DefaultMaxPayload  = engine.DefaultMaxPayload  // 1 MiB of encoded args (Config.MaxPayloadBytes)
	MaxUniqueKeyLen    = engine.MaxUniqueKeyLen    // 512 bytes
	MaxTags            = engine.MaxTags            // 32
	MaxTagLen          = engine.MaxTagLen          // 128 bytes
	MaxMetadataEntries = engine.MaxMetadataEntries // 64
	MaxMetadataLen     = engine.MaxMetadataLen     // 8 KiB of all keys and values together
)

// EnqueueOption sets one property of an enqueued job. Options are applied in
// order; a later one overrides an earlier one. Values are checked when the
// job is enqueued, not when the option is made.
type EnqueueOption func(*enqueueOptions)

// enqueueOptions holds options as given; the engine validates them.
type enqueueOptions = engine.JobOptions

// Queue puts the job on the named queue ([a-z0-9._-]{1,64}; default "default").
func Queue(name string) EnqueueOption {
	return func(o *enqueueOptions) { o.Queue, o.HasQueue = name, true }
}

// Priority sets the job's priority: 1 (most urgent) to 4; default 2.
func Priority(p int) EnqueueOption {
	return func(o *enqueueOptions) { o.Priority, o.HasPriority = p, true }
}

// Delay makes the job run no earlier than d from now. d must be >= 0. Delay
// and RunAt are exclusive; the last one given wins.
func Delay(d time.Duration) EnqueueOption {
	return func(o *enqueueOptions) { o.Delay, o.HasDelay, o.RunAt = d, true, time.Time{} }
}

// RunAt makes the job run no earlier than t (a time in the past means now).
func RunAt(t time.Time) EnqueueOption {
	return func(o *enqueueOptions) { o.RunAt, o.Delay, o.HasDelay = t, 0, false }
}

// MaxAttempts sets how many attempts the job gets before it is dead
// (>= 1; default 25).
func MaxAttempts(n int) EnqueueOption {
	return func(o *enqueueOptions) { o.MaxAttempts, o.HasMaxAttempts = n, true }
}

// Timeout bounds one attempt: the handler's context is cancelled after d and
// the attempt counts as failed. d must be >= 0; 0 means the worker's default.
func Timeout(d time.Duration) EnqueueOption { return func(o *enqueueOptions) { o.Timeout = d } }

// Unique deduplicates the job by key for the window d from now: while a job
// with the same key exists and its window has not passed, enqueueing another
// returns the existing job with Duplicate set instead. key must be non-empty
// and d > 0.
func Unique(key string, d time.Duration) EnqueueOption {
	return func(o *enqueueOptions) { o.UniqueKey, o.UniqueFor, o.HasUnique = key, d, true }
}

// Metadata adds string metadata to the job (merged over earlier Metadata
// options). Metadata carries correlation ids and the W3C traceparent.
func Metadata(m map[string]string) EnqueueOption {
	return func(o *enqueueOptions) {
		if o.Metadata == nil {
			o.Metadata = make(map[string]string, len(m))
		}
		maps.Copy(o.Metadata, m)
	}
}

// Tags adds tags to the job, for filtering in lists and the dashboard.
func Tags(tags ...string) EnqueueOption {
	return func(o *enqueueOptions) { o.Tags = append(o.Tags, tags...) }
}

// EnqueueItem is one job of an EnqueueMany call.
type EnqueueItem struct {
	Args    JobArgs
	Options []EnqueueOption
}

// Item is shorthand for EnqueueItem{Args: args, Options: opts}.
func Item(args JobArgs, opts ...EnqueueOption) EnqueueItem {
	return EnqueueItem{Args: args, Options: opts}
}

// EnqueueResult is the outcome of enqueueing one job.
type EnqueueResult struct {
	ID        JobID
	State     JobState // available or scheduled; for a duplicate, the existing job's state
	Duplicate bool     // the unique key matched an existing job, whose ID this is
}
