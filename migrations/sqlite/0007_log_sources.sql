-- Log tailing: how far each followed file has been read, and the template clusters found in
-- the lines. Times are Unix milliseconds (UTC).

-- One row per (source, file identity): the offset just past the last line processed.
CREATE TABLE IF NOT EXISTS log_offsets (
    source      TEXT    NOT NULL,
    dev         INTEGER NOT NULL,
    ino         INTEGER NOT NULL,
    path        TEXT    NOT NULL,
    file_offset INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (source, dev, ino)
);

-- Template clusters per source, with totals and a few sample lines (JSON array).
CREATE TABLE IF NOT EXISTS log_clusters (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    source      TEXT    NOT NULL,
    template    TEXT    NOT NULL,
    line_count  INTEGER NOT NULL,
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    samples     TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS log_clusters_template ON log_clusters (source, template);
CREATE INDEX IF NOT EXISTS log_clusters_last_seen ON log_clusters (last_seen);

-- Lines per cluster per 10-minute bucket (bucket = its start), for windows and trends.
CREATE TABLE IF NOT EXISTS log_cluster_counts (
    cluster_id  INTEGER NOT NULL REFERENCES log_clusters (id) ON DELETE CASCADE,
    bucket      INTEGER NOT NULL,
    line_count  INTEGER NOT NULL,
    PRIMARY KEY (cluster_id, bucket)
);
CREATE INDEX IF NOT EXISTS log_cluster_counts_bucket ON log_cluster_counts (bucket);
