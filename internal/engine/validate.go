package engine

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/troikahq/troika/store"
)

// Defaults and limits of enqueue input. The root package re-exports them as
// its constants; the values are part of the API.
const (
	DefaultQueue       = "default"
	DefaultPriority    = 2
	DefaultMaxAttempts = 25
	MinPriority        = 1 // most urgent
	MaxPriority        = 4
	MaxKindLen         = 128     // bytes
	MaxQueueNameLen    = 64      // bytes, [a-z0-9._-]
	DefaultMaxPayload  = 1 << 20 // bytes of encoded args
	MaxUniqueKeyLen    = 512     // bytes
	MaxTags            = 32
	MaxTagLen          = 128 // bytes
	MaxMetadataEntries = 64
	MaxMetadataLen     = 8 << 10 // bytes of all keys and values together
)

// maxRunAt is the latest run time accepted: both backends can store it.
var maxRunAt = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// Limits are the configurable limits of enqueue input. The zero value means
// the defaults.
type Limits struct {
	MaxPayloadBytes int // encoded args; 0: DefaultMaxPayload
	// ArgsValidJSON says the caller guarantees that the args are one valid
	// JSON value (they come from encoding/json.Marshal of a value with no
	// marshaler of its own, which can only produce valid JSON), so Build
	// skips the JSON scan. Size and UTF-8 are still checked.
	ArgsValidJSON bool
}

func (l Limits) maxPayload() int {
	if l.MaxPayloadBytes > 0 {
		return l.MaxPayloadBytes
	}
	return DefaultMaxPayload
}

// JobOptions are the enqueue options of one job as the caller gave them.
// The Has* fields say whether an option was given at all, so that an
// explicit zero (Queue(""), Priority(0)) is rejected rather than defaulted.
// Build reads a JobOptions and never modifies it; the InsertJob it fills
// references Metadata and Tags.
type JobOptions struct {
	Queue          string
	HasQueue       bool
	Priority       int
	HasPriority    bool
	Delay          time.Duration
	HasDelay       bool
	RunAt          time.Time // zero or in the past: now (ignored with HasDelay)
	MaxAttempts    int
	HasMaxAttempts bool
	Timeout        time.Duration // 0: the worker's default
	UniqueKey      string
	UniqueFor      time.Duration
	HasUnique      bool
	Metadata       map[string]string
	Tags           []string
	OrderingKey    string // with HasOrderingKey: FIFO, one at a time per queue and key (topic.go)
	HasOrderingKey bool
}

// Build validates one job and fills dst with it, defaults applied. index is
// the job's position in a batch (field names become "jobs[index].field"),
// or -1 for a single job. Empty args mean {}. now is the instant Delay and
// Unique windows count from.
//
// Every rejection is a *store.InvalidArgumentError naming the field; dst is
// then unspecified. Build never panics on any input. dst references
// args, o.Metadata and o.Tags (no copies): the caller must not modify them
// until the store call that reads dst returns.
func (o *JobOptions) Build(dst *store.InsertJob, index int, kind string, args []byte, now time.Time, lim Limits) error {
	if r := checkKind(kind); r != "" {
		return invalid(index, "kind", r)
	}
	if len(args) == 0 {
		args = emptyObject
	}
	if r := checkArgs(args, lim.maxPayload(), !lim.ArgsValidJSON); r != "" {
		return invalid(index, "args", r)
	}
	*dst = store.InsertJob{
		Kind: kind, Args: args, Queue: DefaultQueue, Priority: DefaultPriority,
		MaxAttempts: DefaultMaxAttempts, Timeout: o.Timeout,
	}
	if err := o.buildPlacement(dst, index, now); err != nil {
		return err
	}
	if err := o.buildUnique(dst, index, now); err != nil {
		return err
	}
	if err := o.buildOrdering(dst, index); err != nil {
		return err
	}
	return o.buildLabels(dst, index)
}

var emptyObject = []byte("{}")

// buildPlacement sets queue, priority, run time, attempts and timeout.
func (o *JobOptions) buildPlacement(dst *store.InsertJob, index int, now time.Time) error {
	if o.HasQueue {
		if r := CheckQueueName(o.Queue); r != "" {
			return invalid(index, "queue", r)
		}
		dst.Queue = o.Queue
	}
	if o.HasPriority {
		if o.Priority < MinPriority || o.Priority > MaxPriority {
			return invalid(index, "priority", fmt.Sprintf("%d is outside %d (most urgent) to %d", o.Priority, MinPriority, MaxPriority))
		}
		dst.Priority = o.Priority
	}
	switch {
	case o.HasDelay && o.Delay < 0:
		return invalid(index, "delay", fmt.Sprintf("%s is negative", o.Delay))
	case o.HasDelay && o.Delay > 0:
		dst.RunAt = now.Add(o.Delay)
	case !o.HasDelay && o.RunAt.After(maxRunAt):
		return invalid(index, "runAt", fmt.Sprintf("%s is after %s", o.RunAt.UTC().Format(time.RFC3339), maxRunAt.Format(time.RFC3339)))
	case !o.HasDelay && o.RunAt.After(now):
		dst.RunAt = o.RunAt
	}
	if o.HasMaxAttempts {
		if o.MaxAttempts < 1 {
			return invalid(index, "maxAttempts", fmt.Sprintf("%d is less than 1", o.MaxAttempts))
		}
		dst.MaxAttempts = o.MaxAttempts
	}
	if o.Timeout < 0 {
		return invalid(index, "timeout", fmt.Sprintf("%s is negative", o.Timeout))
	}
	return nil
}

// buildUnique sets the unique key and window.
func (o *JobOptions) buildUnique(dst *store.InsertJob, index int, now time.Time) error {
	if !o.HasUnique {
		return nil
	}
	switch {
	case o.UniqueKey == "":
		return invalid(index, "uniqueKey", "empty")
	case len(o.UniqueKey) > MaxUniqueKeyLen:
		return invalid(index, "uniqueKey", fmt.Sprintf("%d bytes, over the limit of %d", len(o.UniqueKey), MaxUniqueKeyLen))
	case !validText(o.UniqueKey, false):
		return invalid(index, "uniqueKey", "not valid UTF-8 or contains a NUL byte")
	case o.UniqueFor <= 0:
		return invalid(index, "uniqueFor", fmt.Sprintf("%s: the window must be positive", o.UniqueFor))
	}
	dst.UniqueKey, dst.UniqueUntil = o.UniqueKey, now.Add(o.UniqueFor)
	return nil
}

// buildLabels sets metadata and tags.
func (o *JobOptions) buildLabels(dst *store.InsertJob, index int) error {
	if r := checkMetadata(o.Metadata); r != "" {
		return invalid(index, "metadata", r)
	}
	if len(o.Tags) > MaxTags {
		return invalid(index, "tags", fmt.Sprintf("%d tags, over the limit of %d", len(o.Tags), MaxTags))
	}
	for i, tag := range o.Tags {
		if r := checkLabel(tag, MaxTagLen); r != "" {
			return invalid(index, "tags["+strconv.Itoa(i)+"]", r)
		}
	}
	if len(o.Metadata) > 0 {
		dst.Metadata = o.Metadata
	}
	if len(o.Tags) > 0 {
		dst.Tags = o.Tags
	}
	return nil
}

// CheckQueueName returns why name is not a valid queue name
// ([a-z0-9._-]{1,64}), or "" if it is.
func CheckQueueName(name string) string {
	if name == "" {
		return "empty"
	}
	if len(name) > MaxQueueNameLen {
		return fmt.Sprintf("%d bytes, over the limit of %d", len(name), MaxQueueNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Sprintf("%s: only a-z, 0-9, '.', '_' and '-' are allowed", quote(name))
		}
	}
	return ""
}

// CheckKind returns why kind is not a valid job kind (1-128 bytes of
// printable UTF-8), or "" if it is.
func CheckKind(kind string) string { return checkKind(kind) }

func checkKind(kind string) string { return checkLabel(kind, MaxKindLen) }

// checkLabel checks a non-empty printable string of at most max bytes.
func checkLabel(s string, max int) string {
	switch {
	case s == "":
		return "empty"
	case len(s) > max:
		return fmt.Sprintf("%d bytes, over the limit of %d", len(s), max)
	case !validText(s, true):
		return fmt.Sprintf("%s: not printable UTF-8", quote(s))
	}
	return ""
}

func checkArgs(args []byte, max int, scanJSON bool) string {
	if len(args) > max {
		return fmt.Sprintf("%d bytes, over the limit of %d", len(args), max)
	}
	if !utf8.Valid(args) {
		return "not valid UTF-8"
	}
	if scanJSON && !json.Valid(args) {
		return "not a valid JSON value"
	}
	return ""
}

func checkMetadata(m map[string]string) string {
	if len(m) > MaxMetadataEntries {
		return fmt.Sprintf("%d entries, over the limit of %d", len(m), MaxMetadataEntries)
	}
	total := 0
	for k, v := range m {
		total += len(k) + len(v)
		if k == "" {
			return "empty key"
		}
		if !validText(k, true) {
			return fmt.Sprintf("key %s: not printable UTF-8", quote(k))
		}
		if !validText(v, false) {
			return fmt.Sprintf("value of %s: not valid UTF-8 or contains a NUL byte", quote(k))
		}
	}
	if total > MaxMetadataLen {
		return fmt.Sprintf("%d bytes of keys and values, over the limit of %d", total, MaxMetadataLen)
	}
	return ""
}

// validText reports whether s is valid UTF-8 without NUL bytes (which
// PostgreSQL text cannot hold) and, if printable, without control characters.
func validText(s string, printable bool) bool {
	for _, r := range s {
		if r == utf8.RuneError || r == 0 || printable && unicode.IsControl(r) {
			// RuneError is also returned for a literal U+FFFD; accept that.
			if r == utf8.RuneError && utf8.ValidString(s) {
				continue
			}
			return false
		}
	}
	return true
}

func invalid(index int, field, reason string) error {
	if index >= 0 {
		field = "jobs[" + strconv.Itoa(index) + "]." + field
	}
	return &store.InvalidArgumentError{Field: field, Reason: reason}
}

// quote quotes s for a message, truncated to 64 bytes.
func quote(s string) string {
	if len(s) > 64 {
		return strconv.Quote(s[:64]) + "…"
	}
	return strconv.Quote(s)
}

func itoa(n int) string { return strconv.Itoa(n) }
