-- Each subscription's history, for the business dashboard (paying subscribers and MRR on
-- any past day, new, churned, trial conversion). Written by triggers, so every path that
-- makes, changes or deletes a subscription (Stripe webhooks, reconciliation, the
-- dashboard, migrations, a member's deletion) is recorded without its code knowing. An
-- upsert's update fires them too.
CREATE TABLE subscription_events (
    id              INTEGER PRIMARY KEY,
    subscription_id INTEGER NOT NULL,
    user_id         INTEGER NOT NULL,
    plan_id         TEXT NOT NULL,
    -- The status it moved to ('ended' when the subscription was deleted).
    status          TEXT NOT NULL,
    -- What it is worth a month, in the currency's minor unit (a yearly price / 12).
    monthly_amount  INTEGER NOT NULL,
    currency        TEXT NOT NULL,
    -- 'stripe' or 'manual'; a manual one lapses at its period end without a change.
    source          TEXT NOT NULL,
    period_end      INTEGER NOT NULL,
    at              INTEGER NOT NULL
);
CREATE INDEX subscription_events_at ON subscription_events (at);

CREATE TRIGGER subscription_made AFTER INSERT ON subscriptions
BEGIN
    INSERT INTO subscription_events (subscription_id, user_id, plan_id, status, monthly_amount,
                                     currency, source, period_end, at)
    VALUES (NEW.id, NEW.user_id, NEW.plan_id, NEW.status,
            CASE NEW.interval WHEN 'year' THEN NEW.amount / 12 ELSE NEW.amount END,
            NEW.currency, NEW.source, NEW.period_end, NEW.created_at);
END;

CREATE TRIGGER subscription_changed
AFTER UPDATE OF status, amount, interval, plan_id, period_end ON subscriptions
WHEN OLD.status IS NOT NEW.status OR OLD.amount IS NOT NEW.amount
  OR OLD.interval IS NOT NEW.interval OR OLD.plan_id IS NOT NEW.plan_id
  OR OLD.period_end IS NOT NEW.period_end
BEGIN
    INSERT INTO subscription_events (subscription_id, user_id, plan_id, status, monthly_amount,
                                     currency, source, period_end, at)
    VALUES (NEW.id, NEW.user_id, NEW.plan_id, NEW.status,
            CASE NEW.interval WHEN 'year' THEN NEW.amount / 12 ELSE NEW.amount END,
            NEW.currency, NEW.source, NEW.period_end, NEW.updated_at);
END;

CREATE TRIGGER subscription_deleted AFTER DELETE ON subscriptions
WHEN OLD.status != 'ended'
BEGIN
    INSERT INTO subscription_events (subscription_id, user_id, plan_id, status, monthly_amount,
                                     currency, source, period_end, at)
    VALUES (OLD.id, OLD.user_id, OLD.plan_id, 'ended',
            CASE OLD.interval WHEN 'year' THEN OLD.amount / 12 ELSE OLD.amount END,
            OLD.currency, OLD.source, OLD.period_end, CAST(strftime('%s', 'now') AS INTEGER));
END;

-- What there is already: made when created (as a trial if it had one), ended when last
-- changed.
INSERT INTO subscription_events (subscription_id, user_id, plan_id, status, monthly_amount,
                                 currency, source, period_end, at)
SELECT id, user_id, plan_id,
       CASE WHEN status != 'ended' THEN status
            WHEN trial_end IS NOT NULL THEN 'trialing' ELSE 'active' END,
       CASE interval WHEN 'year' THEN amount / 12 ELSE amount END, currency, source, period_end,
       created_at
FROM subscriptions;
INSERT INTO subscription_events (subscription_id, user_id, plan_id, status, monthly_amount,
                                 currency, source, period_end, at)
SELECT id, user_id, plan_id, 'ended',
       CASE interval WHEN 'year' THEN amount / 12 ELSE amount END, currency, source, period_end,
       updated_at
FROM subscriptions WHERE status = 'ended';
