package postgres

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/troikahq/troika/store"
)

// Ordering keys (store.InsertJob.OrderingKey, store.OrderingStore).
//
// The unfinished jobs of one (queue, ordering key) form a line, in ID
// (enqueue) order. Exactly one of them, the holder, has key_blocked =
// false; the others wait with key_blocked = true and are not in the claim
// index (jobs_ready_idx), so claims never see them, never scan past them,
// and two claimers cannot start two jobs of one line: only the holder is
// claimable, and SKIP LOCKED gives it to one of them. The holder keeps the
// line while it is available, scheduled, running or retryable (a retry or
// a snooze keeps the key); when it becomes final or is deleted, the same
// transaction hands the line on ("release": the first blocked job of the
// line becomes the holder when the line has none).
//
// Every transaction that changes a line's membership or holder (insert,
// ack, cancel, delete, retry of a dead job) first takes the line's
// transaction-level advisory lock, in hash order, before any row lock, and
// only then reads the line, in a later statement. Under READ COMMITTED each
// statement sees what the previous lock holders committed, so an insert
// racing the release of its line's holder either sees the holder still
// unfinished (and waits blocked, to be handed the line by the release that
// follows it) or sees it final (and holds the line itself). Taking the
// advisory locks before the row locks everywhere keeps the two kinds of
// lock from forming a cycle.
//
// Jobs without a key pay nothing on the claim path (the same index and
// statement) and, in an ack, two primary-key probes per job inside the
// ack's one round trip (the line lock and the release find no key).

// SupportsOrderingKeys implements store.OrderingStore.
func (s *Store) SupportsOrderingKeys() bool { return true }

var _ store.OrderingStore = (*Store)(nil)

// lineLockPrefix namespaces the advisory locks of lines (unique keys use
// schema + ":" + key).
func (s *Store) lineLockPrefix() string { return s.schema + "\x1fline\x1f" }

// orderingQueries are the statements of the lines, for one schema.
type orderingQueries struct {
	// $1 lock prefix, $2 queues, $3 keys (NULL entries: no key).
	lockLines string
	// $1 lock prefix, $2 job ids: the lines of those jobs.
	lockLinesOf string
	// $1 job ids, $2 queues, $3 keys: the lines of those jobs and those
	// lines. Returns the queue and state of each new holder.
	release string
}

func newOrderingQueries(schema string) *orderingQueries {
	r := strings.NewReplacer("{s}", pgx.Identifier{schema}.Sanitize(), "{unfinished}", unfinishedStates)
	lockExpr := `hashtextextended($1 || %Q || chr(31) || %K, 0)`
	lock := func(q, k string) string {
		return strings.NewReplacer("%Q", q, "%K", k).Replace(lockExpr)
	}
	return &orderingQueries{
		lockLines: r.Replace(`SELECT count(pg_advisory_xact_lock(h)) FROM (
  SELECT DISTINCT ` + lock("u.q", "u.k") + ` AS h FROM unnest($2::text[], $3::text[]) AS u(q, k)
  WHERE u.k IS NOT NULL ORDER BY h) x`),
		lockLinesOf: r.Replace(`SELECT count(pg_advisory_xact_lock(h)) FROM (
  SELECT DISTINCT ` + lock("j.queue", "j.ordering_key") + ` AS h FROM {s}.jobs j
  WHERE j.id = ANY($2::uuid[]) AND j.ordering_key IS NOT NULL ORDER BY h) x`),
		release: r.Replace(`WITH r AS (
  SELECT j.queue, j.ordering_key FROM {s}.jobs j WHERE j.id = ANY($1::uuid[]) AND j.ordering_key IS NOT NULL
  UNION
  SELECT u.q, u.k FROM unnest($2::text[], $3::text[]) AS u(q, k) WHERE u.k IS NOT NULL
), nxt AS (
  SELECT (SELECT n.id FROM {s}.jobs n
          WHERE n.queue = r.queue AND n.ordering_key = r.ordering_key AND n.state IN {unfinished} AND n.key_blocked
          ORDER BY n.id LIMIT 1) AS id
  FROM r
  WHERE NOT EXISTS (SELECT 1 FROM {s}.jobs h
                    WHERE h.queue = r.queue AND h.ordering_key = r.ordering_key AND h.state IN {unfinished} AND NOT h.key_blocked)
)
UPDATE {s}.jobs j SET key_blocked = false FROM nxt WHERE j.id = nxt.id
RETURNING j.queue, j.state`),
	}
}

// lockLinesOf takes the advisory locks of the lines of the jobs ids (a
// no-op for jobs without a key) in tx. Call it before locking those rows.
func (s *Store) lockLinesOf(ctx context.Context, db dbtx, ids []store.ID) error {
	var n int64
	return db.QueryRow(ctx, s.q.ord.lockLinesOf, s.lineLockPrefix(), ids).Scan(&n)
}

// lockLines takes the advisory locks of the lines (queues[i], keys[i])
// (nil keys are skipped) in tx.
func (s *Store) lockLines(ctx context.Context, db dbtx, queues []string, keys []*string) error {
	var n int64
	return db.QueryRow(ctx, s.q.ord.lockLines, s.lineLockPrefix(), queues, keys).Scan(&n)
}

// release hands on the lines of the jobs ids and the lines (queues[i],
// keys[i]) that have no holder, in tx (which holds their locks), and
// returns the queues that got an available holder.
func (s *Store) release(ctx context.Context, db dbtx, ids []store.ID, queues, keys []string) ([]string, error) {
	rows, err := db.Query(ctx, s.q.ord.release, ids, queues, keys)
	if err != nil {
		return nil, err
	}
	return readyQueuesOf(rows)
}

// readyQueuesOf reads (queue, state) rows and returns the distinct queues
// of the available ones; it closes rows.
func readyQueuesOf(rows pgx.Rows) ([]string, error) {
	defer rows.Close()
	var qs []string
	for rows.Next() {
		var q, st string
		if err := rows.Scan(&q, &st); err != nil {
			return nil, err
		}
		if st == string(store.StateAvailable) && indexOf(qs, q) < 0 {
			qs = append(qs, q)
		}
	}
	return qs, rows.Err()
}
