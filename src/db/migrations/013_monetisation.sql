-- Monetisation: who may play what (access levels on content), what viewers hold (plans,
-- subscriptions, purchases, grants), how operators hand access out (code batches) and what
-- the origin signs playback tokens with. Amounts are in the currency's minor unit.

-- An access level (JSON, `access::level::AccessLevel`) on a title (a movie, series,
-- episode or extra), a season or a collection; NULL: take the nearest one set above
-- (episode → season → series; then a collection the title is in), else public.
ALTER TABLE titles ADD COLUMN access TEXT;
-- A marked free preview: plays for anyone whatever the level (trailers always do).
ALTER TABLE titles ADD COLUMN free_preview INTEGER NOT NULL DEFAULT 0;
ALTER TABLE seasons ADD COLUMN access TEXT;
ALTER TABLE collections ADD COLUMN access TEXT;

-- Plans are edited live in the dashboard. A price change applies to new buyers:
-- subscriptions keep the amount they started with.
CREATE TABLE plans (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    description    TEXT NOT NULL DEFAULT '',
    currency       TEXT NOT NULL,
    monthly_amount INTEGER CHECK (monthly_amount IS NULL OR monthly_amount > 0),
    yearly_amount  INTEGER CHECK (yearly_amount IS NULL OR yearly_amount > 0),
    trial_days     INTEGER NOT NULL DEFAULT 0 CHECK (trial_days >= 0),
    stream_limit   INTEGER NOT NULL DEFAULT 2 CHECK (stream_limit > 0),
    -- Hidden plans are not offered on the storefront (codes, comps and migrations only).
    public         INTEGER NOT NULL DEFAULT 1,
    -- Stripe Price ids for the current amounts, created on demand.
    stripe_monthly_price TEXT,
    stripe_yearly_price  TEXT,
    archived_at    INTEGER,
    position       INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    CHECK (monthly_amount IS NOT NULL OR yearly_amount IS NOT NULL)
);

CREATE TABLE subscriptions (
    id                     INTEGER PRIMARY KEY,
    user_id                INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    plan_id                TEXT NOT NULL REFERENCES plans (id),
    status                 TEXT NOT NULL CHECK (status IN ('trialing', 'active', 'past_due', 'ended')),
    past_due_since         INTEGER,
    period_end             INTEGER NOT NULL,
    interval               TEXT NOT NULL CHECK (interval IN ('month', 'year')),
    amount                 INTEGER NOT NULL,
    currency               TEXT NOT NULL,
    cancel_at_period_end   INTEGER NOT NULL DEFAULT 0,
    trial_end              INTEGER,
    -- 'stripe' or 'manual' (made in the dashboard: a migration or a comp with an end date).
    source                 TEXT NOT NULL CHECK (source IN ('stripe', 'manual')),
    stripe_subscription_id TEXT UNIQUE,
    -- The Stripe object's own change time last applied, so an older event never undoes a
    -- newer one.
    stripe_seen_at         INTEGER NOT NULL DEFAULT 0,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL,
    CHECK ((status = 'past_due') = (past_due_since IS NOT NULL))
);
CREATE INDEX subscriptions_user ON subscriptions (user_id, status);

-- One free trial per person: the account and its email key both count.
CREATE TABLE trials_used (
    email_key  TEXT PRIMARY KEY,
    user_id    INTEGER,
    plan_id    TEXT NOT NULL,
    used_at    INTEGER NOT NULL
);

-- Rentals, purchases for good and pay-per-view tickets.
CREATE TABLE purchases (
    id             INTEGER PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind           TEXT NOT NULL CHECK (kind IN ('rent', 'buy', 'ticket')),
    -- The title (rent, buy) or the event id (ticket).
    target_id      TEXT NOT NULL,
    amount         INTEGER NOT NULL,
    currency       TEXT NOT NULL,
    -- A rental's window, fixed at purchase; its clock starts at the first play.
    window_secs    INTEGER,
    first_play_at  INTEGER,
    -- Stripe Checkout Session or PaymentIntent id, or NULL for one made in the dashboard.
    payment_ref    TEXT UNIQUE,
    refunded_at    INTEGER,
    created_at     INTEGER NOT NULL,
    CHECK ((kind = 'rent') = (window_secs IS NOT NULL))
);
CREATE INDEX purchases_user ON purchases (user_id, target_id);

-- Access given outside a payment: a comp by the operator, or a redeemed access code.
CREATE TABLE grants (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope       TEXT NOT NULL CHECK (scope IN ('plan', 'title')),
    scope_id    TEXT NOT NULL,
    until       INTEGER,
    source      TEXT NOT NULL CHECK (source IN ('comp', 'code')),
    code        TEXT,
    note        TEXT NOT NULL DEFAULT '',
    created_by  TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX grants_user ON grants (user_id);

-- Access codes, made in batches: each grants a plan for `days` or one title for good.
CREATE TABLE code_batches (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    scope       TEXT NOT NULL CHECK (scope IN ('plan', 'title')),
    scope_id    TEXT NOT NULL,
    days        INTEGER CHECK (days IS NULL OR days > 0),
    -- Redemptions each code allows (1: single-use).
    uses_per_code INTEGER NOT NULL CHECK (uses_per_code > 0),
    expires_at  INTEGER,
    created_by  TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    CHECK ((scope = 'plan') = (days IS NOT NULL))
);
CREATE TABLE access_codes (
    code        TEXT PRIMARY KEY,
    batch_id    INTEGER NOT NULL REFERENCES code_batches (id) ON DELETE CASCADE,
    uses        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX access_codes_batch ON access_codes (batch_id);
CREATE TABLE code_redemptions (
    code        TEXT NOT NULL REFERENCES access_codes (code) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redeemed_at INTEGER NOT NULL,
    PRIMARY KEY (code, user_id)
);

-- Offers: discounts or free periods for new sign-ups, existing members, or both.
CREATE TABLE offers (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL,
    code            TEXT UNIQUE COLLATE NOCASE,
    kind            TEXT NOT NULL CHECK (kind IN ('percent', 'fixed', 'free_period')),
    -- Percent (1-100), minor units off, or days free.
    value           INTEGER NOT NULL CHECK (value > 0),
    currency        TEXT,
    duration        TEXT NOT NULL CHECK (duration IN ('once', 'repeating', 'forever')),
    duration_months INTEGER,
    audience        TEXT NOT NULL CHECK (audience IN ('new', 'existing', 'both')),
    plan_ids        TEXT NOT NULL DEFAULT '[]',
    starts_at       INTEGER,
    ends_at         INTEGER,
    max_redemptions INTEGER,
    redemptions     INTEGER NOT NULL DEFAULT 0,
    stripe_coupon_id TEXT,
    archived_at     INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    CHECK ((duration = 'repeating') = (duration_months IS NOT NULL))
);

-- Stripe: customers per account, and every event recorded by id before it is acted on.
CREATE TABLE stripe_customers (
    user_id     INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    customer_id TEXT NOT NULL UNIQUE
);
CREATE TABLE stripe_events (
    id           TEXT PRIMARY KEY,
    type         TEXT NOT NULL,
    created      INTEGER NOT NULL,
    received_at  INTEGER NOT NULL,
    processed_at INTEGER,
    error        TEXT
);
CREATE INDEX stripe_events_created ON stripe_events (created);

-- The keys playback tokens are signed with. The newest unretired key mints; every key
-- not yet dropped verifies, so rotating never cuts a playback short.
CREATE TABLE playback_keys (
    id          INTEGER PRIMARY KEY CHECK (id BETWEEN 0 AND 255),
    secret      BLOB NOT NULL CHECK (length(secret) = 32),
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER
);
