-- Failure lines per cluster (lines a category of severity warning or worse explains, lines of
-- level error or worse, lines with a failure word), so the top failure clusters are clusters
-- of failures; and when each log source first started (its `from = "end"` applies only then).

ALTER TABLE log_clusters ADD COLUMN failure_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE log_cluster_counts ADD COLUMN failure_count INTEGER NOT NULL DEFAULT 0;

CREATE TABLE IF NOT EXISTS log_sources (
    source      TEXT    PRIMARY KEY,
    started_at  INTEGER NOT NULL
);
