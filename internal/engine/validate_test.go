package engine

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/troikahq/troika/store"
)

func TestBuildDefaults(t *testing.T) {
	t.Parallel()
	now := base
	var in store.InsertJob
	o := JobOptions{}
	if err := o.Build(&in, -1, "email.send", nil, now, Limits{}); err != nil {
		t.Fatal(err)
	}
	want := store.InsertJob{Kind: "email.send", Args: []byte("{}"), Queue: DefaultQueue, Priority: DefaultPriority, MaxAttempts: DefaultMaxAttempts}
	if in.Kind != want.Kind || string(in.Args) != "{}" || in.Queue != want.Queue || in.Priority != want.Priority ||
		in.MaxAttempts != want.MaxAttempts || !in.RunAt.IsZero() || in.UniqueKey != "" || in.Metadata != nil || in.Tags != nil {
		t.Fatalf("Build = %+v, want %+v", in, want)
	}
}

func TestBuildOptions(t *testing.T) {
	t.Parallel()
	now := base
	t.Run("Everything", func(t *testing.T) {
		t.Parallel()
		o := JobOptions{
			Queue: "emails", HasQueue: true, Priority: 1, HasPriority: true, Delay: time.Minute, HasDelay: true,
			MaxAttempts: 3, HasMaxAttempts: true, Timeout: time.Second, UniqueKey: "k", UniqueFor: time.Hour, HasUnique: true,
			Metadata: map[string]string{"a": "b"}, Tags: []string{"x"},
		}
		var in store.InsertJob
		if err := o.Build(&in, -1, "k1", []byte(`{"a":1}`), now, Limits{}); err != nil {
			t.Fatal(err)
		}
		if in.Queue != "emails" || in.Priority != 1 || !in.RunAt.Equal(now.Add(time.Minute)) || in.MaxAttempts != 3 ||
			in.Timeout != time.Second || in.UniqueKey != "k" || !in.UniqueUntil.Equal(now.Add(time.Hour)) ||
			in.Metadata["a"] != "b" || len(in.Tags) != 1 || string(in.Args) != `{"a":1}` {
			t.Fatalf("Build = %+v", in)
		}
	})
	t.Run("RunAtPastIsNow", func(t *testing.T) {
		t.Parallel()
		var in store.InsertJob
		o := JobOptions{RunAt: now.Add(-time.Hour)}
		if err := o.Build(&in, -1, "k", nil, now, Limits{}); err != nil || !in.RunAt.IsZero() {
			t.Fatalf("Build = %v, RunAt %v; want nil, zero", err, in.RunAt)
		}
	})
	t.Run("RunAtFuture", func(t *testing.T) {
		t.Parallel()
		var in store.InsertJob
		o := JobOptions{RunAt: now.Add(time.Hour)}
		if err := o.Build(&in, -1, "k", nil, now, Limits{}); err != nil || !in.RunAt.Equal(now.Add(time.Hour)) {
			t.Fatalf("Build = %v, RunAt %v", err, in.RunAt)
		}
	})
	t.Run("ZeroDelay", func(t *testing.T) {
		t.Parallel()
		var in store.InsertJob
		o := JobOptions{HasDelay: true}
		if err := o.Build(&in, -1, "k", nil, now, Limits{}); err != nil || !in.RunAt.IsZero() {
			t.Fatalf("Build = %v, RunAt %v", err, in.RunAt)
		}
	})
	t.Run("PayloadLimit", func(t *testing.T) {
		t.Parallel()
		var in store.InsertJob
		o := JobOptions{}
		args := []byte(`"` + strings.Repeat("a", 98) + `"`) // 100 bytes
		if err := o.Build(&in, -1, "k", args, now, Limits{MaxPayloadBytes: 100}); err != nil {
			t.Fatalf("100 bytes at a limit of 100: %v", err)
		}
		if err := o.Build(&in, -1, "k", append(args, ' '), now, Limits{MaxPayloadBytes: 100}); !isInvalid(err, "args") {
			t.Fatalf("101 bytes at a limit of 100: %v", err)
		}
	})
}

// invalidCases are the bad inputs every layer must reject, by field.
func invalidCases() []struct {
	name, field, kind string
	args              []byte
	o                 JobOptions
} {
	long := func(n int) string { return strings.Repeat("a", n) }
	manyMeta := map[string]string{}
	for i := range MaxMetadataEntries + 1 {
		manyMeta[long(i+1)] = ""
	}
	type tc = struct {
		name, field, kind string
		args              []byte
		o                 JobOptions
	}
	return []tc{
		{"EmptyKind", "kind", "", nil, JobOptions{}},
		{"LongKind", "kind", long(MaxKindLen + 1), nil, JobOptions{}},
		{"ControlInKind", "kind", "a\nb", nil, JobOptions{}},
		{"BadUTF8Kind", "kind", "a\xffb", nil, JobOptions{}},
		{"ArgsNotJSON", "args", "k", []byte("{"), JobOptions{}},
		{"ArgsTwoValues", "args", "k", []byte("1 2"), JobOptions{}},
		{"ArgsBadUTF8", "args", "k", []byte("\"\xff\""), JobOptions{}},
		{"ArgsTooBig", "args", "k", []byte(`"` + long(DefaultMaxPayload) + `"`), JobOptions{}},
		{"EmptyQueue", "queue", "k", nil, JobOptions{HasQueue: true}},
		{"UpperQueue", "queue", "k", nil, JobOptions{Queue: "Emails", HasQueue: true}},
		{"SpaceQueue", "queue", "k", nil, JobOptions{Queue: "a b", HasQueue: true}},
		{"LongQueue", "queue", "k", nil, JobOptions{Queue: long(MaxQueueNameLen + 1), HasQueue: true}},
		{"PriorityZero", "priority", "k", nil, JobOptions{HasPriority: true}},
		{"PriorityFive", "priority", "k", nil, JobOptions{Priority: 5, HasPriority: true}},
		{"NegativeDelay", "delay", "k", nil, JobOptions{Delay: -time.Second, HasDelay: true}},
		{"RunAtTooLate", "runAt", "k", nil, JobOptions{RunAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"NegativeTimeout", "timeout", "k", nil, JobOptions{Timeout: -time.Second}},
		{"MaxAttemptsZero", "maxAttempts", "k", nil, JobOptions{HasMaxAttempts: true}},
		{"MaxAttemptsNegative", "maxAttempts", "k", nil, JobOptions{MaxAttempts: -1, HasMaxAttempts: true}},
		{"EmptyUniqueKey", "uniqueKey", "k", nil, JobOptions{UniqueFor: time.Hour, HasUnique: true}},
		{"LongUniqueKey", "uniqueKey", "k", nil, JobOptions{UniqueKey: long(MaxUniqueKeyLen + 1), UniqueFor: time.Hour, HasUnique: true}},
		{"NULInUniqueKey", "uniqueKey", "k", nil, JobOptions{UniqueKey: "a\x00", UniqueFor: time.Hour, HasUnique: true}},
		{"ZeroUniqueWindow", "uniqueFor", "k", nil, JobOptions{UniqueKey: "u", HasUnique: true}},
		{"NegativeUniqueWindow", "uniqueFor", "k", nil, JobOptions{UniqueKey: "u", UniqueFor: -time.Hour, HasUnique: true}},
		{"TooManyTags", "tags", "k", nil, JobOptions{Tags: make([]string, MaxTags+1)}},
		{"EmptyTag", "tags[1]", "k", nil, JobOptions{Tags: []string{"a", ""}}},
		{"LongTag", "tags[0]", "k", nil, JobOptions{Tags: []string{long(MaxTagLen + 1)}}},
		{"TooManyMetadata", "metadata", "k", nil, JobOptions{Metadata: manyMeta}},
		{"MetadataTooLong", "metadata", "k", nil, JobOptions{Metadata: map[string]string{"k": long(MaxMetadataLen)}}},
		{"MetadataEmptyKey", "metadata", "k", nil, JobOptions{Metadata: map[string]string{"": "v"}}},
		{"MetadataNULValue", "metadata", "k", nil, JobOptions{Metadata: map[string]string{"k": "\x00"}}},
	}
}

func TestBuildRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range invalidCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var in store.InsertJob
			err := tc.o.Build(&in, -1, tc.kind, tc.args, base, Limits{})
			if !isInvalid(err, tc.field) {
				t.Fatalf("Build: %v; want *InvalidArgumentError for field %q", err, tc.field)
			}
			err = tc.o.Build(&in, 3, tc.kind, tc.args, base, Limits{})
			if !isInvalid(err, "jobs[3]."+tc.field) {
				t.Fatalf("Build in a batch: %v; want field %q", err, "jobs[3]."+tc.field)
			}
		})
	}
}

func TestBuildAcceptsEdges(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return strings.Repeat("a", n) }
	cases := map[string]struct {
		kind string
		o    JobOptions
	}{
		"MaxKind":        {long(MaxKindLen), JobOptions{}},
		"UnicodeKind":    {"émail.sënd", JobOptions{}},
		"ReplacementRun": {"a\uFFFDb", JobOptions{}},
		"MaxQueue":       {"k", JobOptions{Queue: long(MaxQueueNameLen), HasQueue: true}},
		"QueueChars":     {"k", JobOptions{Queue: "a-b_c.9", HasQueue: true}},
		"Priorities":     {"k", JobOptions{Priority: MaxPriority, HasPriority: true}},
		"MaxUniqueKey":   {"k", JobOptions{UniqueKey: long(MaxUniqueKeyLen), UniqueFor: time.Nanosecond, HasUnique: true}},
		"MaxTags":        {"k", JobOptions{Tags: strings.Fields(strings.Repeat("t ", MaxTags))}},
		"MetadataAtMax":  {"k", JobOptions{Metadata: map[string]string{"k": long(MaxMetadataLen - 1)}}},
		"OneAttempt":     {"k", JobOptions{MaxAttempts: 1, HasMaxAttempts: true}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var in store.InsertJob
			if err := tc.o.Build(&in, -1, tc.kind, []byte(`null`), base, Limits{}); err != nil {
				t.Fatalf("Build: %v", err)
			}
		})
	}
}

func TestCheckQueueName(t *testing.T) {
	t.Parallel()
	for name, ok := range map[string]bool{"default": true, "a": true, "": false, "A": false, "é": false, "a/b": false} {
		if got := CheckQueueName(name) == ""; got != ok {
			t.Errorf("CheckQueueName(%q) ok = %v, want %v", name, got, ok)
		}
	}
}

func isInvalid(err error, field string) bool {
	var ie *store.InvalidArgumentError
	return errors.As(err, &ie) && ie.Field == field && ie.Reason != "" && errors.Is(err, store.ErrInvalidArgument)
}

func FuzzBuild(f *testing.F) {
	f.Add("email.send", []byte(`{"to":"a"}`), "default", 2, int64(0), 25, int64(0), "", int64(0), "tag", "k", "v")
	f.Add("", []byte(`{`), "Q", 9, int64(-1), 0, int64(-1), "u", int64(-1), "", "", "\x00")
	f.Fuzz(func(t *testing.T, kind string, args []byte, queue string, prio int, delay int64, maxAtt int,
		timeout int64, ukey string, ufor int64, tag, mk, mv string) {
		o := JobOptions{
			Queue: queue, HasQueue: true, Priority: prio, HasPriority: true, Delay: time.Duration(delay), HasDelay: delay != 0,
			MaxAttempts: maxAtt, HasMaxAttempts: true, Timeout: time.Duration(timeout),
			UniqueKey: ukey, UniqueFor: time.Duration(ufor), HasUnique: ukey != "" || ufor != 0,
			Metadata: map[string]string{mk: mv}, Tags: []string{tag},
		}
		var in store.InsertJob
		err := o.Build(&in, -1, kind, args, base, Limits{})
		if err != nil {
			var ie *store.InvalidArgumentError
			if !errors.As(err, &ie) || ie.Field == "" {
				t.Fatalf("Build: %T %v; want *InvalidArgumentError with a field", err, err)
			}
			return
		}
		if in.Kind != kind || in.Queue != queue || in.Priority < MinPriority || in.Priority > MaxPriority || in.MaxAttempts < 1 {
			t.Fatalf("accepted invalid input: %+v", in)
		}
	})
}
