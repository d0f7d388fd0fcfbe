//! `/api/v1/webhooks`: outgoing webhook endpoints, their delivery logs and test events.

use actix_web::{HttpResponse, delete, get, patch, post, web};

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody, JsonBody};
use crate::accounts::roles::perm;
use crate::services::webhooks::{WebhookAdmin, WebhookServiceError};
use crate::webhooks::WebhookError;
use crate::webhooks::endpoints::{self, Endpoint, EndpointFields};
use crate::webhooks::outbox::{self, Delivery};
use crate::webhooks::target::TargetPolicy;

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        match e {
            e @ WebhookError::NotFound(_) => ApiError::not_found(e.to_string()),
            WebhookError::Invalid(m) => ApiError::bad_request(m),
            other => ApiError::internal(other),
        }
    }
}

impl From<WebhookServiceError> for ApiError {
    fn from(e: WebhookServiceError) -> Self {
        match e {
            WebhookServiceError::Webhook(e) => e.into(),
            other => ApiError::internal(other),
        }
    }
}

pub(super) fn admin(state: &AppState) -> WebhookAdmin<'_> {
    WebhookAdmin {
        db: &state.db,
        wake: &state.webhook_wake,
        policy: TargetPolicy::new(&state.settings.settings.current().webhooks.allow_private),
    }
}

/// Every endpoint, with its signing secret.
#[utoipa::path(responses((status = 200, body = [Endpoint]), (status = 401, body = ErrorBody)),
    security(("api_key" = ["webhooks:write"])))]
#[get("/api/v1/webhooks")]
pub async fn list(
    _caller: Caller<perm::WebhooksManage>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.db.read(endpoints::list).await?))
}

/// Add an endpoint; the answer holds its new `whsec_` secret.
#[utoipa::path(request_body = EndpointFields, responses((status = 201, body = Endpoint),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("api_key" = ["webhooks:write"])))]
#[post("/api/v1/webhooks")]
pub async fn create(
    caller: Caller<perm::WebhooksManage>,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let fields: EndpointFields = body.parse()?;
    let endpoint = admin(&state).create(&caller.actor(), fields).await?;
    Ok(HttpResponse::Created().json(endpoint))
}

/// Change an endpoint's address, events or description, or turn it on or off.
#[utoipa::path(params(("id" = i64, Path, description = "Endpoint id")), request_body = EndpointFields,
    responses((status = 200, body = Endpoint), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody)), security(("api_key" = ["webhooks:write"])))]
#[patch("/api/v1/webhooks/{id}")]
pub async fn update(
    caller: Caller<perm::WebhooksManage>,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let fields: EndpointFields = body.parse()?;
    let endpoint = admin(&state)
        .update(&caller.actor(), id.into_inner(), fields)
        .await?;
    Ok(HttpResponse::Ok().json(endpoint))
}

/// Remove an endpoint and its delivery log.
#[utoipa::path(params(("id" = i64, Path, description = "Endpoint id")), responses((status = 204),
    (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = ["webhooks:write"])))]
#[delete("/api/v1/webhooks/{id}")]
pub async fn remove(
    caller: Caller<perm::WebhooksManage>,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    admin(&state)
        .delete(&caller.actor(), id.into_inner())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The endpoint's 100 most recent deliveries, newest first.
#[utoipa::path(params(("id" = i64, Path, description = "Endpoint id")), responses(
    (status = 200, body = [Delivery]), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = ["webhooks:write"])))]
#[get("/api/v1/webhooks/{id}/deliveries")]
pub async fn deliveries(
    _caller: Caller<perm::WebhooksManage>,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let log = state
        .db
        .read(move |c| {
            endpoints::get(c, id)?;
            outbox::recent(c, id, 100)
        })
        .await?;
    Ok(HttpResponse::Ok().json(log))
}

/// Send a `webhook.test` event to the endpoint now.
#[utoipa::path(params(("id" = i64, Path, description = "Endpoint id")), responses((status = 202),
    (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = ["webhooks:write"])))]
#[post("/api/v1/webhooks/{id}/test")]
pub async fn test(
    _caller: Caller<perm::WebhooksManage>,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    admin(&state).send_test(id.into_inner()).await?;
    Ok(HttpResponse::Accepted().finish())
}
