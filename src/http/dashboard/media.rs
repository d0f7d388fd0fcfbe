//! `/admin/media`: every asset with its state; rename, retry, delete; upload from the
//! browser (the page's script speaks tus to `/api/v1/uploads` with the session).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};

use super::Saved;
use super::{render, when};
use crate::accounts::roles::{Permission, perm};
use crate::catalog::{self, Asset, AssetStatus, ListQuery};
use crate::http::AppState;
use crate::http::session::{Admin, PageError};

const PAGE_SIZE: u32 = 50;

/// A ready asset's poster frame for staff pages: served by the dashboard whatever its
/// titles' state (the origin's public path serves it only once a live title plays it).
pub fn staff_poster_url(asset_id: &str) -> String {
    format!("/admin/media/{asset_id}/poster")
}

/// One asset as the dashboard lists it.
#[derive(Serialize)]
pub(super) struct AssetRow {
    id: String,
    title: String,
    description: String,
    status: &'static str,
    /// 0–100.
    percent: u32,
    eta: Option<String>,
    error: Option<String>,
    duration: String,
    renditions: String,
    poster: Option<String>,
    created: String,
    warnings: Vec<String>,
    watch: Option<String>,
}

fn duration(secs: Option<f64>) -> String {
    let Some(s) = secs else {
        return String::new();
    };
    let s = s.round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

impl From<Asset> for AssetRow {
    fn from(a: Asset) -> Self {
        let ready = a.status == AssetStatus::Ready;
        let manifest = a.manifest.as_ref().filter(|_| ready);
        let renditions = manifest
            .map(|m| {
                m.video
                    .iter()
                    .map(|v| format!("{}p", v.height.min(v.width)))
                    .collect::<Vec<_>>()
                    .join(" · ")
            })
            .unwrap_or_default();
        AssetRow {
            poster: manifest.and_then(|m| m.poster.as_ref().map(|_| staff_poster_url(&a.id))),
            warnings: manifest.map(|m| m.warnings.clone()).unwrap_or_default(),
            watch: ready.then(|| format!("/watch/{}", a.id)),
            status: a.status.as_str(),
            percent: (a.progress.clamp(0.0, 1.0) * 100.0).round() as u32,
            eta: a
                .eta_secs
                .filter(|_| a.status == AssetStatus::Processing)
                .map(|s| duration(Some(s as f64))),
            error: a.error,
            duration: duration(a.duration_secs),
            renditions,
            created: when(a.created_at),
            id: a.id,
            title: a.title,
            description: a.description,
        }
    }
}

/// Assets matching `query`, as rows, with the total.
pub(super) async fn rows(
    state: &AppState,
    query: ListQuery,
) -> Result<(Vec<AssetRow>, u64), PageError> {
    let (assets, total) = state
        .db
        .read(move |c| {
            catalog::list(c, &query).map_err(|e| PageError::internal(format!("asset list: {e}")))
        })
        .await?;
    Ok((assets.into_iter().map(AssetRow::from).collect(), total))
}

#[derive(Deserialize)]
pub struct ListParams {
    #[serde(default)]
    status: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: u32,
}

#[get("/admin/media")]
pub async fn list(
    state: web::Data<AppState>,
    admin: Admin<perm::MediaRead>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, PageError> {
    let status = match params.status.as_str() {
        "" => None,
        s => Some(AssetStatus::parse(s).ok_or_else(|| {
            PageError::BadRequest(format!(
                "unknown status {s:?}; use queued, processing, ready or failed"
            ))
        })?),
    };
    let search = params.q.trim().to_owned();
    let query = ListQuery {
        status,
        title: (!search.is_empty()).then(|| search.clone()),
        limit: PAGE_SIZE,
        offset: params.page.saturating_mul(PAGE_SIZE),
    };
    let (rows, total) = rows(&state, query).await?;
    let pager = super::pager(
        "/admin/media",
        &[("q", search.as_str()), ("status", params.status.as_str())],
        params.page,
        total,
        PAGE_SIZE,
    );
    let can_write = admin.viewer.user().role.may(Permission::MediaWrite);
    let tus_js = state.ui.static_url("vendor/tus.min.js");
    let media_js = state.ui.static_url("admin-media.js");
    let max_bytes = state.uploads.limits().max_bytes;
    render(
        &state,
        &admin.viewer,
        "/admin/media",
        "admin/media.html",
        StatusCode::OK,
        minijinja::context! {
            rows => minijinja::Value::from(minijinja::value::Serde(&rows)),
            total, pager => minijinja::Value::from(minijinja::value::Serde(&pager)), status => &params.status, q => search,
            can_write, tus_js, media_js, max_bytes, max_size => crate::size::format(max_bytes),
        },
    )
}

#[get("/admin/media/{id}")]
pub async fn detail(
    state: web::Data<AppState>,
    admin: Admin<perm::MediaRead>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let asset = state.assets.get(&id).await?;
    let source = asset.source_path.display().to_string();
    let row = AssetRow::from(asset);
    let can_write = admin.viewer.user().role.may(Permission::MediaWrite);
    render(
        &state,
        &admin.viewer,
        "/admin/media",
        "admin/media_detail.html",
        StatusCode::OK,
        minijinja::context! {
            asset => minijinja::Value::from(minijinja::value::Serde(&row)),
            source, can_write,
        },
    )
}

/// A ready asset's poster frame, for the dashboard's pages and staff previews
/// (`staff_poster_url`): a draft's too, which the origin does not serve yet.
#[get("/admin/media/{id}/poster")]
pub async fn poster(
    state: web::Data<AppState>,
    _admin: Admin<perm::MediaRead>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let asset = state.assets.get(&id).await?;
    let gone = || PageError::NotFound("this video has no poster frame".into());
    let file = asset
        .manifest
        .filter(|_| asset.status == AssetStatus::Ready)
        .and_then(|m| m.poster)
        .ok_or_else(gone)?;
    let opened = crate::playback::files::open(&state.origin.library, &asset.id, &file)
        .map_err(|_| gone())?;
    let content_type = opened.kind.content_type(&file);
    let bytes = web::block(move || {
        use std::io::Read;
        let mut bytes = Vec::new();
        (&opened.file).read_to_end(&mut bytes).map(|_| bytes)
    })
    .await
    .map_err(PageError::internal)?
    .map_err(PageError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("cache-control", "private, max-age=300"))
        .body(bytes))
}

#[derive(Deserialize)]
struct RenameForm {
    title: String,
    #[serde(default)]
    description: String,
}

#[post("/admin/media/{id}/rename")]
pub async fn rename(
    state: web::Data<AppState>,
    admin: Admin<perm::MediaWrite>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let form: RenameForm = admin.viewer.form()?;
    state
        .assets
        .update_details(
            &admin.viewer.actor(),
            &id,
            Some(form.title),
            Some(form.description),
        )
        .await?;
    Ok(super::saved(
        &format!("/admin/media/{id}"),
        Saved::MediaRenamed,
    ))
}

#[derive(Deserialize)]
struct BackTo {
    /// `overview` returns to the dashboard's front page; anything else to the media list.
    #[serde(default)]
    back: String,
}

fn back_to(form: &BackTo) -> &'static str {
    if form.back == "overview" {
        "/admin"
    } else {
        "/admin/media"
    }
}

#[post("/admin/media/{id}/retry")]
pub async fn retry(
    state: web::Data<AppState>,
    admin: Admin<perm::MediaWrite>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let form: BackTo = admin.viewer.form()?;
    state.assets.retry(&id).await?;
    Ok(super::saved(back_to(&form), Saved::MediaRetried))
}

#[post("/admin/media/{id}/delete")]
pub async fn delete(
    state: web::Data<AppState>,
    admin: Admin<perm::MediaWrite>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let form: BackTo = admin.viewer.form()?;
    state.assets.delete(&admin.viewer.actor(), &id).await?;
    Ok(super::saved(back_to(&form), Saved::MediaDeleted))
}
