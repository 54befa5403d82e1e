-- Troika schema version 2: schedules (store.ScheduleStore).
-- The schema placeholder is replaced by the quoted schema name when it runs.
-- See docs/postgres.md and docs/scheduler.md.
--
-- One row per schedule: its definition (the job template flattened into
-- job_* columns), its state, and its recent fire history. Schedules are few
-- (hundreds), read by the leader about once a second and written once per
-- fire, so the table is small and hot in cache.

CREATE TABLE {schema}.schedules (
    id               text COLLATE "C" PRIMARY KEY, -- byte order, as ScheduleList promises
    spec             text        NOT NULL,
    timezone         text        NOT NULL DEFAULT '',
    jitter_ns        bigint      NOT NULL DEFAULT 0,
    start_at         timestamptz,                  -- NULL: no start bound
    end_at           timestamptz,                  -- NULL: no end bound
    misfire_policy   text        NOT NULL CHECK (misfire_policy IN ('skip', 'run_once', 'catch_up')),
    catch_up_limit   integer     NOT NULL DEFAULT 0,
    overlap_policy   text        NOT NULL CHECK (overlap_policy IN ('allow', 'skip_if_running', 'queue_one')),
    job_kind         text        NOT NULL,
    job_args         json,                         -- json, not jsonb: kept byte for byte, like jobs.args
    job_queue        text        NOT NULL,
    job_priority     integer     NOT NULL,
    job_max_attempts integer     NOT NULL,
    job_timeout_ns   bigint      NOT NULL DEFAULT 0,
    job_metadata     jsonb,
    job_tags         jsonb,
    paused           boolean     NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    last_fire_at     timestamptz,                  -- NULL before the first fire
    next_fire_at     timestamptz,                  -- NULL: never fires again
    last_job_id      uuid,                         -- the job of the latest fire that made one
    fires            jsonb       NOT NULL DEFAULT '[]' -- recent fires, oldest first, at most 20
);

-- ScheduleDueList: unpaused schedules by next fire instant.
CREATE INDEX schedules_due_idx ON {schema}.schedules (next_fire_at, id)
    WHERE NOT paused AND next_fire_at IS NOT NULL;
