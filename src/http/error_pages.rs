//! Error answers of page URLs as pages: a 4xx or 5xx that a handler, an extractor or the
//! fallback answered in plain text (or with no body) becomes an HTML page in the site's
//! frame, or the dashboard's under `/admin` for someone who may open it, with the reason
//! in words and a way back. API answers (`/api/`) stay JSON; machine endpoints (the
//! origin, beacons, the Stripe webhook, health and metrics) keep their plain answers, and
//! an answer that is already HTML, or JSON that a script's `fetch` asked for, is left as
//! it is (JSON to a browser loading a page becomes the page).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::session::{self, PageError};
use crate::accounts::roles::Permission;

/// Paths whose answers are for programs, not people.
fn for_programs(path: &str) -> bool {
    const PREFIXES: [&str; 5] = ["/api/", "/p/", "/stripe/", "/static/", "/img/"];
    const EXACT: [&str; 6] = [
        "/beacon",
        "/healthz",
        "/readyz",
        "/metrics",
        "/api",
        "/c/banner",
    ];
    PREFIXES.iter().any(|p| path.starts_with(p))
        || EXACT.contains(&path)
        || path.ends_with("/open.gif")
}

/// Whether a person's browser is loading this as a page: it asks for HTML, or says it
/// navigates. A script's `fetch` asks for `*/*` in `cors` or `same-origin` mode.
fn navigating(req: &HttpRequest) -> bool {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    header("accept").contains("text/html") || header("sec-fetch-mode") == "navigate"
}

/// Whether the answer keeps its own body: a page, or JSON that a script asked for (page
/// handlers that answer with `ApiError` send JSON, which a person's page load must not
/// show).
fn keeps_own_body(req: &HttpRequest, res: &HttpResponse<impl MessageBody>) -> bool {
    let kind = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    kind.starts_with("text/html") || (kind.starts_with("application/json") && !navigating(req))
}

/// The page's heading and its sentence for a status, when the error says nothing better.
fn wording(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        404 => (
            "Page not found",
            "There is nothing at this address. It may have moved, or the link may be mistyped.",
        ),
        403 => (
            "Not allowed",
            "Your account may not open this page. Ask the site's owner if you need it.",
        ),
        400 | 422 => ("That did not work", "The request could not be understood."),
        405 => (
            "Page not found",
            "There is nothing to do at this address in this way.",
        ),
        409 => (
            "That did not work",
            "It clashes with something that exists.",
        ),
        413 => ("That did not work", "What was sent is too large."),
        429 => ("Too many tries", "Wait a minute before trying again."),
        s if s >= 500 => (
            "Something went wrong",
            "Something went wrong on our side; nothing you did caused it. Try again in a minute.",
        ),
        _ => ("That did not work", "The request could not be completed."),
    }
}

/// The reason a `PageError` gives, when it is meant for people (an internal error's cause
/// stays in the log).
fn reason(err: &PageError) -> Option<String> {
    match err {
        PageError::Forbidden(m)
        | PageError::BadRequest(m)
        | PageError::NotFound(m)
        | PageError::Conflict(m) => Some(sentence(m)),
        PageError::SignInRequired { .. } | PageError::Internal => None,
    }
}

/// A message as a sentence, ending with a full stop (its words are the handler's).
fn sentence(m: &str) -> String {
    let mut out = m.trim().to_owned();
    if !out.is_empty() && !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// Where "back" goes: the page the person came from when it is on this site.
fn came_from(req: &HttpRequest) -> Option<String> {
    let referer = req.headers().get(header::REFERER)?.to_str().ok()?;
    let url = url::Url::parse(referer).ok()?;
    let host = req.headers().get(header::HOST)?.to_str().ok()?;
    let origin_host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str()?),
        None => url.host_str()?.to_owned(),
    };
    if origin_host != host {
        return None;
    }
    let mut back = url.path().to_owned();
    if let Some(q) = url.query() {
        back.push('?');
        back.push_str(q);
    }
    (back != req.uri().path()).then_some(back)
}

/// The section of the dashboard a path belongs to, for the navigation's mark.
fn section_of(path: &str) -> &'static str {
    super::dashboard::SECTIONS
        .iter()
        .filter(|s| s.href != "/admin" && path.starts_with(s.href))
        .map(|s| s.href)
        .max_by_key(|h| h.len())
        .unwrap_or("/admin")
}

/// `res` as an error page when it is a page URL's bare error; otherwise unchanged.
pub async fn dress<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> ServiceResponse<EitherBody<B>> {
    let status = res.status();
    let req = res.request().clone();
    if !(status.is_client_error() || status.is_server_error())
        || status == StatusCode::UNAUTHORIZED
        || for_programs(req.path())
        || keeps_own_body(&req, res.response())
    {
        return res.map_into_left_body();
    }
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return res.map_into_left_body();
    };
    let (heading, general) = wording(status);
    let told = res
        .response()
        .error()
        .and_then(|e| e.as_error::<PageError>())
        .and_then(reason);
    let message = told.unwrap_or_else(|| general.to_owned());
    let dashboard = if req.path() == "/admin" || req.path().starts_with("/admin/") {
        session::signed_in(&state, &req)
            .await
            .filter(|v| v.user().role.may(Permission::DashboardView))
    } else {
        None
    };
    // Dashboard pages send no referrer, so their way back is their section's page.
    let section = section_of(req.path());
    let back = came_from(&req)
        .or_else(|| (dashboard.is_some() && section != req.path()).then(|| section.to_owned()));
    let ctx = minijinja::context! { heading, message, back, code => status.as_u16() };
    let page = match dashboard {
        Some(viewer) => {
            super::dashboard::render(&state, &viewer, section, "admin/error.html", status, ctx)
        }
        None => super::ui::page(&state, "error.html", status, ctx)
            .map(|r| super::account_pages::private(r, None))
            .map_err(PageError::from),
    };
    let Ok(mut page) = page else {
        return res.map_into_left_body();
    };
    // Keep what the answer said besides its body (`Retry-After`, `Allow`, cookies).
    for (name, value) in res.response().headers() {
        if name != header::CONTENT_TYPE
            && name != header::CONTENT_LENGTH
            && !page.headers().contains_key(name)
        {
            page.headers_mut().append(name.clone(), value.clone());
        }
    }
    page.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.into_response(page).map_into_right_body()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_keep_their_answers_and_people_get_pages() {
        for path in [
            "/api/v1/x",
            "/p/public/a/b.m4s",
            "/beacon",
            "/stripe/webhook",
            "/metrics",
        ] {
            assert!(for_programs(path), "{path}");
        }
        for path in ["/", "/nowhere", "/admin/paywall", "/apis", "/account"] {
            assert!(!for_programs(path), "{path}");
        }
    }

    #[test]
    fn reasons_read_as_sentences() {
        assert_eq!(sentence("no such plan"), "no such plan.");
        assert_eq!(sentence("Done."), "Done.");
        assert_eq!(reason(&PageError::Internal), None);
    }

    #[test]
    fn the_dashboard_section_is_the_longest_match() {
        assert_eq!(section_of("/admin/paywall/codes"), "/admin/paywall");
        assert_eq!(section_of("/admin/nowhere"), "/admin");
    }
}
