-- Observations: one row per check run. Times are Unix milliseconds (UTC).
CREATE TABLE IF NOT EXISTS observations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    check_name  TEXT    NOT NULL,
    status      INTEGER NOT NULL,
    raw_status  INTEGER NOT NULL,
    latency_ms  REAL    NOT NULL,
    message     TEXT    NOT NULL,
    metrics     TEXT    NOT NULL,
    observed_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS observations_check_id ON observations (check_name, id);
CREATE INDEX IF NOT EXISTS observations_observed_at ON observations (observed_at);
