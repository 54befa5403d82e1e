package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	v1 "github.com/troikahq/troika/gen/troika/v1"
	"github.com/troikahq/troika/store"
)

// Time returns t as a Timestamp, nil for the zero time.
func Time(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// FromTime returns the time of ts, the zero time for nil.
func FromTime(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

// Duration returns d as a Duration, nil for 0.
func Duration(d time.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(d)
}

// FromDuration returns the duration of d (0 for nil), or an error naming
// field when d is malformed or out of range.
func FromDuration(field string, d *durationpb.Duration) (time.Duration, error) {
	if d == nil {
		return 0, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, &store.InvalidArgumentError{Field: field, Reason: err.Error()}
	}
	const limit = int64(time.Duration(1<<63-1) / time.Second)
	if d.Seconds > limit || d.Seconds < -limit {
		return 0, &store.InvalidArgumentError{Field: field, Reason: "out of range"}
	}
	return d.AsDuration(), nil
}

// Value converts a JSON document to a protobuf Value (nil for empty input).
func Value(field string, raw []byte) (*structpb.Value, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	v := new(structpb.Value)
	if err := protojson.Unmarshal(raw, v); err != nil {
		return nil, &store.InvalidArgumentError{Field: field, Reason: "not valid JSON: " + err.Error()}
	}
	return v, nil
}

// JSON encodes a protobuf Value as compact JSON (nil for a nil Value).
func JSON(field string, v *structpb.Value) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	b, err := protojson.Marshal(v)
	if err != nil {
		return nil, &store.InvalidArgumentError{Field: field, Reason: err.Error()}
	}
	// protojson adds random spaces to discourage byte comparisons; store
	// the compact form.
	var buf bytes.Buffer
	buf.Grow(len(b))
	if json.Compact(&buf, b) == nil {
		return buf.Bytes(), nil
	}
	return b, nil
}

// Raw returns the JSON of a field given either as a Value or as raw bytes
// (the argsJson / resultJson form); giving both is an error.
func Raw(field string, v *structpb.Value, raw []byte) ([]byte, error) {
	if raw == nil {
		return JSON(field, v)
	}
	if v != nil {
		return nil, &store.InvalidArgumentError{Field: field, Reason: "give " + field + " or " + field + "Json, not both"}
	}
	return raw, nil
}

// Job converts a stored job to its wire form. The lease token is included
// only when withLease is set (in Claim responses). With raw (for binary
// protobuf clients) args and result travel as bytes in argsJson and
// resultJson instead of as protobuf Values, which saves two conversions.
func Job(j *store.Job, withLease, raw bool) (*v1.Job, error) {
	var args, result *structpb.Value
	var err error
	if !raw {
		if args, err = Value("args", j.Args); err != nil {
			return nil, err
		}
		if result, err = Value("result", j.Result); err != nil {
			return nil, err
		}
	}
	out := &v1.Job{
		Id: j.ID.String(), Kind: j.Kind, Args: args, Queue: j.Queue, Priority: int32(j.Priority),
		State: string(j.State), Attempt: int32(j.Attempt), MaxAttempts: int32(j.MaxAttempts),
		RunAt: Time(j.RunAt), CreatedAt: Time(j.CreatedAt), AttemptedAt: Time(j.AttemptedAt),
		FinishedAt: Time(j.FinishedAt), UniqueKey: j.UniqueKey, OrderingKey: j.OrderingKey, Metadata: j.Metadata, Tags: j.Tags,
		Result: result, Timeout: Duration(j.Timeout), UniqueUntil: Time(j.UniqueUntil),
		LeaseHolder: j.LeaseHolder, LeaseDeadline: Time(j.LeaseDeadline),
	}
	if len(j.Errors) > 0 {
		out.Errors = make([]*v1.AttemptError, len(j.Errors))
		for i, e := range j.Errors {
			out.Errors[i] = &v1.AttemptError{At: Time(e.At), Attempt: int32(e.Attempt), Message: e.Message, Stack: e.Stack}
		}
	}
	if raw {
		out.ArgsJson = j.Args
		if out.ArgsJson == nil {
			out.ArgsJson = []byte{}
		}
		out.ResultJson = j.Result
	}
	if withLease && j.State == store.StateRunning {
		out.LeaseToken = EncodeLease(j.Lease())
	}
	return out, nil
}

// FromJob converts a wire job back to the store's record. A lease token,
// when present, sets the lease fields (attempt and token).
func FromJob(p *v1.Job) (*store.Job, error) {
	id, err := store.ParseID(p.GetId())
	if err != nil {
		return nil, fmt.Errorf("job id: %w", err)
	}
	args, err := Raw("args", p.GetArgs(), p.ArgsJson)
	if err != nil {
		return nil, err
	}
	result, err := Raw("result", p.GetResult(), p.ResultJson)
	if err != nil {
		return nil, err
	}
	timeout, err := FromDuration("timeout", p.GetTimeout())
	if err != nil {
		return nil, err
	}
	j := &store.Job{
		ID: id, Kind: p.GetKind(), Args: args, Queue: p.GetQueue(), Priority: int(p.GetPriority()),
		State: store.JobState(p.GetState()), Attempt: int(p.GetAttempt()), MaxAttempts: int(p.GetMaxAttempts()),
		RunAt: FromTime(p.GetRunAt()), Timeout: timeout, UniqueKey: p.GetUniqueKey(), OrderingKey: p.GetOrderingKey(),
		UniqueUntil: FromTime(p.GetUniqueUntil()), Metadata: p.GetMetadata(), Tags: p.GetTags(),
		CreatedAt: FromTime(p.GetCreatedAt()), AttemptedAt: FromTime(p.GetAttemptedAt()),
		FinishedAt: FromTime(p.GetFinishedAt()), Result: result,
		LeaseHolder: p.GetLeaseHolder(), LeaseDeadline: FromTime(p.GetLeaseDeadline()),
	}
	for _, e := range p.GetErrors() {
		j.Errors = append(j.Errors, store.AttemptError{At: FromTime(e.GetAt()), Attempt: int(e.GetAttempt()), Message: e.GetMessage(), Stack: e.GetStack()})
	}
	if tok := p.GetLeaseToken(); tok != "" {
		ref, err := DecodeLease(tok)
		if err != nil {
			return nil, err
		}
		j.LeaseToken = ref.Token
		j.Attempt = ref.Attempt
	}
	return j, nil
}
