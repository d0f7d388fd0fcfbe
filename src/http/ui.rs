//! Viewer pages, rendered on the server: the watch page, the page frame every page shares,
//! and static files. The storefront's other pages are in `storefront`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Serialize;

use super::AppState;
use super::error::ApiError;
use super::session::Viewer;
use super::ui_files::{self, UiError};
use crate::catalog::{self, AssetStatus, browse, progress};
use crate::playback::package_url;

impl From<UiError> for ApiError {
    fn from(e: UiError) -> Self {
        ApiError::internal(e)
    }
}

#[derive(Serialize)]
struct WatchView {
    id: String,
    title: String,
    description: String,
    duration: String,
    /// Seconds, for the player to tell a finished position from one to resume.
    duration_secs: Option<f64>,
    playback_url: String,
    poster: Option<String>,
    thumbnails: Option<String>,
    /// The series and episode number, or the title an extra belongs to.
    heading: Option<String>,
    /// That title's page.
    back: Option<String>,
    /// Where this signed-in viewer stopped (seconds).
    resume: Option<f64>,
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
    let search_js = state.ui.static_url("search.js");
    let site_name = state.settings.settings.current().site.name.clone();
    let html = state.ui.render(
        template,
        minijinja::context! { css, js, hls, search_js, site_name, ..ctx },
    )?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(html))
}

#[get("/watch/{id}")]
pub async fn watch(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    viewer: Option<Viewer>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let now = crate::clock::now();
    let lookup = id.clone();
    let user = viewer.as_ref().map(|v| v.user().id.0);
    let found = state
        .db
        .read(move |c| {
            let title = browse::live_title(c, &lookup, now)?.filter(|t| t.kind.plays());
            let Some(title) = title else {
                // An asset's id from before the catalog: its live title, if it has one.
                return Ok::<_, ApiError>(Err(browse::title_playing(c, &lookup, now)?));
            };
            let asset = title
                .asset_id
                .as_deref()
                .map(|a| catalog::get(c, a))
                .transpose()
                .ok()
                .flatten();
            let parent = match &title.parent_id {
                Some(p) => browse::live_title(c, p, now)?,
                None => None,
            };
            let resume = match user {
                Some(u) => progress::position(c, u, &title.id)?,
                None => None,
            };
            Ok(Ok((title, asset, parent, resume)))
        })
        .await?;
    let (title, asset, parent, resume) = match found {
        Ok(found) => found,
        Err(Some(title_id)) if title_id != id => {
            // The query (`?autoplay=1`) goes along.
            let query = match req.query_string() {
                "" => String::new(),
                q => format!("?{q}"),
            };
            return Ok(HttpResponse::MovedPermanently()
                .insert_header((header::LOCATION, format!("/watch/{title_id}{query}")))
                .finish());
        }
        Err(_) => return missing(&state),
    };
    let Some(asset) = asset.filter(|a| a.status == AssetStatus::Ready) else {
        return missing(&state);
    };
    let Some(m) = asset.manifest.as_ref() else {
        return missing(&state);
    };
    let heading = match (&parent, title.season_number, title.episode_number) {
        (Some(series), Some(s), Some(e)) => Some(format!("{} · S{s} E{e}", series.name)),
        (Some(p), _, _) => Some(p.name.clone()),
        _ => None,
    };
    let view = WatchView {
        playback_url: package_url(&asset.id, &m.master),
        poster: m.poster.as_deref().map(|p| package_url(&asset.id, p)),
        thumbnails: m.thumbnails.as_deref().map(|t| package_url(&asset.id, t)),
        duration: clock(asset.duration_secs),
        duration_secs: asset.duration_secs,
        id: title.id.clone(),
        title: title.name.clone(),
        description: title.synopsis.clone(),
        heading,
        back: parent.map(|p| format!("/title/{}", p.id)),
        resume,
    };
    let resp = page(
        &state,
        "watch.html",
        StatusCode::OK,
        minijinja::context! { asset => minijinja::Value::from(minijinja::value::Serde(&view)),
        csrf => viewer.as_ref().map(|v| v.csrf_token().to_owned()) },
    )?;
    // A signed-in page carries the session's CSRF token: never kept by a shared cache.
    Ok(match viewer {
        Some(_) => super::account_pages::private(resp, None),
        None => resp,
    })
}

#[derive(serde::Deserialize)]
pub struct ProgressBody {
    position: f64,
    duration: f64,
}

/// The player's report of where a signed-in viewer is (every few seconds and on leaving).
#[post("/watch/{id}/progress")]
pub async fn save_progress(
    state: web::Data<AppState>,
    id: web::Path<String>,
    viewer: Viewer,
    body: web::Json<ProgressBody>,
) -> Result<HttpResponse, ApiError> {
    let user = viewer.user().id.0;
    let id = id.into_inner();
    let now = crate::clock::now();
    state
        .db
        .write(move |tx| progress::save(tx, user, &id, body.position, body.duration, now))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

fn missing(state: &AppState) -> Result<HttpResponse, ApiError> {
    page(
        state,
        "missing.html",
        StatusCode::NOT_FOUND,
        minijinja::context! {},
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
