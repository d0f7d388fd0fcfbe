//! Stripe's objects applied to Marquee's records, each step safe to repeat: events are
//! recorded by id before anything is done (a second delivery finds its id done); a
//! subscription is written from the object as Stripe has it now (read again from the API
//! where order matters, so an old event never undoes a newer change); a payment becomes a
//! purchase keyed by its PaymentIntent, so the success page and the webhook together make
//! one purchase.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::PaymentsError;

/// Marquee's keys in Stripe metadata.
pub const META_USER: &str = "marquee_user";
pub const META_PLAN: &str = "marquee_plan";
pub const META_KIND: &str = "marquee_kind";
pub const META_TARGET: &str = "marquee_target";
pub const META_WINDOW: &str = "marquee_window";
/// The offer a checkout carried (its id).
pub const META_OFFER: &str = "marquee_offer";
/// A checkout started by a visitor with no account (`1`): its account is the one its
/// email gives once paid (`payments::guest`).
pub const META_GUEST: &str = "marquee_guest";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventState {
    /// Not seen before: now recorded, to be acted on.
    New,
    /// Seen, but acting on it failed or was cut short: act again.
    Pending,
    /// Already acted on: nothing to do.
    Done,
}

pub fn record_event(
    tx: &Connection,
    id: &str,
    kind: &str,
    created: i64,
    now: i64,
) -> Result<EventState, PaymentsError> {
    let inserted = tx.execute(
        "INSERT OR IGNORE INTO stripe_events (id, type, created, received_at) VALUES (?1, ?2, ?3, ?4)",
        params![id, kind, created, now],
    )?;
    if inserted == 1 {
        return Ok(EventState::New);
    }
    let processed: Option<i64> = tx.query_row(
        "SELECT processed_at FROM stripe_events WHERE id = ?1",
        [id],
        |r| r.get(0),
    )?;
    Ok(if processed.is_some() {
        EventState::Done
    } else {
        EventState::Pending
    })
}

/// Marks an event acted on, or records why acting failed (it is tried again).
pub fn finish_event(
    tx: &Connection,
    id: &str,
    error: Option<&str>,
    now: i64,
) -> Result<(), PaymentsError> {
    match error {
        None => tx.execute(
            "UPDATE stripe_events SET processed_at = ?2, error = NULL WHERE id = ?1",
            params![id, now],
        )?,
        Some(e) => tx.execute(
            "UPDATE stripe_events SET error = ?2 WHERE id = ?1",
            params![id, e],
        )?,
    };
    Ok(())
}

/// Where reconciliation starts listing: the newest event recorded, a little before.
pub fn resume_point(c: &Connection) -> Result<Option<i64>, PaymentsError> {
    Ok(c.query_row(
        "SELECT max(created) FROM stripe_events WHERE processed_at IS NOT NULL",
        [],
        |r| r.get(0),
    )?)
}

pub fn customer_of(c: &Connection, user_id: i64) -> Result<Option<String>, PaymentsError> {
    Ok(c.query_row(
        "SELECT customer_id FROM stripe_customers WHERE user_id = ?1",
        [user_id],
        |r| r.get(0),
    )
    .optional()?)
}

pub fn set_customer(tx: &Connection, user_id: i64, customer: &str) -> Result<(), PaymentsError> {
    tx.execute(
        "INSERT INTO stripe_customers (user_id, customer_id) VALUES (?1, ?2)
         ON CONFLICT (user_id) DO UPDATE SET customer_id = excluded.customer_id",
        params![user_id, customer],
    )?;
    Ok(())
}

/// The member's Stripe subscriptions Marquee holds as not ended.
pub fn live_stripe_subscriptions(
    c: &Connection,
    user_id: i64,
) -> Result<Vec<String>, PaymentsError> {
    let mut stmt = c.prepare(
        "SELECT stripe_subscription_id FROM subscriptions
         WHERE user_id = ?1 AND stripe_subscription_id IS NOT NULL AND status != 'ended'",
    )?;
    let ids = stmt
        .query_map([user_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

/// Takes note of the member's Stripe customer when the member has none yet and the
/// customer is no one else's; an object never moves a customer to another member.
pub fn claim_customer(tx: &Connection, user_id: i64, customer: &str) -> Result<(), PaymentsError> {
    tx.execute(
        "INSERT OR IGNORE INTO stripe_customers (user_id, customer_id) VALUES (?1, ?2)",
        params![user_id, customer],
    )?;
    Ok(())
}

/// The member a Stripe object belongs to: the one its customer is recorded for, and only
/// when the member its metadata names (if any) is that one. A deleted member's customer
/// maps to no one, so what Stripe still sends about it is left alone.
fn member_of(
    c: &Connection,
    customer: &str,
    named: Option<i64>,
) -> Result<Option<i64>, PaymentsError> {
    let owner = user_of_customer(c, customer)?;
    if let (Some(owner), Some(named)) = (owner, named)
        && owner != named
    {
        tracing::warn!(
            customer,
            owner,
            named,
            "a Stripe object names another member than its customer's; left alone"
        );
        return Ok(None);
    }
    Ok(owner)
}

/// The member a customer is recorded for: their first one, or one a guest checkout made
/// for them later (`stripe_guest_customers`).
pub fn user_of_customer(c: &Connection, customer: &str) -> Result<Option<i64>, PaymentsError> {
    Ok(c.query_row(
        "SELECT user_id FROM stripe_customers WHERE customer_id = ?1
         UNION ALL SELECT user_id FROM stripe_guest_customers WHERE customer_id = ?1
         LIMIT 1",
        [customer],
        |r| r.get(0),
    )
    .optional()?)
}

/// Takes note of the customer a guest checkout made as this member's: their first, or a
/// further one when they have one already. A customer recorded for anyone is never moved.
pub fn claim_guest_customer(
    tx: &Connection,
    user_id: i64,
    customer: &str,
) -> Result<(), PaymentsError> {
    if user_of_customer(tx, customer)?.is_some() {
        return Ok(());
    }
    if customer_of(tx, user_id)?.is_none() {
        return set_customer(tx, user_id, customer);
    }
    tx.execute(
        "INSERT INTO stripe_guest_customers (customer_id, user_id) VALUES (?1, ?2)",
        params![customer, user_id],
    )?;
    Ok(())
}

/// A Stripe Subscription as Marquee reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeSubscription {
    pub id: String,
    pub customer: String,
    pub user_id: Option<i64>,
    /// The price its (first) item pays: what decides the plan (`plan_of_price`).
    pub price_id: Option<String>,
    /// The plan the price's own metadata names (Marquee's prices carry it).
    pub price_plan: Option<String>,
    /// Stripe's status word.
    pub status: String,
    pub period_end: i64,
    pub cancel_at_period_end: bool,
    pub trial_end: Option<i64>,
    pub amount: i64,
    pub currency: String,
    pub interval: String,
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

pub fn parse_subscription(v: &Value) -> Result<StripeSubscription, PaymentsError> {
    let bad = |what: &str| PaymentsError::Invalid(format!("subscription without {what}"));
    let item = &v["items"]["data"][0];
    // Since 2025-03-31 the period is on the items; older objects had it on the top.
    let period_end = v["items"]["data"]
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .filter_map(|i| i["current_period_end"].as_i64())
                .max()
        })
        .or_else(|| v["current_period_end"].as_i64())
        .ok_or_else(|| bad("a period end"))?;
    Ok(StripeSubscription {
        id: text(&v["id"]).ok_or_else(|| bad("an id"))?,
        customer: text(&v["customer"])
            .or_else(|| text(&v["customer"]["id"]))
            .ok_or_else(|| bad("a customer"))?,
        user_id: v["metadata"][META_USER]
            .as_str()
            .and_then(|u| u.parse().ok()),
        price_id: text(&item["price"]["id"]).or_else(|| text(&item["price"])),
        price_plan: text(&item["price"]["metadata"][META_PLAN]),
        status: text(&v["status"]).ok_or_else(|| bad("a status"))?,
        period_end,
        cancel_at_period_end: v["cancel_at_period_end"].as_bool().unwrap_or(false),
        trial_end: v["trial_end"].as_i64(),
        amount: item["price"]["unit_amount"].as_i64().unwrap_or(0),
        currency: text(&item["price"]["currency"]).unwrap_or_default(),
        interval: text(&item["price"]["recurring"]["interval"]).unwrap_or_else(|| "month".into()),
    })
}

/// Remembers a Stripe price Marquee made for a plan: a subscription paying it grants
/// that plan (whatever its metadata says).
pub fn remember_price(
    tx: &Connection,
    price_id: &str,
    plan_id: &str,
    interval: &str,
    amount: i64,
    currency: &str,
    now: i64,
) -> Result<(), PaymentsError> {
    tx.execute(
        "INSERT OR IGNORE INTO stripe_prices (price_id, plan_id, interval, amount, currency, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![price_id, plan_id, interval, amount, currency, now],
    )?;
    Ok(())
}

/// The plan a Stripe price was made for, if Marquee made it.
pub fn plan_of_price(c: &Connection, price_id: &str) -> Result<Option<String>, PaymentsError> {
    Ok(c.query_row(
        "SELECT plan_id FROM stripe_prices WHERE price_id = ?1",
        [price_id],
        |r| r.get(0),
    )
    .optional()?)
}

/// A price made by a Marquee older than `stripe_prices` (migration 021) and since replaced
/// (the plan's amount changed): learned for the plan of a subscription recorded before
/// then, when the price's metadata names that plan at the amount, currency and interval
/// the subscription was recorded with. A move to another price (a cheaper one, or one made
/// in Stripe's dashboard) never matches.
fn learn_older_price(
    tx: &Connection,
    sub: &StripeSubscription,
    price_id: &str,
    now: i64,
) -> Result<Option<String>, PaymentsError> {
    let Some(named) = &sub.price_plan else {
        return Ok(None);
    };
    let recorded: Option<String> = tx
        .query_row(
            "SELECT plan_id FROM subscriptions
             WHERE stripe_subscription_id = ?1 AND stripe_price_id IS NULL AND plan_id = ?2
               AND amount = ?3 AND currency = ?4 AND interval = ?5",
            params![sub.id, named, sub.amount, sub.currency, sub.interval],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(plan) = &recorded {
        remember_price(
            tx,
            price_id,
            plan,
            &sub.interval,
            sub.amount,
            &sub.currency,
            now,
        )?;
        tracing::info!(price = price_id, plan = %plan, "a Stripe price made before Marquee kept its prices is known again");
    }
    Ok(recorded)
}

/// Writes the subscription as Stripe has it. Returns the account it belongs to, or `None`
/// when it is not one of a member's (made outside Marquee, or its customer no longer maps
/// to the member: left alone). The plan is the one its price was made for; a price
/// Marquee did not make grants nothing: a subscription recorded before ends here (its
/// price kept, a warning logged), and a new one is left alone.
pub fn apply_subscription(
    tx: &Connection,
    sub: &StripeSubscription,
    now: i64,
) -> Result<Option<i64>, PaymentsError> {
    let Some(user) = member_of(tx, &sub.customer, sub.user_id)? else {
        return Ok(None);
    };
    let plan = match &sub.price_id {
        Some(p) => match plan_of_price(tx, p)? {
            Some(plan) => Some(plan),
            None => learn_older_price(tx, sub, p, now)?,
        },
        None => None,
    };
    let Some(plan) = plan else {
        tracing::warn!(
            subscription = %sub.id,
            price = sub.price_id.as_deref().unwrap_or("none"),
            member = user,
            "a Stripe subscription pays a price Marquee did not make for a plan; it grants no plan"
        );
        tx.execute(
            "UPDATE subscriptions SET status = 'ended', past_due_since = NULL,
                    stripe_price_id = ?2, stripe_seen_at = ?3, updated_at = ?3
             WHERE stripe_subscription_id = ?1",
            params![sub.id, sub.price_id, now],
        )?;
        return Ok(None);
    };
    let status = match sub.status.as_str() {
        "trialing" => "trialing",
        "active" => "active",
        "past_due" | "unpaid" => "past_due",
        // incomplete (first payment not made), incomplete_expired, canceled, paused.
        _ => "ended",
    };
    let interval = if sub.interval == "year" {
        "year"
    } else {
        "month"
    };
    tx.execute(
        "INSERT INTO subscriptions (user_id, plan_id, status, past_due_since, period_end, interval,
                                    amount, currency, cancel_at_period_end, trial_end, source,
                                    stripe_subscription_id, stripe_seen_at, created_at, updated_at,
                                    stripe_price_id)
         VALUES (?1, ?2, ?3, CASE WHEN ?3 = 'past_due' THEN ?11 END, ?4, ?5, ?6, ?7, ?8, ?9,
                 'stripe', ?10, ?11, ?11, ?11, ?12)
         ON CONFLICT (stripe_subscription_id) DO UPDATE SET
             plan_id = excluded.plan_id,
             stripe_price_id = excluded.stripe_price_id,
             status = excluded.status,
             -- The grace period counts from the first failure, not the latest event.
             past_due_since = CASE WHEN excluded.status = 'past_due'
                                   THEN coalesce(subscriptions.past_due_since, excluded.past_due_since)
                              END,
             period_end = excluded.period_end,
             interval = excluded.interval,
             amount = excluded.amount,
             currency = excluded.currency,
             cancel_at_period_end = excluded.cancel_at_period_end,
             trial_end = excluded.trial_end,
             stripe_seen_at = excluded.stripe_seen_at,
             updated_at = excluded.updated_at",
        params![
            user,
            plan,
            status,
            sub.period_end,
            interval,
            sub.amount,
            sub.currency,
            sub.cancel_at_period_end,
            sub.trial_end,
            sub.id,
            now,
            sub.price_id
        ],
    )?;
    if sub.trial_end.is_some() {
        tx.execute(
            "INSERT OR IGNORE INTO trials_used (email_key, user_id, plan_id, used_at)
             SELECT email_key, id, ?2, ?3 FROM users WHERE id = ?1",
            params![user, plan, now],
        )?;
    }
    Ok(Some(user))
}

/// Whether this account (or its email address) has had a free trial.
pub fn trial_used(c: &Connection, user_id: i64) -> Result<bool, PaymentsError> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM trials_used t JOIN users u ON u.id = ?1
                        WHERE t.user_id = u.id OR t.email_key = u.email_key)",
        [user_id],
        |r| r.get(0),
    )?)
}

/// A paid one-time Checkout Session becomes a rental, a purchase or a ticket (once, however
/// often it is applied). Returns the account, or `None` if the session is not one of ours
/// or not paid.
pub fn apply_payment(
    tx: &Connection,
    session: &Value,
    now: i64,
) -> Result<Option<i64>, PaymentsError> {
    if session["mode"] != "payment" || session["payment_status"] != "paid" {
        return Ok(None);
    }
    let meta = &session["metadata"];
    let (Some(user), Some(kind), Some(target)) = (
        buyer_of_session(tx, session)?,
        meta[META_KIND].as_str(),
        meta[META_TARGET].as_str(),
    ) else {
        return Ok(None);
    };
    if !matches!(kind, "rent" | "buy" | "ticket") {
        return Ok(None);
    }
    let window: Option<i64> = match kind {
        "rent" => Some(
            meta[META_WINDOW]
                .as_str()
                .and_then(|w| w.parse().ok())
                .unwrap_or(48 * 3600),
        ),
        _ => None,
    };
    // The PaymentIntent is what a refund names; the session id is the fallback.
    let reference = text(&session["payment_intent"])
        .or_else(|| text(&session["payment_intent"]["id"]))
        .or_else(|| text(&session["id"]))
        .ok_or_else(|| PaymentsError::Invalid("checkout session without an id".into()))?;
    let customer = text(&session["customer"]).or_else(|| text(&session["customer"]["id"]));
    let owner = match &customer {
        Some(c) => member_of(tx, c, Some(user))?,
        None => None,
    };
    if owner != Some(user) {
        return Ok(None);
    }
    tx.execute(
        "INSERT OR IGNORE INTO purchases (user_id, kind, target_id, amount, currency, window_secs,
                                          payment_ref, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            user,
            kind,
            target,
            session["amount_total"].as_i64().unwrap_or(0),
            session["currency"].as_str().unwrap_or(""),
            window,
            reference,
            now
        ],
    )?;
    tx.execute(
        "UPDATE purchases SET refunded_at = (SELECT refunded_at FROM stripe_refunds
                                             WHERE payment_intent = ?1)
         WHERE payment_ref = ?1 AND refunded_at IS NULL
           AND EXISTS (SELECT 1 FROM stripe_refunds WHERE payment_intent = ?1)",
        [&reference],
    )?;
    Ok(Some(user))
}

/// The account a Checkout Session buys for: the member its metadata names, or for a
/// guest checkout the account its payment went to (`guest::buyer`), once known.
pub fn buyer_of_session(c: &Connection, session: &Value) -> Result<Option<i64>, PaymentsError> {
    let meta = &session["metadata"];
    if let Some(user) = meta[META_USER].as_str().and_then(|u| u.parse::<i64>().ok()) {
        return Ok(Some(user));
    }
    match (meta[META_GUEST].as_str(), session["id"].as_str()) {
        (Some("1"), Some(id)) => super::guest::buyer(c, id),
        _ => Ok(None),
    }
}

/// A refunded payment ends what it bought. The refund is remembered, so one reported
/// before its payment (events come in any order) ends the purchase when it lands.
pub fn refund_payment(
    tx: &Connection,
    payment_intent: &str,
    now: i64,
) -> Result<bool, PaymentsError> {
    tx.execute(
        "INSERT OR IGNORE INTO stripe_refunds (payment_intent, refunded_at) VALUES (?1, ?2)",
        params![payment_intent, now],
    )?;
    Ok(tx.execute(
        "UPDATE purchases SET refunded_at = ?2 WHERE payment_ref = ?1 AND refunded_at IS NULL",
        params![payment_intent, now],
    )? > 0)
}

/// A Stripe dispute as Marquee reads it (`charge.dispute.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispute {
    pub id: String,
    pub payment_intent: Option<String>,
    pub charge: Option<String>,
    /// Stripe's word: needs_response, under_review, won, lost, warning_… .
    pub status: String,
    pub amount: i64,
    pub currency: String,
}

pub fn parse_dispute(v: &Value) -> Result<Dispute, PaymentsError> {
    let bad = |what: &str| PaymentsError::Invalid(format!("dispute without {what}"));
    Ok(Dispute {
        id: text(&v["id"]).ok_or_else(|| bad("an id"))?,
        payment_intent: text(&v["payment_intent"]).or_else(|| text(&v["payment_intent"]["id"])),
        charge: text(&v["charge"]).or_else(|| text(&v["charge"]["id"])),
        status: text(&v["status"]).ok_or_else(|| bad("a status"))?,
        amount: v["amount"].as_i64().unwrap_or(0),
        currency: text(&v["currency"]).unwrap_or_default(),
    })
}

/// What a dispute did to Marquee's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisputeOutcome {
    /// Open, won, or a warning: recorded; what was bought stays.
    Recorded,
    /// Lost: the rental, purchase or ticket it paid for ended, as a refund ends it.
    PurchaseEnded,
    /// Lost, and it paid for no purchase (a subscription's invoice, or one not yet seen):
    /// recorded for the operator.
    LostRecorded,
}

/// Records a dispute as Stripe has it now. A lost one ends what its payment bought, as a
/// refund does (remembered, so a payment applied later ends at once too).
pub fn apply_dispute(
    tx: &Connection,
    dispute: &Dispute,
    now: i64,
) -> Result<DisputeOutcome, PaymentsError> {
    tx.execute(
        "INSERT INTO stripe_disputes (id, payment_intent, charge, status, amount, currency,
                                      created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, amount = excluded.amount,
                                        updated_at = excluded.updated_at",
        params![
            dispute.id,
            dispute.payment_intent,
            dispute.charge,
            dispute.status,
            dispute.amount,
            dispute.currency,
            now
        ],
    )?;
    if dispute.status != "lost" {
        return Ok(DisputeOutcome::Recorded);
    }
    let Some(pi) = &dispute.payment_intent else {
        return Ok(DisputeOutcome::LostRecorded);
    };
    Ok(if refund_payment(tx, pi, now)? {
        DisputeOutcome::PurchaseEnded
    } else {
        DisputeOutcome::LostRecorded
    })
}

/// An invoice of a subscription, for the member's payment history. Invoices of customers
/// Marquee does not know are left alone; a paid one stays paid whatever arrives later.
pub fn record_invoice(tx: &Connection, invoice: &Value) -> Result<(), PaymentsError> {
    let (Some(id), Some(customer)) = (
        text(&invoice["id"]),
        text(&invoice["customer"]).or_else(|| text(&invoice["customer"]["id"])),
    ) else {
        return Ok(());
    };
    let Some(user) = user_of_customer(tx, &customer)? else {
        return Ok(());
    };
    let status = text(&invoice["status"]).unwrap_or_else(|| "open".into());
    let amount = if status == "paid" {
        invoice["amount_paid"].as_i64()
    } else {
        invoice["amount_due"].as_i64()
    }
    .unwrap_or(0);
    tx.execute(
        "INSERT INTO invoices (id, user_id, subscription_id, amount, currency, status, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (id) DO UPDATE SET
             status = CASE WHEN invoices.status = 'paid' THEN 'paid' ELSE excluded.status END,
             amount = CASE WHEN invoices.status = 'paid' THEN invoices.amount ELSE excluded.amount END",
        params![
            id,
            user,
            invoice_subscription(invoice),
            amount,
            text(&invoice["currency"]).unwrap_or_default(),
            status,
            invoice["created"].as_i64().unwrap_or(0)
        ],
    )?;
    Ok(())
}

/// An invoice as the member page lists it.
#[derive(Debug, Clone)]
pub struct InvoiceLine {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub created: i64,
}

/// A member's invoices, newest first.
pub fn invoices_of(c: &Connection, user_id: i64) -> Result<Vec<InvoiceLine>, PaymentsError> {
    let mut stmt = c.prepare(
        "SELECT id, amount, currency, status, created FROM invoices WHERE user_id = ?1
         ORDER BY created DESC, id DESC LIMIT 100",
    )?;
    let rows = stmt
        .query_map([user_id], |r| {
            Ok(InvoiceLine {
                id: r.get(0)?,
                amount: r.get(1)?,
                currency: r.get(2)?,
                status: r.get(3)?,
                created: r.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The subscription an invoice belongs to (where the API version put it).
pub fn invoice_subscription(invoice: &Value) -> Option<String> {
    text(&invoice["parent"]["subscription_details"]["subscription"])
        .or_else(|| text(&invoice["subscription"]))
}
