-- Personal rails (issue 12). When a viewer first finished a title, kept when they watch it
-- again (their position starts over then); the titles co-watched by the viewers who
-- finished a movie or series, and this week's trending titles, both kept up to date by
-- services::recommendations so that a home page only reads them.
ALTER TABLE watch_progress ADD COLUMN finished_at INTEGER;
UPDATE watch_progress SET finished_at = updated_at WHERE position_secs >= duration_secs * 0.95;
CREATE INDEX watch_progress_title ON watch_progress (title_id, finished_at);
CREATE INDEX watch_progress_finished ON watch_progress (finished_at) WHERE finished_at IS NOT NULL;

-- For each movie or series, the others most finished by its finishers.
CREATE TABLE co_watched (
    title_id     TEXT NOT NULL REFERENCES titles (id) ON DELETE CASCADE,
    neighbour_id TEXT NOT NULL REFERENCES titles (id) ON DELETE CASCADE,
    viewers      INTEGER NOT NULL,
    PRIMARY KEY (title_id, neighbour_id)
) WITHOUT ROWID;
CREATE INDEX co_watched_neighbour ON co_watched (neighbour_id);

-- Movies and series by plays over the last 7 days, best first.
CREATE TABLE trending_titles (
    title_id TEXT PRIMARY KEY REFERENCES titles (id) ON DELETE CASCADE,
    rank     INTEGER NOT NULL,
    plays    INTEGER NOT NULL
);

-- How far the refresher got: the finishes it has taken in (watch_progress.finished_at),
-- and when trending was last worked out.
CREATE TABLE recommendation_state (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    finished_mark   INTEGER NOT NULL,
    trending_at     INTEGER NOT NULL
);
INSERT INTO recommendation_state (id, finished_mark, trending_at) VALUES (1, 0, 0);

-- The storefront keeps its home page while the catalog stands still; a new trending list
-- is a change to it.
CREATE TRIGGER trending_ins AFTER INSERT ON trending_titles BEGIN UPDATE catalog_version SET n = n + 1; END;
CREATE TRIGGER trending_del AFTER DELETE ON trending_titles BEGIN UPDATE catalog_version SET n = n + 1; END;
