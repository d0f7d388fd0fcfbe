-- Who changed what and when: settings, roles, keys, deletes. Append-only; the actor is
-- kept as a label too, so a deleted account's entries still say who it was.
CREATE TABLE audit_log (
    id             INTEGER PRIMARY KEY,
    at             INTEGER NOT NULL,
    -- 'user', 'api_key' or 'shell'.
    actor_kind     TEXT NOT NULL CHECK (actor_kind IN ('user', 'api_key', 'shell')),
    actor_id       INTEGER,
    actor_label    TEXT NOT NULL,
    -- A dotted verb: 'settings.update', 'member.role', 'apikey.revoke', 'asset.delete'.
    action         TEXT NOT NULL,
    -- What it was done to: 'member:12', 'asset:abc', 'setting:site_name'.
    target         TEXT NOT NULL DEFAULT '',
    -- JSON with the details (old and new values); never a secret.
    detail         TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_action ON audit_log (action, at);
CREATE INDEX audit_log_actor ON audit_log (actor_kind, actor_id, at);
