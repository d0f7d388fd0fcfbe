-- Sign-up (issue 23). With email set up, a sign-up is a link emailed to the address; the
-- account is made only when the link is opened (proving the address), from what the form
-- gave: the name, the password's argon2id hash when one was chosen, and where to go next.
CREATE TABLE signup_links (
    id            INTEGER PRIMARY KEY,
    token_hash    TEXT NOT NULL UNIQUE,
    email         TEXT NOT NULL,
    display_name  TEXT NOT NULL DEFAULT '',
    password_hash TEXT,
    next          TEXT,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    used_at       INTEGER
);
CREATE INDEX signup_links_expiry ON signup_links (expires_at);

-- Proof-of-work challenges already used for a sign-up (by their signature), kept until
-- they expire, so one solution cannot be replayed.
CREATE TABLE signup_challenges_spent (
    signature   TEXT PRIMARY KEY,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX signup_challenges_spent_expiry ON signup_challenges_spent (expires_at);
