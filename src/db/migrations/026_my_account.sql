-- A viewer's own account (issue 23): their "My list", and one-time links for changing
-- the email address (sent to the new address) and for deleting an account that has no
-- password (sent to its address).

-- Titles a viewer saved for later, newest first on the "My list" rail.
CREATE TABLE my_list (
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title_id  TEXT NOT NULL REFERENCES titles (id) ON DELETE CASCADE,
    added_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, title_id)
);
CREATE INDEX my_list_recent ON my_list (user_id, added_at);

-- `one_time_tokens` again, its kinds widened by 'change_email' (`email`: the new address)
-- and 'delete_account'. SQLite cannot change a CHECK in place, so the table is rebuilt.
CREATE TABLE one_time_tokens_new (
    id          INTEGER PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL CHECK (kind IN ('setup', 'magic_link', 'verify_email', 'reset_password',
                                              'invite', 'change_email', 'delete_account')),
    user_id     INTEGER REFERENCES users (id) ON DELETE CASCADE,
    email       TEXT,
    role        TEXT CHECK (role IS NULL OR role IN ('owner', 'admin', 'editor', 'support', 'viewer')),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
INSERT INTO one_time_tokens_new (id, token_hash, kind, user_id, email, role, created_at, expires_at, used_at)
    SELECT id, token_hash, kind, user_id, email, role, created_at, expires_at, used_at FROM one_time_tokens;
DROP TABLE one_time_tokens;
ALTER TABLE one_time_tokens_new RENAME TO one_time_tokens;
CREATE INDEX one_time_tokens_kind ON one_time_tokens (kind, used_at);
CREATE INDEX one_time_tokens_expiry ON one_time_tokens (expires_at);
