-- A title's artwork: one image per kind, written resized under images/<key>/ (the key is
-- derived from the uploaded bytes, so a URL never changes meaning and is cached for good).
CREATE TABLE artwork (
    title_id   TEXT NOT NULL REFERENCES titles (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('poster', 'backdrop', 'logo')),
    key        TEXT NOT NULL,
    -- The widths written, comma-separated, smallest first.
    widths     TEXT NOT NULL,
    width      INTEGER NOT NULL,
    height     INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (title_id, kind)
);
