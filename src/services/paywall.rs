//! The operator's paywall changes, alike from the dashboard and the API: access levels on
//! content, plans, access-code batches, comps. Each is one transaction with its audit
//! entry; a level change makes the origin ask again at once which media is free.

use std::sync::Arc;

use serde_json::json;

use crate::access::grants::{self, NewBatch, Scope};
use crate::access::level::AccessLevel;
use crate::access::plans::{self, Plan, PlanFields};
use crate::access::{AccessError, store};
use crate::audit::{self, Actor, AuditError};
use crate::clock;
use crate::db::{Db, DbError};
use crate::playback::Origin;

#[derive(Debug, thiserror::Error)]
pub enum PaywallServiceError {
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Db(#[from] DbError),
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
    db: Db,
    origin: Arc<Origin>,
}

impl PaywallService {
    pub fn new(db: Db, origin: Arc<Origin>) -> Self {
        PaywallService { db, origin }
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
        // Which media plays on the public path may have changed: ask again, now.
        self.origin.ready.forget_all();
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
