//! The operator's paywall changes, alike from the dashboard and the API: access levels on
//! content, plans, access-code batches, comps. Each is one transaction with its audit
//! entry; a level change makes the origin ask again at once which media is free.

use std::sync::Arc;

use serde_json::json;

use crate::access::grants::{self, NewBatch, Scope};
use crate::access::holdings;
use crate::access::level::AccessLevel;
use crate::access::plans::{self, Plan, PlanFields};
use crate::access::{AccessError, store};
use crate::audit::{self, Actor, AuditError};
use crate::clock;
use crate::config::StripeConfig;
use crate::db::{Db, DbError};
use crate::payments::stripe_api::StripeApi;
use crate::payments::{PaymentsError, sync};
use crate::playback::Origin;
use crate::services::billing::blocking;

#[derive(Debug, thiserror::Error)]
pub enum PaywallServiceError {
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error(transparent)]
    Payments(#[from] crate::payments::PaymentsError),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<rusqlite::Error> for PaywallServiceError {
    fn from(e: rusqlite::Error) -> Self {
        PaywallServiceError::Db(DbError::Sqlite(e))
    }
}

/// What an access level is set on.
#[derive(Debug, Clone)]
pub enum LevelTarget {
    Title(String),
    Season { series_id: String, number: i64 },
    Collection(String),
}

impl LevelTarget {
    fn audit_target(&self) -> String {
        match self {
            LevelTarget::Title(id) => format!("title:{id}"),
            LevelTarget::Season { series_id, number } => {
                format!("title:{series_id}/season/{number}")
            }
            LevelTarget::Collection(id) => format!("collection:{id}"),
        }
    }
}

pub struct PaywallService {
    pub(super) db: Db,
    origin: Arc<Origin>,
    /// Wakes `services::encryption` after a level change.
    encryption_wake: Arc<tokio::sync::Notify>,
    /// One price migration at a time (two would change each subscription twice).
    pub(super) migrating: tokio::sync::Mutex<()>,
}

impl PaywallService {
    pub fn new(db: Db, origin: Arc<Origin>, encryption_wake: Arc<tokio::sync::Notify>) -> Self {
        PaywallService {
            db,
            origin,
            encryption_wake,
            migrating: tokio::sync::Mutex::new(()),
        }
    }

    /// Sets (or with `None` clears) the level of a title, season or collection. A title's
    /// `free_preview` marks it playable by anyone whatever its level.
    pub async fn set_level(
        &self,
        actor: &Actor,
        target: LevelTarget,
        level: Option<AccessLevel>,
        free_preview: bool,
    ) -> Result<(), PaywallServiceError> {
        let (actor, now) = (actor.clone(), clock::now());
        self.db
            .write(move |tx| {
                match &target {
                    LevelTarget::Title(id) => {
                        store::set_title_level(tx, id, level.as_ref(), free_preview, now)?
                    }
                    LevelTarget::Season { series_id, number } => {
                        store::set_season_level(tx, series_id, *number, level.as_ref())?
                    }
                    LevelTarget::Collection(id) => {
                        store::set_collection_level(tx, id, level.as_ref())?
                    }
                }
                audit::record(
                    tx,
                    &actor,
                    "access.level",
                    &target.audit_target(),
                    json!({"level": level, "free_preview": free_preview}),
                    now,
                )?;
                Ok::<_, PaywallServiceError>(())
            })
            .await?;
        // Which media plays on the public path may have changed: ask again, now; and
        // encrypt what became premium.
        self.origin.ready.forget_all();
        self.encryption_wake.notify_one();
        Ok(())
    }

    pub async fn create_plan(
        &self,
        actor: &Actor,
        fields: PlanFields,
    ) -> Result<Plan, PaywallServiceError> {
        let (actor, now) = (actor.clone(), clock::now());
        self.db
            .write(move |tx| {
                let plan = plans::create(tx, &fields, now)?;
                audit::record(
                    tx,
                    &actor,
                    "plan.create",
                    &format!("plan:{}", plan.id),
                    json!(fields),
                    now,
                )?;
                Ok(plan)
            })
            .await
    }

    pub async fn update_plan(
        &self,
        actor: &Actor,
        id: &str,
        fields: PlanFields,
        archived: Option<bool>,
    ) -> Result<Plan, PaywallServiceError> {
        let (actor, id, now) = (actor.clone(), id.to_owned(), clock::now());
        self.db
            .write(move |tx| {
                plans::update(tx, &id, &fields, now)?;
                if let Some(archived) = archived {
                    plans::archive(tx, &id, archived, now)?;
                }
                audit::record(
                    tx,
                    &actor,
                    "plan.update",
                    &format!("plan:{id}"),
                    json!({"fields": fields, "archived": archived}),
                    now,
                )?;
                Ok(plans::get(tx, &id)?)
            })
            .await
    }

    /// Makes a batch of access codes; returns the batch.
    pub async fn create_batch(
        &self,
        actor: &Actor,
        batch: NewBatch,
    ) -> Result<grants::Batch, PaywallServiceError> {
        let (actor, now) = (actor.clone(), clock::now());
        let by = actor.label().to_owned();
        self.db
            .write(move |tx| {
                let id = grants::create_batch(tx, &batch, &by, now)?;
                audit::record(
                    tx,
                    &actor,
                    "codes.create",
                    &format!("code_batch:{id}"),
                    json!({"name": batch.name, "grants": batch.scope, "days": batch.days,
                           "count": batch.count, "uses_per_code": batch.uses_per_code}),
                    now,
                )?;
                Ok(grants::batch(tx, id)?)
            })
            .await
    }

    /// Gives a member a plan or a title outside any payment.
    pub async fn comp(
        &self,
        actor: &Actor,
        user_id: i64,
        scope: Scope,
        until: Option<i64>,
        note: String,
    ) -> Result<i64, PaywallServiceError> {
        let (actor, now) = (actor.clone(), clock::now());
        let by = actor.label().to_owned();
        self.db
            .write(move |tx| {
                crate::accounts::users::get(tx, crate::accounts::users::UserId(user_id))
                    .map_err(|e| AccessError::Invalid(e.to_string()))?
                    .ok_or_else(|| AccessError::NotFound(format!("member {user_id}")))?;
                let id = grants::comp(tx, user_id, &scope, until, &note, &by, now)?;
                audit::record(
                    tx,
                    &actor,
                    "member.comp",
                    &format!("member:{user_id}"),
                    json!({"grant": id, "scope": scope, "until": until, "note": note}),
                    now,
                )?;
                Ok(id)
            })
            .await
    }

    /// Subscribes a member to a plan for `days` at no charge (a subscription made in the
    /// dashboard, with the plan's stream limit).
    pub async fn start_subscription(
        &self,
        actor: &Actor,
        user_id: i64,
        plan_id: String,
        days: i64,
    ) -> Result<i64, PaywallServiceError> {
        let (actor, now) = (actor.clone(), clock::now());
        self.db
            .write(move |tx| {
                let id = holdings::start_manual(tx, user_id, &plan_id, days, now)?;
                audit::record(
                    tx,
                    &actor,
                    "member.subscribe",
                    &format!("member:{user_id}"),
                    json!({"subscription": id, "plan": plan_id, "days": days}),
                    now,
                )?;
                Ok(id)
            })
            .await
    }

    /// Extends a dashboard-made subscription.
    pub async fn extend_subscription(
        &self,
        actor: &Actor,
        user_id: i64,
        id: i64,
        days: i64,
    ) -> Result<(), PaywallServiceError> {
        let (actor, now) = (actor.clone(), clock::now());
        self.db
            .write(move |tx| {
                holdings::extend_manual(tx, user_id, id, days, now)?;
                audit::record(
                    tx,
                    &actor,
                    "member.extend",
                    &format!("member:{user_id}"),
                    json!({"subscription": id, "days": days}),
                    now,
                )?;
                Ok(())
            })
            .await
    }

    /// Cancels a subscription now: through Stripe for a Stripe one (its record follows
    /// Stripe's answer), directly for one made in the dashboard.
    pub async fn cancel_subscription(
        &self,
        actor: &Actor,
        stripe: &StripeConfig,
        user_id: i64,
        id: i64,
    ) -> Result<(), PaywallServiceError> {
        let sub = self
            .db
            .read(move |c| holdings::subscription(c, user_id, id))
            .await?;
        let now = clock::now();
        let stripe_state = match &sub.stripe_subscription_id {
            Some(stripe_id) => {
                let api = StripeApi::new(stripe).ok_or(PaymentsError::NotConfigured)?;
                let stripe_id = stripe_id.clone();
                let object = blocking(move || api.cancel_subscription(&stripe_id)).await?;
                Some(sync::parse_subscription(&object)?)
            }
            None => None,
        };
        let actor = actor.clone();
        self.db
            .write(move |tx| {
                match &stripe_state {
                    Some(state) => {
                        sync::apply_subscription(tx, state, now)?;
                    }
                    None => holdings::cancel_manual(tx, user_id, id, now)?,
                }
                audit::record(
                    tx,
                    &actor,
                    "member.cancel",
                    &format!("member:{user_id}"),
                    json!({"subscription": id}),
                    now,
                )?;
                Ok(())
            })
            .await
    }

    /// Refunds a purchase (a rental, say): through Stripe when it was paid there, then it
    /// ends at once.
    pub async fn refund_purchase(
        &self,
        actor: &Actor,
        stripe: &StripeConfig,
        user_id: i64,
        id: i64,
    ) -> Result<(), PaywallServiceError> {
        let purchase = self
            .db
            .read(move |c| holdings::purchase(c, user_id, id))
            .await?;
        if purchase.refunded_at.is_some() {
            return Err(AccessError::Invalid("refunded already".into()).into());
        }
        if let Some(pi) = purchase.payment_ref.filter(|r| r.starts_with("pi_")) {
            let api = StripeApi::new(stripe).ok_or(PaymentsError::NotConfigured)?;
            blocking(move || api.refund(&pi)).await?;
        }
        let (actor, now) = (actor.clone(), clock::now());
        self.db
            .write(move |tx| {
                holdings::mark_refunded(tx, user_id, id, now)?;
                audit::record(
                    tx,
                    &actor,
                    "member.refund",
                    &format!("member:{user_id}"),
                    json!({"purchase": id, "amount": purchase.amount, "currency": purchase.currency}),
                    now,
                )?;
                Ok(())
            })
            .await
    }

    /// Ends a comp or a redeemed code's grant now.
    pub async fn revoke(
        &self,
        actor: &Actor,
        user_id: i64,
        grant_id: i64,
    ) -> Result<(), PaywallServiceError> {
        let (actor, now) = (actor.clone(), clock::now());
        self.db
            .write(move |tx| {
                grants::revoke(tx, user_id, grant_id, now)?;
                audit::record(
                    tx,
                    &actor,
                    "member.revoke",
                    &format!("member:{user_id}"),
                    json!({"grant": grant_id}),
                    now,
                )?;
                Ok(())
            })
            .await
    }
}
