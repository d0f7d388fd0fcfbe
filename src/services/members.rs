//! Deleting a member, which reaches past the database: their live Stripe subscriptions
//! are cancelled at Stripe first, else Stripe keeps charging a person Marquee no longer
//! knows. While one is live and cannot be cancelled (Stripe unreachable or not set up
//! here), the deletion is refused and nothing changes.

use crate::accounts::AccountsError;
use crate::accounts::members::{self, Acting};
use crate::accounts::users::UserId;
use crate::clock;
use crate::config::StripeConfig;
use crate::db::{Db, DbError};
use crate::payments::stripe_api::StripeApi;
use crate::payments::{PaymentsError, sync};
use crate::services::billing::blocking;

#[derive(Debug, thiserror::Error)]
pub enum MemberServiceError {
    #[error(transparent)]
    Accounts(#[from] AccountsError),
    #[error(transparent)]
    Payments(#[from] PaymentsError),
    /// A live Stripe subscription stays: nothing was deleted. The sentence says why.
    #[error("{0}")]
    SubscriptionLive(String),
}

impl From<DbError> for MemberServiceError {
    fn from(e: DbError) -> Self {
        MemberServiceError::Accounts(AccountsError::Db(e))
    }
}

/// Stripe's statuses of a subscription that can still charge (or start charging).
fn live_at_stripe(status: &str) -> bool {
    !matches!(status, "canceled" | "incomplete_expired")
}

/// Deletes the account after cancelling its live Stripe subscriptions: those Marquee has
/// recorded, and those Stripe lists for the member's customer (one a missed webhook left
/// unrecorded). The rules of `members::delete` are checked before Stripe is asked.
pub async fn delete_member(
    db: &Db,
    stripe: &StripeConfig,
    acting: Acting,
    id: UserId,
) -> Result<(), MemberServiceError> {
    let check = acting.clone();
    db.read(move |c| members::may_delete(c, &check, id).map(drop))
        .await?;
    let cancelled = cancel_live_subscriptions(db, stripe, id, Cancel::AtOnce).await?;
    db.write(move |tx| members::delete(tx, &acting, id, &cancelled, clock::now()))
        .await?;
    Ok(())
}

/// How a deleted member's subscriptions end at Stripe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancel {
    /// Today.
    AtOnce,
    /// At the end of the period paid for; nothing more is charged.
    AtPeriodEnd,
}

/// Cancels the member's live Stripe subscriptions (recorded here or listed at Stripe);
/// returns their ids. Refused, with nothing changed here, while one cannot be cancelled.
pub async fn cancel_live_subscriptions(
    db: &Db,
    stripe: &StripeConfig,
    id: UserId,
    how: Cancel,
) -> Result<Vec<String>, MemberServiceError> {
    let (customer, recorded) = db
        .read(move |c| {
            let customer = sync::customer_of(c, id.0)?;
            let recorded = sync::live_stripe_subscriptions(c, id.0)?;
            Ok::<_, MemberServiceError>((customer, recorded))
        })
        .await?;
    let cancelled = match (StripeApi::new(stripe), customer) {
        (None, _) if !recorded.is_empty() => {
            return Err(MemberServiceError::SubscriptionLive(format!(
                "this member has a live Stripe subscription ({}) and Stripe is not set up on \
                 this server to cancel it; cancel it in the Stripe dashboard first. Nothing \
                 was deleted.",
                recorded.join(", ")
            )));
        }
        (None, _) | (Some(_), None) if recorded.is_empty() => Vec::new(),
        (api, customer) => {
            let api = api.ok_or(PaymentsError::NotConfigured)?;
            blocking(move || cancel_all(&api, customer.as_deref(), recorded, how))
                .await
                .map_err(|e| {
                    MemberServiceError::SubscriptionLive(format!(
                        "Stripe could not be asked to cancel this member's subscriptions \
                         ({e}); nothing was deleted. Try again when Stripe answers, or \
                         cancel them in the Stripe dashboard first."
                    ))
                })?
        }
    };
    if !cancelled.is_empty() {
        tracing::info!(member = id.0, subscriptions = ?cancelled, ?how, "cancelled a deleted member's Stripe subscriptions");
    }
    Ok(cancelled)
}

/// Cancels every live subscription of the customer (as Stripe lists them) and every one
/// in `recorded`; returns the ids cancelled.
fn cancel_all(
    api: &StripeApi,
    customer: Option<&str>,
    recorded: Vec<String>,
    how: Cancel,
) -> Result<Vec<String>, PaymentsError> {
    let mut ids = recorded;
    if let Some(customer) = customer {
        for sub in api.subscriptions_of(customer)? {
            let (Some(id), Some(status)) = (sub["id"].as_str(), sub["status"].as_str()) else {
                continue;
            };
            if live_at_stripe(status) && !ids.iter().any(|known| known == id) {
                ids.push(id.to_owned());
            }
        }
    }
    for id in &ids {
        match how {
            Cancel::AtOnce => api.cancel_subscription(id)?,
            Cancel::AtPeriodEnd => api.cancel_at_period_end(id)?,
        };
    }
    Ok(ids)
}
