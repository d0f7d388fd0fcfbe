//! `/api/v1/rails` and `/api/v1/collections`: the home page and collections, as the
//! dashboard's Home page section manages them.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody, JsonBody};
use crate::accounts::roles::{Permission, perm};
use crate::catalog::CatalogError;
use crate::catalog::collections::{self, Collection, CollectionFields};
use crate::catalog::rails::{self, Rail, RailFields, RailKind};
use crate::catalog::titles;
use crate::services::titles::audited;

#[derive(Debug, Serialize, ToSchema)]
pub struct RailView {
    #[serde(flatten)]
    pub rail: Rail,
    /// Hand-picked rails: their title ids in order.
    pub titles: Vec<String>,
}

/// The home page's rails, in order.
#[utoipa::path(responses((status = 200, body = [RailView]), (status = 401, body = ErrorBody)),
    security(("api_key" = ["catalog:read"])))]
#[get("/api/v1/rails")]
pub async fn list(
    _caller: Caller<perm::CatalogRead>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(all_rails(&state).await?))
}

async fn all_rails(state: &AppState) -> Result<Vec<RailView>, ApiError> {
    Ok(state
        .db
        .read(|c| {
            rails::list(c)?
                .into_iter()
                .map(|rail| {
                    let titles = rails::items(c, rail.id)?
                        .into_iter()
                        .map(|t| t.id)
                        .collect();
                    Ok::<_, CatalogError>(RailView { rail, titles })
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await?)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewRail {
    pub kind: RailKind,
    #[serde(flatten)]
    pub fields: RailFields,
}

async fn view(state: &AppState, id: i64) -> Result<RailView, ApiError> {
    Ok(state
        .db
        .read(move |c| {
            let rail = rails::get(c, id)?;
            let titles = rails::items(c, id)?.into_iter().map(|t| t.id).collect();
            Ok::<_, CatalogError>(RailView { rail, titles })
        })
        .await?)
}

/// Add a rail at the end of the home page.
#[utoipa::path(request_body = NewRail, responses((status = 201, body = RailView),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("api_key" = ["catalog:write"])))]
#[post("/api/v1/rails")]
pub async fn create(
    caller: Caller<perm::CatalogWrite>,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let new: NewRail = body.parse()?;
    let id = audited(&state.db, &caller.actor(), "rail.create", move |tx| {
        let id = rails::create(tx, new.kind, &new.fields, crate::clock::now())?;
        Ok((
            id,
            id.to_string(),
            serde_json::json!({"kind": new.kind, "name": new.fields.name}),
        ))
    })
    .await?;
    Ok(HttpResponse::Created().json(view(&state, id).await?))
}

/// Rename a rail, change how many titles it shows, or set a hand-picked rail's titles.
#[utoipa::path(params(("id" = i64, Path, description = "Rail id")), request_body = RailFields,
    responses((status = 200, body = RailView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("api_key" = ["catalog:write"])))]
#[patch("/api/v1/rails/{id}")]
pub async fn update(
    caller: Caller<perm::CatalogWrite>,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let fields: RailFields = body.parse()?;
    let id = id.into_inner();
    audited(&state.db, &caller.actor(), "rail.update", move |tx| {
        rails::update(tx, id, &fields, crate::clock::now())?;
        Ok(((), id.to_string(), serde_json::json!({"name": fields.name})))
    })
    .await?;
    Ok(HttpResponse::Ok().json(view(&state, id).await?))
}

/// Remove a rail from the home page.
#[utoipa::path(params(("id" = i64, Path, description = "Rail id")), responses((status = 204),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("api_key" = ["catalog:write"])))]
#[delete("/api/v1/rails/{id}")]
pub async fn remove(
    caller: Caller<perm::CatalogWrite>,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    audited(&state.db, &caller.actor(), "rail.delete", move |tx| {
        let rail = rails::delete(tx, id)?;
        Ok(((), id.to_string(), serde_json::json!({"name": rail.name})))
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RailOrder {
    /// Every rail id once, in the new order.
    pub ids: Vec<i64>,
}

/// Put the rails in a new order.
#[utoipa::path(request_body = RailOrder, responses((status = 200, body = [RailView]),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("api_key" = ["catalog:write"])))]
#[post("/api/v1/rails/order")]
pub async fn reorder(
    caller: Caller<perm::CatalogWrite>,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let order: RailOrder = body.parse()?;
    audited(&state.db, &caller.actor(), "rail.reorder", move |tx| {
        rails::reorder(tx, &order.ids)?;
        Ok(((), "rails".into(), serde_json::json!({"ids": order.ids})))
    })
    .await?;
    Ok(HttpResponse::Ok().json(all_rails(&state).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CollectionView {
    #[serde(flatten)]
    pub collection: Collection,
    pub titles: Vec<String>,
}

async fn collection_view(state: &AppState, id: String) -> Result<CollectionView, ApiError> {
    let found = state
        .db
        .read(move |c| {
            let Some(collection) = collections::find(c, &id)? else {
                return Ok::<_, CatalogError>(None);
            };
            let titles = collections::items(c, &collection.id)?
                .into_iter()
                .map(|t| t.id)
                .collect();
            Ok(Some(CollectionView { collection, titles }))
        })
        .await?;
    found.ok_or_else(|| ApiError::not_found("no such collection"))
}

/// Every collection.
#[utoipa::path(responses((status = 200, body = [Collection]), (status = 401, body = ErrorBody)),
    security(("api_key" = ["catalog:read"])))]
#[get("/api/v1/collections")]
pub async fn collections_list(
    _caller: Caller<perm::CatalogRead>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.db.read(collections::list).await?))
}

/// One collection with its titles in order.
#[utoipa::path(params(("id" = String, Path, description = "Collection id or slug")),
    responses((status = 200, body = CollectionView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = ["catalog:read"])))]
#[get("/api/v1/collections/{id}")]
pub async fn collection_get(
    _caller: Caller<perm::CatalogRead>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(collection_view(&state, id.into_inner()).await?))
}

/// Create a collection.
#[utoipa::path(request_body = CollectionFields, responses((status = 201, body = CollectionView),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("api_key" = ["catalog:write"])))]
#[post("/api/v1/collections")]
pub async fn collection_create(
    caller: Caller<perm::CatalogWrite>,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let fields: CollectionFields = body.parse()?;
    let id = titles::new_title_id();
    state
        .titles
        .create_collection(
            &caller.actor(),
            caller.may(Permission::BillingWrite),
            id.clone(),
            fields,
        )
        .await?;
    Ok(HttpResponse::Created().json(collection_view(&state, id).await?))
}

/// Rename a collection or set its titles. Changing the titles of a collection that has an
/// access level, public included, also needs `billing:write` (its level reaches them, ahead
/// of a newer collection's).
#[utoipa::path(params(("id" = String, Path, description = "Collection id")), request_body = CollectionFields,
    responses((status = 200, body = CollectionView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "The titles of a collection with an access level change without billing:write")),
    security(("api_key" = ["catalog:write"])))]
#[patch("/api/v1/collections/{id}")]
pub async fn collection_update(
    caller: Caller<perm::CatalogWrite>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let fields: CollectionFields = body.parse()?;
    let id = id.into_inner();
    let detail = serde_json::json!({"name": fields.name, "titles": fields.titles});
    state
        .titles
        .update_collection(
            &caller.actor(),
            caller.may(Permission::BillingWrite),
            id.clone(),
            fields,
            detail,
        )
        .await?;
    Ok(HttpResponse::Ok().json(collection_view(&state, id).await?))
}

/// Delete a collection and the rails that show it (one with titles and an access level,
/// public included, also needs `billing:write`).
#[utoipa::path(params(("id" = String, Path, description = "Collection id")), responses((status = 204),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "A collection with titles and an access level, without billing:write")),
    security(("api_key" = ["catalog:write"])))]
#[delete("/api/v1/collections/{id}")]
pub async fn collection_delete(
    caller: Caller<perm::CatalogWrite>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state
        .titles
        .delete_collection(
            &caller.actor(),
            caller.may(Permission::BillingWrite),
            id.into_inner(),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
