-- Offers as redeemed: one row per account and offer (an account takes an offer once). A
-- new member's discount is recorded when the checkout that carried it completes; an
-- existing member's when it is applied to their subscription.
CREATE TABLE offer_redemptions (
    offer_id    INTEGER NOT NULL REFERENCES offers (id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- 'checkout' (with a new subscription) or 'subscription' (on a current one).
    applied_to  TEXT NOT NULL CHECK (applied_to IN ('checkout', 'subscription')),
    -- The Checkout Session or subscription it went onto.
    reference   TEXT,
    redeemed_at INTEGER NOT NULL,
    PRIMARY KEY (offer_id, user_id)
);
CREATE INDEX offer_redemptions_user ON offer_redemptions (user_id);
-- The current subscription's amount was set by a price migration (shown on the member page).
ALTER TABLE subscriptions ADD COLUMN migrated_at INTEGER;
-- Refunds as Stripe reported them, by PaymentIntent: a `charge.refunded` that arrives before
-- the payment it refunds is applied still ends the purchase when the payment lands.
CREATE TABLE stripe_refunds (
    payment_intent TEXT PRIMARY KEY,
    refunded_at    INTEGER NOT NULL
);
-- A subscription's invoices as Stripe reported them (`invoice.paid`, `invoice.payment_failed`),
-- for the member's payment history on the support page.
CREATE TABLE invoices (
    id              TEXT PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    subscription_id TEXT,
    amount          INTEGER NOT NULL,
    currency        TEXT NOT NULL,
    -- 'paid' stays 'paid' whatever arrives later.
    status          TEXT NOT NULL,
    created         INTEGER NOT NULL
);
CREATE INDEX invoices_user ON invoices (user_id, created);
