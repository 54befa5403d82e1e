package postgres

import (
	"strings"

	"github.com/jackc/pgx/v5"
)

// queries are the store's SQL statements for one schema, built once at
// Open. {s} stands for the quoted schema; {cols} / {jcols} for the job
// columns (unqualified / qualified with j).
type queries struct {
	insert, insertNotify, lockKeys, uniqueHolders        string
	insertOne                                            string
	claim, ack, extend, expired, promote, get, dueQueues string
	cancel, retryIDs, retryFilter, lockIDs, deleteIDs    string
	deleteFilter, counts, countsAll, oldest, settings    string
	settingsAll, queueUpsert, leaderAcquire, leaderGet   string
	leaderRelease, notify, foldCounts, claimOne, exist   string
	ackUnordered                                         string

	ord   *orderingQueries // ordering.go
	topic *topicQueries    // topic.go
}

// leaseToken is the fencing token of a new lease: a sequence value (fresh
// for every claim) times 2^20 plus 20 random bits. Claims commit without
// waiting for their WAL flush (Options.SyncClaims), and a PostgreSQL crash
// can roll the sequence back with an undone claim; the random bits keep
// the token the next claim of that job gets (same attempt number) from
// matching the undone lease that a worker may still hold, but for a
// chance of one in a million.
const leaseToken = `nextval('{s}.lease_token_seq') * 1048576 + floor(random() * 1048576)::bigint`

const readyStates = `('available', 'scheduled', 'retryable')`

// unfinishedStates are the states of a job that is still in its ordering
// line (and in its subscription's lag).
const unfinishedStates = `('available', 'scheduled', 'running', 'retryable')`

// insertBlocked is the key_blocked of an inserted row (see insert).
const insertBlocked = `CASE WHEN u.okey IS NULL THEN false
    ELSE coalesce(u.behind, false) OR EXISTS (SELECT 1 FROM {s}.jobs x
      WHERE x.queue = u.queue AND x.ordering_key = u.okey AND x.state IN {unfinished}) END`

func newQueries(schema string) *queries {
	r := strings.NewReplacer("{s}", pgx.Identifier{schema}.Sanitize(), "{cols}", cols(""), "{jcols}", cols("j"),
		"{ready}", readyStates, "{token}", leaseToken, "{blocked}", insertBlocked, "{unfinished}", unfinishedStates)
	q := &queries{
		// $1 ids, $2 queues, $3 kinds, $4 states, $5 priorities, $6 run_at,
		// $7 max_attempts, $8 timeouts, $9 unique keys, $10 unique_until,
		// $11 args, $12 metadata, $13 tags, $14 created_at, $15 channel,
		// $16 ordering keys, $17 "behind an earlier job of the batch in its
		// line", $18 subscription ids. $16-$18 are NULL (padded by unnest)
		// for a batch without ordering keys or deliveries. An ordered job
		// is blocked when it is behind one of the batch or its line has an
		// unfinished job; the caller holds the lines' advisory locks (see
		// ordering.go), so that read sees every committed line member.
		// insert leaves the NOTIFY to the store's notifier, after commit:
		// a transaction that notifies holds a database-wide lock through
		// its commit, which would serialize concurrent inserts and defeat
		// group commit. insertNotify (the caller's transaction, EnqueueTx)
		// notifies inside, so that only a commit wakes anyone.
		insert: `WITH ins AS (
  INSERT INTO {s}.jobs (id, queue, kind, state, priority, run_at, max_attempts, timeout_ns,
                        unique_key, unique_until, args, metadata, tags, created_at,
                        ordering_key, key_blocked, subscription_id)
  SELECT u.id, u.queue, u.kind, u.state, u.priority, u.run_at, u.max_attempts, u.timeout_ns,
         u.unique_key, u.unique_until, u.args::json, u.metadata::jsonb, u.tags::jsonb, $14,
         u.okey, {blocked}, u.sub
  FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::smallint[], $6::timestamptz[],
              $7::int[], $8::bigint[], $9::text[], $10::timestamptz[], $11::text[], $12::text[], $13::text[],
              $16::text[], $17::boolean[], $18::uuid[])
       AS u(id, queue, kind, state, priority, run_at, max_attempts, timeout_ns, unique_key, unique_until, args, metadata, tags,
            okey, behind, sub)
  ON CONFLICT (id) DO NOTHING
  RETURNING 1
)
SELECT count(*) FROM ins WHERE $15::text IS NOT NULL`,

		// insertOne is insert for a batch of one plain job (no unique key,
		// ordering key or subscription), the shape of every single
		// Enqueue: scalar parameters and no CTE, which PostgreSQL plans
		// and runs in less time than the unnest form: in interleaved idle
		// benches (docs/postgres.md) a single insert took 1.2-1.35 ms
		// instead of 1.8-1.9 ms. $1-$14 as in insert.
		insertOne: `INSERT INTO {s}.jobs (id, queue, kind, state, priority, run_at, max_attempts, timeout_ns,
                        unique_key, unique_until, args, metadata, tags, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::json, $12::jsonb, $13::jsonb, $14)
ON CONFLICT (id) DO NOTHING`,

		insertNotify: `WITH ins AS (
  INSERT INTO {s}.jobs (id, queue, kind, state, priority, run_at, max_attempts, timeout_ns,
                        unique_key, unique_until, args, metadata, tags, created_at,
                        ordering_key, key_blocked, subscription_id)
  SELECT u.id, u.queue, u.kind, u.state, u.priority, u.run_at, u.max_attempts, u.timeout_ns,
         u.unique_key, u.unique_until, u.args::json, u.metadata::jsonb, u.tags::jsonb, $14,
         u.okey, {blocked}, u.sub
  FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::smallint[], $6::timestamptz[],
              $7::int[], $8::bigint[], $9::text[], $10::timestamptz[], $11::text[], $12::text[], $13::text[],
              $16::text[], $17::boolean[], $18::uuid[])
       AS u(id, queue, kind, state, priority, run_at, max_attempts, timeout_ns, unique_key, unique_until, args, metadata, tags,
            okey, behind, sub)
  ON CONFLICT (id) DO NOTHING
  RETURNING queue, state
)
SELECT count(pg_notify($15, d.queue)) FROM (SELECT DISTINCT queue FROM ins WHERE state = 'available') d`,

		lockKeys: `SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) FROM (SELECT k FROM unnest($1::text[]) k ORDER BY k) x`,

		uniqueHolders: `SELECT DISTINCT ON (unique_key) {cols} FROM {s}.jobs
WHERE unique_key = ANY($1::text[]) AND unique_until > $2
ORDER BY unique_key, id DESC`,

		// $1 queue names, $2 shares, $3 now, $4 max, $5 worker, $6 deadline.
		claim: `WITH q AS (
  SELECT u.name, u.share, u.ord FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS u(name, share, ord)
  WHERE NOT EXISTS (SELECT 1 FROM {s}.queues s WHERE s.name = u.name AND s.paused)
), c AS (
  SELECT x.tid, q.ord, q.share, row_number() OVER (PARTITION BY q.ord ORDER BY x.priority, x.run_at, x.id) AS rn
  FROM q CROSS JOIN LATERAL (
    SELECT j.ctid AS tid, j.id, j.priority, j.run_at FROM {s}.jobs j
    WHERE j.queue = q.name AND j.state IN {ready} AND NOT j.key_blocked AND j.run_at <= $3
    ORDER BY j.priority, j.run_at, j.id
    LIMIT $4
    FOR UPDATE SKIP LOCKED
  ) x
), pick AS (
  SELECT tid FROM c ORDER BY (rn > share), ord, rn LIMIT $4
)
UPDATE {s}.jobs j SET state = 'running', attempt = j.attempt + 1, attempted_at = $3,
  lease_token = {token}, lease_holder = $5, lease_deadline = $6
WHERE j.ctid = ANY(ARRAY(SELECT tid FROM pick))
RETURNING {jcols}`,

		// One queue (the common case): $1 queue, $2 now, $3 max, $4 worker,
		// $5 deadline.
		//
		// Both claims update the rows they locked by ctid (a TID scan), not
		// by id (a second primary-key probe per row): a locked row cannot
		// move. A row that a concurrent transaction committed a new version
		// of between this statement's snapshot and its lock (a promotion)
		// is locked in its new version, which that snapshot does not see:
		// it is left available for the next claim, never claimed twice.
		claimOne: `UPDATE {s}.jobs j SET state = 'running', attempt = j.attempt + 1, attempted_at = $2,
  lease_token = {token}, lease_holder = $4, lease_deadline = $5
WHERE j.ctid = ANY(ARRAY(
  SELECT x.ctid FROM {s}.jobs x
  WHERE x.queue = $1 AND x.state IN {ready} AND NOT x.key_blocked AND x.run_at <= $2
    AND NOT EXISTS (SELECT 1 FROM {s}.queues q WHERE q.name = $1 AND q.paused)
  ORDER BY x.priority, x.run_at, x.id
  LIMIT $3
  FOR UPDATE SKIP LOCKED))
RETURNING {jcols}`,

		// $1 ids, $2 attempts, $3 tokens, $4 outcomes, $5 run_at, $6 errors,
		// $7 results, $8 now, $9 channel. Outcomes: 1 complete, 2 retry,
		// 3 dead, 4 cancel, 5 snooze (store.AckOutcome).
		ack: `WITH a AS (
  SELECT * FROM unnest($1::uuid[], $2::int[], $3::bigint[], $4::smallint[], $5::timestamptz[], $6::text[], $7::text[])
    WITH ORDINALITY AS a(id, attempt, token, outcome, run_at, err, result, ord)
)
UPDATE {s}.jobs j SET
  state = CASE a.outcome WHEN 1 THEN 'completed' WHEN 2 THEN 'retryable' WHEN 3 THEN 'dead' WHEN 4 THEN 'cancelled'
          ELSE CASE WHEN a.run_at <= $8 THEN 'available' ELSE 'scheduled' END END,
  attempt = CASE WHEN a.outcome = 5 THEN j.attempt - 1 ELSE j.attempt END,
  run_at = CASE WHEN a.outcome IN (2, 5) THEN a.run_at ELSE j.run_at END,
  finished_at = CASE WHEN a.outcome IN (1, 3, 4) THEN $8 END,
  result = CASE WHEN a.outcome = 1 THEN a.result::json ELSE j.result END,
  errors = CASE WHEN a.err IS NULL THEN j.errors
           ELSE coalesce(j.errors, '[]'::jsonb) || jsonb_build_array(a.err::jsonb) END,
  lease_token = 0, lease_holder = NULL, lease_deadline = NULL
FROM a
WHERE j.id = a.id AND j.state = 'running' AND j.attempt = a.attempt AND j.lease_token = a.token
RETURNING a.ord, j.queue, j.state, j.ordering_key IS NOT NULL`,

		// Which of the ids exist (to tell a lost lease from an unknown job).
		exist: `SELECT id FROM {s}.jobs WHERE id = ANY($1::uuid[])`,

		// $1 ids, $2 attempts, $3 tokens, $4 deadline.
		extend: `WITH a AS (
  SELECT * FROM unnest($1::uuid[], $2::int[], $3::bigint[]) WITH ORDINALITY AS a(id, attempt, token, ord)
), upd AS (
  UPDATE {s}.jobs j SET lease_deadline = $4
  FROM a WHERE j.id = a.id AND j.state = 'running' AND j.attempt = a.attempt AND j.lease_token = a.token
  RETURNING j.id, j.attempt, j.lease_token
)
SELECT a.ord, EXISTS (SELECT 1 FROM upd u WHERE u.id = a.id AND u.attempt = a.attempt AND u.lease_token = a.token),
       EXISTS (SELECT 1 FROM {s}.jobs x WHERE x.id = a.id)
FROM a`,

		expired: `SELECT {cols} FROM {s}.jobs WHERE state = 'running' AND lease_deadline < $1
ORDER BY lease_deadline, id LIMIT $2`,

		promote: `WITH due AS (
  SELECT id FROM {s}.jobs WHERE state IN ('scheduled', 'retryable') AND run_at <= $1
  ORDER BY run_at LIMIT $2 FOR UPDATE SKIP LOCKED
), upd AS (
  UPDATE {s}.jobs j SET state = 'available' FROM due WHERE j.id = due.id RETURNING j.queue
)
SELECT count(*), (SELECT count(pg_notify($3, d.queue)) FROM (SELECT DISTINCT queue FROM upd) d) FROM upd`,

		dueQueues: `SELECT DISTINCT queue FROM {s}.jobs
WHERE state IN ('scheduled', 'retryable') AND NOT key_blocked AND run_at > $1 AND run_at <= $2`,

		get: `SELECT {cols} FROM {s}.jobs WHERE id = $1`,

		// $1 id, $2 now, $3 error (jsonb text or NULL).
		cancel: `UPDATE {s}.jobs SET state = 'cancelled', finished_at = $2,
  errors = CASE WHEN $3::text IS NULL THEN errors ELSE coalesce(errors, '[]'::jsonb) || jsonb_build_array($3::jsonb) END,
  lease_token = 0, lease_holder = NULL, lease_deadline = NULL
WHERE id = $1 AND state NOT IN ('completed', 'dead', 'cancelled')
RETURNING {cols}`,

		lockIDs: `SELECT id, state FROM {s}.jobs WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`,

		// A retried ordered job rejoins its line blocked; the caller's
		// release then makes it the holder if the line has none.
		retryIDs: `UPDATE {s}.jobs SET state = 'available', attempt = 0, finished_at = NULL, run_at = $2,
  key_blocked = ordering_key IS NOT NULL
WHERE id = ANY($1::uuid[]) AND state = 'dead'
RETURNING {cols}`,

		// Returns how many it deleted and the lines of the deleted ordered
		// jobs (to hand them on). $2: the state the jobs must still be in
		// (NULL: any but running).
		deleteIDs: `WITH d AS (
  DELETE FROM {s}.jobs WHERE id = ANY($1::uuid[]) AND state <> 'running' AND ($2::text IS NULL OR state = $2)
  RETURNING queue, ordering_key
)
SELECT count(*), coalesce(array_agg(queue) FILTER (WHERE ordering_key IS NOT NULL), '{}'),
       coalesce(array_agg(ordering_key) FILTER (WHERE ordering_key IS NOT NULL), '{}')
FROM d`,

		counts: `SELECT state, sum(n)::bigint, count(*) FROM {s}.queue_counts WHERE queue = $1 GROUP BY state`,

		countsAll: `SELECT queue, state, sum(n)::bigint, count(*) FROM {s}.queue_counts GROUP BY queue, state`,

		// Folds a queue's delta rows into one per state; the sums are
		// preserved whatever runs concurrently.
		foldCounts: `WITH d AS (DELETE FROM {s}.queue_counts WHERE queue = $1 RETURNING state, n)
INSERT INTO {s}.queue_counts (queue, state, n) SELECT $1, state, sum(n) FROM d GROUP BY state HAVING sum(n) <> 0`,

		// The oldest ready job of a queue: one index probe per priority.
		oldest: `SELECT min(o.run_at) FROM generate_series(1, 4) p CROSS JOIN LATERAL (
  SELECT run_at FROM {s}.jobs WHERE queue = $1 AND priority = p AND state IN {ready} AND NOT key_blocked AND run_at <= $2
  ORDER BY run_at LIMIT 1) o`,

		settings: `SELECT name, paused, completed_retention_ns, dead_retention_ns, cancelled_retention_ns, max_length, updated_at
FROM {s}.queues WHERE name = $1`,

		settingsAll: `SELECT name, paused, completed_retention_ns, dead_retention_ns, cancelled_retention_ns, max_length, updated_at
FROM {s}.queues`,

		// $1 name, $2 paused, $3..$5 retentions, $6 max length, $7 now.
		queueUpsert: `INSERT INTO {s}.queues AS q (name, paused, completed_retention_ns, dead_retention_ns,
  cancelled_retention_ns, max_length, updated_at)
VALUES ($1, coalesce($2::boolean, false), coalesce($3::bigint, 0), coalesce($4::bigint, 0), coalesce($5::bigint, 0),
        coalesce($6::bigint, 0), $7)
ON CONFLICT (name) DO UPDATE SET
  paused = coalesce($2::boolean, q.paused),
  completed_retention_ns = coalesce($3::bigint, q.completed_retention_ns),
  dead_retention_ns = coalesce($4::bigint, q.dead_retention_ns),
  cancelled_retention_ns = coalesce($5::bigint, q.cancelled_retention_ns),
  max_length = coalesce($6::bigint, q.max_length),
  updated_at = $7
RETURNING name, paused, completed_retention_ns, dead_retention_ns, cancelled_retention_ns, max_length, updated_at`,

		// $1 name, $2 holder, $3 now, $4 expires.
		leaderAcquire: `INSERT INTO {s}.leaders AS l (name, holder, epoch, expires) VALUES ($1, $2, 1, $4)
ON CONFLICT (name) DO UPDATE SET
  holder = excluded.holder, expires = excluded.expires,
  epoch = CASE WHEN l.holder = excluded.holder THEN l.epoch ELSE l.epoch + 1 END
WHERE l.holder = excluded.holder OR l.holder = '' OR l.expires <= $3
RETURNING name, holder, epoch, expires`,

		leaderGet: `SELECT name, holder, epoch, expires FROM {s}.leaders WHERE name = $1`,

		leaderRelease: `UPDATE {s}.leaders SET holder = '', expires = to_timestamp(0) WHERE name = $1 AND holder = $2`,

		notify: `SELECT count(pg_notify($1, q)) FROM unnest($2::text[]) q`,
	}
	// The ack of unordered jobs only (no line lock or hand-over needed):
	// ordered jobs are left alone, unlocked.
	q.ackUnordered = strings.Replace(q.ack, "AND j.lease_token = a.token\n", "AND j.lease_token = a.token AND j.ordering_key IS NULL\n", 1)
	if q.ackUnordered == q.ack {
		panic("postgres: ackUnordered")
	}
	for _, p := range []*string{&q.ackUnordered, &q.insert, &q.insertOne, &q.insertNotify, &q.lockKeys, &q.uniqueHolders, &q.claim, &q.ack, &q.extend, &q.expired,
		&q.promote, &q.dueQueues, &q.get, &q.cancel, &q.lockIDs, &q.retryIDs, &q.deleteIDs, &q.counts, &q.countsAll,
		&q.oldest, &q.settings, &q.settingsAll, &q.queueUpsert, &q.leaderAcquire, &q.leaderGet, &q.leaderRelease,
		&q.notify, &q.foldCounts, &q.claimOne, &q.exist} {
		*p = r.Replace(r.Replace(*p)) // twice: {blocked} holds placeholders
	}
	q.ord = newOrderingQueries(schema)
	q.topic = newTopicQueries(schema)
	return q
}
