package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/troikahq/troika/store"
)

// JobInsertMany implements store.Store. Ids are generated before the first
// attempt and reused by the store's retries (ON CONFLICT (id) DO NOTHING),
// so a retry after a commit whose reply was lost inserts nothing twice.
// Unique keys are serialized with transaction-level advisory locks on the
// keys, taken in sorted order.
func (s *Store) JobInsertMany(ctx context.Context, p *store.JobInsertManyParams) ([]store.InsertResult, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	b, err := s.prepareInsert(p)
	if err != nil {
		return nil, err
	}
	if len(p.Jobs) == 0 {
		if err := s.enter(); err != nil {
			return nil, err
		}
		s.leave()
		return []store.InsertResult{}, nil
	}
	var res []store.InsertResult
	err = s.call(ctx, "JobInsertMany", func(ctx context.Context) error {
		if !b.unique && !b.keyed { // one autocommit statement
			if err := b.exec(ctx, s.pool, s, false); err != nil {
				return err
			}
			s.commits.Add(1)
			res = b.results(nil)
			return nil
		}
		return s.tx(ctx, func(tx pgx.Tx) error {
			if !b.unique { // ordered: the line locks, then the insert
				res = nil
				if err := b.exec(ctx, tx, s, false); err != nil {
					return err
				}
				res = b.results(nil)
				return nil
			}
			var err error
			res, err = b.insertUnique(ctx, tx, s, false)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	ready := b.readyQueues(res)
	s.subs.wake(ready)
	s.notifier.add(ready)
	return res, nil
}

// InsertTx inserts jobs in the caller's transaction tx, with the semantics
// of JobInsertMany: the jobs exist if and only if tx commits, subscribers
// everywhere are woken (NOTIFY) when it does. It does not retry (the
// transaction is the caller's) and never commits or rolls back tx. Used by
// troika's EnqueueTx.
func (s *Store) InsertTx(ctx context.Context, tx pgx.Tx, p *store.JobInsertManyParams) ([]store.InsertResult, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if tx == nil {
		return nil, invalid("tx", "nil")
	}
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	b, err := s.prepareInsert(p)
	if err != nil {
		return nil, err
	}
	if len(p.Jobs) == 0 {
		return []store.InsertResult{}, nil
	}
	// A savepoint keeps a failed insert from aborting the caller's
	// transaction.
	err = pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
		var err error
		if b.unique {
			_, err = b.insertUnique(ctx, sp, s, true)
			return err
		}
		return b.exec(ctx, sp, s, true)
	})
	if err != nil {
		if transient(err) {
			return nil, &UnavailableError{Op: "InsertTx", Err: err}
		}
		return nil, s.mapErr("InsertTx", err)
	}
	if b.unique {
		return b.uniqueRes, nil
	}
	return b.results(nil), nil
}

// insertBatch is one JobInsertMany prepared for SQL: ids fixed, params
// checked and encoded into column arrays.
type insertBatch struct {
	p      *store.JobInsertManyParams
	now    time.Time
	ids    []store.ID
	unique bool
	keyed  bool       // some job has an ordering key
	subIDs []store.ID // the subscription of each job (deliveries), or nil

	// column arrays of the rows to insert (all rows, or the new ones)
	cIDs                  []store.ID
	queues, kinds, states []string
	args                  []*string
	prios                 []int16
	runAts                []time.Time
	maxAtt                []int32
	timeouts              []int64
	keys, metas, tags     []*string
	untils                []pgtype.Timestamptz
	okeys                 []*string  // ordering keys
	subs                  []store.ID // subscription ids (deliveries only)

	uniqueRes []store.InsertResult
}

func (s *Store) prepareInsert(p *store.JobInsertManyParams) (*insertBatch, error) {
	return s.prepareDeliveries(p, nil)
}

// prepareDeliveries is prepareInsert for jobs that deliver to the
// subscriptions subIDs[i] (nil: plain jobs).
func (s *Store) prepareDeliveries(p *store.JobInsertManyParams, subIDs []store.ID) (*insertBatch, error) {
	b := &insertBatch{p: p, now: s.clock(p.Now), subIDs: subIDs}
	for i := range p.Jobs {
		in := &p.Jobs[i]
		switch {
		case in.Kind == "":
			return nil, invalid(fmt.Sprintf("jobs[%d].kind", i), "must not be empty")
		case in.Queue == "":
			return nil, invalid(fmt.Sprintf("jobs[%d].queue", i), "must not be empty")
		case in.Priority < math.MinInt16 || in.Priority > math.MaxInt16:
			return nil, invalid(fmt.Sprintf("jobs[%d].priority", i), "out of range")
		case in.MaxAttempts < math.MinInt32 || in.MaxAttempts > math.MaxInt32:
			return nil, invalid(fmt.Sprintf("jobs[%d].max_attempts", i), "out of range")
		}
		if in.UniqueKey != "" {
			b.unique = true
		}
		if in.OrderingKey != "" {
			b.keyed = true
		}
	}
	b.ids = make([]store.ID, len(p.Jobs))
	for i := range b.ids {
		b.ids[i] = store.NewID()
	}
	if !b.unique {
		for i := range p.Jobs {
			b.add(i)
		}
	}
	return b, nil
}

// runAt is the stored run time of job i.
func (b *insertBatch) runAt(i int) time.Time {
	if r := b.p.Jobs[i].RunAt; !r.IsZero() {
		return r.UTC().Truncate(time.Microsecond)
	}
	return b.now
}

func (b *insertBatch) state(i int) store.JobState {
	if b.runAt(i).After(b.now) {
		return store.StateScheduled
	}
	return store.StateAvailable
}

// reset empties the column arrays (a retry rebuilds them).
func (b *insertBatch) reset() {
	b.cIDs, b.queues, b.kinds, b.states, b.args = b.cIDs[:0], b.queues[:0], b.kinds[:0], b.states[:0], b.args[:0]
	b.prios, b.runAts, b.maxAtt, b.timeouts = b.prios[:0], b.runAts[:0], b.maxAtt[:0], b.timeouts[:0]
	b.keys, b.metas, b.tags, b.untils = b.keys[:0], b.metas[:0], b.tags[:0], b.untils[:0]
	b.okeys, b.subs = b.okeys[:0], b.subs[:0]
}

// add appends job i to the column arrays.
func (b *insertBatch) add(i int) {
	in := &b.p.Jobs[i]
	b.cIDs = append(b.cIDs, b.ids[i])
	b.queues = append(b.queues, in.Queue)
	b.kinds = append(b.kinds, in.Kind)
	b.states = append(b.states, string(b.state(i)))
	b.prios = append(b.prios, int16(in.Priority))
	b.runAts = append(b.runAts, b.runAt(i))
	b.maxAtt = append(b.maxAtt, int32(in.MaxAttempts))
	b.timeouts = append(b.timeouts, int64(in.Timeout))
	var args *string
	if len(in.Args) > 0 {
		a := string(in.Args)
		args = &a
	}
	b.args = append(b.args, args)
	var key *string
	var until pgtype.Timestamptz
	if in.UniqueKey != "" {
		k := in.UniqueKey
		key, until = &k, ts(in.UniqueUntil)
	}
	b.keys = append(b.keys, key)
	b.untils = append(b.untils, until)
	b.metas = append(b.metas, jsonText(in.Metadata, len(in.Metadata) > 0))
	b.tags = append(b.tags, jsonText(in.Tags, len(in.Tags) > 0))
	if b.keyed {
		var ok *string
		if in.OrderingKey != "" {
			k := in.OrderingKey
			ok = &k
		}
		b.okeys = append(b.okeys, ok)
	}
	if b.subIDs != nil {
		b.subs = append(b.subs, b.subIDs[i])
	}
}

// jsonText returns v as JSON text, or nil when !present.
func jsonText(v any, present bool) *string {
	if !present {
		return nil
	}
	buf, err := json.Marshal(v)
	if err != nil { // maps of strings and string slices always encode
		return nil
	}
	s := string(buf)
	return &s
}

// dbtx is what the store runs statements on: the pool or a transaction.
type dbtx interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// exec inserts the rows of the column arrays with one statement; with
// notify the statement also NOTIFYs the queues that got available jobs.
// Ordered rows need db to be a transaction: exec first takes their lines'
// advisory locks (see ordering.go), then the insert decides which of them
// wait (key_blocked).
func (b *insertBatch) exec(ctx context.Context, db dbtx, s *Store, notify bool) error {
	if len(b.cIDs) == 0 {
		return nil
	}
	sql := s.q.insert
	if notify {
		sql = s.q.insertNotify
	}
	var okeys []*string
	var behind []bool
	if b.keyed {
		okeys, behind = b.okeys, b.behind()
		if err := s.lockLines(ctx, db, b.queues, okeys); err != nil {
			return err
		}
	}
	var subs []store.ID
	if len(b.subs) > 0 {
		subs = b.subs
	}
	if len(b.cIDs) == 1 && !notify && !b.keyed && len(subs) == 0 {
		_, err := db.Exec(ctx, s.q.insertOne, b.cIDs[0], b.queues[0], b.kinds[0], b.states[0], b.prios[0], b.runAts[0],
			b.maxAtt[0], b.timeouts[0], b.keys[0], b.untils[0], b.args[0], b.metas[0], b.tags[0], b.now)
		return err
	}
	var n int64
	return db.QueryRow(ctx, sql, b.cIDs, b.queues, b.kinds, b.states, b.prios, b.runAts, b.maxAtt, b.timeouts,
		b.keys, b.untils, b.args, b.metas, b.tags, b.now, s.channel, okeys, behind, subs).Scan(&n)
}

// behind reports, per row, whether an earlier row of the batch is in the
// same line (rows are in ID order: the first of a line is its candidate
// holder, the others wait behind it).
func (b *insertBatch) behind() []bool {
	out := make([]bool, len(b.okeys))
	type line struct{ queue, key string }
	seen := map[line]bool{}
	for i, k := range b.okeys {
		if k == nil {
			continue
		}
		l := line{b.queues[i], *k}
		out[i] = seen[l]
		seen[l] = true
	}
	return out
}

// results builds the results of a batch inserted whole (no unique keys),
// or fills the new-job entries of res.
func (b *insertBatch) results(res []store.InsertResult) []store.InsertResult {
	if res == nil {
		res = make([]store.InsertResult, len(b.p.Jobs))
	}
	jobs := make([]store.Job, len(b.p.Jobs))
	for i := range b.p.Jobs {
		if res[i].Job != nil || res[i].Duplicate {
			continue
		}
		in := &b.p.Jobs[i]
		j := &jobs[i]
		*j = store.Job{
			ID: b.ids[i], Kind: in.Kind, Args: slices.Clone(in.Args), Queue: in.Queue, Priority: in.Priority,
			State: b.state(i), RunAt: b.runAt(i), MaxAttempts: in.MaxAttempts, Timeout: in.Timeout,
			UniqueKey: in.UniqueKey, Metadata: maps.Clone(in.Metadata), Tags: slices.Clone(in.Tags), CreatedAt: b.now,
			OrderingKey: in.OrderingKey,
		}
		if in.UniqueKey != "" {
			j.UniqueUntil = in.UniqueUntil.UTC().Truncate(time.Microsecond)
		}
		res[i] = store.InsertResult{Job: j}
	}
	return res
}

// insertUnique inserts the batch in tx, deduplicating unique keys against
// the table and within the batch.
func (b *insertBatch) insertUnique(ctx context.Context, tx pgx.Tx, s *Store, notify bool) ([]store.InsertResult, error) {
	var keys, lockKeys []string
	seen := map[string]bool{}
	for i := range b.p.Jobs {
		if k := b.p.Jobs[i].UniqueKey; k != "" && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
			lockKeys = append(lockKeys, s.schema+":"+k)
		}
	}
	var n int64
	if err := tx.QueryRow(ctx, s.q.lockKeys, lockKeys).Scan(&n); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, s.q.uniqueHolders, keys, b.now)
	if err != nil {
		return nil, err
	}
	holders, err := scanJobs(rows)
	if err != nil {
		return nil, err
	}
	ours := map[store.ID]int{}
	for i, id := range b.ids {
		ours[id] = i
	}
	byKey := map[string]*store.Job{}
	for _, h := range holders {
		if _, mine := ours[h.ID]; !mine { // a retry finds its own earlier commit: not a duplicate
			byKey[h.UniqueKey] = h
		}
	}
	res := make([]store.InsertResult, len(b.p.Jobs))
	firstOf := map[string]int{} // key → index of the batch's new job holding it
	b.reset()
	for i := range b.p.Jobs {
		in := &b.p.Jobs[i]
		if in.UniqueKey != "" {
			if h := byKey[in.UniqueKey]; h != nil {
				dup := *h
				res[i] = store.InsertResult{Job: &dup, Duplicate: true}
				continue
			}
			if f, ok := firstOf[in.UniqueKey]; ok && b.p.Jobs[f].UniqueUntil.After(b.now) {
				res[i] = store.InsertResult{Duplicate: true} // filled below from the first
				continue
			}
			firstOf[in.UniqueKey] = i
		}
		b.add(i)
	}
	b.results(res)
	for i := range res {
		if res[i].Job == nil && res[i].Duplicate {
			dup := *res[firstOf[b.p.Jobs[i].UniqueKey]].Job
			res[i].Job = &dup
		}
	}
	if err := b.exec(ctx, tx, s, notify); err != nil {
		return nil, err
	}
	b.uniqueRes = res
	return res, nil
}

// readyQueues lists the queues that got an available job.
func (b *insertBatch) readyQueues(res []store.InsertResult) []string {
	var qs []string
	for _, r := range res {
		if !r.Duplicate && r.Job.State == store.StateAvailable && !slices.Contains(qs, r.Job.Queue) {
			qs = append(qs, r.Job.Queue)
		}
	}
	return qs
}
