-- Repairs (one execution of a runbook), circuit breakers and persistent settings such as the
-- emergency stop. Times are Unix milliseconds (UTC).
CREATE TABLE IF NOT EXISTS repairs (
    id           BIGSERIAL PRIMARY KEY,
    incident_id  BIGINT,
    runbook      TEXT    NOT NULL,
    target       TEXT,
    state        TEXT    NOT NULL,
    attempt      BIGINT NOT NULL,
    dry_run      BIGINT NOT NULL,
    steps        TEXT    NOT NULL,
    error        TEXT,
    requested_by TEXT    NOT NULL,
    created_at   BIGINT NOT NULL,
    started_at   BIGINT,
    finished_at  BIGINT
);
CREATE INDEX IF NOT EXISTS repairs_state ON repairs (state, id);
CREATE INDEX IF NOT EXISTS repairs_budget ON repairs (target, runbook, started_at);
CREATE INDEX IF NOT EXISTS repairs_incident ON repairs (incident_id, id);

CREATE TABLE IF NOT EXISTS breakers (
    target     TEXT    NOT NULL,
    runbook    TEXT    NOT NULL,
    opened_at  BIGINT NOT NULL,
    closes_at  BIGINT NOT NULL,
    reason     TEXT    NOT NULL,
    PRIMARY KEY (target, runbook)
);

CREATE TABLE IF NOT EXISTS settings (
    key        TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_at BIGINT NOT NULL
);
