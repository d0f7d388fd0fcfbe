//! `/api/v1/assets`: the operator's view of the catalogue.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody, JsonBody};
use crate::accounts::roles::perm;
use crate::catalog::{self, Asset, AssetStatus, ListQuery};
use crate::playback::gate::{poster_url, public_url};

const MAX_PAGE: u32 = 200;

/// An asset as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssetView {
    pub id: String,
    pub title: String,
    pub description: String,
    pub status: AssetStatus,
    pub progress: f64,
    pub eta_secs: Option<i64>,
    pub error: Option<String>,
    pub duration_secs: Option<f64>,
    pub renditions: Vec<RenditionView>,
    /// The poster frame on the public path: storefront artwork, given for paid media too;
    /// null while the media is not ready or no live title plays it (it would answer 404).
    pub poster_url: Option<String>,
    /// The trick-play thumbnails (WebVTT) on the public path: given only with
    /// `playback_url`, since the frames are the media's (null, with the reason in
    /// `playback_unavailable`, where that would not play).
    pub thumbnails_url: Option<String>,
    /// The HLS master playlist on the public path; null when that would not play (see
    /// `playback_unavailable`).
    pub playback_url: Option<String>,
    /// Why `playback_url` is null, in words: the media is not ready, no title plays it, the
    /// title that plays it is a draft (or not out yet, or no longer available), or a paid
    /// title plays it (then it plays only under a viewer's token, from the watch page).
    /// Null when `playback_url` is given.
    pub playback_unavailable: Option<String>,
    /// What the package shows differently from the source (e.g. HDR without tone-mapping).
    pub warnings: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub ready_at: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RenditionView {
    pub kind: &'static str,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub bandwidth: u64,
    pub language: Option<String>,
}

impl From<Asset> for AssetView {
    fn from(a: Asset) -> Self {
        let ready = a.status == AssetStatus::Ready;
        let manifest = a.manifest.filter(|_| ready);
        let mut renditions = Vec::new();
        if let Some(m) = &manifest {
            renditions.extend(m.video.iter().map(|v| RenditionView {
                kind: "video",
                width: Some(v.width),
                height: Some(v.height),
                bandwidth: v.bandwidth,
                language: None,
            }));
            renditions.extend(m.audio.iter().map(|au| RenditionView {
                kind: "audio",
                width: None,
                height: None,
                bandwidth: au.bandwidth,
                language: au.language.clone(),
            }));
        }
        AssetView {
            playback_url: manifest.as_ref().map(|m| public_url(&a.id, &m.master)),
            playback_unavailable: None,
            poster_url: manifest
                .as_ref()
                .and_then(|m| m.poster.as_deref().map(|p| poster_url(&a.id, p))),
            thumbnails_url: manifest
                .as_ref()
                .and_then(|m| m.thumbnails.as_deref().map(|t| public_url(&a.id, t))),
            warnings: manifest
                .as_ref()
                .map(|m| m.warnings.clone())
                .unwrap_or_default(),
            renditions,
            id: a.id,
            title: a.title,
            description: a.description,
            status: a.status,
            progress: a.progress,
            eta_secs: a.eta_secs,
            error: a.error,
            duration_secs: a.duration_secs,
            created_at: a.created_at,
            updated_at: a.updated_at,
            ready_at: a.ready_at,
        }
    }
}

/// The assets as the API shows them, with only the public URLs that answer now (the
/// origin's rule: the media plays when it is ready, a live title plays it and no paid
/// title does; the poster, whenever a live title plays it).
async fn views(state: &AppState, assets: Vec<Asset>) -> Result<Vec<AssetView>, ApiError> {
    let ids: Vec<String> = assets.iter().map(|a| a.id.clone()).collect();
    let now = crate::clock::now();
    let paths = state
        .db
        .read(move |c| {
            ids.iter()
                .map(|id| crate::playback::ready::public_path(c, id, now))
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(ApiError::internal)?;
    Ok(assets
        .into_iter()
        .zip(paths)
        .map(|(asset, path)| {
            let mut view = AssetView::from(asset);
            if path.unavailable.is_some() {
                view.playback_url = None;
                view.thumbnails_url = None;
            }
            if !path.poster {
                view.poster_url = None;
            }
            view.playback_unavailable = path.unavailable;
            view
        })
        .collect())
}

async fn view(state: &AppState, asset: Asset) -> Result<AssetView, ApiError> {
    Ok(views(state, vec![asset])
        .await?
        .pop()
        .expect("one view per asset"))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListParams {
    /// Only assets in this state: queued, processing, ready or failed.
    status: Option<String>,
    /// Only assets whose title contains this (ASCII case ignored).
    q: Option<String>,
    /// Page size, 1 to 200 (default 50).
    limit: Option<u32>,
    /// How many assets to skip.
    offset: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Page {
    items: Vec<AssetView>,
    total: u64,
    limit: u32,
    offset: u32,
}

/// List assets, newest first.
#[utoipa::path(params(ListParams), responses(
    (status = 200, body = Page), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("api_key" = ["assets:read"])))]
#[get("/api/v1/assets")]
pub async fn list(
    _caller: Caller<perm::MediaRead>,
    state: web::Data<AppState>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let status = match params.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(AssetStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "unknown status {s:?}; use queued, processing, ready or failed"
            ))
        })?),
    };
    let limit = params.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let query = ListQuery {
        status,
        title: params.q.clone().filter(|q| !q.trim().is_empty()),
        limit,
        offset: params.offset.unwrap_or(0),
    };
    let q = query.clone();
    let (assets, total) = state
        .db
        .read(move |c| catalog::list(c, &q).map_err(ApiError::from))
        .await?;
    Ok(HttpResponse::Ok().json(Page {
        items: views(&state, assets).await?,
        total,
        limit: query.limit,
        offset: query.offset,
    }))
}

/// One asset.
#[utoipa::path(params(("id" = String, Path, description = "Asset id")), responses(
    (status = 200, body = AssetView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = ["assets:read"])))]
#[get("/api/v1/assets/{id}")]
pub async fn get_one(
    _caller: Caller<perm::MediaRead>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let asset = state.assets.get(&id).await?;
    Ok(HttpResponse::Ok().json(view(&state, asset).await?))
}

/// Fields an operator may change; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssetPatch {
    pub title: Option<String>,
    pub description: Option<String>,
}

/// Change an asset's title or description.
#[utoipa::path(params(("id" = String, Path, description = "Asset id")), request_body = AssetPatch, responses(
    (status = 200, body = AssetView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody)), security(("api_key" = ["assets:write"])))]
#[patch("/api/v1/assets/{id}")]
pub async fn update(
    caller: Caller<perm::MediaWrite>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let AssetPatch { title, description } = body.parse()?;
    let asset = state
        .assets
        .update_details(&caller.actor(), &id, title, description)
        .await?;
    Ok(HttpResponse::Ok().json(view(&state, asset).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    pub id: String,
    /// Where the source file now lies on the server.
    pub trash: String,
}

/// Delete an asset: its package is removed and stops being served at once; a running
/// transcode is stopped; the source moves to the trash folder, never deleted.
#[utoipa::path(params(("id" = String, Path, description = "Asset id")), responses(
    (status = 200, body = Deleted), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = ["assets:write"])))]
#[delete("/api/v1/assets/{id}")]
pub async fn remove(
    caller: Caller<perm::MediaWrite>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let trash = state.assets.delete(&caller.actor(), &id).await?;
    Ok(HttpResponse::Ok().json(Deleted {
        id,
        trash: trash.display().to_string(),
    }))
}

/// Queue a failed asset again, with its source as it is now.
#[utoipa::path(params(("id" = String, Path, description = "Asset id")), responses(
    (status = 202, body = AssetView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody)), security(("api_key" = ["assets:write"])))]
#[post("/api/v1/assets/{id}/retry")]
pub async fn retry(
    _caller: Caller<perm::MediaWrite>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let asset = state.assets.retry(&id).await?;
    Ok(HttpResponse::Accepted().json(view(&state, asset).await?))
}
