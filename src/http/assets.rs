//! `/api/v1/assets`: the operator's view of the catalogue.

use actix_web::{HttpResponse, get, web};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::ApiKey;
use super::error::ApiError;
use crate::catalog::{self, Asset, AssetStatus, ListQuery};
use crate::playback::package_url;

const MAX_PAGE: u32 = 200;

#[derive(Debug, Serialize)]
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
    pub poster_url: Option<String>,
    pub thumbnails_url: Option<String>,
    pub playback_url: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub ready_at: Option<i64>,
}

#[derive(Debug, Serialize)]
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
            playback_url: manifest.as_ref().map(|m| package_url(&a.id, &m.master)),
            poster_url: manifest
                .as_ref()
                .and_then(|m| m.poster.as_deref().map(|p| package_url(&a.id, p))),
            thumbnails_url: manifest
                .as_ref()
                .and_then(|m| m.thumbnails.as_deref().map(|t| package_url(&a.id, t))),
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

#[derive(Debug, Deserialize)]
pub struct ListParams {
    status: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

#[derive(Debug, Serialize)]
struct Page {
    items: Vec<AssetView>,
    total: u64,
    limit: u32,
    offset: u32,
}

#[get("/api/v1/assets")]
pub async fn list(
    _key: ApiKey,
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
        limit,
        offset: params.offset.unwrap_or(0),
    };
    let q = query.clone();
    let (assets, total) = state
        .db
        .read(move |c| catalog::list(c, &q).map_err(ApiError::from))
        .await?;
    Ok(HttpResponse::Ok().json(Page {
        items: assets.into_iter().map(AssetView::from).collect(),
        total,
        limit: query.limit,
        offset: query.offset,
    }))
}

#[get("/api/v1/assets/{id}")]
pub async fn get_one(
    _key: ApiKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let asset = state
        .db
        .read(move |c| catalog::get(c, &id).map_err(ApiError::from))
        .await?;
    Ok(HttpResponse::Ok().json(AssetView::from(asset)))
}
