//! The page frame every viewer page shares, the "not here" page and static files. The
//! watch page is in `watch`, the storefront's other pages in `storefront`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, web};

use super::AppState;
use super::error::ApiError;
use super::ui_files::{self, UiError};

impl From<UiError> for ApiError {
    fn from(e: UiError) -> Self {
        ApiError::internal(e)
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
    let visit_js = state.ui.static_url("visit.js");
    let banner_js = state.ui.static_url("banner.js");
    let local_time_js = state.ui.static_url("local-time.js");
    let settings = state.settings.settings.current();
    let site_name = settings.site.name.clone();
    // The header: "Account" for a signed-in visitor, else "Sign in" and (while anyone may)
    // "Create account", each coming back to this page.
    let signed_in = super::frame::signed_in();
    let sign_in_href = super::frame::link_back("/login");
    let sign_up_href = (settings.accounts.signup == crate::config::SignupMode::Open)
        .then(|| super::frame::link_back("/signup"));
    let html = state.ui.render(
        template,
        minijinja::context! { css, js, hls, search_js, visit_js, banner_js, local_time_js, site_name,
        signed_in, sign_in_href, sign_up_href, ..ctx },
    )?;
    let mut resp = HttpResponse::build(status);
    resp.content_type("text/html; charset=utf-8");
    if signed_in {
        // Its header is this visitor's: no shared cache hands it to anyone else.
        resp.insert_header((header::CACHE_CONTROL, "private"));
    }
    Ok(resp.body(html))
}

pub(super) fn missing(state: &AppState) -> Result<HttpResponse, ApiError> {
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
