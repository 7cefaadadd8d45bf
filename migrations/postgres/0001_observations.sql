-- Observations: one row per check run. Times are Unix milliseconds (UTC).
CREATE TABLE IF NOT EXISTS observations (
    id          BIGSERIAL PRIMARY KEY,
    check_name  TEXT             NOT NULL,
    status      BIGINT           NOT NULL,
    raw_status  BIGINT           NOT NULL,
    latency_ms  DOUBLE PRECISION NOT NULL,
    message     TEXT             NOT NULL,
    metrics     TEXT             NOT NULL,
    observed_at BIGINT           NOT NULL
);
CREATE INDEX IF NOT EXISTS observations_check_id ON observations (check_name, id);
CREATE INDEX IF NOT EXISTS observations_observed_at ON observations (observed_at);
