-- Settings changed in the dashboard (see `settings`): one JSON value per key. Settings
-- pinned by the settings file or the environment are not read from here.
CREATE TABLE settings (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    updated_by  TEXT NOT NULL DEFAULT ''
);
