//! `/api/v1/settings` and `/api/v1/audit`: the Settings and Audit log sections, for scripts.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, get, patch, web};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;

use super::AppState;
use super::auth::Caller;
use super::dashboard::audit::filter_of;
use super::error::{ApiError, ErrorBody, ErrorCode, JsonBody};
use crate::accounts::roles::perm;
use crate::audit::{self, Entry};
use crate::settings::{SettingView, SettingsError};

impl From<SettingsError> for ApiError {
    fn from(e: SettingsError) -> Self {
        match e {
            e @ (SettingsError::Unknown(_) | SettingsError::Invalid(_)) => {
                ApiError::bad_request(e.to_string())
            }
            e @ SettingsError::Pinned { .. } => ApiError::new(ErrorCode::Conflict, e.to_string()),
            e @ SettingsError::NotAllowed { .. } => ApiError::forbidden(e.to_string()),
            e @ SettingsError::PasswordNeeded => ApiError::bad_request(e.to_string()),
            other => ApiError::internal(other),
        }
    }
}

/// Every setting the dashboard shows: value (never a secret's), whether pinned and why.
#[utoipa::path(responses(
    (status = 200, body = Vec<SettingView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["settings:read"])))]
#[get("/api/v1/settings")]
pub async fn list(
    _caller: Caller<perm::SettingsRead>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.settings.view()))
}

/// Change settings: a JSON object of key → value, applied all together or not at all. A
/// pinned setting is refused with 409. Email (`smtp.*`) and `site.base_url` only an owner
/// changes, signed in (403 for admins and every key); `paywall.*` and `stripe.*` also need
/// `billing:write`. A change of the SMTP server, port or security clears the stored
/// password unless the same change gives one.
#[utoipa::path(request_body(content = Object, description = "setting key → new value"), responses(
    (status = 200, body = Vec<SettingView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = ["settings:write"])))]
#[patch("/api/v1/settings")]
pub async fn update(
    caller: Caller<perm::SettingsWrite>,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    state
        .settings
        .update(
            &caller.actor(),
            &caller.granted(),
            body.parse::<BTreeMap<String, Value>>()?,
        )
        .await?;
    Ok(HttpResponse::Ok().json(state.settings.view()))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditParams {
    /// Entries whose action starts with this (`settings.`).
    action: Option<String>,
    /// Entries whose actor contains this.
    actor: Option<String>,
    /// Entries whose target starts with this (`asset:`).
    target: Option<String>,
    /// First day, `YYYY-MM-DD` (UTC).
    from: Option<String>,
    /// Last day, `YYYY-MM-DD` (UTC).
    to: Option<String>,
    /// Entries older than this id (paging).
    before: Option<i64>,
    /// 1 to 500 (default 100).
    limit: Option<u32>,
}

/// The audit log, newest first.
#[utoipa::path(params(AuditParams), responses(
    (status = 200, body = Vec<Entry>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody)), security(("api_key" = ["audit:read"])))]
#[get("/api/v1/audit")]
pub async fn entries(
    _caller: Caller<perm::AuditRead>,
    state: web::Data<AppState>,
    params: web::Query<AuditParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.into_inner();
    let text = |s: &Option<String>| s.clone().unwrap_or_default();
    let filter = filter_of(
        &text(&p.action),
        &text(&p.actor),
        &text(&p.target),
        &text(&p.from),
        &text(&p.to),
        p.before,
        p.limit.unwrap_or(100),
    )
    .map_err(ApiError::from)?;
    let found = state
        .db
        .read(move |c| {
            audit::list(c, &filter).map_err(|e| match e {
                audit::AuditError::Invalid(m) => ApiError::bad_request(m),
                other => ApiError::internal(other),
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(found))
}
