-- Each subscription's history, for the business dashboard (active subscribers and MRR on
-- any past day, new, churned, trial conversion). Written by triggers, so every path that
-- makes or changes a subscription (Stripe webhooks, reconciliation, the dashboard,
-- migrations) is recorded without its code knowing. An upsert's update fires them too.
CREATE TABLE subscription_events (
    id              INTEGER PRIMARY KEY,
    subscription_id INTEGER NOT NULL,
    user_id         INTEGER NOT NULL,
    plan_id         TEXT NOT NULL,
    -- The status the subscription moved to.
    status          TEXT NOT NULL,
    -- What it is worth a month, in the currency's minor unit (a yearly price / 12).
    monthly_amount  INTEGER NOT NULL,
    currency        TEXT NOT NULL,
    at              INTEGER NOT NULL
);
CREATE INDEX subscription_events_at ON subscription_events (at);

CREATE TRIGGER subscription_made AFTER INSERT ON subscriptions
BEGIN
    INSERT INTO subscription_events (subscription_id, user_id, plan_id, status, monthly_amount,
                                     currency, at)
    VALUES (NEW.id, NEW.user_id, NEW.plan_id, NEW.status,
            CASE NEW.interval WHEN 'year' THEN NEW.amount / 12 ELSE NEW.amount END,
            NEW.currency, NEW.created_at);
END;

CREATE TRIGGER subscription_changed AFTER UPDATE OF status, amount, interval, plan_id ON subscriptions
WHEN OLD.status IS NOT NEW.status OR OLD.amount IS NOT NEW.amount
  OR OLD.interval IS NOT NEW.interval OR OLD.plan_id IS NOT NEW.plan_id
BEGIN
    INSERT INTO subscription_events (subscription_id, user_id, plan_id, status, monthly_amount,
                                     currency, at)
    VALUES (NEW.id, NEW.user_id, NEW.plan_id, NEW.status,
            CASE NEW.interval WHEN 'year' THEN NEW.amount / 12 ELSE NEW.amount END,
            NEW.currency, NEW.updated_at);
END;

-- What there is already: made when created (as a trial if it had one), ended when last
-- changed.
INSERT INTO subscription_events (subscription_id, user_id, plan_id, status, monthly_amount,
                                 currency, at)
SELECT id, user_id, plan_id,
       CASE WHEN status != 'ended' THEN status
            WHEN trial_end IS NOT NULL THEN 'trialing' ELSE 'active' END,
       CASE interval WHEN 'year' THEN amount / 12 ELSE amount END, currency, created_at
FROM subscriptions;
INSERT INTO subscription_events (subscription_id, user_id, plan_id, status, monthly_amount,
                                 currency, at)
SELECT id, user_id, plan_id, 'ended',
       CASE interval WHEN 'year' THEN amount / 12 ELSE amount END, currency, updated_at
FROM subscriptions WHERE status = 'ended';
