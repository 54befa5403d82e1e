-- Troika schema version 3: ordering keys (store.OrderingStore) and topics
-- and subscriptions (store.TopicStore).
-- The schema placeholder is replaced by the quoted schema name when it runs.
-- See docs/postgres.md ("Ordering keys" and "Topics and subscriptions").

-- ordering_key: the job's line (with its queue); NULL for unordered jobs.
-- key_blocked: true while the job waits behind the holder of its line. Each
-- line has at most one unfinished job with key_blocked = false (its holder);
-- only that one is in the claim index. Every statement that changes a
-- line's membership runs under the line's advisory lock (see ordering.go).
-- subscription_id: the subscription a delivery job belongs to (its lag);
-- NULL for plain jobs. No foreign key: a deleted subscription's jobs stay.
ALTER TABLE {schema}.jobs
    ADD COLUMN ordering_key    text,
    ADD COLUMN key_blocked     boolean NOT NULL DEFAULT false,
    ADD COLUMN subscription_id uuid;

-- The claim index leaves out jobs waiting in their line: a claim never
-- scans past them. Unordered jobs always have key_blocked = false.
DROP INDEX {schema}.jobs_ready_idx;
CREATE INDEX jobs_ready_idx ON {schema}.jobs (queue, priority, run_at, id)
    WHERE state IN ('available', 'scheduled', 'retryable') AND NOT key_blocked;

-- The lines: unfinished ordered jobs by (queue, key) in enqueue order.
-- Unordered jobs are not in it (no cost on their hot path).
CREATE INDEX jobs_lines_idx ON {schema}.jobs (queue, ordering_key, id)
    WHERE ordering_key IS NOT NULL AND state IN ('available', 'scheduled', 'running', 'retryable');

-- The ordered jobs by id, whatever their state: an ack, cancel or delete
-- finds the lines of its jobs here (probes of a small index, no heap
-- fetch for unordered jobs, which are not in it).
CREATE INDEX jobs_keyed_idx ON {schema}.jobs (id) INCLUDE (queue, ordering_key)
    WHERE ordering_key IS NOT NULL;

-- Subscription lag: unfinished deliveries per subscription.
CREATE INDEX jobs_deliveries_idx ON {schema}.jobs (subscription_id, created_at)
    WHERE subscription_id IS NOT NULL AND state IN ('available', 'scheduled', 'running', 'retryable');

CREATE TABLE {schema}.topics (
    name         text COLLATE "C" PRIMARY KEY, -- byte order, as TopicList promises
    retention_ns bigint      NOT NULL DEFAULT 0, -- 0: store.DefaultTopicRetention
    created_at   timestamptz NOT NULL
);

-- Retained events, in publish order per topic (replay, backfill, trim).
CREATE TABLE {schema}.topic_events (
    topic        text COLLATE "C" NOT NULL,
    published_at timestamptz NOT NULL,
    id           uuid        NOT NULL,
    kind         text        NOT NULL,
    args         json,                          -- json, not jsonb: kept byte for byte
    ordering_key text,
    metadata     jsonb,
    PRIMARY KEY (topic, published_at, id)
) WITH (autovacuum_vacuum_insert_scale_factor = 0.05);

-- Retained events per topic as appended deltas (publish +n, trim -n),
-- folded by trims and reads, like queue_counts: publishers never update a
-- shared counter row.
CREATE TABLE {schema}.topic_event_counts (
    topic text   NOT NULL,
    n     bigint NOT NULL
);
CREATE INDEX topic_event_counts_topic_idx ON {schema}.topic_event_counts (topic);

CREATE TABLE {schema}.subscriptions (
    id           uuid        PRIMARY KEY,
    topic        text COLLATE "C" NOT NULL,
    name         text COLLATE "C" NOT NULL,
    kinds        text[]      NOT NULL DEFAULT '{}', -- empty: every kind
    queue        text        NOT NULL,
    priority     integer     NOT NULL,
    max_attempts integer     NOT NULL,
    timeout_ns   bigint      NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL,
    UNIQUE (topic, name)
);
