//! Sign-up: `GET /signup` (the form, or in words why there is none), `POST /signup`
//! (`accounts::signup::request`), `GET /register` and `/join` (to `/signup`), and the
//! emailed link: `GET /signup/{token}` shows a button (mail scanners fetch links and must
//! not use them up), `POST` makes the account and signs it in, back to the `next` the form
//! carried.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;

use super::AppState;
use super::account_pages::{
    LoginMessage, link_gone, login_page, private, safe_next, site_path, start_session,
};
use super::session::{PageError, Viewer, check_form_token, client_ip, form_token, see_other};
use super::ui::page;
use crate::accounts::challenge::{self, Solution};
use crate::accounts::secret::Secret;
use crate::accounts::signup::{self, Delivery, Outcome, SignupForm};
use crate::accounts::{AccountsError, passwords};
use crate::config::SignupMode;
use crate::jobs::runner::now;
use crate::mail::Letter;

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct SignupFields {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
    #[serde(default)]
    website: String,
    #[serde(default)]
    pow_salt: String,
    #[serde(default)]
    pow_challenge: String,
    #[serde(default)]
    pow_signature: String,
    #[serde(default)]
    pow_number: String,
}

/// What the page shows.
enum Shown<'a> {
    Form {
        error: Option<String>,
        fields: Option<&'a SignupFields>,
    },
    /// "A link is on its way", the same whether or not the address had an account.
    Sent { email: &'a str },
}

fn with_next(base: &str, next: Option<&str>) -> String {
    match next {
        Some(n) => format!(
            "{base}?{}",
            serde_urlencoded::to_string([("next", n)]).unwrap_or_default()
        ),
        None => base.to_owned(),
    }
}

fn signup_page(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    next: Option<&str>,
    shown: Shown<'_>,
) -> Result<HttpResponse, PageError> {
    let mode = state.settings.settings.current().accounts.signup;
    let (csrf, cookie) = form_token(req);
    let (error, email, name, sent) = match &shown {
        Shown::Form { error, fields } => (
            error.clone(),
            fields.map_or("", |f| f.email.as_str()),
            fields.map_or("", |f| f.name.as_str()),
            false,
        ),
        Shown::Sent { email } => (None, *email, "", true),
    };
    let pow = challenge::issue(now());
    let pow = minijinja::context! {
        salt => pow.salt, challenge => pow.challenge, signature => pow.signature,
        max_number => pow.max_number,
    };
    let resp = page(
        state,
        "signup.html",
        status,
        minijinja::context! {
            mode => mode.as_str(), csrf, next, error, email, name, sent, pow,
            email_links => state.mail.is_on(),
            min => passwords::MIN_CHARS,
            sign_in => with_next("/login", next),
            again => with_next("/signup", next),
            signup_js => state.ui.static_url("signup.js"),
        },
    )?;
    Ok(private(resp, cookie))
}

/// The mode's own page when sign-up is not open: 200 for invitations, 403 when closed.
fn not_open(
    req: &HttpRequest,
    state: &AppState,
    mode: SignupMode,
    next: Option<&str>,
) -> Result<HttpResponse, PageError> {
    let status = match mode {
        SignupMode::Closed => StatusCode::FORBIDDEN,
        _ => StatusCode::OK,
    };
    let shown = Shown::Form {
        error: None,
        fields: None,
    };
    signup_page(req, state, status, next, shown)
}

#[get("/signup")]
pub async fn signup_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Option<Viewer>,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, PageError> {
    let next = site_path(query.next.as_deref());
    if let Some(viewer) = viewer {
        return Ok(see_other(&safe_next(next, viewer.user()), []));
    }
    let mode = state.settings.settings.current().accounts.signup;
    if mode != SignupMode::Open {
        return not_open(&req, &state, mode, next);
    }
    let shown = Shown::Form {
        error: None,
        fields: None,
    };
    signup_page(&req, &state, StatusCode::OK, next, shown)
}

/// Old and other names of the sign-up page.
#[get("/register")]
pub async fn register(req: HttpRequest) -> HttpResponse {
    to_signup(&req)
}

#[get("/join")]
pub async fn join(req: HttpRequest) -> HttpResponse {
    to_signup(&req)
}

fn to_signup(req: &HttpRequest) -> HttpResponse {
    let query = req.query_string();
    let to = if query.is_empty() {
        "/signup".to_owned()
    } else {
        format!("/signup?{query}")
    };
    HttpResponse::MovedPermanently()
        .insert_header((header::LOCATION, to))
        .finish()
}

#[post("/signup")]
pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<SignupFields>,
) -> Result<HttpResponse, PageError> {
    check_form_token(&req, &form.csrf)?;
    let fields = form.into_inner();
    let next = site_path(fields.next.as_deref()).map(str::to_owned);
    let next = next.as_deref();
    let mode = state.settings.settings.current().accounts.signup;
    if mode != SignupMode::Open {
        // Nothing is made; the page says why, as its GET does.
        let status = match mode {
            SignupMode::Closed => StatusCode::FORBIDDEN,
            _ => StatusCode::OK,
        };
        return signup_page(
            &req,
            &state,
            status,
            next,
            Shown::Form {
                error: None,
                fields: None,
            },
        );
    }
    let delivery = if state.mail.is_on() {
        Delivery::Email {
            sign_in_link_secs: state.accounts.magic_link.ttl_secs,
        }
    } else {
        Delivery::NoEmail
    };
    let asked = SignupForm {
        email: fields.email.clone(),
        display_name: fields.name.clone(),
        password: fields.password.clone(),
        next: next.map(str::to_owned),
        solution: Solution {
            salt: fields.pow_salt.clone(),
            challenge: fields.pow_challenge.clone(),
            signature: fields.pow_signature.clone(),
            number: fields.pow_number.clone(),
        },
        honeypot: fields.website.clone(),
    };
    let ip = client_ip(&req);
    let outcome = signup::request(
        &state.db,
        asked,
        ip,
        delivery,
        &state.accounts.throttle,
        now(),
    )
    .await;
    let form_again = |status: StatusCode, error: String| {
        signup_page(
            &req,
            &state,
            status,
            next,
            Shown::Form {
                error: Some(error),
                fields: Some(&fields),
            },
        )
    };
    let sent = || {
        signup_page(
            &req,
            &state,
            StatusCode::OK,
            next,
            Shown::Sent {
                email: fields.email.trim(),
            },
        )
    };
    // Without email, a sign-up ends on the sign-in page, whether it made an account or
    // found one: signing the new account in at once would tell anyone whether an address
    // was taken.
    let ready_to_sign_in = || {
        login_page(
            &req,
            &state,
            StatusCode::OK,
            fields.email.trim(),
            next,
            LoginMessage::Notice(
                "Your account is ready. Sign in with the password you just chose.".into(),
            ),
        )
    };
    match outcome {
        Ok(Outcome::LinkIssued { to, secret }) => {
            let link = state.mail.link(&format!("/signup/{}", secret.encode()));
            let site = state.settings.settings.current().site.name.clone();
            let body = format!(
                "Open this link to finish creating your {site} account (it works once, for a day):\r\n\
                 \r\n{link}\r\n\r\nIf you did not ask for an account, ignore this email: \
                 nothing is made without it.\r\n"
            );
            let letter = Letter {
                to,
                subject: format!("Finish creating your {site} account"),
                body,
            };
            state.mail.send_later(letter, "sign-up link");
            sent()
        }
        Ok(Outcome::AlreadyHasAccount { to, sign_in }) => {
            let minutes = (state.accounts.magic_link.ttl_secs + 59) / 60;
            let link = state.mail.link(&with_next(
                &format!("/login/link/{}", sign_in.encode()),
                next,
            ));
            let reset = state.mail.link("/reset");
            let site = state.settings.settings.current().site.name.clone();
            let body = format!(
                "Someone, probably you, asked to create a {site} account with this email \
                 address. You already have one.\r\n\r\nSign in with this link (it works once, \
                 for {minutes} minutes):\r\n\r\n{link}\r\n\r\nForgot your password? Choose a \
                 new one here: {reset}\r\n\r\nIf it was not you, ignore this email: nothing \
                 changed.\r\n"
            );
            let letter = Letter {
                to,
                subject: format!("You already have a {site} account"),
                body,
            };
            state
                .mail
                .send_later(letter, "already-have-an-account notice");
            sent()
        }
        Ok(Outcome::Quiet) => match delivery {
            Delivery::Email { .. } => sent(),
            Delivery::NoEmail => ready_to_sign_in(),
        },
        Ok(Outcome::Created(user)) => {
            tracing::info!(user = user.id.0, "a viewer signed up");
            ready_to_sign_in()
        }
        // Word for word what a new address gets: the page never tells whether an
        // address has an account (the owner signs in with their own password).
        Ok(Outcome::Taken) => ready_to_sign_in(),
        Ok(Outcome::Unproven(why)) => {
            tracing::info!(ip = %ip, ?why, "sign-up refused: proof of work");
            form_again(
                StatusCode::BAD_REQUEST,
                "The check that you are a person did not finish. Wait a moment, then send \
                 the form again."
                    .into(),
            )
        }
        Ok(Outcome::Throttled { retry_after_secs }) => {
            tracing::info!(ip = %ip, retry_after_secs, "sign-up refused: too many from this address");
            let minutes = (retry_after_secs + 59) / 60;
            let mut resp = form_again(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Too many accounts were asked for from your network. Try again in {minutes} \
                     minute{}.",
                    if minutes == 1 { "" } else { "s" }
                ),
            )?;
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            Ok(resp)
        }
        Err(AccountsError::Invalid(message)) => {
            form_again(StatusCode::BAD_REQUEST, sentence(&message))
        }
        Err(e) => Err(e.into()),
    }
}

/// "the password is too short: …" as a sentence.
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let first = chars.next().map(|c| c.to_uppercase().to_string());
    let rest: String = chars.collect();
    let mut s = format!("{}{rest}", first.unwrap_or_default());
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

#[get("/signup/{token}")]
pub async fn open_link(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let Some(secret) = Secret::parse(&token) else {
        return link_gone(&state);
    };
    let Some(email) = signup::pending_email(&state.db, secret, now()).await? else {
        return link_gone(&state);
    };
    link_page(&req, &state, StatusCode::OK, &email, None)
}

/// The emailed link's page: a button that makes the account, and the password field (the
/// password is chosen here, by whoever holds the link, never on the sign-up form).
fn link_page(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    email: &str,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let (csrf, cookie) = form_token(req);
    let resp = page(
        state,
        "signup_link.html",
        status,
        minijinja::context! { csrf, email, error, min => passwords::MIN_CHARS },
    )?;
    Ok(private(resp, cookie))
}

#[derive(Deserialize)]
pub struct LinkForm {
    #[serde(default)]
    csrf: String,
    /// Optional: without one, emailed sign-in links sign the account in.
    #[serde(default)]
    password: String,
}

#[post("/signup/{token}")]
pub async fn confirm_link(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
    form: web::Form<LinkForm>,
) -> Result<HttpResponse, PageError> {
    check_form_token(&req, &form.csrf)?;
    let Some(secret) = Secret::parse(&token) else {
        return link_gone(&state);
    };
    let hash = if form.password.is_empty() {
        None
    } else {
        if let Err(AccountsError::Invalid(message)) = passwords::check_new(&form.password) {
            let Some(email) = signup::pending_email(&state.db, secret, now()).await? else {
                return link_gone(&state);
            };
            let error = Some(sentence(&message));
            return link_page(&req, &state, StatusCode::BAD_REQUEST, &email, error);
        }
        let mut turn = passwords::sign_up_turn().await?;
        Some(passwords::hash_in_turn(&mut turn, form.password.clone()).await?)
    };
    match signup::confirm(&state.db, secret, hash, now()).await {
        Ok((user, next)) => {
            tracing::info!(user = user.id.0, "a viewer signed up with an emailed link");
            let to = safe_next(site_path(next.as_deref()), &user);
            start_session(&req, &state, &user, &to).await
        }
        Err(AccountsError::LinkNotValid) => link_gone(&state),
        Err(e) => Err(e.into()),
    }
}
