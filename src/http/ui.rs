//! Viewer pages, rendered on the server: the home page of ready titles and the watch page.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Serialize;

use super::AppState;
use super::error::ApiError;
use super::ui_files::{self, UiError};
use crate::catalog::{self, Asset, AssetStatus, ListQuery};
use crate::playback::package_url;

impl From<UiError> for ApiError {
    fn from(e: UiError) -> Self {
        ApiError::internal(e)
    }
}

#[derive(Serialize)]
struct Card {
    id: String,
    title: String,
    poster: Option<String>,
    duration: String,
}

#[derive(Serialize)]
struct WatchView {
    id: String,
    title: String,
    description: String,
    duration: String,
    playback_url: String,
    poster: Option<String>,
    thumbnails: Option<String>,
}

fn clock(secs: Option<f64>) -> String {
    let s = secs.unwrap_or(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

pub(super) fn page(
    state: &AppState,
    template: &str,
    status: StatusCode,
    ctx: minijinja::Value,
) -> Result<HttpResponse, ApiError> {
    let css = state.ui.static_url("app.css");
    let js = state.ui.static_url("app.js");
    let hls = state.ui.static_url("vendor/hls.min.js");
    let site_name = state.settings.settings.current().site.name.clone();
    let html = state.ui.render(
        template,
        minijinja::context! { css, js, hls, site_name, ..ctx },
    )?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(html))
}

#[get("/")]
pub async fn home(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let query = ListQuery {
        status: Some(AssetStatus::Ready),
        title: None,
        limit: 500,
        offset: 0,
    };
    let (assets, _) = state
        .db
        .read(move |c| catalog::list(c, &query).map_err(ApiError::from))
        .await?;
    let cards: Vec<Card> = assets
        .into_iter()
        .map(|a: Asset| Card {
            poster: a
                .manifest
                .as_ref()
                .and_then(|m| m.poster.as_deref().map(|p| package_url(&a.id, p))),
            duration: clock(a.duration_secs),
            id: a.id,
            title: a.title,
        })
        .collect();
    page(
        &state,
        "home.html",
        StatusCode::OK,
        minijinja::context! { cards => minijinja::Value::from(minijinja::value::Serde(&cards)) },
    )
}

#[get("/watch/{id}")]
pub async fn watch(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let found = state
        .db
        .read(move |c| Ok::<_, ApiError>(catalog::get(c, &id).ok()))
        .await?;
    let Some(asset) = found.filter(|a| a.status == AssetStatus::Ready) else {
        return page(
            &state,
            "missing.html",
            StatusCode::NOT_FOUND,
            minijinja::context! {},
        );
    };
    let Some(m) = asset.manifest.as_ref() else {
        return page(
            &state,
            "missing.html",
            StatusCode::NOT_FOUND,
            minijinja::context! {},
        );
    };
    let view = WatchView {
        playback_url: package_url(&asset.id, &m.master),
        poster: m.poster.as_deref().map(|p| package_url(&asset.id, p)),
        thumbnails: m.thumbnails.as_deref().map(|t| package_url(&asset.id, t)),
        duration: clock(asset.duration_secs),
        id: asset.id.clone(),
        title: asset.title.clone(),
        description: asset.description.clone(),
    };
    page(
        &state,
        "watch.html",
        StatusCode::OK,
        minijinja::context! { asset => minijinja::Value::from(minijinja::value::Serde(&view)) },
    )
}

/// CSS, JS and vendored files. Versioned URLs (`?v=`) are cached for good.
#[get("/static/{path:.*}")]
pub async fn static_file(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    let path = path.into_inner();
    if path.split('/').any(|p| p.is_empty() || p.starts_with('.')) {
        return HttpResponse::NotFound().finish();
    }
    let Some(bytes) = state.ui.file(&format!("static/{path}")) else {
        return HttpResponse::NotFound().finish();
    };
    let cache = if req.query_string().starts_with("v=") {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    };
    let mut resp = HttpResponse::Ok()
        .content_type(ui_files::content_type(&path))
        .body(bytes.into_owned());
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    resp
}
