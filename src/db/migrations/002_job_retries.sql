-- A job moving its package into the library holds this mark (set and checked in one
-- BEGIN IMMEDIATE transaction), so deleting its asset waits instead of racing the moves.
ALTER TABLE jobs ADD COLUMN publishing_at INTEGER;
-- A job retried after a failure waits until this time (back-off), and keeps its reason.
ALTER TABLE jobs ADD COLUMN run_after INTEGER;
ALTER TABLE jobs ADD COLUMN last_error TEXT;
