-- Troika schema version 1: jobs, queue settings, leader leases.
-- The schema placeholder is replaced by the quoted schema name when it runs.
-- See docs/postgres.md for why the table and its indexes look like this.

CREATE SEQUENCE {schema}.lease_token_seq AS bigint MINVALUE 1 CACHE 64;

CREATE TABLE {schema}.jobs (
    id             uuid        PRIMARY KEY,          -- UUIDv7: creation order
    queue          text        NOT NULL,
    kind           text        NOT NULL,
    state          text        NOT NULL CHECK (state IN ('scheduled', 'available', 'running', 'retryable',
                                                         'completed', 'dead', 'cancelled')),
    priority       smallint    NOT NULL,
    run_at         timestamptz NOT NULL,
    attempt        integer     NOT NULL DEFAULT 0,
    max_attempts   integer     NOT NULL,
    timeout_ns     bigint      NOT NULL DEFAULT 0,
    lease_token    bigint      NOT NULL DEFAULT 0,   -- 0 unless running
    lease_holder   text,
    lease_deadline timestamptz,                      -- not indexed: heartbeats stay HOT
    created_at     timestamptz NOT NULL,
    attempted_at   timestamptz,
    finished_at    timestamptz,
    unique_key     text,
    unique_until   timestamptz,
    args           json,                             -- json, not jsonb: kept byte for byte
    result         json,
    metadata       jsonb,
    tags           jsonb,
    errors         jsonb
) WITH (fillfactor = 80,
        autovacuum_vacuum_scale_factor = 0.02,
        autovacuum_vacuum_insert_scale_factor = 0.05,
        autovacuum_analyze_scale_factor = 0.05);

-- Claims: ready jobs of one queue in priority, run_at, id order.
CREATE INDEX jobs_ready_idx ON {schema}.jobs (queue, priority, run_at, id)
    WHERE state IN ('available', 'scheduled', 'retryable');

-- The running set: the expired-lease scan. Entries exist only while a job
-- runs (the lease deadline itself is not indexed, so heartbeats are HOT).
CREATE INDEX jobs_running_idx ON {schema}.jobs (id) WHERE state = 'running';

-- Promotion and the due-job wake-up poll.
CREATE INDEX jobs_waiting_idx ON {schema}.jobs (run_at)
    WHERE state IN ('scheduled', 'retryable');

-- Retention, and lists and bulk retries of finished (dead…) jobs.
CREATE INDEX jobs_finished_idx ON {schema}.jobs (state, finished_at)
    WHERE state IN ('completed', 'dead', 'cancelled');

-- Unique keys (not a unique index: a key's window can pass while its job
-- still exists; see JobInsertMany).
CREATE INDEX jobs_unique_idx ON {schema}.jobs (unique_key, unique_until)
    WHERE unique_key IS NOT NULL;

CREATE TABLE {schema}.queues (
    name                   text        PRIMARY KEY,
    paused                 boolean     NOT NULL DEFAULT false,
    completed_retention_ns bigint      NOT NULL DEFAULT 0,
    dead_retention_ns      bigint      NOT NULL DEFAULT 0,
    cancelled_retention_ns bigint      NOT NULL DEFAULT 0,
    max_length             bigint      NOT NULL DEFAULT 0,
    updated_at             timestamptz NOT NULL
);

CREATE TABLE {schema}.leaders (
    name    text        PRIMARY KEY,
    holder  text        NOT NULL,   -- '' when free
    epoch   bigint      NOT NULL,
    expires timestamptz NOT NULL
);

-- Counts per queue and state, kept exact by statement-level triggers in the
-- writing transaction: each statement that changes jobs appends its net
-- deltas (a few rows per batch, never an update of a shared counter row, so
-- writers do not contend), and readers sum them; the store folds the rows
-- of a queue into one per state when they pile up. See docs/postgres.md.
CREATE TABLE {schema}.queue_counts (
    queue text   NOT NULL,
    state text   NOT NULL,
    n     bigint NOT NULL
);
CREATE INDEX queue_counts_queue_idx ON {schema}.queue_counts (queue);

CREATE FUNCTION {schema}.count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {schema}.queue_counts (queue, state, n) SELECT queue, state, count(*) FROM new_rows GROUP BY 1, 2;
    RETURN NULL;
END $$;

CREATE FUNCTION {schema}.count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {schema}.queue_counts (queue, state, n) SELECT queue, state, -count(*) FROM old_rows GROUP BY 1, 2;
    RETURN NULL;
END $$;

CREATE FUNCTION {schema}.count_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {schema}.queue_counts (queue, state, n)
        SELECT queue, state, sum(d) FROM (
            SELECT queue, state, -1 AS d FROM old_rows UNION ALL SELECT queue, state, 1 FROM new_rows) x
        GROUP BY 1, 2 HAVING sum(d) <> 0;
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_count_insert AFTER INSERT ON {schema}.jobs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {schema}.count_insert();
CREATE TRIGGER jobs_count_delete AFTER DELETE ON {schema}.jobs
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {schema}.count_delete();
CREATE TRIGGER jobs_count_update AFTER UPDATE ON {schema}.jobs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {schema}.count_update();
