-- Browsers that have signed in to an account (accounts::devices): the device cookie's
-- random token, kept only as its SHA-256. A sign-in or a link request carrying one for the
-- account is judged by that device's own failures and mail budget, not the email's.
-- Deleted with every session of the account (password reset, disable, sign out everywhere).
CREATE TABLE trusted_devices (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
);
CREATE INDEX trusted_devices_user ON trusted_devices (user_id);
