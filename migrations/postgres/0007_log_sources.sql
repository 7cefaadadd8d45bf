-- Log tailing: how far each followed file has been read, and the template clusters found in
-- the lines. Times are Unix milliseconds (UTC).

-- One row per (source, file identity): the offset just past the last line processed.
CREATE TABLE IF NOT EXISTS log_offsets (
    source      TEXT    NOT NULL,
    dev         BIGINT  NOT NULL,
    ino         BIGINT  NOT NULL,
    path        TEXT    NOT NULL,
    file_offset BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (source, dev, ino)
);

-- Template clusters per source, with totals and a few sample lines (JSON array).
CREATE TABLE IF NOT EXISTS log_clusters (
    id          BIGSERIAL PRIMARY KEY,
    source      TEXT    NOT NULL,
    template    TEXT    NOT NULL,
    line_count  BIGINT  NOT NULL,
    first_seen  BIGINT  NOT NULL,
    last_seen   BIGINT  NOT NULL,
    samples     TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS log_clusters_template ON log_clusters (source, template);
CREATE INDEX IF NOT EXISTS log_clusters_last_seen ON log_clusters (last_seen);

-- Lines per cluster per 10-minute bucket (bucket = its start), for windows and trends.
CREATE TABLE IF NOT EXISTS log_cluster_counts (
    cluster_id  BIGINT  NOT NULL REFERENCES log_clusters (id) ON DELETE CASCADE,
    bucket      BIGINT  NOT NULL,
    line_count  BIGINT  NOT NULL,
    PRIMARY KEY (cluster_id, bucket)
);
CREATE INDEX IF NOT EXISTS log_cluster_counts_bucket ON log_cluster_counts (bucket);
