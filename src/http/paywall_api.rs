//! `/api/v1` for the paywall: access levels on titles, seasons and collections; plans;
//! access-code batches (with their codes as CSV); comps; and "why can't this member play
//! this title", the entitlement engine's answer for a member. Changes go through
//! `services::paywall`, the same as the dashboard's.

use actix_web::{HttpResponse, delete, get, post, put, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody, JsonBody};
use crate::access::entitlement::{Decision, TitleAccess};
use crate::access::grants::{self, NewBatch, Scope};
use crate::access::level::AccessLevel;
use crate::access::plans::{self, PlanFields};
use crate::accounts::roles::perm;
use crate::services::paywall::LevelTarget;

/// An access level to set; `level: null` takes the nearest one above (season, series,
/// collection), else public.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LevelChange {
    /// `{"kind": "public" | "registered"}`, `{"kind": "subscribers", "plans": [..]}`,
    /// `{"kind": "purchase", "rent": {"amount": 399, "currency": "eur"}, "buy": null}` or
    /// `{"kind": "pay_per_view", "event_id", "price", "starts_at", "ends_at"}`.
    #[schema(value_type = Option<Object>)]
    pub level: Option<AccessLevel>,
    /// Titles only: playable by anyone whatever the level (a preview). Trailers always are.
    #[serde(default)]
    pub free_preview: bool,
}

/// What the engine decides for a title: the level in force and where it comes from.
#[derive(Debug, Serialize, ToSchema)]
pub struct LevelView {
    /// The title, season (`<series>/season/<n>`) or collection whose level applies.
    pub owner: String,
    #[schema(value_type = Object)]
    pub level: AccessLevel,
    pub free_preview: bool,
}

impl From<TitleAccess> for LevelView {
    fn from(t: TitleAccess) -> Self {
        LevelView {
            owner: t.title_id,
            level: t.level,
            free_preview: t.free_preview,
        }
    }
}

async fn level_of(state: &AppState, title_id: String) -> Result<LevelView, ApiError> {
    let found = state
        .db
        .read(move |c| crate::access::store::title_access(c, &title_id))
        .await?;
    Ok(found
        .ok_or_else(|| ApiError::not_found("no such title"))?
        .into())
}

/// Set a title's access level.
#[utoipa::path(params(("id" = String, Path, description = "Title id")), request_body = LevelChange,
    responses((status = 200, body = LevelView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("api_key" = ["billing:write"])))]
#[put("/api/v1/titles/{id}/access")]
pub async fn put_title_level(
    caller: Caller<perm::BillingWrite>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let change: LevelChange = body.parse()?;
    let id = id.into_inner();
    state
        .paywall
        .set_level(
            &caller.actor(),
            LevelTarget::Title(id.clone()),
            change.level,
            change.free_preview,
        )
        .await?;
    Ok(HttpResponse::Ok().json(level_of(&state, id).await?))
}

/// The access level in force for a title.
#[utoipa::path(params(("id" = String, Path, description = "Title id")),
    responses((status = 200, body = LevelView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 404, body = ErrorBody)), security(("api_key" = ["billing:read"])))]
#[get("/api/v1/titles/{id}/access")]
pub async fn get_title_level(
    _caller: Caller<perm::BillingRead>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(level_of(&state, id.into_inner()).await?))
}

/// Set a season's access level (its episodes without one of their own take it).
#[utoipa::path(params(("id" = String, Path, description = "Series id"), ("number" = i64, Path, description = "Season number")),
    request_body = LevelChange, responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("api_key" = ["billing:write"])))]
#[put("/api/v1/titles/{id}/seasons/{number}/access")]
pub async fn put_season_level(
    caller: Caller<perm::BillingWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let change: LevelChange = body.parse()?;
    let (series_id, number) = path.into_inner();
    state
        .paywall
        .set_level(
            &caller.actor(),
            LevelTarget::Season { series_id, number },
            change.level,
            false,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Set a collection's access level (its titles without a level of their own take it).
#[utoipa::path(params(("id" = String, Path, description = "Collection id")), request_body = LevelChange,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("api_key" = ["billing:write"])))]
#[put("/api/v1/collections/{id}/access")]
pub async fn put_collection_level(
    caller: Caller<perm::BillingWrite>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let change: LevelChange = body.parse()?;
    state
        .paywall
        .set_level(
            &caller.actor(),
            LevelTarget::Collection(id.into_inner()),
            change.level,
            false,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlanView {
    pub id: String,
    #[serde(flatten)]
    #[schema(inline)]
    pub fields: PlanFields,
    pub archived: bool,
}

impl From<plans::Plan> for PlanView {
    fn from(p: plans::Plan) -> Self {
        PlanView {
            id: p.id,
            fields: p.fields,
            archived: p.archived,
        }
    }
}

/// Every plan, archived ones last.
#[utoipa::path(responses((status = 200, body = [PlanView]), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody)), security(("api_key" = ["billing:read"])))]
#[get("/api/v1/plans")]
pub async fn list_plans(
    _caller: Caller<perm::BillingRead>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let all = state.db.read(plans::list).await?;
    Ok(HttpResponse::Ok().json(all.into_iter().map(PlanView::from).collect::<Vec<_>>()))
}

/// Create a plan; its id is made from its name.
#[utoipa::path(request_body = PlanFields, responses((status = 201, body = PlanView),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["billing:write"])))]
#[post("/api/v1/plans")]
pub async fn create_plan(
    caller: Caller<perm::BillingWrite>,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let fields: PlanFields = body.parse()?;
    let plan = state.paywall.create_plan(&caller.actor(), fields).await?;
    Ok(HttpResponse::Created().json(PlanView::from(plan)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PlanUpdate {
    #[serde(flatten)]
    #[schema(inline)]
    pub fields: PlanFields,
    /// Take the plan off sale (its subscribers keep it), or back on.
    pub archived: Option<bool>,
}

/// Change a plan. New prices apply to new buyers; subscribers keep theirs.
#[utoipa::path(params(("id" = String, Path, description = "Plan id")), request_body = PlanUpdate,
    responses((status = 200, body = PlanView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("api_key" = ["billing:write"])))]
#[put("/api/v1/plans/{id}")]
pub async fn update_plan(
    caller: Caller<perm::BillingWrite>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let update: PlanUpdate = body.parse()?;
    let plan = state
        .paywall
        .update_plan(&caller.actor(), &id, update.fields, update.archived)
        .await?;
    Ok(HttpResponse::Ok().json(PlanView::from(plan)))
}

/// What a batch of codes grants: a plan for `days`, or one title for good.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCodeBatch {
    pub name: String,
    pub plan: Option<String>,
    pub title: Option<String>,
    pub days: Option<u32>,
    pub count: usize,
    /// 1 (the default): single-use codes.
    pub uses_per_code: Option<u32>,
    pub expires_at: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CodeBatchView {
    pub id: i64,
    pub name: String,
    /// `plan` or `title`.
    pub scope: String,
    pub scope_id: String,
    pub days: Option<u32>,
    pub uses_per_code: u32,
    pub expires_at: Option<i64>,
    pub codes: u32,
    pub redeemed: u32,
    pub created_at: i64,
}

impl From<grants::Batch> for CodeBatchView {
    fn from(b: grants::Batch) -> Self {
        let (scope, scope_id) = b.scope.parts();
        CodeBatchView {
            scope: scope.into(),
            scope_id: scope_id.into(),
            id: b.id,
            name: b.name,
            days: b.days,
            uses_per_code: b.uses_per_code,
            expires_at: b.expires_at,
            codes: b.codes,
            redeemed: b.redeemed,
            created_at: b.created_at,
        }
    }
}

fn scope_of(plan: Option<String>, title: Option<String>) -> Result<Scope, ApiError> {
    match (plan, title) {
        (Some(p), None) => Ok(Scope::Plan(p)),
        (None, Some(t)) => Ok(Scope::Title(t)),
        _ => Err(ApiError::bad_request("name either a plan or a title")),
    }
}

/// Make a batch of access codes.
#[utoipa::path(request_body = NewCodeBatch, responses((status = 201, body = CodeBatchView),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 404, body = ErrorBody)), security(("api_key" = ["billing:write"])))]
#[post("/api/v1/code-batches")]
pub async fn create_batch(
    caller: Caller<perm::BillingWrite>,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let new: NewCodeBatch = body.parse()?;
    let batch = NewBatch {
        scope: scope_of(new.plan, new.title)?,
        name: new.name,
        days: new.days,
        count: new.count,
        uses_per_code: new.uses_per_code.unwrap_or(1),
        expires_at: new.expires_at,
    };
    let made = state.paywall.create_batch(&caller.actor(), batch).await?;
    Ok(HttpResponse::Created().json(CodeBatchView::from(made)))
}

/// Every batch of access codes, newest first.
#[utoipa::path(responses((status = 200, body = [CodeBatchView]), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody)), security(("api_key" = ["billing:read"])))]
#[get("/api/v1/code-batches")]
pub async fn list_batches(
    _caller: Caller<perm::BillingRead>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let all = state.db.read(grants::batches).await?;
    Ok(HttpResponse::Ok().json(all.into_iter().map(CodeBatchView::from).collect::<Vec<_>>()))
}

/// A batch's codes as CSV (`code,uses,max_uses`), for printing or a partner.
#[utoipa::path(params(("id" = i64, Path, description = "Batch id")),
    responses((status = 200, content_type = "text/csv", body = String), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("api_key" = ["billing:read"])))]
#[get("/api/v1/code-batches/{id}/codes")]
pub async fn batch_csv(
    _caller: Caller<perm::BillingRead>,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (batch, codes) = state
        .db
        .read(move |c| Ok::<_, ApiError>((grants::batch(c, id)?, grants::batch_codes(c, id)?)))
        .await?;
    csv_answer(&batch, &codes).map_err(ApiError::internal)
}

/// The CSV of a batch's codes, with a file name from the batch's.
pub(super) fn csv_answer(
    batch: &grants::Batch,
    codes: &[(String, u32)],
) -> std::io::Result<HttpResponse> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(["code", "uses", "max_uses"])?;
    for (code, uses) in codes {
        out.write_record([
            code.as_str(),
            &uses.to_string(),
            &batch.uses_per_code.to_string(),
        ])?;
    }
    let bytes = out.into_inner().map_err(|e| e.into_error())?;
    let file: String = batch
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "content-disposition",
            format!("attachment; filename=\"codes-{}-{file}.csv\"", batch.id),
        ))
        .insert_header(("cache-control", "private, no-store"))
        .body(bytes))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComp {
    pub plan: Option<String>,
    pub title: Option<String>,
    /// Unix seconds; absent: for good.
    pub until: Option<i64>,
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Created {
    pub id: i64,
}

/// Comp a member: a plan or a title outside any payment.
#[utoipa::path(params(("id" = i64, Path, description = "Member id")), request_body = NewComp,
    responses((status = 201, body = Created), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("api_key" = ["billing:write"])))]
#[post("/api/v1/members/{id}/grants")]
pub async fn comp(
    caller: Caller<perm::BillingWrite>,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let new: NewComp = body.parse()?;
    let scope = scope_of(new.plan, new.title)?;
    let note = new.note.chars().take(500).collect();
    let grant = state
        .paywall
        .comp(&caller.actor(), id.into_inner(), scope, new.until, note)
        .await?;
    Ok(HttpResponse::Created().json(Created { id: grant }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GrantView {
    pub id: i64,
    /// `plan` or `title`.
    pub scope: String,
    pub scope_id: String,
    pub until: Option<i64>,
    /// `comp` or `code`.
    pub source: String,
    pub code: Option<String>,
    pub note: String,
    pub created_by: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

impl From<grants::GrantRow> for GrantView {
    fn from(g: grants::GrantRow) -> Self {
        let (scope, scope_id) = g.scope.parts();
        GrantView {
            scope: scope.into(),
            scope_id: scope_id.into(),
            id: g.id,
            until: g.until,
            source: g.source,
            code: g.code,
            note: g.note,
            created_by: g.created_by,
            created_at: g.created_at,
            revoked_at: g.revoked_at,
        }
    }
}

/// A member's comps and redeemed codes, newest first.
#[utoipa::path(params(("id" = i64, Path, description = "Member id")),
    responses((status = 200, body = [GrantView]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["billing:read"])))]
#[get("/api/v1/members/{id}/grants")]
pub async fn list_grants(
    _caller: Caller<perm::BillingRead>,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let all = state.db.read(move |c| grants::of_user(c, id)).await?;
    Ok(HttpResponse::Ok().json(all.into_iter().map(GrantView::from).collect::<Vec<_>>()))
}

/// End a member's comp or code grant now.
#[utoipa::path(params(("id" = i64, Path, description = "Member id"), ("grant" = i64, Path, description = "Grant id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 404, body = ErrorBody)), security(("api_key" = ["billing:write"])))]
#[delete("/api/v1/members/{id}/grants/{grant}")]
pub async fn revoke(
    caller: Caller<perm::BillingWrite>,
    state: web::Data<AppState>,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (user, grant) = path.into_inner();
    state.paywall.revoke(&caller.actor(), user, grant).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessAnswer {
    pub level: LevelView,
    /// `{"result": "allowed", "until", "basis"}` or `{"result": "denied", "reason", "remedies"}`.
    #[schema(value_type = Object)]
    pub decision: Decision,
    /// The reason in a sentence, when denied.
    pub explanation: Option<String>,
    /// The passes the watch page asked for and the origin's token checks for this member
    /// and title lately (in memory since the server started), oldest first.
    pub recent: Vec<crate::playback::decisions::RecentDecision>,
}

/// Why can (or can't) this member play this title now: the entitlement engine's answer.
#[utoipa::path(params(("id" = i64, Path, description = "Member id"), ("title" = String, Path, description = "Title id")),
    responses((status = 200, body = AccessAnswer), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 404, body = ErrorBody)), security(("api_key" = ["billing:read"])))]
#[get("/api/v1/members/{id}/access/{title}")]
pub async fn why(
    _caller: Caller<perm::BillingRead>,
    state: web::Data<AppState>,
    path: web::Path<(i64, String)>,
) -> Result<HttpResponse, ApiError> {
    let (user, title) = path.into_inner();
    let member = crate::accounts::users::UserId(user);
    state
        .db
        .read(move |c| crate::accounts::users::get(c, member))
        .await?
        .ok_or_else(|| ApiError::not_found("no such member"))?;
    let paywall = state.settings.settings.current().paywall.clone();
    let (access, decision) = state
        .playback
        .decision(&title, Some(user), None, &paywall, crate::clock::now())
        .await?
        .ok_or_else(|| ApiError::not_found("no such title"))?;
    let explanation = match &decision {
        Decision::Denied { reason, .. } => Some(reason.sentence().to_owned()),
        Decision::Allowed { .. } => None,
    };
    let recent = state.playback.recent(&title, user).await?;
    Ok(HttpResponse::Ok().json(AccessAnswer {
        level: access.into(),
        decision,
        explanation,
        recent,
    }))
}
