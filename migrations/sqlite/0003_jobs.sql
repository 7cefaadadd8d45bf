-- The durable job queue (src/queue). Times are Unix milliseconds (UTC).
-- state: queued -> running -> succeeded | queued (retry) | dead (attempts exhausted);
--        queued | running -> cancelled. succeeded, dead and cancelled are final.
-- attempts counts claims, so a job whose worker died (lease expired) has used an attempt.
CREATE TABLE IF NOT EXISTS jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    queue            TEXT    NOT NULL,
    kind             TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    priority         INTEGER NOT NULL CHECK (priority BETWEEN 1 AND 9),
    state            TEXT    NOT NULL
        CHECK (state IN ('queued', 'running', 'succeeded', 'dead', 'cancelled')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL CHECK (max_attempts >= 1),
    run_after        INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    dedup_key        TEXT,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    finished_at      INTEGER
);
-- One unfinished job per (queue, dedup_key).
CREATE UNIQUE INDEX IF NOT EXISTS jobs_dedup ON jobs (queue, dedup_key)
    WHERE dedup_key IS NOT NULL AND state IN ('queued', 'running');
-- The claim query: due jobs of a queue by priority, then age.
CREATE INDEX IF NOT EXISTS jobs_claim ON jobs (queue, priority, id) WHERE state = 'queued';
-- Running jobs: the max_concurrent count per queue and the reaper's expired leases.
CREATE INDEX IF NOT EXISTS jobs_running_queue ON jobs (queue, lease_expires_at) WHERE state = 'running';
CREATE INDEX IF NOT EXISTS jobs_running_lease ON jobs (lease_expires_at) WHERE state = 'running';
-- Listing by state, newest first.
CREATE INDEX IF NOT EXISTS jobs_state_id ON jobs (state, id);
