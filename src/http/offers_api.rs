//! `/api/v1` for offers and price migrations: offers listed, made and changed; an offer
//! given to a member who subscribes (retention); a plan's subscribers moved to its current
//! price. Changes go through `services::offers`, the same as the dashboard's.

use actix_web::{HttpResponse, get, post, put, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody, JsonBody};
use crate::access::offers::{self, Offer, OfferFields};
use crate::accounts::roles::perm;
use crate::services::offers::MigrationReport;

#[derive(Debug, Serialize, ToSchema)]
pub struct OfferView {
    pub id: i64,
    #[serde(flatten)]
    #[schema(inline)]
    pub fields: OfferFields,
    /// In words: "50 % off for 3 months".
    pub gives: String,
    pub redemptions: i64,
    pub archived: bool,
}

impl From<Offer> for OfferView {
    fn from(o: Offer) -> Self {
        OfferView {
            gives: o.fields.describe(),
            id: o.id,
            fields: o.fields,
            redemptions: o.redemptions,
            archived: o.archived,
        }
    }
}

/// Every offer, archived ones last.
#[utoipa::path(responses((status = 200, body = [OfferView]), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody)), security(("api_key" = ["billing:read"])))]
#[get("/api/v1/offers")]
pub async fn list_offers(
    _caller: Caller<perm::BillingRead>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let all = state.db.read(offers::list).await?;
    Ok(HttpResponse::Ok().json(all.into_iter().map(OfferView::from).collect::<Vec<_>>()))
}

/// Make an offer: `kind` percent, fixed or free_period; `duration` once, repeating (with
/// `duration_months`) or forever; `audience` new, existing or both.
#[utoipa::path(request_body = OfferFields, responses((status = 201, body = OfferView),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["billing:write"])))]
#[post("/api/v1/offers")]
pub async fn create_offer(
    caller: Caller<perm::BillingWrite>,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let fields: OfferFields = body.parse()?;
    let offer = state.paywall.create_offer(&caller.actor(), fields).await?;
    Ok(HttpResponse::Created().json(OfferView::from(offer)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct OfferUpdate {
    #[serde(flatten)]
    #[schema(inline)]
    pub fields: OfferFields,
    /// Withdraw the offer (discounts given stay).
    #[serde(default)]
    pub archived: bool,
}

/// Change an offer. New terms apply to redemptions from now on.
#[utoipa::path(params(("id" = i64, Path, description = "Offer id")), request_body = OfferUpdate,
    responses((status = 200, body = OfferView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("api_key" = ["billing:write"])))]
#[put("/api/v1/offers/{id}")]
pub async fn update_offer(
    caller: Caller<perm::BillingWrite>,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    // `deny_unknown_fields` does not combine with `flatten`: the fields are read on their
    // own, then the flag.
    let value: serde_json::Value = body.parse()?;
    let archived = value["archived"].as_bool().unwrap_or(false);
    let mut fields = value;
    if let Some(map) = fields.as_object_mut() {
        map.remove("archived");
    }
    let fields: OfferFields = serde_json::from_value(fields)
        .map_err(|e| ApiError::bad_request(format!("the offer does not read: {e}")))?;
    let offer = state
        .paywall
        .update_offer(&caller.actor(), id.into_inner(), fields, archived)
        .await?;
    Ok(HttpResponse::Ok().json(OfferView::from(offer)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GiveOffer {
    pub offer_id: i64,
}

/// Give a member who subscribes an offer (retention): a coupon on their Stripe
/// subscription, or free days.
#[utoipa::path(params(("id" = i64, Path, description = "Member id")), request_body = GiveOffer,
    responses((status = 200, body = OfferView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("api_key" = ["billing:write"])))]
#[post("/api/v1/members/{id}/offers")]
pub async fn give_offer(
    caller: Caller<perm::BillingWrite>,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let give: GiveOffer = body.parse()?;
    let stripe = state.settings.settings.current().stripe.clone();
    let offer = state
        .paywall
        .apply_offer(&stripe, &caller.actor(), id.into_inner(), give.offer_id)
        .await?;
    Ok(HttpResponse::Ok().json(OfferView::from(offer)))
}

/// Move a plan's subscribers who pay an old price to its current one, from their next
/// payment (at most 200 a call; `remaining` says how many are left).
#[utoipa::path(params(("id" = String, Path, description = "Plan id")),
    responses((status = 200, body = MigrationReport), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("api_key" = ["billing:write"])))]
#[post("/api/v1/plans/{id}/migrate")]
pub async fn migrate_plan(
    caller: Caller<perm::BillingWrite>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let stripe = state.settings.settings.current().stripe.clone();
    let report = state
        .paywall
        .migrate_plan_price(&stripe, &caller.actor(), &id)
        .await?;
    Ok(HttpResponse::Ok().json(report))
}
