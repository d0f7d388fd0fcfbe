-- Resumable uploads (tus). `received` is the number of bytes synced to disk: only those
-- are ever acknowledged, so a crash resumes at a correct offset.
CREATE TABLE uploads (
    id           TEXT PRIMARY KEY,
    -- Who created it ("apikey:<id>"); no one else may see or touch it.
    owner        TEXT NOT NULL,
    size         INTEGER NOT NULL,
    received     INTEGER NOT NULL DEFAULT 0,
    -- The client's Upload-Metadata header as sent, echoed by HEAD.
    metadata     TEXT NOT NULL DEFAULT '',
    filename     TEXT,
    filetype     TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    -- An unfinished upload untouched until then is removed with its bytes.
    expires_at   INTEGER NOT NULL,
    completed_at INTEGER,
    -- The asset it became (or, with duplicate = 1, the existing asset it duplicates).
    -- No foreign key: deleting the asset leaves the upload's record.
    asset_id     TEXT,
    duplicate    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX uploads_expiry ON uploads (expires_at);
