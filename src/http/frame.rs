//! What the page frame's header needs to know about the request it answers: whether the
//! visitor is signed in ("Account", else "Sign in" and "Create account") and where they are
//! (the `next` those links carry). Set per request by `listener::app`'s middleware in a
//! task-local, so `ui::page` renders it without every handler passing it along; nothing of
//! it is kept between requests (the storefront cache keeps catalog data only, never a
//! rendered header).

use std::cell::Cell;
use std::future::Future;

use actix_web::dev::ServiceRequest;
use actix_web::http::Method;
use actix_web::web;

use super::AppState;
use crate::accounts::sessions;

tokio::task_local! {
    static FRAME: Frame;
}

pub struct Frame {
    signed_in: Cell<bool>,
    /// The request's path and query, when a sign-in should come back to it.
    here: Option<String>,
}

/// Paths with no page frame (or the dashboard's own), where no lookup is worth making.
fn framed(path: &str) -> bool {
    const BARE: &[&str] = &[
        "/api/", "/static/", "/p/", "/img/", "/admin", "/beacon", "/stripe/", "/healthz",
        "/readyz", "/metrics",
    ];
    !BARE.iter().any(|p| path.starts_with(p))
}

/// Pages a sign-in should not come back to.
fn returnable(path: &str) -> bool {
    const NOT: &[&str] = &[
        "/login",
        "/logout",
        "/signup",
        "/register",
        "/join",
        "/reset",
        "/setup/",
        "/invite/",
        "/verify/",
    ];
    !NOT.iter().any(|p| path.starts_with(p))
}

/// What a request's frame will be, read from the request before it goes on.
pub struct Pending {
    here: Option<String>,
    lookup: Option<(web::Data<AppState>, crate::accounts::secret::Secret)>,
}

/// The request's frame: a page request with a session cookie looks the session up once
/// (read-only; the `Viewer` extractor marks the frame too, on any method).
pub fn prepare(req: &ServiceRequest) -> Pending {
    let path = req.path();
    let page = framed(path) && matches!(*req.method(), Method::GET | Method::HEAD);
    let here = (page && returnable(path)).then(|| {
        req.uri()
            .path_and_query()
            .map_or_else(|| path.to_owned(), |p| p.as_str().to_owned())
    });
    let lookup = if page {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let secret = super::session::presented_session(req.request());
        state.zip(secret)
    } else {
        None
    };
    Pending { here, lookup }
}

/// Runs `answer` (the rest of the app for the request) within its frame.
pub async fn run<F: Future>(pending: Pending, answer: F) -> F::Output {
    let Pending { here, lookup } = pending;
    {
        let signed_in = match lookup {
            Some((state, secret)) => {
                let policy = state.accounts.sessions;
                let now = crate::jobs::runner::now();
                state
                    .db
                    .read(move |c| sessions::find(c, &secret, &policy, now))
                    .await
                    .ok()
                    .flatten()
                    .is_some()
            }
            None => false,
        };
        let frame = Frame {
            signed_in: Cell::new(signed_in),
            here,
        };
        FRAME.scope(frame, answer).await
    }
}

/// The `Viewer` extractor found a signed-in person.
pub fn mark_signed_in() {
    let _ = FRAME.try_with(|f| f.signed_in.set(true));
}

/// Whether this request's visitor is signed in (false outside a request).
pub fn signed_in() -> bool {
    FRAME.try_with(|f| f.signed_in.get()).unwrap_or(false)
}

/// `base` with `?next=` naming this request's page, when there is one to come back to.
pub fn link_back(base: &str) -> String {
    let here = FRAME.try_with(|f| f.here.clone()).ok().flatten();
    match here.filter(|h| h != "/") {
        Some(here) => {
            let query = serde_urlencoded::to_string([("next", here)]).unwrap_or_default();
            format!("{base}?{query}")
        }
        None => base.to_owned(),
    }
}
