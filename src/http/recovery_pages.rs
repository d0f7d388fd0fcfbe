//! Password reset (`/reset`, `/reset/{token}`) and email verification (`/verify/{token}`,
//! asked for on the account page). Opening a link only shows a form: a mail scanner that
//! fetches links uses nothing up; the POST does the work.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;

use super::AppState;
use super::account_pages::{link_gone, private, safe_next, start_session};
use super::session::{PageError, Viewer, attempt_from, check_form_token, form_token, see_other};
use super::ui::page;
use crate::accounts::magic_link::LinkRequest;
use crate::accounts::recovery::{self, RESET_TTL_SECS};
use crate::accounts::secret::Secret;
use crate::accounts::tokens::TokenKind;
use crate::accounts::{AccountsError, passwords};
use crate::jobs::runner::now;
use crate::mail::Letter;

#[derive(Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    csrf: String,
}

fn ask_page(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    email: &str,
    error: Option<String>,
    notice: Option<String>,
) -> Result<HttpResponse, PageError> {
    let (csrf, cookie) = form_token(req);
    let mail_on = state.mail.is_on();
    let resp = page(
        state,
        "reset_request.html",
        status,
        minijinja::context! { csrf, email, error, notice, mail_on },
    )?;
    Ok(private(resp, cookie))
}

#[get("/reset")]
pub async fn ask_form(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    ask_page(&req, &state, StatusCode::OK, "", None, None)
}

#[post("/reset")]
pub async fn ask(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<EmailForm>,
) -> Result<HttpResponse, PageError> {
    check_form_token(&req, &form.csrf)?;
    let outcome = recovery::request_reset(
        &state.db,
        &form.email,
        attempt_from(&req),
        &state.accounts.throttle,
        now(),
    )
    .await?;
    match outcome {
        LinkRequest::Issued { to, secret } => {
            let link = state.mail.link(&format!("/reset/{}", secret.encode()));
            let letter = Letter {
                to,
                subject: "Reset your password".into(),
                body: format!(
                    "Open this link to choose a new password (it works once, for {} minutes):\r\n\r\n{link}\r\n\r\nIf you did not ask for it, ignore this email; your password stays as it is.\r\n",
                    RESET_TTL_SECS / 60
                ),
            };
            state.mail.send_later(letter, "password reset link");
        }
        LinkRequest::NoAccount | LinkRequest::OverMailBudget => {}
        LinkRequest::Throttled { retry_after_secs } => {
            let error = format!("Too many requests. Try again in {retry_after_secs} s.");
            let mut resp = ask_page(
                &req,
                &state,
                StatusCode::TOO_MANY_REQUESTS,
                &form.email,
                Some(error),
                None,
            )?;
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            return Ok(resp);
        }
    }
    // The same answer whether or not the account exists.
    let notice = "If an account uses this email, a link to reset its password is on its way.";
    ask_page(
        &req,
        &state,
        StatusCode::OK,
        &form.email,
        None,
        Some(notice.into()),
    )
}

fn new_password_page(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let (csrf, cookie) = form_token(req);
    let min = passwords::MIN_CHARS;
    let resp = page(
        state,
        "reset_form.html",
        status,
        minijinja::context! { csrf, error, min },
    )?;
    Ok(private(resp, cookie))
}

#[get("/reset/{token}")]
pub async fn reset_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let Some(secret) = Secret::parse(&token) else {
        return link_gone(&state);
    };
    if !recovery::is_live(&state.db, TokenKind::ResetPassword, secret, now()).await? {
        return link_gone(&state);
    }
    new_password_page(&req, &state, StatusCode::OK, None)
}

#[derive(Deserialize)]
pub struct NewPasswordForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    csrf: String,
}

#[post("/reset/{token}")]
pub async fn reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
    form: web::Form<NewPasswordForm>,
) -> Result<HttpResponse, PageError> {
    check_form_token(&req, &form.csrf)?;
    let Some(secret) = Secret::parse(&token) else {
        return link_gone(&state);
    };
    if form.password != form.confirm {
        let error = Some("The two passwords differ.".to_owned());
        return new_password_page(&req, &state, StatusCode::BAD_REQUEST, error);
    }
    match recovery::reset_password(&state.db, secret, form.password.clone(), now()).await {
        Ok(user) => {
            tracing::info!(
                user = user.id.0,
                "password reset with an emailed link; other sessions ended"
            );
            let home = safe_next(None, &user);
            start_session(&req, &state, &user, &home).await
        }
        Err(AccountsError::LinkNotValid) => link_gone(&state),
        Err(AccountsError::Invalid(m)) => {
            new_password_page(&req, &state, StatusCode::BAD_REQUEST, Some(m))
        }
        Err(e) => Err(e.into()),
    }
}

/// The account page's "send me a verification link".
#[post("/account/verify-email")]
pub async fn send_verification(
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, PageError> {
    if !state.mail.is_on() {
        return Ok(see_other("/account?verify=no-email", []));
    }
    let user = viewer.user().clone();
    let to = user.email.clone();
    let issued = state
        .db
        .write(move |tx| recovery::issue_verification(tx, &user, now()))
        .await?;
    let Some(secret) = issued else {
        return Ok(see_other("/account?verify=later", []));
    };
    let link = state.mail.link(&format!("/verify/{}", secret.encode()));
    let letter = Letter {
        to,
        subject: "Confirm your email address".into(),
        body: format!(
            "Open this link to confirm your email address (it works once, for a day):\r\n\r\n{link}\r\n"
        ),
    };
    state.mail.send_later(letter, "verification link");
    Ok(see_other("/account?verify=sent", []))
}

#[get("/verify/{token}")]
pub async fn verify_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    link_button_page(&req, &state, &token, TokenKind::VerifyEmail).await
}

/// The page an emailed one-time link opens: a button that posts it back (mail scanners
/// follow links but press nothing), or the "link gone" page when it is unknown, used or
/// expired.
pub(super) async fn link_button_page(
    req: &HttpRequest,
    state: &AppState,
    token: &str,
    kind: TokenKind,
) -> Result<HttpResponse, PageError> {
    let Some(secret) = Secret::parse(token) else {
        return link_gone(state);
    };
    if !recovery::is_live(&state.db, kind, secret, now()).await? {
        return link_gone(state);
    }
    let (csrf, cookie) = form_token(req);
    let resp = page(
        state,
        "verify.html",
        StatusCode::OK,
        minijinja::context! { csrf },
    )?;
    Ok(private(resp, cookie))
}

/// What a one-time link's button posts: the double-submit token only.
#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    pub(super) csrf: String,
}

#[post("/verify/{token}")]
pub async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
    form: web::Form<ConfirmForm>,
) -> Result<HttpResponse, PageError> {
    check_form_token(&req, &form.csrf)?;
    let Some(secret) = Secret::parse(&token) else {
        return link_gone(&state);
    };
    match recovery::verify_email(&state.db, secret, now()).await {
        Ok(user) => {
            tracing::info!(user = user.id.0, "email address verified");
            let resp = page(
                &state,
                "verified.html",
                StatusCode::OK,
                minijinja::context! { email => user.email },
            )?;
            Ok(private(resp, None))
        }
        Err(AccountsError::LinkNotValid) => link_gone(&state),
        Err(e) => Err(e.into()),
    }
}
