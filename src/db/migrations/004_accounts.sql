-- People who sign in. `email` is the address as normalised (trimmed, domain lowercased,
-- local part as typed); `email_key` is its full lowercase form, the one compared.
CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    email          TEXT NOT NULL,
    email_key      TEXT NOT NULL UNIQUE,
    display_name   TEXT NOT NULL DEFAULT '',
    role           TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'support', 'viewer')),
    -- argon2id PHC string; NULL for an account that has no password yet (invited).
    password_hash  TEXT,
    email_verified_at INTEGER,
    disabled_at    INTEGER,
    created_at     INTEGER NOT NULL
);
CREATE INDEX users_role ON users (role);

-- Signed-in browsers. Only a SHA-256 of the cookie's token is stored.
CREATE TABLE sessions (
    id            INTEGER PRIMARY KEY,
    token_hash    TEXT NOT NULL UNIQUE,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    device        TEXT NOT NULL DEFAULT '',
    ip            TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Links sent (or shown) once: setup, magic link, email verification, password reset,
-- invitation. Only a SHA-256 of the token is stored; `used_at` makes each single use.
CREATE TABLE one_time_tokens (
    id          INTEGER PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL CHECK (kind IN ('setup', 'magic_link', 'verify_email', 'reset_password', 'invite')),
    user_id     INTEGER REFERENCES users (id) ON DELETE CASCADE,
    -- For an invitation: who is invited, and as what.
    email       TEXT,
    role        TEXT CHECK (role IS NULL OR role IN ('owner', 'admin', 'editor', 'support', 'viewer')),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX one_time_tokens_kind ON one_time_tokens (kind, used_at);

-- Failed sign-ins per account (`account:<email_key>`) and per address (`ip:<addr>`), kept
-- here so a restart does not reset a lockout.
CREATE TABLE sign_in_throttle (
    key              TEXT PRIMARY KEY,
    failures         INTEGER NOT NULL,
    last_failure_at  INTEGER NOT NULL,
    locked_until     INTEGER NOT NULL
);
CREATE INDEX sign_in_throttle_age ON sign_in_throttle (last_failure_at);
