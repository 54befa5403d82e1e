package bench

import (
	"strconv"
	"strings"
)

// PayloadSize is the size in bytes of every job's encoded arguments, as in
// the peer harness.
const PayloadSize = 64

// Kind is the job kind of the benchmark's jobs.
const Kind = "bench"

// Payload is the arguments of a benchmark job: the enqueue time in Unix
// nanoseconds, a sequence number and padding that makes the JSON encoding
// PayloadSize bytes long (longer only if the numbers are very large).
type Payload struct {
	TS  int64  `json:"ts"`
	Seq int64  `json:"seq"`
	Pad string `json:"pad"`
}

// Kind returns "bench".
func (Payload) Kind() string { return Kind }

// padding is sliced for Payload.Pad.
var padding = strings.Repeat("x", PayloadSize)

// NewPayload returns the payload for enqueue time tsNano and sequence seq.
func NewPayload(tsNano, seq int64) Payload {
	// {"ts":N,"seq":N,"pad":"…"}
	const fixed = len(`{"ts":`) + len(`,"seq":`) + len(`,"pad":"`) + len(`"}`)
	n := PayloadSize - fixed - digits(tsNano) - digits(seq)
	return Payload{TS: tsNano, Seq: seq, Pad: padding[:max(n, 0)]}
}

// digits returns the length of v in decimal, sign included.
func digits(v int64) int {
	var buf [24]byte
	return len(strconv.AppendInt(buf[:0], v, 10))
}
