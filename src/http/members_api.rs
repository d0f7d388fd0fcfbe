//! `/api/v1/members` and `/api/v1/invites`: what the Members section does, for scripts.
//! The same `accounts::members` rules and audit entries as the dashboard.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody, JsonBody};
use super::invite_pages::deliver;
use crate::accounts::invites::{self, Invite};
use crate::accounts::members;
use crate::accounts::roles::{Role, perm};
use crate::accounts::sessions;
use crate::accounts::users::{self, MemberQuery, User, UserId};
use crate::jobs::runner::now;

const MAX_PAGE: u32 = 200;

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    /// owner, admin, editor, support or viewer.
    pub role: String,
    pub disabled: bool,
    pub email_verified: bool,
    pub created_at: i64,
}

impl From<User> for MemberView {
    fn from(u: User) -> Self {
        MemberView {
            id: u.id.0,
            role: u.role.as_str().to_owned(),
            disabled: u.disabled,
            email_verified: u.email_verified_at.is_some(),
            created_at: u.created_at,
            email: u.email,
            display_name: u.display_name,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: i64,
    pub device: String,
    pub ip: String,
    pub created_at: i64,
    pub last_seen_at: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberDetail {
    #[serde(flatten)]
    pub member: MemberView,
    pub sessions: Vec<SessionView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberPage {
    pub items: Vec<MemberView>,
    pub total: u64,
    pub limit: u32,
    pub offset: u32,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct MemberParams {
    /// Email starting with this, or name containing it (case ignored).
    q: Option<String>,
    /// Only this role.
    role: Option<String>,
    /// Page size, 1 to 200 (default 50).
    limit: Option<u32>,
    offset: Option<u32>,
}

/// List members, newest first.
#[utoipa::path(params(MemberParams), responses(
    (status = 200, body = MemberPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody)), security(("api_key" = ["members:read"])))]
#[get("/api/v1/members")]
pub async fn list(
    _caller: Caller<perm::MembersRead>,
    state: web::Data<AppState>,
    params: web::Query<MemberParams>,
) -> Result<HttpResponse, ApiError> {
    let role = match params.role.as_deref() {
        None | Some("") => None,
        Some(r) => Some(r.parse::<Role>()?),
    };
    let limit = params.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let query = MemberQuery {
        search: params.q.clone().filter(|q| !q.trim().is_empty()),
        role,
        limit,
        offset: params.offset.unwrap_or(0),
    };
    let q = query.clone();
    let (found, total) = state.db.read(move |c| users::list(c, &q)).await?;
    Ok(HttpResponse::Ok().json(MemberPage {
        items: found.into_iter().map(MemberView::from).collect(),
        total,
        limit: query.limit,
        offset: query.offset,
    }))
}

async fn detail_of(state: &AppState, id: UserId) -> Result<MemberDetail, ApiError> {
    let (policy, now) = (state.accounts.sessions, now());
    let (user, listed) = state
        .db
        .read(move |c| {
            let user =
                users::get(c, id)?.ok_or(crate::accounts::AccountsError::NoSuchMember(id.0))?;
            Ok::<_, ApiError>((user, sessions::list(c, id, &policy, now)?))
        })
        .await?;
    Ok(MemberDetail {
        member: MemberView::from(user),
        sessions: listed
            .into_iter()
            .map(|s| SessionView {
                id: s.id,
                device: s.device,
                ip: s.ip,
                created_at: s.created_at,
                last_seen_at: s.last_seen_at,
            })
            .collect(),
    })
}

/// One member with their sessions.
#[utoipa::path(params(("id" = i64, Path, description = "Member id")), responses(
    (status = 200, body = MemberDetail), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 404, body = ErrorBody)), security(("api_key" = ["members:read"])))]
#[get("/api/v1/members/{id}")]
pub async fn get_one(
    _caller: Caller<perm::MembersRead>,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(detail_of(&state, UserId(id.into_inner())).await?))
}

/// What may change; absent fields stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberPatch {
    pub role: Option<String>,
    pub disabled: Option<bool>,
    /// `true` signs the member out everywhere.
    pub end_sessions: Option<bool>,
}

/// Change a member's role, disable or enable them, or sign them out everywhere.
#[utoipa::path(params(("id" = i64, Path, description = "Member id")), request_body = MemberPatch, responses(
    (status = 200, body = MemberDetail), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = ["members:write"])))]
#[patch("/api/v1/members/{id}")]
pub async fn update(
    caller: Caller<perm::MembersWrite>,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let patch: MemberPatch = body.parse()?;
    let role = patch.role.as_deref().map(str::parse::<Role>).transpose()?;
    let (acting, id, now) = (caller.acting(), UserId(id.into_inner()), now());
    // All or nothing: one transaction.
    state
        .db
        .write(move |tx| {
            if let Some(role) = role {
                members::change_role(tx, &acting, id, role, now)?;
            }
            if let Some(disabled) = patch.disabled {
                members::set_disabled(tx, &acting, id, disabled, now)?;
            }
            if patch.end_sessions == Some(true) {
                members::end_sessions(tx, &acting, id, now)?;
            }
            Ok::<_, ApiError>(())
        })
        .await?;
    Ok(HttpResponse::Ok().json(detail_of(&state, id).await?))
}

/// Delete a member's account, cancelling their live Stripe subscriptions first (409, with
/// nothing deleted, while one cannot be cancelled).
#[utoipa::path(params(("id" = i64, Path, description = "Member id")), responses(
    (status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = ["members:write"])))]
#[delete("/api/v1/members/{id}")]
pub async fn remove(
    caller: Caller<perm::MembersWrite>,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let (acting, id) = (caller.acting(), UserId(id.into_inner()));
    let stripe = state.settings.settings.current().stripe.clone();
    crate::services::members::delete_member(&state.db, &stripe, acting, id).await?;
    forget_viewing(&state, id.0).await;
    Ok(HttpResponse::NoContent().finish())
}

/// A deleted member's viewing figures go from `events.db` too.
pub(super) async fn forget_viewing(state: &AppState, user_id: i64) {
    let beacons = state.beacons.clone();
    let _ = tokio::task::spawn_blocking(move || beacons.forget(user_id)).await;
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvite {
    pub email: String,
    /// owner, admin, editor, support or viewer (owner and admin only by an owner).
    pub role: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InviteCreated {
    #[serde(flatten)]
    pub invite: Invite,
    /// Whether the invitation was emailed.
    pub emailed: bool,
    /// The link to pass on yourself, when email is not set up (`null` when emailed).
    pub link: Option<String>,
}

/// Invite someone by email with a role. With SMTP off the answer carries the link.
#[utoipa::path(request_body = NewInvite, responses(
    (status = 201, body = InviteCreated), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = ["members:write"])))]
#[post("/api/v1/invites")]
pub async fn invite(
    caller: Caller<perm::MembersWrite>,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let NewInvite { email, role } = body.parse()?;
    let role: Role = role.parse()?;
    let acting = caller.acting();
    let (invite, secret) = state
        .db
        .write(move |tx| invites::create(tx, &acting, &email, role, now()))
        .await?;
    let link = deliver(&state, &invite, &secret);
    Ok(HttpResponse::Created().json(InviteCreated {
        emailed: link.is_none(),
        link,
        invite,
    }))
}

/// Open invitations.
#[utoipa::path(responses(
    (status = 200, body = Vec<Invite>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["members:read"])))]
#[get("/api/v1/invites")]
pub async fn pending(
    _caller: Caller<perm::MembersRead>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let now = now();
    let open = state.db.read(move |c| invites::pending(c, now)).await?;
    Ok(HttpResponse::Ok().json(open))
}

/// Withdraw an open invitation; its link stops working.
#[utoipa::path(params(("id" = i64, Path, description = "Invitation id")), responses(
    (status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 404, body = ErrorBody)), security(("api_key" = ["members:write"])))]
#[delete("/api/v1/invites/{id}")]
pub async fn revoke(
    caller: Caller<perm::MembersWrite>,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let (acting, id) = (caller.acting(), id.into_inner());
    state
        .db
        .write(move |tx| invites::revoke(tx, &acting, id, now()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
