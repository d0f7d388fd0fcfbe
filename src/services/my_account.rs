//! A member's own account across domains: what they hold, with plans and titles by name
//! (`access` + `catalog`), their receipts (Stripe), their data as one JSON document, and
//! deleting the account (Stripe first, then every row that names them; `events.db` is
//! the caller's, as for the operator's deletion).

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::{Value, json};

use crate::access::{AccessError, grants, holdings};
use crate::accounts::users::{User, UserId};
use crate::accounts::{AccountsError, profile, sessions};
use crate::catalog::{CatalogError, my_list, progress, visibility};
use crate::config::StripeConfig;
use crate::db::{Db, DbError};
use crate::payments::stripe_api::StripeApi;
use crate::payments::{PaymentsError, sync};
use crate::services::billing::blocking;
use crate::services::members::{Cancel, MemberServiceError, cancel_live_subscriptions};

#[derive(Debug, thiserror::Error)]
pub enum MyAccountError {
    #[error(transparent)]
    Accounts(#[from] AccountsError),
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Payments(#[from] PaymentsError),
    #[error(transparent)]
    Db(#[from] DbError),
    /// A live subscription could not be cancelled: nothing was deleted (the sentence).
    #[error("{0}")]
    SubscriptionLive(String),
}

impl From<rusqlite::Error> for MyAccountError {
    fn from(e: rusqlite::Error) -> Self {
        MyAccountError::Db(DbError::Sqlite(e))
    }
}

impl From<MemberServiceError> for MyAccountError {
    fn from(e: MemberServiceError) -> Self {
        match e {
            MemberServiceError::Accounts(e) => MyAccountError::Accounts(e),
            MemberServiceError::Payments(e) => MyAccountError::Payments(e),
            // The operator's sentence (subscription ids, Stripe's error, the Stripe
            // dashboard) goes to the log; the member reads one meant for them.
            MemberServiceError::SubscriptionLive(m) => {
                tracing::warn!(why = %m, "a member's own deletion waits on Stripe");
                MyAccountError::SubscriptionLive(
                    "Your subscription could not be cancelled with the payment provider just \
                     now, so nothing was deleted and nothing more is charged. Try again in a \
                     few minutes."
                        .into(),
                )
            }
        }
    }
}

/// A plan the member holds (a subscription, or a plan from a code or a comp).
#[derive(Debug, Clone, Serialize)]
pub struct PlanHeld {
    pub plan: String,
    pub status: String,
    pub period_end: i64,
    pub cancel_at_period_end: bool,
    pub interval: String,
    pub amount: i64,
    pub currency: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Bought {
    /// 'rent', 'buy' or 'ticket'.
    pub kind: String,
    /// The title's name; for a ticket, the event's title ("" when none sells it).
    pub title: String,
    /// A ticket's event start, from a title that sells it.
    pub starts_at: Option<i64>,
    pub amount: i64,
    pub currency: String,
    pub bought_at: i64,
    pub window_secs: Option<i64>,
    pub first_play_at: Option<i64>,
    pub refunded_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Granted {
    pub is_plan: bool,
    /// The plan's or title's name.
    pub name: String,
    pub until: Option<i64>,
    /// 'code' or 'comp'.
    pub source: String,
    pub granted_at: i64,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Saved {
    pub title_id: String,
    pub title: String,
}

/// What the account page shows beside the forms.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub plans: Vec<PlanHeld>,
    pub bought: Vec<Bought>,
    pub granted: Vec<Granted>,
    pub history: Vec<progress::Watched>,
    pub my_list: Vec<Saved>,
    /// Has a Stripe customer: receipts and the billing portal exist.
    pub customer: bool,
}

/// How many titles of history and of "My list" the account page shows.
const SHOWN: i64 = 50;

fn plan_name(c: &Connection, id: &str) -> Result<String, MyAccountError> {
    Ok(
        c.query_row("SELECT name FROM plans WHERE id = ?1", [id], |r| r.get(0))
            .optional()?
            .unwrap_or_else(|| "A plan no longer offered".to_owned()),
    )
}

/// A title's name, whatever its state: what a member paid for or was given (a screener of
/// a draft, say) is theirs to know by name.
fn title_name(c: &Connection, id: &str) -> Result<String, MyAccountError> {
    Ok(
        c.query_row("SELECT name FROM titles WHERE id = ?1", [id], |r| r.get(0))
            .optional()?
            .unwrap_or_else(|| NO_LONGER_AVAILABLE.to_owned()),
    )
}

pub const NO_LONGER_AVAILABLE: &str = "A title no longer available";

/// What a ticket is for: a title sold with that event's ticket (a live one first), and
/// when the event starts.
fn ticketed_title(
    c: &Connection,
    event_id: &str,
    now: i64,
) -> Result<Option<(String, i64)>, MyAccountError> {
    Ok(c.query_row(
        &format!(
            "SELECT name, json_extract(access, '$.starts_at') FROM titles t
                 WHERE json_extract(access, '$.kind') = 'pay_per_view'
                   AND json_extract(access, '$.event_id') = ?1
                 ORDER BY NOT {}, parent_id IS NOT NULL, name LIMIT 1",
            visibility::live_sql(2)
        ),
        params![event_id, now],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()?)
}

fn read_overview(c: &Connection, user: i64, now: i64) -> Result<Overview, MyAccountError> {
    let mut plans = Vec::new();
    for s in holdings::subscriptions(c, user)? {
        plans.push(PlanHeld {
            plan: plan_name(c, &s.plan_id)?,
            status: s.status,
            period_end: s.period_end,
            cancel_at_period_end: s.cancel_at_period_end,
            interval: s.interval,
            amount: s.amount,
            currency: s.currency,
        });
    }
    let mut bought = Vec::new();
    for p in holdings::purchases(c, user)? {
        let (title, starts_at) = if p.kind == "ticket" {
            match ticketed_title(c, &p.target_id, now)? {
                Some((name, starts)) => (name, Some(starts)),
                None => (String::new(), None),
            }
        } else {
            (title_name(c, &p.target_id)?, None)
        };
        bought.push(Bought {
            kind: p.kind,
            title,
            starts_at,
            amount: p.amount,
            currency: p.currency,
            bought_at: p.created_at,
            window_secs: p.window_secs,
            first_play_at: p.first_play_at,
            refunded_at: p.refunded_at,
        });
    }
    let mut granted = Vec::new();
    for g in grants::of_user(c, user)? {
        let (kind, id) = g.scope.parts();
        let is_plan = kind == "plan";
        granted.push(Granted {
            is_plan,
            name: if is_plan {
                plan_name(c, id)?
            } else {
                title_name(c, id)?
            },
            until: g.until,
            source: g.source,
            granted_at: g.created_at,
            revoked_at: g.revoked_at,
        });
    }
    let my_list = my_list::titles(c, user, now, SHOWN)?
        .into_iter()
        .map(|t| Saved {
            title_id: t.id,
            title: t.name,
        })
        .collect();
    Ok(Overview {
        plans,
        bought,
        granted,
        history: progress::history(c, user, now, SHOWN)?,
        my_list,
        customer: sync::customer_of(c, user)?.is_some(),
    })
}

pub async fn overview(db: &Db, user: UserId, now: i64) -> Result<Overview, MyAccountError> {
    db.read(move |c| read_overview(c, user.0, now)).await
}

/// A payment as Stripe keeps it, with the page Stripe shows for it.
#[derive(Debug, Clone, Serialize)]
pub struct Receipt {
    pub at: i64,
    pub amount: i64,
    pub currency: String,
    /// Stripe's description of it, or "" (the page says "Payment").
    pub description: String,
    /// An invoice (a subscription's), else a receipt (a payment's).
    pub invoice: bool,
    pub refunded: bool,
    /// Stripe's page for it (an http(s) address, else none).
    pub url: Option<String>,
    /// The rental, purchase or ticket it paid for: its kind and the title's name.
    pub bought: Option<(String, String)>,
}

fn web_address(v: &Value) -> Option<String> {
    v.as_str()
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .map(str::to_owned)
}

/// The member's invoices and paid charges at Stripe, newest first. `None` when they have
/// no Stripe customer or Stripe is not set up here.
pub async fn receipts(
    db: &Db,
    stripe: &StripeConfig,
    user: UserId,
    now: i64,
) -> Result<Option<Vec<Receipt>>, MyAccountError> {
    let (customer, bought) = db
        .read(move |c| {
            let mut bought = std::collections::HashMap::new();
            for p in holdings::purchases(c, user.0)? {
                if let Some(reference) = p.payment_ref {
                    let title = if p.kind == "ticket" {
                        ticketed_title(c, &p.target_id, now)?
                            .map(|(name, _)| name)
                            .unwrap_or_default()
                    } else {
                        title_name(c, &p.target_id)?
                    };
                    bought.insert(reference, (p.kind, title));
                }
            }
            Ok::<_, MyAccountError>((sync::customer_of(c, user.0)?, bought))
        })
        .await?;
    let (Some(api), Some(customer)) = (StripeApi::new(stripe), customer) else {
        return Ok(None);
    };
    let (invoices, charges) = blocking(move || {
        Ok::<_, PaymentsError>((api.invoices_of(&customer)?, api.charges_of(&customer)?))
    })
    .await?;
    let mut found = Vec::new();
    for i in invoices.iter().filter(|i| i["status"] == "paid") {
        found.push(Receipt {
            at: i["created"].as_i64().unwrap_or_default(),
            amount: i["amount_paid"].as_i64().unwrap_or_default(),
            currency: i["currency"].as_str().unwrap_or_default().to_owned(),
            description: i["number"]
                .as_str()
                .map(|n| format!("Invoice {n}"))
                .unwrap_or_default(),
            invoice: true,
            refunded: false,
            url: web_address(&i["hosted_invoice_url"]),
            bought: None,
        });
    }
    // A charge that paid an invoice is shown by its invoice.
    for ch in charges
        .iter()
        .filter(|c| c["paid"] == true && c["invoice"].is_null())
    {
        found.push(Receipt {
            at: ch["created"].as_i64().unwrap_or_default(),
            amount: ch["amount"].as_i64().unwrap_or_default(),
            currency: ch["currency"].as_str().unwrap_or_default().to_owned(),
            description: ch["description"].as_str().unwrap_or_default().to_owned(),
            invoice: false,
            refunded: ch["refunded"] == true,
            url: web_address(&ch["receipt_url"]),
            bought: ch["payment_intent"]
                .as_str()
                .and_then(|pi| bought.get(pi))
                .cloned(),
        });
    }
    found.sort_by_key(|r| std::cmp::Reverse(r.at));
    Ok(Some(found))
}

fn rfc3339(secs: i64) -> Value {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .map_or(Value::Null, Value::String)
}

fn opt_time(secs: Option<i64>) -> Value {
    secs.map_or(Value::Null, rfc3339)
}

/// Everything the member can see about themselves, as one JSON document: their profile,
/// sessions and devices, plans, purchases, grants, payments, watch history, list, offers
/// and campaign email. Names, not ids; times in RFC 3339; amounts in the currency's minor
/// unit with the currency.
pub async fn export(
    db: &Db,
    user: User,
    policy: sessions::SessionPolicy,
    now: i64,
) -> Result<Value, MyAccountError> {
    db.read(move |c| {
        let id = user.id.0;
        let overview = read_overview(c, id, now)?;
        let sessions: Vec<Value> = sessions::list(c, user.id, &policy, now)?
            .into_iter()
            .map(|s| {
                json!({"device": s.device, "address": s.ip,
                       "signed_in_at": rfc3339(s.created_at), "last_seen_at": rfc3339(s.last_seen_at)})
            })
            .collect();
        let devices: Vec<Value> = c
            .prepare("SELECT created_at FROM trusted_devices WHERE user_id = ?1 ORDER BY created_at")?
            .query_map([id], |r| r.get::<_, i64>(0))?
            .map(|t| t.map(|t| json!({"known_since": rfc3339(t)})))
            .collect::<Result<_, _>>()?;
        let payments: Vec<Value> = c
            .prepare(
                "SELECT amount, currency, status, created FROM invoices
                 WHERE user_id = ?1 ORDER BY created DESC",
            )?
            .query_map([id], |r| {
                Ok(json!({"amount_minor": r.get::<_, i64>(0)?, "currency": r.get::<_, String>(1)?,
                          "status": r.get::<_, String>(2)?, "at": rfc3339(r.get(3)?)}))
            })?
            .collect::<Result<_, _>>()?;
        let offers: Vec<Value> = c
            .prepare(
                "SELECT o.name, r.redeemed_at FROM offer_redemptions r JOIN offers o ON o.id = r.offer_id
                 WHERE r.user_id = ?1 ORDER BY r.redeemed_at",
            )?
            .query_map([id], |r| {
                Ok(json!({"offer": r.get::<_, String>(0)?, "redeemed_at": rfc3339(r.get(1)?)}))
            })?
            .collect::<Result<_, _>>()?;
        let campaigns: Vec<Value> = c
            .prepare(
                "SELECT c.name, m.emailed_at, m.opened_at, m.redeemed_at
                 FROM campaign_members m JOIN campaigns c ON c.id = m.campaign_id
                 WHERE m.user_id = ?1 AND m.grp = 'target' ORDER BY m.contacted_at",
            )?
            .query_map([id], |r| {
                Ok(json!({"campaign": r.get::<_, String>(0)?, "emailed_at": opt_time(r.get(1)?),
                          "opened_at": opt_time(r.get(2)?), "redeemed_at": opt_time(r.get(3)?)}))
            })?
            .collect::<Result<_, _>>()?;
        let opted_out: Option<i64> = c
            .query_row("SELECT at FROM email_opt_outs WHERE user_id = ?1", [id], |r| r.get(0))
            .optional()?;
        let trial_used = sync::trial_used(c, id)?;
        let history: Vec<Value> = progress::history(c, id, now, i64::MAX)?
            .into_iter()
            .map(|w| {
                json!({"title": w.title, "series": w.series, "position_secs": w.position_secs.round(),
                       "duration_secs": w.duration_secs.round(), "finished": w.finished,
                       "last_watched_at": rfc3339(w.updated_at)})
            })
            .collect();
        let list: Vec<Value> = my_list::all(c, id, now)?
            .into_iter()
            .map(|(title, at)| json!({"title": title, "saved_at": rfc3339(at)}))
            .collect();
        Ok::<_, MyAccountError>(json!({
            "exported_at": rfc3339(now),
            "profile": {
                "email": user.email, "name": user.display_name, "role": user.role.as_str(),
                "member_since": rfc3339(user.created_at),
                "email_confirmed_at": opt_time(user.email_verified_at),
                "has_password": user.password_hash.is_some(),
            },
            "sessions": sessions,
            "known_devices": devices,
            "subscriptions": overview.plans.iter().map(|p| json!({
                "plan": p.plan, "status": p.status, "billed": p.interval,
                "amount_minor": p.amount, "currency": p.currency,
                "period_end": rfc3339(p.period_end), "ends_at_period_end": p.cancel_at_period_end,
            })).collect::<Vec<_>>(),
            "free_trial_used": trial_used,
            "purchases": overview.bought.iter().map(|b| json!({
                "kind": match b.kind.as_str() { "rent" => "rental", "buy" => "purchase", _ => "ticket" },
                "title": b.title, "amount_minor": b.amount, "currency": b.currency,
                "bought_at": rfc3339(b.bought_at), "rental_hours": b.window_secs.map(|w| w / 3600),
                "first_played_at": opt_time(b.first_play_at), "refunded_at": opt_time(b.refunded_at),
            })).collect::<Vec<_>>(),
            "access_given": overview.granted.iter().map(|g| json!({
                "plan": g.is_plan.then_some(&g.name), "title": (!g.is_plan).then_some(&g.name),
                "until": opt_time(g.until), "from": if g.source == "code" { "an access code" } else { "the operator" },
                "given_at": rfc3339(g.granted_at), "revoked_at": opt_time(g.revoked_at),
            })).collect::<Vec<_>>(),
            "payments": payments,
            "offers_redeemed": offers,
            "watch_history": history,
            "my_list": list,
            "campaign_email": {
                "opted_out_at": opt_time(opted_out),
                "campaigns": campaigns,
            },
        }))
    })
    .await
}

/// What deleting one's own account needs first.
pub async fn may_delete(db: &Db, user: User) -> Result<(), MyAccountError> {
    db.read(move |c| profile::may_delete_own(c, &user))
        .await
        .map_err(Into::into)
}

/// Deletes the member's own account: their live Stripe subscriptions are cancelled first
/// (`how`), then the account and every row that names them go (`profile::delete_own`),
/// and the main database is checkpointed so no page of the old rows is left in its
/// write-ahead log. The caller forgets their viewing in `events.db`. Returns the
/// subscriptions cancelled.
pub async fn delete_own_account(
    db: &Db,
    stripe: &StripeConfig,
    user: User,
    how: Cancel,
    now: i64,
) -> Result<Vec<String>, MyAccountError> {
    may_delete(db, user.clone()).await?;
    let cancelled = cancel_live_subscriptions(db, stripe, user.id, how).await?;
    let done = cancelled.clone();
    db.write(move |tx| profile::delete_own(tx, &user, &done, now))
        .await?;
    db.checkpoint().await?;
    Ok(cancelled)
}

/// The member's live subscriptions that would stop renewing: their names and when their
/// paid time ends (the deletion page explains the choice with them).
pub async fn live_plans(db: &Db, user: UserId, now: i64) -> Result<Vec<PlanHeld>, MyAccountError> {
    let overview = overview(db, user, now).await?;
    Ok(overview
        .plans
        .into_iter()
        .filter(|p| p.status != "ended" && p.period_end > now)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_addresses_are_linked() {
        assert_eq!(
            web_address(&json!("https://pay.stripe.com/receipts/x")).as_deref(),
            Some("https://pay.stripe.com/receipts/x")
        );
        assert!(web_address(&json!("javascript:alert(1)")).is_none());
        assert!(web_address(&Value::Null).is_none());
    }
}
