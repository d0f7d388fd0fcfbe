//! Browser sign-in on the HTTP side: the session cookie, CSRF, and the `Viewer` and
//! `Admin<P>` extractors that put a handler's permission in its signature.
//!
//! CSRF: a request that a session cookie authorises and that can change state (POST, PUT,
//! PATCH, DELETE) must carry the session's CSRF token, in the `x-csrf-token` header or a
//! `csrf` form field; the extractor checks it before the handler runs, and hands the
//! handler the checked form (`Viewer::form`). The token is derived from the session's
//! secret, so it is tied to that session and the database holds no copy. The sign-in and
//! setup forms, made before there is a session, use a double-submit cookie instead.

use std::future::Future;
use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, dev::Payload, web};
use serde::de::DeserializeOwned;

use super::AppState;
use super::tls_listener::ServedOverTls;
use crate::accounts::roles::perm::Required;
use crate::accounts::secret::{Secret, constant_time_eq};
use crate::accounts::sessions::{self, Session};
use crate::accounts::signin::AttemptFrom;
use crate::accounts::users::User;
use crate::accounts::{AccountsError, devices};

use crate::accounts::sessions::{SESSION_COOKIE_PLAIN, SESSION_COOKIE_TLS};

const FORM_COOKIE_TLS: &str = "__Host-marquee_form";
const FORM_COOKIE_PLAIN: &str = "marquee_form";
/// The device cookie (`accounts::devices`): set at every sign-in, kept at sign-out.
const DEVICE_COOKIE_TLS: &str = "__Host-marquee_device";
const DEVICE_COOKIE_PLAIN: &str = "marquee_device";
const CSRF_HEADER: &str = "x-csrf-token";
const CSRF_PURPOSE: &str = "csrf";

/// Largest form body a signed-in request may send to a page handler.
const FORM_LIMIT: usize = 64 * 1024;

/// Whether the request came over one of Marquee's TLS listeners.
pub fn over_tls(req: &HttpRequest) -> bool {
    req.conn_data::<ServedOverTls>().is_some()
}

fn session_cookie_name(req: &HttpRequest) -> &'static str {
    if over_tls(req) {
        SESSION_COOKIE_TLS
    } else {
        SESSION_COOKIE_PLAIN
    }
}

fn form_cookie_name(req: &HttpRequest) -> &'static str {
    if over_tls(req) {
        FORM_COOKIE_TLS
    } else {
        FORM_COOKIE_PLAIN
    }
}

fn cookie(req: &HttpRequest, name: &'static str, value: String) -> Cookie<'static> {
    let mut c = Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .finish();
    c.set_secure(over_tls(req));
    c
}

/// The cookie that carries a new session's secret.
pub fn session_cookie(req: &HttpRequest, secret: &Secret, max_age_secs: i64) -> Cookie<'static> {
    let mut c = cookie(req, session_cookie_name(req), secret.encode());
    c.set_max_age(CookieDuration::seconds(max_age_secs));
    c
}

/// A cookie that makes the browser forget the session.
pub fn session_cookie_removal(req: &HttpRequest) -> Cookie<'static> {
    let mut c = cookie(req, session_cookie_name(req), String::new());
    c.make_removal();
    c
}

/// The secret in the request's session cookie, if it holds one.
pub fn presented_session(req: &HttpRequest) -> Option<Secret> {
    req.cookie(session_cookie_name(req))
        .and_then(|c| Secret::parse(c.value()))
}

fn device_cookie_name(req: &HttpRequest) -> &'static str {
    if over_tls(req) {
        DEVICE_COOKIE_TLS
    } else {
        DEVICE_COOKIE_PLAIN
    }
}

/// The device tokens the browser presented (`accounts::devices`); empty when none.
pub fn presented_devices(req: &HttpRequest) -> Vec<Secret> {
    req.cookie(device_cookie_name(req))
        .map(|c| devices::parse_cookie(c.value()))
        .unwrap_or_default()
}

/// The device cookie carrying these tokens, for `devices::DEVICE_TTL_SECS`.
pub fn device_cookie(req: &HttpRequest, tokens: &[Secret]) -> Cookie<'static> {
    let mut c = cookie(req, device_cookie_name(req), devices::cookie_value(tokens));
    c.set_max_age(CookieDuration::seconds(devices::DEVICE_TTL_SECS));
    c
}

/// Who is asking, for sign-in and emailed-link requests: the address and device cookie.
pub fn attempt_from(req: &HttpRequest) -> AttemptFrom {
    AttemptFrom {
        ip: client_ip(req),
        devices: presented_devices(req),
    }
}

/// The client's address (`AppState::client_of`: the TCP peer, or what a trusted proxy
/// says), which throttles count and sessions record.
pub fn client_ip(req: &HttpRequest) -> IpAddr {
    let from_state = req
        .app_data::<web::Data<AppState>>()
        .and_then(|state| state.client_of(req));
    from_state
        .or_else(|| req.peer_addr().map(|a| a.ip()))
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// The token a pre-session form (sign-in, setup) carries, and the cookie to set when the
/// browser has none yet.
pub fn form_token(req: &HttpRequest) -> (String, Option<Cookie<'static>>) {
    if let Some(existing) = req
        .cookie(form_cookie_name(req))
        .filter(|c| Secret::parse(c.value()).is_some())
    {
        return (existing.value().to_owned(), None);
    }
    let fresh = Secret::generate().encode();
    let c = cookie(req, form_cookie_name(req), fresh.clone());
    (fresh, Some(c))
}

/// Double-submit check for a pre-session form: the field must equal the cookie.
pub fn check_form_token(req: &HttpRequest, presented: &str) -> Result<(), PageError> {
    match req.cookie(form_cookie_name(req)) {
        Some(c) if !presented.is_empty() && constant_time_eq(c.value(), presented) => Ok(()),
        _ => Err(PageError::Forbidden(
            "the form expired or came from another site; reload the page and try again".into(),
        )),
    }
}

/// Errors of the signed-in pages: a redirect to sign in, or a short page.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// `next`: where to return after signing in (empty: the user's home); `api`: the
    /// request was to `/api/`, whose clients get 401 rather than a page.
    #[error("sign in first")]
    SignInRequired { next: String, api: bool },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("internal error; see the server log")]
    Internal,
}

impl PageError {
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "page request failed");
        PageError::Internal
    }
}

impl From<AccountsError> for PageError {
    fn from(e: AccountsError) -> Self {
        match e {
            AccountsError::Invalid(m) => PageError::BadRequest(m),
            AccountsError::NotAllowed(m) => PageError::Forbidden(m),
            e @ (AccountsError::NoSuchMember(_)
            | AccountsError::NoSuchInvite(_)
            | AccountsError::NoSuchKey(_)) => PageError::NotFound(e.to_string()),
            e @ AccountsError::EmailTaken(_) => PageError::Conflict(e.to_string()),
            other => PageError::internal(other),
        }
    }
}

impl From<crate::db::DbError> for PageError {
    fn from(e: crate::db::DbError) -> Self {
        PageError::internal(e)
    }
}

impl From<crate::services::ServiceError> for PageError {
    fn from(e: crate::services::ServiceError) -> Self {
        use crate::services::ServiceError;
        match e {
            ServiceError::NotFound(id) => PageError::NotFound(format!("no asset with id {id}")),
            ServiceError::Invalid(m) => PageError::BadRequest(m),
            ServiceError::Conflict(m) => PageError::Conflict(m),
            other => PageError::internal(other),
        }
    }
}

impl From<super::error::ApiError> for PageError {
    fn from(e: super::error::ApiError) -> Self {
        PageError::internal(e)
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::SignInRequired { api: true, .. } => StatusCode::UNAUTHORIZED,
            PageError::SignInRequired { .. } => StatusCode::SEE_OTHER,
            PageError::Forbidden(_) => StatusCode::FORBIDDEN,
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::Conflict(_) => StatusCode::CONFLICT,
            PageError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let PageError::SignInRequired { next, api } = self {
            // An API client cannot follow a sign-in page.
            if *api {
                return super::error::ApiError::unauthorized("sign in first").error_response();
            }
            let to = if next.is_empty() {
                "/login".to_owned()
            } else {
                let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
                format!("/login?{query}")
            };
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, to))
                .finish();
        }
        // Plain text: nothing from the request is echoed as markup.
        HttpResponse::build(self.status_code())
            .content_type("text/plain; charset=utf-8")
            .body(self.to_string())
    }
}

/// Any signed-in person. On a state-changing request the CSRF token has been checked.
pub struct Viewer {
    pub session: Session,
    csrf: String,
    form: Option<web::Bytes>,
    /// A page's `saved` query parameter: the save the dashboard confirms after a form's
    /// redirect (`dashboard::Saved`).
    saved: Option<String>,
}

impl Viewer {
    pub fn user(&self) -> &User {
        &self.session.user
    }

    /// The `saved` query parameter of the page asked for, as sent.
    pub fn saved(&self) -> Option<&str> {
        self.saved.as_deref()
    }

    /// Who the audit log names for a change this person makes.
    pub fn actor(&self) -> crate::audit::Actor {
        crate::audit::Actor::User {
            id: self.user().id.0,
            label: self.user().email.clone(),
        }
    }

    /// The token forms of this session must carry (field `csrf`).
    pub fn csrf_token(&self) -> &str {
        &self.csrf
    }

    /// The request's raw form body (for repeated fields), already checked for the CSRF
    /// token.
    pub fn form_bytes(&self) -> &[u8] {
        self.form.as_deref().unwrap_or_default()
    }

    /// The request's form body, already checked for the CSRF token.
    pub fn form<T: DeserializeOwned>(&self) -> Result<T, PageError> {
        let body = self.form.as_deref().unwrap_or_default();
        serde_urlencoded::from_bytes(body).map_err(form_not_understood)
    }
}

/// A form body or query that does not parse: the parser's words ("missing field `back`")
/// go to the log, a sentence to the person.
pub(super) fn form_not_understood(e: impl std::fmt::Display) -> PageError {
    tracing::debug!(error = %e, "a form that does not parse");
    PageError::BadRequest(NOT_UNDERSTOOD.into())
}

/// What a person reads about a form or address that does not parse.
pub(super) const NOT_UNDERSTOOD: &str = "Something in that request was missing or not \
     understood, and nothing was changed. Go back and try again.";

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Where a state-changing request carries its CSRF token.
enum CsrfSource {
    NotNeeded,
    Header(String),
    Form(<web::Bytes as FromRequest>::Future),
}

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

#[derive(serde::Deserialize)]
struct SavedParam {
    saved: Option<String>,
}

impl FromRequest for Viewer {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let secret = presented_session(&req);
        // The header leaves the body to the handler (which may stream it); a form's token
        // is in the body, which is then read here.
        let presented = if !changes_state(req.method()) {
            CsrfSource::NotNeeded
        } else if let Some(h) = req.headers().get(CSRF_HEADER) {
            CsrfSource::Header(h.to_str().unwrap_or_default().to_owned())
        } else {
            CsrfSource::Form(web::Bytes::from_request(&req, &mut payload.take()))
        };
        Box::pin(async move {
            let state = state.ok_or_else(|| PageError::internal("no app state"))?;
            // Back to the page after signing in; a form post cannot be replayed as a GET,
            // so after one the user lands on their home page.
            let next = match *req.method() {
                Method::GET | Method::HEAD => req
                    .uri()
                    .path_and_query()
                    .map_or(String::new(), |p| p.as_str().to_owned()),
                _ => String::new(),
            };
            let api = req.path().starts_with("/api/");
            let sign_in = || PageError::SignInRequired {
                next: next.clone(),
                api,
            };
            let secret = secret.ok_or_else(sign_in)?;
            let policy = state.accounts.sessions;
            let now = crate::jobs::runner::now();
            let found = secret.clone();
            let session = state
                .db
                .read(move |c| sessions::find(c, &found, &policy, now))
                .await?
                .ok_or_else(sign_in)?;
            let csrf = secret.derive(CSRF_PURPOSE);
            let mut form = None;
            let presented = match presented {
                CsrfSource::NotNeeded => None,
                CsrfSource::Header(token) => Some(token),
                CsrfSource::Form(body) => {
                    let bytes = body.await.map_err(form_not_understood)?;
                    if bytes.len() > FORM_LIMIT {
                        return Err(PageError::BadRequest("the form is too large".into()));
                    }
                    let token = serde_urlencoded::from_bytes::<CsrfField>(&bytes)
                        .map(|f| f.csrf)
                        .unwrap_or_default();
                    form = Some(bytes);
                    Some(token)
                }
            };
            if presented.is_some_and(|token| !constant_time_eq(&token, &csrf)) {
                return Err(PageError::Forbidden(
                    "this form is not from your current session; reload the page and try again"
                        .into(),
                ));
            }
            if session.needs_touch(now) {
                let id = session.id;
                state
                    .db
                    .write(move |tx| sessions::touch(tx, id, now))
                    .await?;
            }
            super::frame::mark_signed_in();
            let saved = web::Query::<SavedParam>::from_query(req.query_string())
                .ok()
                .and_then(|q| q.into_inner().saved);
            Ok(Viewer {
                session,
                csrf,
                form,
                saved,
            })
        })
    }
}

/// Who sends a form that signed-out visitors may send too (`POST /checkout`): the
/// signed-in person when the session cookie names a live session — the form must then
/// carry that session's token —, else no one, and the form must carry the double-submit
/// token of `form_token` (as the sign-in form does).
pub async fn form_sender(
    req: &HttpRequest,
    state: &AppState,
    presented: &str,
) -> Result<Option<Session>, PageError> {
    let Some(secret) = presented_session(req) else {
        check_form_token(req, presented)?;
        return Ok(None);
    };
    let (policy, now, found) = (
        state.accounts.sessions,
        crate::jobs::runner::now(),
        secret.clone(),
    );
    let session = state
        .db
        .read(move |c| sessions::find(c, &found, &policy, now))
        .await?;
    let Some(session) = session else {
        check_form_token(req, presented)?;
        return Ok(None);
    };
    if !constant_time_eq(presented, &secret.derive(CSRF_PURPOSE)) {
        return Err(PageError::Forbidden(
            "this form is not from your current session; reload the page and try again".into(),
        ));
    }
    if session.needs_touch(now) {
        let id = session.id;
        state
            .db
            .write(move |tx| sessions::touch(tx, id, now))
            .await?;
    }
    Ok(Some(session))
}

/// The person signed in on `req`, for pages that only show who it is (an error page in the
/// dashboard's frame): no CSRF check and no `last_seen_at` write, since nothing changes.
pub async fn signed_in(state: &AppState, req: &HttpRequest) -> Option<Viewer> {
    let secret = presented_session(req)?;
    let policy = state.accounts.sessions;
    let now = crate::jobs::runner::now();
    let found = secret.clone();
    let session = state
        .db
        .read(move |c| sessions::find(c, &found, &policy, now))
        .await
        .ok()??;
    Some(Viewer {
        session,
        csrf: secret.derive(CSRF_PURPOSE),
        form: None,
        saved: None,
    })
}

/// A signed-in person whose role has permission `P` (see `accounts::roles::PERMISSIONS`).
pub struct Admin<P: Required> {
    pub viewer: Viewer,
    permission: PhantomData<P>,
}

impl<P: Required + 'static> FromRequest for Admin<P> {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let viewer = Viewer::from_request(req, payload);
        Box::pin(async move {
            let viewer = viewer.await?;
            if !viewer.user().role.may(P::PERMISSION) {
                return Err(PageError::Forbidden(format!(
                    "your role ({}) may not do this",
                    viewer.user().role
                )));
            }
            Ok(Admin {
                viewer,
                permission: PhantomData,
            })
        })
    }
}

/// A 303 to `to` (after a form), with cookies.
pub fn see_other(to: &str, cookies: impl IntoIterator<Item = Cookie<'static>>) -> HttpResponse {
    let mut resp = HttpResponse::SeeOther();
    resp.insert_header((header::LOCATION, to.to_owned()));
    for c in cookies {
        resp.cookie(c);
    }
    let mut resp = resp.finish();
    // Pages with tokens in them are not for caches.
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_out_pages_redirect_and_the_api_answers_401() {
        let page = PageError::SignInRequired {
            next: "/admin?tab=a b".into(),
            api: false,
        }
        .error_response();
        assert_eq!(page.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            page.headers().get(header::LOCATION).unwrap(),
            "/login?next=%2Fadmin%3Ftab%3Da+b"
        );
        let api = PageError::SignInRequired {
            next: String::new(),
            api: true,
        }
        .error_response();
        assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
        assert!(api.headers().get(header::LOCATION).is_none());
        let after_post = PageError::SignInRequired {
            next: String::new(),
            api: false,
        }
        .error_response();
        assert_eq!(
            after_post.headers().get(header::LOCATION).unwrap(),
            "/login"
        );
    }
}
