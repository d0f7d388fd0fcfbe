-- Checkout without an account (issue 23). A Checkout Session a signed-out visitor started:
-- the browser that started it (the SHA-256 of its checkout cookie, so only that browser's
-- return may sign in), and once paid the account its purchase went to — made by this
-- checkout (`account_made`) or an existing one's —, whether a trial was refused (the email
-- had one already), when it was fulfilled and when its return signed the buyer in (once).
-- A deleted account leaves the row with no user: an old return URL makes no account again.
CREATE TABLE guest_checkouts (
    session_id    TEXT PRIMARY KEY,
    browser_hash  TEXT,
    created_at    INTEGER NOT NULL,
    user_id       INTEGER REFERENCES users (id) ON DELETE SET NULL,
    account_made  INTEGER NOT NULL DEFAULT 0,
    trial_refused INTEGER NOT NULL DEFAULT 0,
    fulfilled_at  INTEGER,
    signed_in_at  INTEGER
);
CREATE INDEX guest_checkouts_user ON guest_checkouts (user_id);
-- Further Stripe customers of a member: Checkout makes a customer for each guest checkout,
-- and a member who already had one keeps it (`stripe_customers`) and gains this one, so
-- what Stripe later says about either customer is the member's.
CREATE TABLE stripe_guest_customers (
    customer_id TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX stripe_guest_customers_user ON stripe_guest_customers (user_id);
