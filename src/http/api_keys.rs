//! API keys, in the dashboard (`/admin/api-keys`) and the API (`/api/v1/api-keys`): list,
//! create (shown once; scopes no wider than the creator's), revoke.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::{Caller, Principal};
use super::dashboard::Saved;
use super::dashboard::{render, when};
use super::error::{ApiError, ErrorBody, JsonBody};
use super::session::{Admin, PageError, Viewer};
use crate::accounts::apikeys::{self, ApiKeyId, Creator, KeyInfo, ParentKey, Scopes};
use crate::accounts::roles::{Permission, perm};
use crate::jobs::runner::now;

const DAY: i64 = 86_400;
/// Longest expiry the form offers and the API takes, in days.
const MAX_DAYS: i64 = 3660;

fn creator_of_session(viewer: &Viewer) -> Creator {
    let user = viewer.user();
    Creator {
        actor: viewer.actor(),
        owner: Some(user.id),
        granted: Permission::ALL
            .iter()
            .copied()
            .filter(|p| p.key_grantable() && user.role.may(*p))
            .collect(),
        parent: None,
    }
}

fn expiry(days: Option<i64>, now: i64) -> Result<Option<i64>, crate::accounts::AccountsError> {
    match days {
        None | Some(0) => Ok(None),
        Some(d) if (1..=MAX_DAYS).contains(&d) => Ok(Some(now + d * DAY)),
        Some(_) => Err(crate::accounts::AccountsError::Invalid(format!(
            "a key expires in 1 to {MAX_DAYS} days, or never (0)"
        ))),
    }
}

#[derive(Serialize)]
struct KeyRow {
    id: i64,
    name: String,
    prefix: String,
    owner: String,
    scopes: String,
    created: String,
    last_used: String,
    expires: String,
    active: bool,
}

fn row(k: KeyInfo, now: i64) -> KeyRow {
    KeyRow {
        active: k.revoked_at.is_none() && k.expires_at.is_none_or(|t| t > now),
        id: k.id,
        owner: k.owner.unwrap_or_else(|| "(shell)".into()),
        scopes: k.scopes.join(" "),
        created: when(k.created_at),
        last_used: k.last_used_at.map(when).unwrap_or_else(|| "never".into()),
        expires: match (k.revoked_at, k.expires_at) {
            (Some(t), _) => format!("revoked {}", when(t)),
            (None, Some(t)) => when(t),
            (None, None) => "never".into(),
        },
        name: k.name,
        prefix: format!("mq_{}_…", k.prefix),
    }
}

async fn keys_page(
    state: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    created: Option<String>,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let now = now();
    let keys = state.db.read(apikeys::list).await?;
    let rows: Vec<KeyRow> = keys.into_iter().map(|k| row(k, now)).collect();
    let grantable: Vec<&str> = creator_of_session(viewer)
        .granted
        .iter()
        .map(|p| p.scope())
        .collect();
    render(
        state,
        viewer,
        "/admin/api-keys",
        "admin/api_keys.html",
        status,
        minijinja::context! {
            rows => minijinja::Value::from(minijinja::value::Serde(&rows)),
            grantable, created, error,
        },
    )
}

#[get("/admin/api-keys")]
pub async fn page(
    state: web::Data<AppState>,
    admin: Admin<perm::ApiKeysManage>,
) -> Result<HttpResponse, PageError> {
    keys_page(&state, &admin.viewer, StatusCode::OK, None, None).await
}

#[post("/admin/api-keys")]
pub async fn create_from_page(
    state: web::Data<AppState>,
    admin: Admin<perm::ApiKeysManage>,
) -> Result<HttpResponse, PageError> {
    // `scope` repeats, once per ticked box.
    let pairs: Vec<(String, String)> = admin.viewer.form()?;
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let scopes: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.clone())
        .collect();
    let name = field("name").unwrap_or_default();
    let days = field("expires_days").and_then(|d| d.parse().ok());
    let creator = creator_of_session(&admin.viewer);
    let now = now();
    let made = state
        .db
        .write(move |tx| {
            let scopes = Scopes::parse(&scopes)?;
            apikeys::create_by(tx, &creator, &name, scopes, expiry(days, now)?, now)
        })
        .await;
    match made {
        Ok((_, key)) => keys_page(&state, &admin.viewer, StatusCode::OK, Some(key), None).await,
        Err(
            e @ (crate::accounts::AccountsError::Invalid(_)
            | crate::accounts::AccountsError::NotAllowed(_)),
        ) => {
            let error = Some(e.to_string());
            keys_page(&state, &admin.viewer, StatusCode::BAD_REQUEST, None, error).await
        }
        Err(e) => Err(e.into()),
    }
}

#[post("/admin/api-keys/{id}/revoke")]
pub async fn revoke_from_page(
    state: web::Data<AppState>,
    admin: Admin<perm::ApiKeysManage>,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let (actor, id) = (admin.viewer.actor(), ApiKeyId(id.into_inner()));
    state
        .db
        .write(move |tx| apikeys::revoke_by(tx, &actor, id, now()))
        .await?;
    Ok(super::dashboard::saved(
        "/admin/api-keys",
        Saved::ApiKeyRevoked,
    ))
}

/// Every API key (never the keys themselves).
#[utoipa::path(responses(
    (status = 200, body = Vec<KeyInfo>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["apikeys:write"])))]
#[get("/api/v1/api-keys")]
pub async fn list(
    _caller: Caller<perm::ApiKeysManage>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.db.read(apikeys::list).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    pub name: String,
    /// Scope names (`assets:read`); no wider than the caller's own.
    pub scopes: Vec<String>,
    /// Days until it stops working; absent or 0: never. A key made with a key expires
    /// no later than that key.
    pub expires_in_days: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub info: KeyInfo,
    /// The key, shown this once.
    pub key: String,
}

/// Create a key; the answer holds it, once.
#[utoipa::path(request_body = NewApiKey, responses(
    (status = 201, body = CreatedApiKey), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody)), security(("api_key" = ["apikeys:write"])))]
#[post("/api/v1/api-keys")]
pub async fn create(
    caller: Caller<perm::ApiKeysManage>,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let NewApiKey {
        name,
        scopes,
        expires_in_days,
    } = body.parse()?;
    let creator = match &caller.principal {
        Principal::Session(viewer) => creator_of_session(viewer),
        // A key makes keys no wider than itself, for the same owner (so the new key is
        // bounded by that owner's role too), that expire no later than itself and are
        // revoked with it.
        Principal::Key(key) => Creator {
            actor: caller.actor(),
            owner: key.owner,
            granted: Permission::ALL
                .iter()
                .copied()
                .filter(|p| key.may(*p))
                .collect(),
            parent: Some(ParentKey::from(key)),
        },
    };
    let now = now();
    let (info, key) = state
        .db
        .write(move |tx| {
            let scopes = Scopes::parse(&scopes)?;
            apikeys::create_by(
                tx,
                &creator,
                &name,
                scopes,
                expiry(expires_in_days, now)?,
                now,
            )
        })
        .await?;
    Ok(HttpResponse::Created().json(CreatedApiKey { info, key }))
}

/// Revoke a key: it stops working at once, and so does every key it made (and theirs).
#[utoipa::path(params(("id" = i64, Path, description = "Key id")), responses(
    (status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 404, body = ErrorBody)), security(("api_key" = ["apikeys:write"])))]
#[delete("/api/v1/api-keys/{id}")]
pub async fn revoke(
    caller: Caller<perm::ApiKeysManage>,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let (actor, id) = (caller.actor(), ApiKeyId(id.into_inner()));
    state
        .db
        .write(move |tx| apikeys::revoke_by(tx, &actor, id, now()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
