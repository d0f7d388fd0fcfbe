-- Issue 22, items 7, 10-12: member ids never given twice, Stripe prices mapped to plans,
-- disputes recorded, uploads' space held only while they move.

-- Member ids are never reused. `users.id` is an INTEGER PRIMARY KEY, which SQLite gives
-- out as max(id) + 1, so deleting the newest member handed their id (named in Stripe's
-- metadata, trials used, subscription history) to the next account. Rebuilding `users`
-- with AUTOINCREMENT would need foreign keys off around the migration and drop any column
-- a later migration adds; a high-water mark does the same without touching the table: the
-- highest id ever deleted, kept by a trigger, below which `users::create` never gives an
-- id and no insert is let through.
CREATE TABLE member_id_floor (
    id INTEGER NOT NULL
);
-- Ids deleted before this migration: the audit log names every deleted member; Stripe's
-- subscription history and trials name the rest that left a trace.
INSERT INTO member_id_floor (id)
SELECT max(0,
           coalesce((SELECT max(id) FROM users), 0),
           coalesce((SELECT max(CAST(substr(target, 8) AS INTEGER)) FROM audit_log
                     WHERE action = 'member.delete' AND target LIKE 'member:%'), 0),
           coalesce((SELECT max(user_id) FROM subscription_events), 0),
           coalesce((SELECT max(user_id) FROM trials_used), 0));
CREATE TRIGGER member_id_floor_rises AFTER DELETE ON users
BEGIN
    UPDATE member_id_floor SET id = max(id, OLD.id);
END;
CREATE TRIGGER member_id_never_reused AFTER INSERT ON users
WHEN NEW.id <= (SELECT id FROM member_id_floor)
BEGIN
    SELECT RAISE(ABORT, 'this member id belonged to a deleted account and is never given again');
END;

-- Every Stripe price Marquee made for a plan, kept after the plan's amount changes (its
-- subscribers keep paying the old price). A subscription's plan is the one its price was
-- made for, never its metadata: a subscription moved to another price follows it, and a
-- price Marquee did not make grants no plan.
CREATE TABLE stripe_prices (
    price_id   TEXT PRIMARY KEY,
    plan_id    TEXT NOT NULL REFERENCES plans (id),
    interval   TEXT NOT NULL CHECK (interval IN ('month', 'year')),
    amount     INTEGER NOT NULL,
    currency   TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
INSERT OR IGNORE INTO stripe_prices (price_id, plan_id, interval, amount, currency, created_at)
SELECT stripe_monthly_price, id, 'month', monthly_amount, currency, updated_at FROM plans
WHERE stripe_monthly_price IS NOT NULL AND monthly_amount IS NOT NULL;
INSERT OR IGNORE INTO stripe_prices (price_id, plan_id, interval, amount, currency, created_at)
SELECT stripe_yearly_price, id, 'year', yearly_amount, currency, updated_at FROM plans
WHERE stripe_yearly_price IS NOT NULL AND yearly_amount IS NOT NULL;
-- The price a Stripe subscription paid when last applied (one Marquee did not make is
-- kept here while the subscription grants nothing).
ALTER TABLE subscriptions ADD COLUMN stripe_price_id TEXT;

-- Disputes (chargebacks) as Stripe last reported them. A lost one ends what its payment
-- bought, as a refund does; one on a subscription's invoice is kept here for the operator.
CREATE TABLE stripe_disputes (
    id             TEXT PRIMARY KEY,
    payment_intent TEXT,
    charge         TEXT,
    status         TEXT NOT NULL,
    amount         INTEGER NOT NULL,
    currency       TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX stripe_disputes_payment ON stripe_disputes (payment_intent);
