CREATE TABLE assets (
    id            TEXT PRIMARY KEY,
    title         TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL CHECK (status IN ('queued', 'processing', 'ready', 'failed')),
    progress      REAL NOT NULL DEFAULT 0,
    eta_secs      INTEGER,
    error         TEXT,
    -- Where the source file is now: the inbox until published, then the package folder.
    source_path   TEXT NOT NULL,
    source_size   INTEGER NOT NULL,
    source_mtime  INTEGER NOT NULL,
    content_hash  TEXT,
    sidecars      TEXT NOT NULL DEFAULT '[]',
    duration_secs REAL,
    manifest      TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    ready_at      INTEGER
);
CREATE INDEX assets_status ON assets (status, created_at);
CREATE INDEX assets_hash ON assets (content_hash);
CREATE INDEX assets_source ON assets (source_path);

CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY,
    asset_id     TEXT NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
    state        TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    -- The process supervising a running job, and when it last said it was alive.
    owner_pid    INTEGER,
    heartbeat_at INTEGER,
    created_at   INTEGER NOT NULL,
    started_at   INTEGER,
    finished_at  INTEGER
);
CREATE INDEX jobs_state ON jobs (state, id);

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL UNIQUE,
    secret_hash  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
