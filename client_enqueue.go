package troika

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/troikahq/troika/internal/engine"
	"github.com/troikahq/troika/store"
)

func (c *clientImpl) enqueue(ctx context.Context, args JobArgs, opts []EnqueueOption) (*EnqueueResult, error) {
	now := c.now()
	jobs := make([]store.InsertJob, 1)
	if err := c.build(&jobs[0], -1, args, opts, now); err != nil {
		return nil, err
	}
	res, err := c.st.JobInsertMany(ctx, &store.JobInsertManyParams{Jobs: jobs, Now: now})
	if err != nil {
		return nil, err
	}
	if len(res) != 1 || res[0].Job == nil {
		return nil, fmt.Errorf("troika: store returned %d results for one job", len(res))
	}
	return &EnqueueResult{ID: res[0].Job.ID, State: res[0].Job.State, Duplicate: res[0].Duplicate}, nil
}

func (c *clientImpl) enqueueMany(ctx context.Context, items []EnqueueItem) ([]EnqueueResult, error) {
	if len(items) == 0 {
		return []EnqueueResult{}, nil
	}
	now := c.now()
	jobs := make([]store.InsertJob, len(items))
	for i, it := range items {
		if err := c.build(&jobs[i], i, it.Args, it.Options, now); err != nil {
			return nil, err
		}
	}
	res, err := c.st.JobInsertMany(ctx, &store.JobInsertManyParams{Jobs: jobs, Now: now})
	if err != nil {
		return nil, err
	}
	if len(res) != len(items) {
		return nil, fmt.Errorf("troika: store returned %d results for %d jobs", len(res), len(items))
	}
	out := make([]EnqueueResult, len(res))
	for i, r := range res {
		out[i] = EnqueueResult{ID: r.Job.ID, State: r.Job.State, Duplicate: r.Duplicate}
	}
	return out, nil
}

// build validates one job (index -1 for a single one) and fills dst.
func (c *clientImpl) build(dst *store.InsertJob, index int, args JobArgs, opts []EnqueueOption, now time.Time) error {
	kind, payload, err := encodeArgs(args)
	if err != nil {
		field := "args"
		if index >= 0 {
			field = "jobs[" + strconv.Itoa(index) + "].args"
		}
		return &InvalidArgumentError{Field: field, Reason: err.Error()}
	}
	var o enqueueOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	lim := c.limits
	// The payload comes from json.Marshal, which returns only valid JSON (it
	// checks the output of custom marshalers too): skip the second scan.
	lim.ArgsValidJSON = true
	if err := o.Build(dst, index, kind, payload, now, lim); err != nil {
		return err
	}
	return c.checkOrdering(dst.OrderingKey) // options_ordering.go's store check (topic_impl.go)
}

// encodeArgs returns the kind and JSON encoding of args. A nil args, an
// encoding error, or a panic in Kind or MarshalJSON is an error (the kind
// itself is validated by the engine).
func encodeArgs(args JobArgs) (kind string, payload []byte, err error) {
	if args == nil {
		return "", nil, fmt.Errorf("nil: a job needs arguments implementing JobArgs")
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%T panicked while encoding: %v", args, r)
		}
	}()
	kind = args.Kind()
	if r := engine.CheckKind(kind); r != "" {
		// Report the kind first: the engine names the field.
		return kind, nil, nil
	}
	payload, err = json.Marshal(args)
	if err != nil {
		return "", nil, fmt.Errorf("cannot encode %T as JSON: %v", args, err)
	}
	return kind, payload, nil
}
