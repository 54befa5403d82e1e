package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/troikahq/troika/store"
)

// Topics and subscriptions (store.TopicStore).
//
// An event is one row of topic_events (by topic, publish time, ID); a
// delivery is an ordinary job whose subscription_id names its
// subscription, inserted with JobInsertMany's code (insertBatch: ordering
// keys, NOTIFY) in the publishing transaction. Retained events are counted
// by appended deltas (topic_event_counts), so concurrent publishers never
// update a shared row.
//
// Publishes and subscription creation are serialized per topic by the
// topic row: a publish holds FOR KEY SHARE on it (publishers do not block
// each other) and reads the subscriptions in the next statement; a
// creation holds FOR UPDATE and reads the backlog in the next statement.
// Whichever commits first is seen by the other (READ COMMITTED takes a
// snapshot per statement), so an event racing a new subscription is
// delivered to it exactly once: by the publish or by the backlog.
//
// A subscription's lag is counted from the partial index of unfinished
// deliveries (jobs_deliveries_idx): SubscriptionList costs an index scan
// proportional to each subscription's unfinished deliveries.

var _ store.TopicStore = (*Store)(nil)

// backfillPage is how many events a backlog or replay reads per statement.
const backfillPage = 1000

type topicQueries struct {
	ensure, lockShare, lockExcl, subsOf, insertEvents, page, subInsert, subGet string
	subDelete, subList, topicList, topicOne, topicUpsert, exists, trim, fold   string
	deliveries                                                                 string
}

const subCols = `s.id, s.topic, s.name, s.kinds, s.queue, s.priority, s.max_attempts, s.timeout_ns, s.created_at`

func newTopicQueries(schema string) *topicQueries {
	r := strings.NewReplacer("{s}", pgx.Identifier{schema}.Sanitize(), "{unfinished}", unfinishedStates, "{subcols}", subCols)
	topicSelect := `SELECT t.name, t.retention_ns, t.created_at,
  coalesce((SELECT sum(c.n) FROM {s}.topic_event_counts c WHERE c.topic = t.name), 0)::bigint,
  (SELECT count(*) FROM {s}.topic_event_counts c WHERE c.topic = t.name),
  (SELECT min(e.published_at) FROM {s}.topic_events e WHERE e.topic = t.name),
  (SELECT count(*) FROM {s}.subscriptions s WHERE s.topic = t.name)
FROM {s}.topics t`
	q := &topicQueries{
		ensure:    `INSERT INTO {s}.topics (name, retention_ns, created_at) VALUES ($1, 0, $2) ON CONFLICT (name) DO NOTHING`,
		lockShare: `SELECT 1 FROM {s}.topics WHERE name = $1 FOR KEY SHARE`,
		lockExcl:  `SELECT 1 FROM {s}.topics WHERE name = $1 FOR UPDATE`,
		subsOf:    `SELECT {subcols} FROM {s}.subscriptions s WHERE s.topic = $1 ORDER BY s.name`,
		// $1 topic, $2 published_at, $3 ids, $4 kinds, $5 args, $6 keys,
		// $7 metadata. A retry after a lost commit reply inserts nothing
		// (and counts nothing) twice.
		insertEvents: `WITH ins AS (
  INSERT INTO {s}.topic_events (topic, published_at, id, kind, args, ordering_key, metadata)
  SELECT $1, $2, u.id, u.kind, u.args::json, u.okey, u.md::jsonb
  FROM unnest($3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[]) AS u(id, kind, args, okey, md)
  ON CONFLICT DO NOTHING
  RETURNING 1
), c AS (
  INSERT INTO {s}.topic_event_counts (topic, n) SELECT $1, count(*) FROM ins HAVING count(*) > 0 RETURNING n
)
SELECT coalesce((SELECT n FROM c), 0)`,
		// $1 topic, $2/$3 after (published_at, id), $4 kinds ({}: all), $5 limit.
		page: `SELECT published_at, id, kind, args, ordering_key, metadata FROM {s}.topic_events
WHERE topic = $1 AND (published_at, id) > ($2, $3) AND (cardinality($4::text[]) = 0 OR kind = ANY($4::text[]))
ORDER BY published_at, id LIMIT $5`,
		subInsert: `INSERT INTO {s}.subscriptions (id, topic, name, kinds, queue, priority, max_attempts, timeout_ns, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (topic, name) DO NOTHING`,
		subGet:     `SELECT {subcols} FROM {s}.subscriptions s WHERE s.topic = $1 AND s.name = $2`,
		subDelete:  `DELETE FROM {s}.subscriptions WHERE topic = $1 AND name = $2`,
		deliveries: `SELECT count(*) FROM {s}.jobs WHERE subscription_id = $1`,
		subList: `SELECT {subcols}, l.n, l.oldest FROM {s}.subscriptions s CROSS JOIN LATERAL (
  SELECT count(*) AS n, min(j.created_at) AS oldest FROM {s}.jobs j
  WHERE j.subscription_id = s.id AND j.state IN {unfinished}) l
WHERE $1 = '' OR s.topic = $1
ORDER BY s.topic, s.name`,
		topicList: topicSelect + ` ORDER BY t.name`,
		topicOne:  topicSelect + ` WHERE t.name = $1`,
		topicUpsert: `INSERT INTO {s}.topics AS t (name, retention_ns, created_at) VALUES ($1, coalesce($2::bigint, 0), $3)
ON CONFLICT (name) DO UPDATE SET retention_ns = coalesce($2::bigint, t.retention_ns)`,
		exists: `SELECT EXISTS (SELECT 1 FROM {s}.topics WHERE name = $1)`,
		// $1 topic, $2 before, $3 limit: oldest first.
		trim: `WITH d AS (
  DELETE FROM {s}.topic_events e USING (
    SELECT published_at, id FROM {s}.topic_events WHERE topic = $1 AND published_at < $2
    ORDER BY published_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) x
  WHERE e.topic = $1 AND e.published_at = x.published_at AND e.id = x.id
  RETURNING 1
), c AS (
  INSERT INTO {s}.topic_event_counts (topic, n) SELECT $1, -count(*) FROM d HAVING count(*) > 0 RETURNING n
)
SELECT count(*) FROM d`,
		// Folds a topic's count deltas into one row; sums are preserved
		// whatever runs concurrently (only the rows it sees are deleted).
		fold: `WITH d AS (DELETE FROM {s}.topic_event_counts WHERE topic = $1 RETURNING n)
INSERT INTO {s}.topic_event_counts (topic, n) SELECT $1, sum(n) FROM d HAVING sum(n) <> 0`,
	}
	for _, p := range []*string{&q.ensure, &q.lockShare, &q.lockExcl, &q.subsOf, &q.insertEvents, &q.page, &q.subInsert,
		&q.subGet, &q.subDelete, &q.subList, &q.topicList, &q.topicOne, &q.topicUpsert, &q.exists, &q.trim, &q.fold, &q.deliveries} {
		*p = r.Replace(*p)
	}
	return q
}

// checkName rejects names the schema cannot hold.
func checkName(field, name string) error {
	switch {
	case name == "":
		return invalid(field, "must not be empty")
	case strings.IndexByte(name, 0) >= 0:
		return invalid(field, "contains a NUL byte")
	}
	return nil
}

// subRow is a subscription as stored.
type subRow struct {
	id   store.ID
	sub  store.Subscription
	tmpl store.SubscriptionTemplate
}

func scanSub(row pgx.Row, lag bool) (*subRow, error) {
	var r subRow
	var prio, maxAtt int32
	var timeout int64
	var n int64
	var oldest pgtype.Timestamptz
	dst := []any{&r.id, &r.sub.Topic, &r.sub.Name, &r.sub.Kinds, &r.sub.Job.Queue, &prio, &maxAtt, &timeout, &r.sub.CreatedAt}
	if lag {
		dst = append(dst, &n, &oldest)
	}
	if err := row.Scan(dst...); err != nil {
		return nil, err
	}
	r.sub.Job.Priority, r.sub.Job.MaxAttempts, r.sub.Job.Timeout = int(prio), int(maxAtt), time.Duration(timeout)
	r.sub.CreatedAt = r.sub.CreatedAt.UTC()
	if len(r.sub.Kinds) == 0 {
		r.sub.Kinds = nil
	}
	r.sub.Pending, r.sub.OldestPendingAt = n, utc(oldest)
	r.tmpl = r.sub.Job
	return &r, nil
}

func scanSubs(rows pgx.Rows, lag bool) ([]*subRow, error) {
	defer rows.Close()
	var out []*subRow
	for rows.Next() {
		r, err := scanSub(rows, lag)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// delivery is the job that delivers event id (its text form) of topic to
// sub.
func delivery(topic string, sub *subRow, id string, ev *store.Event) store.InsertJob {
	md := make(map[string]string, len(ev.Metadata)+3)
	maps.Copy(md, ev.Metadata)
	md[store.MetaTopic] = topic
	md[store.MetaSubscription] = sub.sub.Name
	md[store.MetaEvent] = id
	return store.InsertJob{
		Kind: ev.Kind, Args: ev.Args, Queue: sub.tmpl.Queue, Priority: sub.tmpl.Priority,
		MaxAttempts: sub.tmpl.MaxAttempts, Timeout: sub.tmpl.Timeout, OrderingKey: ev.OrderingKey, Metadata: md,
	}
}

// distinctQueues returns the queues of jobs, each once.
func distinctQueues(jobs []store.InsertJob) []string {
	var qs []string
	for i := range jobs {
		if indexOf(qs, jobs[i].Queue) < 0 {
			qs = append(qs, jobs[i].Queue)
		}
	}
	return qs
}

// TopicPublish implements store.TopicStore in one transaction: create the
// topic if needed, hold its row (FOR KEY SHARE), read its subscriptions,
// insert the events and one delivery job per matching subscription. Event
// and job IDs are fixed before the first attempt, so a retry after a lost
// commit reply stores nothing twice.
func (s *Store) TopicPublish(ctx context.Context, p *store.TopicPublishParams) ([]store.PublishResult, error) {
	pb, err := s.preparePublish(p)
	if err != nil {
		return nil, err
	}
	var res []store.PublishResult
	err = s.call(ctx, "TopicPublish", func(ctx context.Context) error {
		return s.tx(ctx, func(tx pgx.Tx) error {
			var err error
			res, err = pb.run(ctx, tx, false)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	s.subs.wake(pb.queues)
	s.notifier.add(pb.queues)
	return res, nil
}

// TopicPublishTx publishes in the caller's transaction tx, with the
// semantics of TopicPublish: the events and their deliveries exist if and
// only if tx commits, and subscribers everywhere are woken (NOTIFY) when
// it does. It runs under a savepoint (a rejected publish leaves tx
// usable), does not retry, and never commits or rolls back tx. tx holds
// the topic row (FOR KEY SHARE) until it ends, so a SubscriptionCreate on
// the topic waits for it.
func (s *Store) TopicPublishTx(ctx context.Context, tx pgx.Tx, p *store.TopicPublishParams) ([]store.PublishResult, error) {
	if tx == nil {
		return nil, invalid("tx", "nil")
	}
	pb, err := s.preparePublish(p)
	if err != nil {
		return nil, err
	}
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	var res []store.PublishResult
	err = pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
		var err error
		res, err = pb.run(ctx, sp, true)
		return err
	})
	if err != nil {
		if transient(err) {
			return nil, &UnavailableError{Op: "TopicPublishTx", Err: err}
		}
		return nil, s.mapErr("TopicPublishTx", err)
	}
	return res, nil
}

// publishBatch is one TopicPublish prepared for SQL: ids fixed, events
// checked and encoded into column arrays.
type publishBatch struct {
	s                  *Store
	p                  *store.TopicPublishParams
	now                time.Time
	ids                []store.ID
	kinds              []string
	args, okeys, metas []*string
	b                  *insertBatch // the deliveries of the last attempt
	prevSubs           []store.ID   // the subscriptions b was built for
	queues             []string     // the queues that got deliveries
}

func (s *Store) preparePublish(p *store.TopicPublishParams) (*publishBatch, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if err := checkName("topic", p.Topic); err != nil {
		return nil, err
	}
	n := len(p.Events)
	pb := &publishBatch{s: s, p: p, now: s.clock(p.Now), ids: make([]store.ID, n), kinds: make([]string, n),
		args: make([]*string, n), okeys: make([]*string, n), metas: make([]*string, n)}
	for i := range p.Events {
		ev := &p.Events[i]
		if ev.Kind == "" {
			return nil, invalid(fmt.Sprintf("events[%d].kind", i), "must not be empty")
		}
		pb.ids[i], pb.kinds[i] = store.NewID(), ev.Kind
		if len(ev.Args) > 0 {
			a := string(ev.Args)
			pb.args[i] = &a
		}
		if ev.OrderingKey != "" {
			k := ev.OrderingKey
			pb.okeys[i] = &k
		}
		pb.metas[i] = jsonText(ev.Metadata, len(ev.Metadata) > 0)
	}
	return pb, nil
}

// run publishes in tx (see TopicPublish); with notify the deliveries'
// insert NOTIFYs their queues at commit.
func (pb *publishBatch) run(ctx context.Context, tx pgx.Tx, notify bool) ([]store.PublishResult, error) {
	s, p := pb.s, pb.p
	var sb pgx.Batch
	sb.Queue(s.q.topic.ensure, p.Topic, pb.now)
	sb.Queue(s.q.topic.lockShare, p.Topic)
	sb.Queue(s.q.topic.subsOf, p.Topic)
	br := tx.SendBatch(ctx, &sb)
	_, err := br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	var subs []*subRow
	if err == nil {
		var rows pgx.Rows
		if rows, err = br.Query(); err == nil {
			subs, err = scanSubs(rows, false)
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	res := make([]store.PublishResult, len(p.Events))
	var jobs []store.InsertJob
	var jobSubs, subIDs []store.ID
	for _, sub := range subs {
		subIDs = append(subIDs, sub.id)
	}
	for i := range p.Events {
		ev := &p.Events[i]
		res[i].ID = pb.ids[i]
		idText := pb.ids[i].String()
		for _, sub := range subs {
			if sub.sub.Matches(ev.Kind) {
				jobs = append(jobs, delivery(p.Topic, sub, idText, ev))
				jobSubs = append(jobSubs, sub.id)
				res[i].Deliveries++
			}
		}
	}
	if pb.b == nil || !slices.Equal(pb.prevSubs, subIDs) { // else: a retry, same job IDs
		if pb.b, err = s.prepareDeliveries(&store.JobInsertManyParams{Jobs: jobs, Now: pb.now}, jobSubs); err != nil {
			return nil, err
		}
		pb.prevSubs = subIDs
	}
	var added int64
	if err := tx.QueryRow(ctx, s.q.topic.insertEvents, p.Topic, pb.now, pb.ids, pb.kinds, pb.args, pb.okeys, pb.metas).Scan(&added); err != nil {
		return nil, err
	}
	if err := pb.b.exec(ctx, tx, s, notify); err != nil {
		return nil, err
	}
	k := 0
	for i := range res {
		if d := res[i].Deliveries; d > 0 {
			res[i].JobIDs = slices.Clone(pb.b.ids[k : k+d])
			k += d
		}
	}
	pb.queues = distinctQueues(jobs)
	return res, nil
}

// deliverRetained inserts, in tx, a delivery to sub of every retained
// event of topic published at or after from (zero: all) that matches its
// kinds, in publish order, page by page, and returns how many and the
// queue when any.
func (s *Store) deliverRetained(ctx context.Context, tx pgx.Tx, topic string, sub *subRow, from, now time.Time) (int, error) {
	kinds := sub.sub.Kinds
	if kinds == nil {
		kinds = []string{}
	}
	afterAt, afterID := from, store.ID{}
	if from.IsZero() {
		afterAt = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	total := 0
	for {
		rows, err := tx.Query(ctx, s.q.topic.page, topic, afterAt, afterID, kinds, backfillPage)
		if err != nil {
			return 0, err
		}
		var jobs []store.InsertJob
		for rows.Next() {
			var at time.Time
			var id store.ID
			var ev store.Event
			var okey pgtype.Text
			var md []byte
			if err := rows.Scan(&at, &id, &ev.Kind, &ev.Args, &okey, &md); err != nil {
				rows.Close()
				return 0, err
			}
			ev.OrderingKey = okey.String
			if len(md) > 0 {
				if err := json.Unmarshal(md, &ev.Metadata); err != nil {
					rows.Close()
					return 0, fmt.Errorf("%w: event %s metadata: %v", store.ErrCorrupt, id, err)
				}
			}
			jobs = append(jobs, delivery(topic, sub, id.String(), &ev))
			afterAt, afterID = at, id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, err
		}
		if len(jobs) > 0 {
			subIDs := make([]store.ID, len(jobs))
			for i := range subIDs {
				subIDs[i] = sub.id
			}
			b, err := s.prepareDeliveries(&store.JobInsertManyParams{Jobs: jobs, Now: now}, subIDs)
			if err != nil {
				return 0, err
			}
			if err := b.exec(ctx, tx, s, false); err != nil {
				return 0, err
			}
			total += len(jobs)
		}
		if len(jobs) < backfillPage {
			return total, nil
		}
	}
}

// TopicList implements store.TopicStore.
func (s *Store) TopicList(ctx context.Context, p *store.TopicListParams) ([]*store.Topic, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	var out []*store.Topic
	var fold []string
	err := s.call(ctx, "TopicList", func(ctx context.Context) error {
		out, fold = out[:0], fold[:0]
		rows, err := s.pool.Query(ctx, s.q.topic.topicList)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			t, deltas, err := scanTopic(rows)
			if err != nil {
				return err
			}
			if deltas > foldAfter {
				fold = append(fold, t.Name)
			}
			out = append(out, t)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	for _, name := range fold {
		s.foldEventCounts(ctx, name)
	}
	if out == nil {
		out = []*store.Topic{}
	}
	return out, nil
}

func scanTopic(row pgx.Row) (*store.Topic, int64, error) {
	t := &store.Topic{}
	var retention, deltas, subs int64
	var oldest pgtype.Timestamptz
	if err := row.Scan(&t.Name, &retention, &t.CreatedAt, &t.Events, &deltas, &oldest, &subs); err != nil {
		return nil, 0, err
	}
	t.Retention, t.OldestEventAt, t.Subscriptions, t.CreatedAt = time.Duration(retention), utc(oldest), int(subs), t.CreatedAt.UTC()
	return t, deltas, nil
}

// foldEventCounts folds a topic's count deltas (best effort: a failure only
// leaves them for the next read).
func (s *Store) foldEventCounts(ctx context.Context, topic string) {
	if err := s.enter(); err != nil {
		return
	}
	defer s.leave()
	if _, err := s.pool.Exec(ctx, s.q.topic.fold, topic); err != nil {
		s.log.Debug("troika: folding topic event counts", "topic", topic, "err", err)
	}
}

// TopicUpdate implements store.TopicStore. A negative retention is
// ErrInvalidArgument.
func (s *Store) TopicUpdate(ctx context.Context, p *store.TopicUpdateParams) (*store.Topic, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if err := checkName("name", p.Name); err != nil {
		return nil, err
	}
	var retention *int64
	if p.Retention != nil {
		if *p.Retention < 0 {
			return nil, invalid("retention", "must not be negative")
		}
		r := int64(*p.Retention)
		retention = &r
	}
	now := s.clock(p.Now)
	var t *store.Topic
	err := s.call(ctx, "TopicUpdate", func(ctx context.Context) error {
		return s.tx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, s.q.topic.topicUpsert, p.Name, retention, now); err != nil {
				return err
			}
			var err error
			t, _, err = scanTopic(tx.QueryRow(ctx, s.q.topic.topicOne, p.Name))
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// topicMissing is the error of an unknown topic.
func topicMissing(name string) error { return fmt.Errorf("topic %q: %w", name, store.ErrNotFound) }

// TopicTrim implements store.TopicStore: one statement deletes up to Limit
// (default 10,000) of the oldest events before p.Before and appends the
// negative count delta; then the topic's deltas are folded.
func (s *Store) TopicTrim(ctx context.Context, p *store.TopicTrimParams) (int, error) {
	if p == nil {
		return 0, invalid("params", "nil")
	}
	if err := checkName("topic", p.Topic); err != nil {
		return 0, err
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 10_000
	}
	before := p.Before.UTC()
	var n int64
	err := s.call(ctx, "TopicTrim", func(ctx context.Context) error {
		var ok bool
		if err := s.pool.QueryRow(ctx, s.q.topic.exists, p.Topic).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return topicMissing(p.Topic)
		}
		if err := s.pool.QueryRow(ctx, s.q.topic.trim, p.Topic, before, limit).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			s.commits.Add(1)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if n > 0 {
		s.foldEventCounts(ctx, p.Topic)
	}
	return int(n), nil
}

// SubscriptionCreate implements store.TopicStore in one transaction:
// create the topic if needed, lock its row (FOR UPDATE: publishes wait),
// insert the subscription, then deliver the backlog read in the next
// statements (see the package's topic notes).
func (s *Store) SubscriptionCreate(ctx context.Context, p *store.SubscriptionCreateParams) (*store.SubscriptionCreateResult, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	if err := firstInvalid(checkName("topic", p.Topic), checkName("name", p.Name), checkName("queue", p.Job.Queue)); err != nil {
		return nil, err
	}
	if p.Job.Priority < math.MinInt16 || p.Job.Priority > math.MaxInt16 || p.Job.MaxAttempts < math.MinInt32 || p.Job.MaxAttempts > math.MaxInt32 {
		return nil, invalid("job", "priority or max attempts out of range")
	}
	for i, k := range p.Kinds {
		if err := checkName(fmt.Sprintf("kinds[%d]", i), k); err != nil {
			return nil, err
		}
	}
	now := s.clock(p.Now)
	id := store.NewID()
	kinds := slices.Clone(p.Kinds)
	if kinds == nil {
		kinds = []string{}
	}
	sub := &subRow{id: id, tmpl: p.Job, sub: store.Subscription{
		Topic: p.Topic, Name: p.Name, Kinds: slices.Clone(p.Kinds), Job: p.Job, CreatedAt: now}}
	var delivered int
	var queues []string
	err := s.call(ctx, "SubscriptionCreate", func(ctx context.Context) error {
		queues = nil
		return s.tx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, s.q.topic.ensure, p.Topic, now); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, s.q.topic.lockExcl, p.Topic); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, s.q.topic.subInsert, id, p.Topic, p.Name, kinds, p.Job.Queue, p.Job.Priority,
				p.Job.MaxAttempts, int64(p.Job.Timeout), now)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				cur, err := scanSub(tx.QueryRow(ctx, s.q.topic.subGet, p.Topic, p.Name), false)
				if err != nil {
					return err
				}
				if cur.id != id {
					return fmt.Errorf("subscription %q on topic %q: %w", p.Name, p.Topic, store.ErrAlreadyExists)
				}
				// Our earlier attempt committed (its reply was lost).
				var d int64
				if err := tx.QueryRow(ctx, s.q.topic.deliveries, id).Scan(&d); err != nil {
					return err
				}
				delivered = int(d)
				return nil
			}
			delivered = 0
			if !p.From.IsZero() {
				if delivered, err = s.deliverRetained(ctx, tx, p.Topic, sub, p.From.UTC(), now); err != nil {
					return err
				}
			}
			if delivered > 0 {
				queues = []string{p.Job.Queue}
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	s.subs.wake(queues)
	s.notifier.add(queues)
	out := sub.sub
	out.Pending = int64(delivered)
	if delivered > 0 {
		out.OldestPendingAt = now
	}
	return &store.SubscriptionCreateResult{Subscription: &out, Delivered: delivered}, nil
}

// firstInvalid returns the first non-nil error.
func firstInvalid(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// SubscriptionDelete implements store.TopicStore.
func (s *Store) SubscriptionDelete(ctx context.Context, p *store.SubscriptionDeleteParams) error {
	if p == nil {
		return invalid("params", "nil")
	}
	if err := firstInvalid(checkName("topic", p.Topic), checkName("name", p.Name)); err != nil {
		return err
	}
	return s.call(ctx, "SubscriptionDelete", func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, s.q.topic.subDelete, p.Topic, p.Name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("subscription %q on topic %q: %w", p.Name, p.Topic, store.ErrNotFound)
		}
		s.commits.Add(1)
		return nil
	})
}

// SubscriptionList implements store.TopicStore.
func (s *Store) SubscriptionList(ctx context.Context, p *store.SubscriptionListParams) ([]*store.Subscription, error) {
	if p == nil {
		return nil, invalid("params", "nil")
	}
	out := []*store.Subscription{}
	err := s.call(ctx, "SubscriptionList", func(ctx context.Context) error {
		out = out[:0]
		if p.Topic != "" {
			var ok bool
			if err := s.pool.QueryRow(ctx, s.q.topic.exists, p.Topic).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return topicMissing(p.Topic)
			}
		}
		rows, err := s.pool.Query(ctx, s.q.topic.subList, p.Topic)
		if err != nil {
			return err
		}
		subs, err := scanSubs(rows, true)
		if err != nil {
			return err
		}
		for _, r := range subs {
			sub := r.sub
			out = append(out, &sub)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SubscriptionReplay implements store.TopicStore in one transaction.
func (s *Store) SubscriptionReplay(ctx context.Context, p *store.SubscriptionReplayParams) (int, error) {
	if p == nil {
		return 0, invalid("params", "nil")
	}
	if err := firstInvalid(checkName("topic", p.Topic), checkName("name", p.Name)); err != nil {
		return 0, err
	}
	now := s.clock(p.Now)
	var n int
	var queues []string
	err := s.call(ctx, "SubscriptionReplay", func(ctx context.Context) error {
		queues = nil
		return s.tx(ctx, func(tx pgx.Tx) error {
			sub, err := scanSub(tx.QueryRow(ctx, s.q.topic.subGet+" FOR KEY SHARE", p.Topic, p.Name), false)
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("subscription %q on topic %q: %w", p.Name, p.Topic, store.ErrNotFound)
			}
			if err != nil {
				return err
			}
			from := p.From
			if !from.IsZero() {
				from = from.UTC()
			}
			if n, err = s.deliverRetained(ctx, tx, p.Topic, sub, from, now); err != nil {
				return err
			}
			if n > 0 {
				queues = []string{sub.tmpl.Queue}
			}
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	s.subs.wake(queues)
	s.notifier.add(queues)
	return n, nil
}
