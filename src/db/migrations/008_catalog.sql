-- The catalog: titles are separate from the media they play. A movie, a series, an episode
-- (parent: its series) or an extra (parent: the title it belongs to). `asset_id` has no
-- foreign key on purpose: deleting an asset leaves the link, so the dashboard can say
-- "media missing" instead of the title silently losing its video.
CREATE TABLE titles (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('movie', 'series', 'episode', 'extra')),
    parent_id      TEXT REFERENCES titles (id) ON DELETE CASCADE,
    season_number  INTEGER,
    episode_number INTEGER,
    extra_kind     TEXT CHECK (extra_kind IN ('trailer', 'clip', 'behind_the_scenes')),
    name           TEXT NOT NULL,
    synopsis       TEXT NOT NULL DEFAULT '',
    year           INTEGER,
    age_rating     TEXT NOT NULL DEFAULT '',
    languages      TEXT NOT NULL DEFAULT '',
    asset_id       TEXT,
    status         TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published')),
    publish_at     INTEGER,
    expire_at      INTEGER,
    published_at   INTEGER,
    -- When viewers see it, computed by catalog::visibility from the status, the windows of
    -- the title and its parent and whether the media is ready: NULL while it cannot be seen
    -- at any time. Every viewer-facing query reads only these two columns. `live_from` is
    -- also the release time "newest" sorts by (the publish time, or when it was published).
    live_from      INTEGER,
    live_until     INTEGER,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    CHECK ((kind IN ('episode', 'extra')) = (parent_id IS NOT NULL)),
    CHECK ((kind = 'episode') = (season_number IS NOT NULL AND episode_number IS NOT NULL)),
    CHECK ((kind = 'extra') = (extra_kind IS NOT NULL))
);
CREATE INDEX titles_parent ON titles (parent_id, season_number, episode_number);
CREATE INDEX titles_asset ON titles (asset_id);
CREATE INDEX titles_live ON titles (live_from);
CREATE INDEX titles_updated ON titles (updated_at);
-- One episode per number in a season.
CREATE UNIQUE INDEX titles_episode ON titles (parent_id, season_number, episode_number)
    WHERE kind = 'episode';

CREATE TABLE seasons (
    series_id TEXT NOT NULL REFERENCES titles (id) ON DELETE CASCADE,
    number    INTEGER NOT NULL CHECK (number >= 0),
    name      TEXT NOT NULL DEFAULT '',
    synopsis  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (series_id, number)
);

CREATE TABLE genres (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    slug TEXT NOT NULL UNIQUE
);
CREATE TABLE title_genres (
    title_id TEXT NOT NULL REFERENCES titles (id) ON DELETE CASCADE,
    genre_id INTEGER NOT NULL REFERENCES genres (id) ON DELETE CASCADE,
    PRIMARY KEY (title_id, genre_id)
);
CREATE INDEX title_genres_genre ON title_genres (genre_id);
CREATE TABLE title_tags (
    title_id TEXT NOT NULL REFERENCES titles (id) ON DELETE CASCADE,
    tag      TEXT NOT NULL COLLATE NOCASE,
    PRIMARY KEY (title_id, tag)
);

CREATE TABLE people (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE
);
CREATE TABLE title_people (
    title_id  TEXT NOT NULL REFERENCES titles (id) ON DELETE CASCADE,
    person_id INTEGER NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    role      TEXT NOT NULL CHECK (role IN ('cast', 'director', 'writer', 'producer')),
    character TEXT NOT NULL DEFAULT '',
    position  INTEGER NOT NULL,
    PRIMARY KEY (title_id, person_id, role)
);

CREATE TABLE collections (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    slug        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE TABLE collection_items (
    collection_id TEXT NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    title_id      TEXT NOT NULL REFERENCES titles (id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    PRIMARY KEY (collection_id, title_id)
);

-- The home page: rails in order. `kind` is checked in catalog::rails (not here), so later
-- kinds (trending, personalised) need no table rebuild. `source`: the collection id or the
-- genre slug the rail draws from.
CREATE TABLE rails (
    id         INTEGER PRIMARY KEY,
    position   INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    source     TEXT,
    max_items  INTEGER NOT NULL DEFAULT 20,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE rail_items (
    rail_id  INTEGER NOT NULL REFERENCES rails (id) ON DELETE CASCADE,
    title_id TEXT NOT NULL REFERENCES titles (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    PRIMARY KEY (rail_id, title_id)
);
-- A fresh home page shows what is new until an editor arranges it.
INSERT INTO rails (position, kind, name, created_at, updated_at) VALUES (0, 'newest', 'New', 0, 0);

-- Where each signed-in viewer stopped, for "continue watching" and "resume".
CREATE TABLE watch_progress (
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title_id      TEXT NOT NULL REFERENCES titles (id) ON DELETE CASCADE,
    position_secs REAL NOT NULL,
    duration_secs REAL NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (user_id, title_id)
);
CREATE INDEX watch_progress_recent ON watch_progress (user_id, updated_at);

-- Search over titles a viewer can open (movies and series): names, synopses, people and
-- tags, diacritics folded. Kept in step by catalog::search::reindex inside each edit's
-- transaction.
CREATE VIRTUAL TABLE title_search USING fts5 (
    title_id UNINDEXED,
    name,
    synopsis,
    people,
    tags,
    tokenize = 'unicode61 remove_diacritics 2',
    -- Prefix indexes: search as you type asks for 1 to 3 letters most often.
    prefix = '1 2 3'
);
-- Ranked by bm25 with the name above people and tags, and those above the synopsis.
INSERT INTO title_search (title_search, rank) VALUES ('rank', 'bm25(0.0, 10.0, 1.0, 3.0, 3.0)');

-- Every asset that was going to be or was already on the home page becomes a movie of its
-- own (same id, so /watch/<asset> keeps working); the ready ones stay published.
INSERT INTO titles (id, kind, name, synopsis, asset_id, status, published_at, live_from,
                    created_at, updated_at)
SELECT id, 'movie', title, description, id,
       CASE status WHEN 'ready' THEN 'published' ELSE 'draft' END,
       CASE status WHEN 'ready' THEN COALESCE(ready_at, updated_at) END,
       CASE status WHEN 'ready' THEN COALESCE(ready_at, updated_at) END,
       created_at, updated_at
FROM assets WHERE status IN ('queued', 'processing', 'ready');
INSERT INTO title_search (title_id, name, synopsis, people, tags)
SELECT id, name, synopsis, '', '' FROM titles;
