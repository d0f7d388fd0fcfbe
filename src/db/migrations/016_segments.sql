-- Saved segments: a name and a filter (JSON, `analytics::segments::Filter`), evaluated
-- afresh whenever they are used.
CREATE TABLE segments (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    filter     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
