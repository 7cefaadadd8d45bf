-- Access control and audit: stored users (argon2 hashes), API tokens and dashboard sessions
-- (SHA-256 of the secret only), encrypted secrets, and the hash-chained audit log.
-- Times are Unix milliseconds (UTC).
CREATE TABLE IF NOT EXISTS users (
    name          TEXT    PRIMARY KEY,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    digest       TEXT    NOT NULL UNIQUE,
    role         TEXT    NOT NULL,
    owner        TEXT,
    created_by   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER
);

CREATE TABLE IF NOT EXISTS secrets (
    name        TEXT    PRIMARY KEY,
    nonce       TEXT    NOT NULL,
    ciphertext  TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- The id is assigned by the appender (previous id + 1) so a deleted row leaves a visible gap.
CREATE TABLE IF NOT EXISTS audit (
    id        INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    role      TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    target    TEXT    NOT NULL,
    outcome   TEXT    NOT NULL,
    detail    TEXT    NOT NULL,
    prev_hash TEXT    NOT NULL,
    hash      TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);

-- The chain head (last id and hash) and the anchor (last pruned id and hash), updated in the
-- same transaction as the rows; the head row is also the append lock on PostgreSQL.
INSERT INTO settings (key, value, updated_at) VALUES ('audit.head', '0:0000000000000000000000000000000000000000000000000000000000000000', 0) ON CONFLICT (key) DO NOTHING;
INSERT INTO settings (key, value, updated_at) VALUES ('audit.anchor', '0:0000000000000000000000000000000000000000000000000000000000000000', 0) ON CONFLICT (key) DO NOTHING;
