//! Sign-in, first-run setup, sign-out, the account page and the dashboard's front page.
//! Handlers parse, call one `accounts` function, and render; who may call each is in its
//! signature (`Viewer`, `Admin<perm::…>`).

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;

use super::AppState;
use super::dashboard::when;
use super::session::{
    PageError, Viewer, attempt_from, check_form_token, client_ip, device_cookie, form_token,
    presented_devices, presented_session, see_other, session_cookie, session_cookie_removal,
};
use super::ui::page;
use crate::accounts::roles::Permission;
use crate::accounts::secret::Secret;
use crate::accounts::sessions::{self, device_summary};
use crate::accounts::setup::{self as first_run, NewAccount};
use crate::accounts::signin::{self, SignIn};
use crate::accounts::users::User;
use crate::accounts::{AccountsError, devices, passwords};
use crate::jobs::runner::now;

/// Paths whose last segment is a one-time token: the access log shows them redacted.
const TOKEN_PATHS: &[&str] = &[
    "/setup/",
    "/login/link/",
    "/invite/",
    "/reset/",
    "/verify/",
    "/signup/",
    "/account/email/",
    "/account/delete/",
];

/// The request line as the access log writes it, with one-time tokens left out: a log is
/// read by more people than may use the links.
pub fn loggable_request_line(
    method: &str,
    path: &str,
    query: &str,
    version: actix_web::http::Version,
) -> String {
    let target = match TOKEN_PATHS.iter().find(|p| path.starts_with(*p)) {
        Some(prefix) => format!("{prefix}[redacted]"),
        None if query.is_empty() => path.to_owned(),
        None => format!("{path}?{query}"),
    };
    format!("{method} {target} {version:?}")
}

/// `next` when it is a path on this site (never `//host` or a URL), and not a page that
/// would only send the visitor round again.
pub(super) fn site_path(next: Option<&str>) -> Option<&str> {
    next.filter(|n| {
        n.starts_with('/')
            && !n.starts_with("//")
            && !n.starts_with("/\\")
            && !n.chars().any(char::is_control)
            && n.len() <= 2000
            && *n != "/login"
            && !n.starts_with("/signup")
    })
}

/// Where to go after signing in: back where the visitor came from (`next`, a path on this
/// site only), else home — the dashboard for staff, the storefront for viewers.
pub(super) fn safe_next(next: Option<&str>, user: &User) -> String {
    match site_path(next) {
        Some(n) => n.to_owned(),
        None if user.role.may(Permission::DashboardView) => "/admin".to_owned(),
        None => "/".to_owned(),
    }
}

/// A path on this site only (never `//host` or a URL), and not the sign-in page.
pub(super) fn local_path(n: &str) -> bool {
    site_path(Some(n)).is_some()
}

/// A page that carries a token: never cached, never framed by another site (a framed
/// sign-in form invites clickjacking), and its address (which may hold a one-time token)
/// never sent on as a referrer; plus any cookie to set.
pub(super) fn private(mut resp: HttpResponse, cookie: Option<Cookie<'static>>) -> HttpResponse {
    if let Some(c) = cookie {
        let _ = resp.add_cookie(&c);
    }
    let headers = resp.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(super::csp::PAGE_POLICY),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

/// Starts a session for `user` (a new secret: any session the browser had is ended, so a
/// planted cookie never becomes a signed-in one) and sends the browser on.
pub(super) async fn start_session(
    req: &HttpRequest,
    state: &AppState,
    user: &User,
    to: &str,
) -> Result<HttpResponse, PageError> {
    let previous = presented_session(req);
    let presented_devices = presented_devices(req);
    let secret = Secret::generate();
    let device = device_summary(
        req.headers()
            .get(header::USER_AGENT)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default(),
    );
    let ip = client_ip(req).to_string();
    let (id, created, policy, now) = (user.id, secret.clone(), state.accounts.sessions, now());
    // Every sign-in makes this browser a known device of the account (`accounts::devices`).
    let device_tokens = state
        .db
        .write(move |tx| {
            if let Some(previous) = previous {
                sessions::end(tx, &previous)?;
            }
            sessions::purge_expired(tx, &policy, now)?;
            sessions::create(tx, &created, id, &device, &ip, now)?;
            devices::remember(tx, id, &presented_devices, now)
        })
        .await?;
    Ok(see_other(
        to,
        [
            session_cookie(req, &secret, policy.absolute_secs),
            device_cookie(req, &device_tokens),
        ],
    ))
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

/// What the sign-in page says above its forms.
pub(super) enum LoginMessage {
    None,
    Error(String),
    /// Something went well (a sign-in link is on its way).
    Notice(String),
}

pub(super) fn login_page(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    email: &str,
    next: Option<&str>,
    message: LoginMessage,
) -> Result<HttpResponse, PageError> {
    let (csrf, cookie) = form_token(req);
    let (error, notice) = match message {
        LoginMessage::None => (None, None),
        LoginMessage::Error(e) => (Some(e), None),
        LoginMessage::Notice(n) => (None, Some(n)),
    };
    // The emailed-link form only where email can go out.
    let email_links = state.mail.is_on();
    let next = site_path(next);
    // "Create account" while anyone may, keeping where the visitor was going.
    let signup = (state.settings.settings.current().accounts.signup
        == crate::config::SignupMode::Open)
        .then(|| match next {
            Some(n) => format!(
                "/signup?{}",
                serde_urlencoded::to_string([("next", n)]).unwrap_or_default()
            ),
            None => "/signup".to_owned(),
        });
    let resp = page(
        state,
        "login.html",
        status,
        minijinja::context! { csrf, email, next, error, notice, email_links, signup },
    )?;
    Ok(private(resp, cookie))
}

#[get("/login")]
pub async fn login_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, PageError> {
    login_page(
        &req,
        &state,
        StatusCode::OK,
        "",
        query.next.as_deref(),
        LoginMessage::None,
    )
}

#[post("/login")]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    check_form_token(&req, &form.csrf)?;
    let form = form.into_inner();
    let outcome = signin::sign_in(
        &state.db,
        &form.email,
        form.password,
        attempt_from(&req),
        &state.accounts.throttle,
        now(),
    )
    .await?;
    let next = form.next.as_deref();
    match outcome {
        SignIn::SignedIn(user) => {
            tracing::info!(user = user.id.0, "signed in");
            let to = safe_next(next, &user);
            start_session(&req, &state, &user, &to).await
        }
        SignIn::Refused => login_page(
            &req,
            &state,
            StatusCode::UNAUTHORIZED,
            &form.email,
            next,
            LoginMessage::Error("Wrong email or password.".into()),
        ),
        SignIn::Throttled { retry_after_secs } => {
            tracing::info!(ip = %client_ip(&req), retry_after_secs, "sign-in refused: too many failures");
            let mut resp = login_page(
                &req,
                &state,
                StatusCode::TOO_MANY_REQUESTS,
                &form.email,
                next,
                LoginMessage::Error(format!(
                    "Too many failed sign-ins. Try again in {retry_after_secs} s."
                )),
            )?;
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            Ok(resp)
        }
    }
}

#[post("/logout")]
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, PageError> {
    let _ = viewer;
    if let Some(secret) = presented_session(&req) {
        state.db.write(move |tx| sessions::end(tx, &secret)).await?;
    }
    Ok(see_other("/login", [session_cookie_removal(&req)]))
}

fn setup_secret(token: &str) -> Result<Secret, PageError> {
    Secret::parse(token)
        .ok_or_else(|| PageError::Forbidden(AccountsError::LinkNotValid.to_string()))
}

pub(super) fn link_gone(state: &AppState) -> Result<HttpResponse, PageError> {
    let resp = page(
        state,
        "link_gone.html",
        StatusCode::NOT_FOUND,
        minijinja::context! {},
    )?;
    Ok(private(resp, None))
}

#[derive(Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    csrf: String,
}

fn setup_page(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    form: Option<&SetupForm>,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let (csrf, cookie) = form_token(req);
    let (email, name) = form.map_or(("", ""), |f| (f.email.as_str(), f.name.as_str()));
    let min = passwords::MIN_CHARS;
    let resp = page(
        state,
        "setup.html",
        status,
        minijinja::context! { csrf, email, name, error, min },
    )?;
    Ok(private(resp, cookie))
}

#[get("/setup/{token}")]
pub async fn setup_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let Ok(secret) = setup_secret(&token) else {
        return link_gone(&state);
    };
    if !first_run::setup_link_is_live(&state.db, secret, now()).await? {
        return link_gone(&state);
    }
    setup_page(&req, &state, StatusCode::OK, None, None)
}

#[post("/setup/{token}")]
pub async fn setup_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
    form: web::Form<SetupForm>,
) -> Result<HttpResponse, PageError> {
    check_form_token(&req, &form.csrf)?;
    let Ok(secret) = setup_secret(&token) else {
        return link_gone(&state);
    };
    if form.password != form.confirm {
        let error = Some("The two passwords differ.".to_owned());
        return setup_page(&req, &state, StatusCode::BAD_REQUEST, Some(&form), error);
    }
    let new = NewAccount {
        email: form.email.clone(),
        display_name: form.name.clone(),
        password: form.password.clone(),
    };
    match first_run::create_owner_with_link(&state.db, secret, new, now()).await {
        Ok(owner) => {
            tracing::info!(
                user = owner.id.0,
                "the owner account was created with the setup link"
            );
            start_session(&req, &state, &owner, "/admin").await
        }
        Err(AccountsError::LinkNotValid) => link_gone(&state),
        Err(AccountsError::Invalid(m)) => {
            setup_page(&req, &state, StatusCode::BAD_REQUEST, Some(&form), Some(m))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(serde::Serialize)]
struct SessionRow {
    device: String,
    ip: String,
    signed_in: String,
    last_seen: String,
    current: bool,
}

#[derive(Deserialize)]
pub struct AccountQuery {
    /// `sent` or `no-email`, after asking for a verification link.
    verify: Option<String>,
    /// Set by a code redemption: `ok`, or why it was refused.
    code: Option<String>,
    /// After an offer code: `taken`, or why it was refused (`billing::offer_refusal_text`).
    offer: Option<String>,
    /// After a change made on this page (`my_account::done_notice`).
    done: Option<String>,
    /// Why a change was refused (`my_account::Refusal`'s code).
    error: Option<String>,
}

#[get("/account")]
pub async fn account(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    query: web::Query<AccountQuery>,
) -> Result<HttpResponse, PageError> {
    let now = now();
    let overview = crate::services::my_account::overview(&state.db, viewer.user().id, now).await?;
    let mut notice = match (query.verify.as_deref(), query.offer.as_deref()) {
        (Some("sent"), _) => Some("A confirmation link is on its way to your email.".to_owned()),
        (Some("no-email"), _) => Some("This server cannot send email; ask the operator.".to_owned()),
        (Some("later"), _) => Some(
            "Several links went to your email in the last hour; use one of those, or ask again later.".to_owned(),
        ),
        (_, Some("taken")) => Some("Your offer is on your subscription.".to_owned()),
        _ => query
            .done
            .as_deref()
            .and_then(super::my_account::done_notice)
            .map(str::to_owned),
    };
    if query.code.as_deref() == Some("ok") {
        notice = redeemed_sentence(&overview, now);
    }
    let offer_error = query
        .offer
        .as_deref()
        .filter(|o| *o != "taken")
        .map(super::billing::offer_refusal_text);
    let (id, policy) = (viewer.user().id, state.accounts.sessions);
    let listed = state
        .db
        .read(move |c| sessions::list(c, id, &policy, now))
        .await?;
    let rows: Vec<SessionRow> = listed
        .into_iter()
        .map(|s| SessionRow {
            current: s.id == viewer.session.id,
            device: s.device,
            ip: s.ip,
            signed_in: when(s.created_at),
            last_seen: when(s.last_seen_at),
        })
        .collect();
    let access = your_access(&state, &overview, &viewer_locale(&req), now);
    let history: Vec<minijinja::Value> = overview
        .history
        .iter()
        .map(|w| {
            let progress = if w.finished {
                "watched to the end".to_owned()
            } else {
                format!(
                    "watched {} of {} min",
                    (w.position_secs / 60.0).round() as i64,
                    (w.duration_secs / 60.0).round().max(1.0) as i64
                )
            };
            minijinja::context! {
                title => match (&w.series, &w.title) {
                    (Some(s), Some(t)) => format!("{s}: {t}"),
                    (None, Some(t)) => t.clone(),
                    (_, None) => "A title no longer available".to_owned(),
                },
                day => super::my_account::day(w.updated_at, now),
                progress,
            }
        })
        .collect();
    let user = viewer.user();
    let resp = page(
        &state,
        "account.html",
        StatusCode::OK,
        minijinja::context! {
            email => &user.email,
            name => &user.display_name,
            role => user.role.as_str(),
            verified => user.email_verified_at.is_some(),
            has_password => user.password_hash.is_some(),
            min_password => passwords::MIN_CHARS,
            email_links => state.mail.is_on(),
            notice,
            error => query.error.as_deref().and_then(super::my_account::Refusal::parse).map(super::my_account::Refusal::sentence),
            dashboard => user.role.may(Permission::DashboardView),
            csrf => viewer.csrf_token(),
            sessions => minijinja::Value::from(minijinja::value::Serde(&rows)),
            access => minijinja::Value::from(minijinja::value::Serde(&access)),
            history,
            my_list => minijinja::Value::from(minijinja::value::Serde(&overview.my_list)),
            code_error => query.code.as_deref().filter(|c| *c != "ok").map(|_| "That code is not valid, or you have redeemed it already."),
            offer_error,
        },
    )?;
    Ok(private(resp, None))
}

/// What the newest code redeemed gave, as a sentence: "Explorer is yours until 6 January".
fn redeemed_sentence(overview: &crate::services::my_account::Overview, now: i64) -> Option<String> {
    let g = overview
        .granted
        .iter()
        .find(|g| g.source == "code" && g.revoked_at.is_none())?;
    Some(match g.until {
        Some(until) => format!(
            "{} is yours until {}.",
            g.name,
            super::my_account::day(until, now)
        ),
        None => format!("{} is yours for good.", g.name),
    })
}

/// What the account page says the viewer holds.
#[derive(serde::Serialize)]
struct YourAccess {
    /// "Club: renews 6 January" and the like: plans and titles by name, days as days.
    lines: Vec<String>,
    /// Bought through Stripe: the portal manages cards and cancellation.
    billing: bool,
    /// Has a Stripe customer: receipts can be listed.
    receipts: bool,
}

/// The locale money is written in for this viewer (their browser's language).
pub(super) fn viewer_locale(req: &HttpRequest) -> crate::money::Locale {
    crate::money::Locale::from_accept_language(
        req.headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|h| h.to_str().ok()),
    )
}

fn your_access(
    state: &AppState,
    overview: &crate::services::my_account::Overview,
    locale: &crate::money::Locale,
    now: i64,
) -> YourAccess {
    use super::my_account::day;
    let money = |amount: i64, currency: &str| crate::money::format(amount, currency, locale);
    let mut lines = Vec::new();
    for s in overview.plans.iter().filter(|s| s.status != "ended") {
        let until = day(s.period_end, now);
        let price = format!(
            "{} a {}",
            money(s.amount, &s.currency),
            if s.interval == "year" {
                "year"
            } else {
                "month"
            }
        );
        lines.push(match (s.status.as_str(), s.cancel_at_period_end) {
            ("trialing", _) => format!("{}: free trial until {until}, then {price}", s.plan),
            ("past_due", _) => format!(
                "{}: the last payment did not go through; update your card",
                s.plan
            ),
            (_, true) => format!("{}: ends {until}", s.plan),
            _ => format!("{}: {price}, renews {until}", s.plan),
        });
    }
    for p in overview.bought.iter().filter(|p| p.refunded_at.is_none()) {
        let paid = money(p.amount, &p.currency);
        let bought = day(p.bought_at, now);
        match (p.window_secs, p.first_play_at) {
            (Some(w), Some(start)) if start + w > now => lines.push(format!(
                "Rental of {}: plays until {} ({paid}, {bought})",
                p.title,
                day(start + w, now)
            )),
            (Some(w), None) => lines.push(format!(
                "Rental of {}: {} hours from your first play ({paid}, {bought})",
                p.title,
                w / 3600
            )),
            (Some(_), Some(_)) => {}
            (None, _) if p.kind == "ticket" => lines.push(match p.starts_at {
                Some(starts) => format!(
                    "Ticket for {}, starting {} ({paid}, {bought})",
                    p.title,
                    day(starts, now)
                ),
                None => format!("A pay-per-view ticket ({paid}, {bought})"),
            }),
            (None, _) => lines.push(format!("{}: yours for good ({paid}, {bought})", p.title)),
        }
    }
    for g in overview
        .granted
        .iter()
        .filter(|g| g.revoked_at.is_none() && g.until.is_none_or(|u| u > now))
    {
        lines.push(match g.until {
            Some(u) => format!("{}: yours until {}", g.name, day(u, now)),
            None => format!("{}: yours for good", g.name),
        });
    }
    YourAccess {
        lines,
        billing: overview.customer && state.settings.settings.current().stripe.enabled(),
        receipts: overview.customer,
    }
}

#[post("/account/sessions/end-all")]
pub async fn sign_out_everywhere(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, PageError> {
    let id = viewer.user().id;
    let ended = state.db.write(move |tx| sessions::end_all(tx, id)).await?;
    tracing::info!(user = id.0, sessions = ended, "signed out everywhere");
    Ok(see_other("/login", [session_cookie_removal(&req)]))
}
