-- Incidents (ITIL style) and their timelines. Times are Unix milliseconds (UTC).
CREATE TABLE IF NOT EXISTS incidents (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint      TEXT    NOT NULL,
    title            TEXT    NOT NULL,
    severity         TEXT    NOT NULL,
    priority         TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    check_name       TEXT,
    labels           TEXT    NOT NULL,
    started_at       INTEGER NOT NULL,
    opened_at        INTEGER NOT NULL,
    acknowledged_at  INTEGER,
    resolved_at      INTEGER,
    closed_at        INTEGER,
    last_signal_at   INTEGER NOT NULL,
    signal_count     INTEGER NOT NULL
);
-- One active (or recently resolved) incident per fingerprint.
CREATE UNIQUE INDEX IF NOT EXISTS incidents_one_per_fingerprint
    ON incidents (fingerprint) WHERE state <> 'closed';
CREATE INDEX IF NOT EXISTS incidents_state ON incidents (state, id);

CREATE TABLE IF NOT EXISTS incident_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    at          INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    message     TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS incident_events_incident ON incident_events (incident_id, id);
