//! A member's subscriptions and purchases as support sees them, and the operator's manual
//! actions on them: cancel or extend a subscription made in the dashboard, mark a purchase
//! refunded. (A Stripe subscription is cancelled through Stripe; its record follows.)

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::AccessError;

#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionRow {
    pub id: i64,
    pub plan_id: String,
    pub status: String,
    pub past_due_since: Option<i64>,
    pub period_end: i64,
    pub interval: String,
    pub amount: i64,
    pub currency: String,
    pub cancel_at_period_end: bool,
    pub trial_end: Option<i64>,
    pub source: String,
    pub stripe_subscription_id: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PurchaseRow {
    pub id: i64,
    /// rent, buy or ticket.
    pub kind: String,
    pub target_id: String,
    pub amount: i64,
    pub currency: String,
    pub window_secs: Option<i64>,
    pub first_play_at: Option<i64>,
    pub payment_ref: Option<String>,
    pub refunded_at: Option<i64>,
    pub created_at: i64,
}

pub fn subscriptions(c: &Connection, user_id: i64) -> Result<Vec<SubscriptionRow>, AccessError> {
    let mut stmt = c.prepare(
        "SELECT id, plan_id, status, past_due_since, period_end, interval, amount, currency,
                cancel_at_period_end, trial_end, source, stripe_subscription_id, created_at
         FROM subscriptions WHERE user_id = ?1 ORDER BY id DESC",
    )?;
    let rows = stmt.query_map([user_id], |r| {
        Ok(SubscriptionRow {
            id: r.get(0)?,
            plan_id: r.get(1)?,
            status: r.get(2)?,
            past_due_since: r.get(3)?,
            period_end: r.get(4)?,
            interval: r.get(5)?,
            amount: r.get(6)?,
            currency: r.get(7)?,
            cancel_at_period_end: r.get(8)?,
            trial_end: r.get(9)?,
            source: r.get(10)?,
            stripe_subscription_id: r.get(11)?,
            created_at: r.get(12)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn purchases(c: &Connection, user_id: i64) -> Result<Vec<PurchaseRow>, AccessError> {
    let mut stmt = c.prepare(
        "SELECT id, kind, target_id, amount, currency, window_secs, first_play_at, payment_ref,
                refunded_at, created_at
         FROM purchases WHERE user_id = ?1 ORDER BY id DESC",
    )?;
    let rows = stmt.query_map([user_id], |r| {
        Ok(PurchaseRow {
            id: r.get(0)?,
            kind: r.get(1)?,
            target_id: r.get(2)?,
            amount: r.get(3)?,
            currency: r.get(4)?,
            window_secs: r.get(5)?,
            first_play_at: r.get(6)?,
            payment_ref: r.get(7)?,
            refunded_at: r.get(8)?,
            created_at: r.get(9)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn purchase(c: &Connection, user_id: i64, id: i64) -> Result<PurchaseRow, AccessError> {
    purchases(c, user_id)?
        .into_iter()
        .find(|p| p.id == id)
        .ok_or_else(|| AccessError::NotFound(format!("purchase {id}")))
}

pub fn subscription(c: &Connection, user_id: i64, id: i64) -> Result<SubscriptionRow, AccessError> {
    subscriptions(c, user_id)?
        .into_iter()
        .find(|s| s.id == id)
        .ok_or_else(|| AccessError::NotFound(format!("subscription {id}")))
}

/// Ends what a purchase gave, now.
pub fn mark_refunded(tx: &Connection, user_id: i64, id: i64, now: i64) -> Result<(), AccessError> {
    let changed = tx.execute(
        "UPDATE purchases SET refunded_at = ?3 WHERE id = ?1 AND user_id = ?2 AND refunded_at IS NULL",
        params![id, user_id, now],
    )?;
    if changed == 0 {
        return Err(AccessError::Invalid(
            "no such purchase, or it was refunded already".into(),
        ));
    }
    Ok(())
}

/// A subscription made in the dashboard: starts now on `plan_id` for `days`, at no charge.
pub fn start_manual(
    tx: &Connection,
    user_id: i64,
    plan_id: &str,
    days: i64,
    now: i64,
) -> Result<i64, AccessError> {
    if !(1..=3660).contains(&days) {
        return Err(AccessError::Invalid("1 to 3660 days".into()));
    }
    let currency: String = tx
        .query_row("SELECT currency FROM plans WHERE id = ?1", [plan_id], |r| {
            r.get(0)
        })
        .optional()?
        .ok_or_else(|| AccessError::NotFound(format!("plan {plan_id}")))?;
    tx.execute(
        "INSERT INTO subscriptions (user_id, plan_id, status, period_end, interval, amount,
                                    currency, source, created_at, updated_at)
         VALUES (?1, ?2, 'active', ?3, 'month', 0, ?4, 'manual', ?5, ?5)",
        params![user_id, plan_id, now + days * 86_400, currency, now],
    )?;
    Ok(tx.last_insert_rowid())
}

/// Moves a dashboard-made subscription's end by `days` (from now if it has ended).
pub fn extend_manual(
    tx: &Connection,
    user_id: i64,
    id: i64,
    days: i64,
    now: i64,
) -> Result<(), AccessError> {
    if !(1..=3660).contains(&days) {
        return Err(AccessError::Invalid("1 to 3660 days".into()));
    }
    let sub = subscription(tx, user_id, id)?;
    if sub.source != "manual" {
        return Err(AccessError::Invalid(
            "a Stripe subscription is changed in Stripe; comp the member instead".into(),
        ));
    }
    tx.execute(
        "UPDATE subscriptions SET status = 'active', past_due_since = NULL,
                period_end = max(period_end, ?3) + ?4, updated_at = ?3
         WHERE id = ?1 AND user_id = ?2",
        params![id, user_id, now, days * 86_400],
    )?;
    Ok(())
}

/// Ends a dashboard-made subscription now.
pub fn cancel_manual(tx: &Connection, user_id: i64, id: i64, now: i64) -> Result<(), AccessError> {
    let sub = subscription(tx, user_id, id)?;
    if sub.source != "manual" {
        return Err(AccessError::Invalid(
            "a Stripe subscription is cancelled through Stripe".into(),
        ));
    }
    tx.execute(
        "UPDATE subscriptions SET status = 'ended', past_due_since = NULL,
                period_end = min(period_end, ?2), updated_at = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    Ok(())
}

/// A running subscription that pays something other than its plan's price now.
#[derive(Debug, Clone)]
pub struct OldPrice {
    pub id: i64,
    pub user_id: i64,
    pub interval: String,
    pub stripe_subscription_id: Option<String>,
}

/// The condition for "pays an old price": running, charged (not a no-charge one), in the
/// plan's currency (Stripe cannot move a subscription to another currency), and an amount
/// other than the plan's for its interval.
const ON_OLD_PRICE: &str = "s.status != 'ended' AND s.period_end > ?1
     AND NOT (s.source = 'manual' AND s.amount = 0)
     AND s.currency = p.currency
     AND s.amount != coalesce(CASE s.interval WHEN 'year' THEN p.yearly_amount
                                               ELSE p.monthly_amount END, s.amount)";

/// A plan's subscribers on an old price, those tried longest ago first (so one that keeps
/// failing does not hold up the others).
pub fn on_old_price(c: &Connection, plan_id: &str, now: i64) -> Result<Vec<OldPrice>, AccessError> {
    let mut stmt = c.prepare(&format!(
        "SELECT s.id, s.user_id, s.interval, s.stripe_subscription_id
         FROM subscriptions s JOIN plans p ON p.id = s.plan_id
         WHERE s.plan_id = ?2 AND {ON_OLD_PRICE} ORDER BY s.updated_at, s.id"
    ))?;
    let rows = stmt.query_map(params![now, plan_id], |r| {
        Ok(OldPrice {
            id: r.get(0)?,
            user_id: r.get(1)?,
            interval: r.get(2)?,
            stripe_subscription_id: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// How many subscribers of each plan pay an old price.
pub fn on_old_price_counts(c: &Connection, now: i64) -> Result<Vec<(String, i64)>, AccessError> {
    let mut stmt = c.prepare(&format!(
        "SELECT s.plan_id, count(*) FROM subscriptions s JOIN plans p ON p.id = s.plan_id
         WHERE {ON_OLD_PRICE} GROUP BY s.plan_id"
    ))?;
    let rows = stmt.query_map([now], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A dashboard-made subscription moved to `amount` (a price migration).
pub fn set_manual_amount(
    tx: &Connection,
    id: i64,
    amount: i64,
    now: i64,
) -> Result<(), AccessError> {
    tx.execute(
        "UPDATE subscriptions SET amount = ?2, migrated_at = ?3, updated_at = ?3
         WHERE id = ?1 AND source = 'manual'",
        params![id, amount, now],
    )?;
    Ok(())
}

/// A subscription's migration was tried at `now` (`migrated`: and done).
pub fn migration_tried(
    tx: &Connection,
    id: i64,
    migrated: bool,
    now: i64,
) -> Result<(), AccessError> {
    tx.execute(
        "UPDATE subscriptions SET updated_at = ?2,
                migrated_at = CASE WHEN ?3 THEN ?2 ELSE migrated_at END
         WHERE id = ?1",
        params![id, now, migrated],
    )?;
    Ok(())
}
