package embedded

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/troikahq/troika/store"
)

// Durable layout. Every key starts with a one-byte record kind; every value
// is [version byte][body][CRC32C of version+body, 4 bytes little-endian], so
// a damaged value is detected on read (in addition to Pebble's own block and
// WAL checksums).
const (
	prefixJob    = 'j' // 'j' + 16-byte ID        → job record
	prefixQueue  = 'q' // 'q' + queue name         → queue settings
	prefixLeader = 'l' // 'l' + leader name        → leader row
	prefixMeta   = 'm' // 'm' + meta name          → store metadata

	// jobVersion 2 adds a delivery's event ID and names to the MQ section;
	// version 1 records are still read (their metadata holds those keys).
	jobVersion    = 2
	queueVersion  = 1
	leaderVersion = 1
	metaVersion   = 1

	crcLen = 4
)

// metaTokenEpoch is the meta key of the lease-token epoch (see Store.claim).
const metaTokenEpoch = "token-epoch"

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errBadRecord is the cause of every decoding failure; callers wrap it with
// store.ErrCorrupt and the key.
var errBadRecord = errors.New("malformed record")

func jobKey(buf *[17]byte, id store.ID) []byte {
	buf[0] = prefixJob
	copy(buf[1:], id[:])
	return buf[:]
}

func nameKey(prefix byte, name string) []byte {
	k := make([]byte, 1+len(name))
	k[0] = prefix
	copy(k[1:], name)
	return k
}

// sealValue appends the CRC32C trailer over b[start:] (the value being
// built, which starts with its version byte) and returns b.
func sealValue(b []byte, start int) []byte {
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], crcTable))
}

// openValue checks the trailer and version and returns the body.
func openValue(v []byte, version byte) ([]byte, error) {
	if len(v) < 1+crcLen {
		return nil, fmt.Errorf("%w: %d bytes is too short", errBadRecord, len(v))
	}
	n := len(v) - crcLen
	if got, want := crc32.Checksum(v[:n], crcTable), binary.LittleEndian.Uint32(v[n:]); got != want {
		return nil, fmt.Errorf("%w: checksum mismatch (stored %08x, computed %08x)", errBadRecord, want, got)
	}
	if v[0] != version {
		return nil, fmt.Errorf("%w: unknown version %d (want %d)", errBadRecord, v[0], version)
	}
	return v[1:n], nil
}

// Job flags: which optional sections follow the fixed part.
const (
	flagTimeout = 1 << iota
	flagLease
	flagUnique
	flagMetadata
	flagTags
	flagErrors
	flagResult
	// flagMQ: the message-queue fields follow: the ordering key and the
	// subscription ID (empty or 16 bytes) of a delivery (ordering.go,
	// topic.go); since version 2 then the event ID (empty or 16 bytes),
	// the topic name and the subscription name.
	flagMQ
	flagsKnown = 1<<iota - 1
)

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendID appends id as 16 length-prefixed bytes, or as empty when zero.
func appendID(b []byte, id store.ID) []byte {
	if id.IsZero() {
		return append(b, 0)
	}
	return appendBytes(b, id[:])
}

func appendBytes(b []byte, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendMetadata appends m as its size and then its pairs by key (so the
// bytes are deterministic), without allocating for up to 8 keys.
func appendMetadata(b []byte, m map[string]string) []byte {
	b = binary.AppendUvarint(b, uint64(len(m)))
	var small [8]string
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = appendString(b, k)
		b = appendString(b, m[k])
	}
	return b
}

// appendJob appends the sealed value of j to b.
func appendJob(b []byte, j *job) []byte {
	start := len(b)
	b = append(b, jobVersion, j.state)
	var flags byte
	if j.timeout != 0 {
		flags |= flagTimeout
	}
	if j.leaseToken != 0 || j.leaseHolder != "" || j.leaseDeadline != 0 {
		flags |= flagLease
	}
	x := j.x
	if x != nil {
		if x.uniqueKey != "" || x.uniqueUntil != 0 {
			flags |= flagUnique
		}
		if len(x.metadata) > 0 {
			flags |= flagMetadata
		}
		if len(x.tags) > 0 {
			flags |= flagTags
		}
		if len(x.errors) > 0 {
			flags |= flagErrors
		}
		if x.result != nil {
			flags |= flagResult
		}
		if x.orderingKey != "" || x.sub != nil || !x.subID.IsZero() {
			flags |= flagMQ
		}
	}
	b = append(b, flags)
	b = binary.AppendVarint(b, int64(j.prio))
	b = binary.AppendVarint(b, int64(j.attempt))
	b = binary.AppendVarint(b, int64(j.maxAttempts))
	b = binary.AppendVarint(b, j.runAt)
	b = binary.AppendVarint(b, j.createdAt)
	b = binary.AppendVarint(b, j.attemptedAt)
	b = binary.AppendVarint(b, j.finishedAt)
	b = appendString(b, j.kind)
	b = appendString(b, j.q.name)
	b = appendBytes(b, j.args)
	if flags&flagTimeout != 0 {
		b = binary.AppendVarint(b, j.timeout)
	}
	if flags&flagLease != 0 {
		b = appendString(b, j.leaseHolder)
		b = binary.AppendUvarint(b, j.leaseToken)
		b = binary.AppendVarint(b, j.leaseDeadline)
	}
	if flags&flagUnique != 0 {
		b = appendString(b, x.uniqueKey)
		b = binary.AppendVarint(b, x.uniqueUntil)
	}
	if flags&flagMetadata != 0 {
		b = appendMetadata(b, x.metadata)
	}
	if flags&flagTags != 0 {
		b = binary.AppendUvarint(b, uint64(len(x.tags)))
		for _, t := range x.tags {
			b = appendString(b, t)
		}
	}
	if flags&flagErrors != 0 {
		b = binary.AppendUvarint(b, uint64(len(x.errors)))
		for i := range x.errors {
			e := &x.errors[i]
			b = binary.AppendVarint(b, toNanos(e.At))
			b = binary.AppendVarint(b, int64(e.Attempt))
			b = appendString(b, e.Message)
			b = appendString(b, e.Stack)
		}
	}
	if flags&flagResult != 0 {
		b = appendBytes(b, x.result)
	}
	if flags&flagMQ != 0 {
		b = appendString(b, x.orderingKey)
		subID := x.subID
		if x.sub != nil {
			subID = x.sub.id
		}
		b = appendID(b, subID)
		b = appendID(b, x.event)
		b = appendString(b, x.topicName)
		b = appendString(b, x.subName)
	}
	return sealValue(b, start)
}

// reader decodes a body with bounds checks; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: bad %s", errBadRecord, what)
	}
	r.b = nil
}

func (r *reader) byte1(what string) byte {
	if len(r.b) < 1 {
		r.fail(what)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) varint(what string) int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) int32(what string) int32 {
	v := r.varint(what)
	if v < math.MinInt32 || v > math.MaxInt32 {
		r.fail(what)
		return 0
	}
	return int32(v)
}

func (r *reader) uvarint(what string) uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a count of items each taking at least minSize bytes, so a
// garbage count cannot make the decoder allocate more than the input.
func (r *reader) count(what string, minSize int) int {
	n := r.uvarint(what)
	if n > uint64(len(r.b)/minSize) {
		r.fail(what)
		return 0
	}
	return int(n)
}

// raw reads a length-prefixed byte string, aliasing the input.
func (r *reader) raw(what string) []byte {
	n := r.uvarint(what)
	if n > uint64(len(r.b)) {
		r.fail(what)
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

func (r *reader) str(what string) string { return string(r.raw(what)) }

// id reads what appendID wrote: the zero ID when empty.
func (r *reader) id(what string) store.ID {
	switch b := r.raw(what); len(b) {
	case 0:
		return store.ID{}
	case 16:
		return store.ID(b)
	default:
		r.fail(what)
		return store.ID{}
	}
}

// decodeJob decodes a sealed job value for id. Strings that repeat across
// jobs (kind, queue, lease holder) go through in; everything else is copied,
// so v may be reused afterwards. The queue name is returned for the caller
// to resolve (j.q is left nil).
func decodeJob(id store.ID, v []byte, in *interner) (*job, string, error) {
	version := byte(jobVersion)
	if len(v) > 0 && v[0] == 1 {
		version = 1
	}
	body, err := openValue(v, version)
	if err != nil {
		return nil, "", err
	}
	return decodeJobBody(id, body, version, in)
}

// decodeJobBody decodes a job body of the given record version (after the
// version byte, before the checksum).
func decodeJobBody(id store.ID, body []byte, version byte, in *interner) (*job, string, error) {
	r := reader{b: body}
	j := &job{id: id, heapIdx: -1, dueIdx: -1}
	j.state = r.byte1("state")
	if r.err == nil && int(j.state) >= numStates {
		r.fail("state")
	}
	flags := r.byte1("flags")
	if r.err == nil && flags&^flagsKnown != 0 {
		r.fail("flags")
	}
	j.prio = r.int32("priority")
	j.attempt = r.int32("attempt")
	j.maxAttempts = r.int32("max attempts")
	j.runAt = r.varint("run at")
	j.createdAt = r.varint("created at")
	j.attemptedAt = r.varint("attempted at")
	j.finishedAt = r.varint("finished at")
	j.kind = in.bytes(r.raw("kind"))
	queue := in.bytes(r.raw("queue"))
	if args := r.raw("args"); args != nil {
		j.args = slices.Clone(args)
		if len(args) == 0 {
			j.args = []byte{}
		}
	}
	if flags&flagTimeout != 0 {
		j.timeout = r.varint("timeout")
	}
	if flags&flagLease != 0 {
		j.leaseHolder = in.bytes(r.raw("lease holder"))
		j.leaseToken = r.uvarint("lease token")
		j.leaseDeadline = r.varint("lease deadline")
	}
	if flags&(flagUnique|flagMetadata|flagTags|flagErrors|flagResult|flagMQ) != 0 {
		j.x = &jobExtra{}
	}
	if flags&flagUnique != 0 {
		j.x.uniqueKey = r.str("unique key")
		j.x.uniqueUntil = r.varint("unique until")
	}
	if flags&flagMetadata != 0 {
		n := r.count("metadata", 2)
		if n > 0 {
			j.x.metadata = make(map[string]string, n)
			for range n {
				k := r.str("metadata key")
				j.x.metadata[k] = r.str("metadata value")
			}
		}
	}
	if flags&flagTags != 0 {
		n := r.count("tags", 1)
		if n > 0 {
			j.x.tags = make([]string, n)
			for i := range n {
				j.x.tags[i] = r.str("tag")
			}
		}
	}
	if flags&flagErrors != 0 {
		n := r.count("errors", 4)
		if n > 0 {
			j.x.errors = make([]store.AttemptError, n)
			for i := range n {
				e := &j.x.errors[i]
				e.At = fromNanos(r.varint("error time"))
				e.Attempt = int(r.int32("error attempt"))
				e.Message = r.str("error message")
				e.Stack = r.str("error stack")
			}
		}
	}
	if flags&flagResult != 0 {
		j.x.result = slices.Clone(r.raw("result"))
		if j.x.result == nil && r.err == nil {
			j.x.result = []byte{}
		}
	}
	if flags&flagMQ != 0 {
		j.x.orderingKey = r.str("ordering key")
		j.x.subID = r.id("subscription id") // resolved to a subscription by the rebuild
		if version >= 2 {
			j.x.event = r.id("event id")
			j.x.topicName = in.bytes(r.raw("topic"))
			j.x.subName = in.bytes(r.raw("subscription"))
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %d trailing bytes", errBadRecord, len(r.b))
	}
	if r.err != nil {
		return nil, "", r.err
	}
	return j, queue, nil
}

// appendQueue appends the sealed value of a queue's settings.
func appendQueue(b []byte, q *queue) []byte {
	start := len(b)
	var paused byte
	if q.settings.Paused {
		paused = 1
	}
	b = append(b, queueVersion, paused)
	b = binary.AppendVarint(b, int64(q.settings.CompletedRetention))
	b = binary.AppendVarint(b, int64(q.settings.DeadRetention))
	b = binary.AppendVarint(b, int64(q.settings.CancelledRetention))
	b = binary.AppendVarint(b, int64(q.settings.MaxLength))
	b = binary.AppendVarint(b, q.updatedAt)
	return sealValue(b, start)
}

func decodeQueue(v []byte, q *queue) error {
	body, err := openValue(v, queueVersion)
	if err != nil {
		return err
	}
	r := reader{b: body}
	p := r.byte1("paused")
	if r.err == nil && p > 1 {
		r.fail("paused")
	}
	q.settings.Paused = p == 1
	q.settings.CompletedRetention = time.Duration(r.varint("completed retention"))
	q.settings.DeadRetention = time.Duration(r.varint("dead retention"))
	q.settings.CancelledRetention = time.Duration(r.varint("cancelled retention"))
	ml := r.varint("max length")
	if ml < math.MinInt || ml > math.MaxInt {
		r.fail("max length")
	}
	q.settings.MaxLength = int(ml)
	q.updatedAt = r.varint("updated at")
	if r.err == nil && len(r.b) != 0 {
		r.fail("trailing bytes")
	}
	if r.err != nil {
		return r.err
	}
	q.hasSettings = true
	return nil
}

func appendLeader(b []byte, l *store.Leader) []byte {
	start := len(b)
	b = append(b, leaderVersion)
	b = appendString(b, l.Holder)
	b = binary.AppendVarint(b, l.Epoch)
	b = binary.AppendVarint(b, toNanos(l.Expires))
	return sealValue(b, start)
}

func decodeLeader(name string, v []byte) (*store.Leader, error) {
	body, err := openValue(v, leaderVersion)
	if err != nil {
		return nil, err
	}
	r := reader{b: body}
	l := &store.Leader{Name: name}
	l.Holder = r.str("holder")
	l.Epoch = r.varint("epoch")
	l.Expires = fromNanos(r.varint("expires"))
	if r.err == nil && len(r.b) != 0 {
		r.fail("trailing bytes")
	}
	if r.err != nil {
		return nil, r.err
	}
	return l, nil
}

func appendMetaUint(b []byte, v uint64) []byte {
	start := len(b)
	b = append(b, metaVersion)
	b = binary.AppendUvarint(b, v)
	return sealValue(b, start)
}

func decodeMetaUint(v []byte) (uint64, error) {
	body, err := openValue(v, metaVersion)
	if err != nil {
		return 0, err
	}
	r := reader{b: body}
	x := r.uvarint("value")
	if r.err == nil && len(r.b) != 0 {
		r.fail("trailing bytes")
	}
	return x, r.err
}

// Times are kept as Unix nanoseconds; 0 is the zero time. A real instant
// that falls on 0 is stored as 1 (one nanosecond later), and instants
// outside int64 nanoseconds (before 1678, after 2262) are clamped.
func toNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	switch {
	case t.Before(minTime):
		return math.MinInt64 + 1
	case t.After(maxTime):
		return math.MaxInt64
	}
	n := t.UnixNano()
	if n == 0 {
		return 1
	}
	return n
}

var (
	minTime = time.Unix(0, math.MinInt64+1)
	maxTime = time.Unix(0, math.MaxInt64)
)

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// interner deduplicates the strings that repeat across many jobs (kinds,
// queue names, lease holders) so a million jobs share a handful of strings.
// It stops growing at maxInterned entries (then strings are plain copies).
type interner struct {
	m map[string]string
}

const maxInterned = 100_000

func (in *interner) str(s string) string {
	if v, ok := in.m[s]; ok {
		return v
	}
	if in.m == nil {
		in.m = make(map[string]string)
	}
	s = strings.Clone(s)
	if len(in.m) < maxInterned {
		in.m[s] = s
	}
	return s
}

func (in *interner) bytes(b []byte) string {
	if v, ok := in.m[string(b)]; ok {
		return v
	}
	return in.str(string(b))
}
