-- Repairs (one execution of a runbook), circuit breakers and persistent settings such as the
-- emergency stop. Times are Unix milliseconds (UTC).
CREATE TABLE IF NOT EXISTS repairs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id  INTEGER,
    runbook      TEXT    NOT NULL,
    target       TEXT,
    state        TEXT    NOT NULL,
    attempt      INTEGER NOT NULL,
    dry_run      INTEGER NOT NULL,
    steps        TEXT    NOT NULL,
    error        TEXT,
    requested_by TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    started_at   INTEGER,
    finished_at  INTEGER
);
CREATE INDEX IF NOT EXISTS repairs_state ON repairs (state, id);
CREATE INDEX IF NOT EXISTS repairs_budget ON repairs (target, runbook, started_at);
CREATE INDEX IF NOT EXISTS repairs_incident ON repairs (incident_id, id);

CREATE TABLE IF NOT EXISTS breakers (
    target     TEXT    NOT NULL,
    runbook    TEXT    NOT NULL,
    opened_at  INTEGER NOT NULL,
    closes_at  INTEGER NOT NULL,
    reason     TEXT    NOT NULL,
    PRIMARY KEY (target, runbook)
);

CREATE TABLE IF NOT EXISTS settings (
    key        TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);
