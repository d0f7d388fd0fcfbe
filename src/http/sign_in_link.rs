//! Signing in with a link sent by email: ask for it on `/login`, open it
//! (`GET /login/link/{token}` shows a button, so mail scanners that fetch links do not use
//! them up), confirm (`POST` signs in with a new session, as a password does).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;

use super::AppState;
use super::account_pages::{
    LoginMessage, link_gone, login_page, private, safe_next, site_path, start_session,
};
use super::recovery_pages::ConfirmForm;
use super::session::{PageError, attempt_from, check_form_token, client_ip, form_token};
use super::ui::page;
use crate::accounts::AccountsError;
use crate::accounts::magic_link::{self, LinkRequest};
use crate::accounts::secret::Secret;
use crate::jobs::runner::now;
use crate::mail::Letter;

#[derive(Deserialize)]
pub struct LinkRequestForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

#[post("/login/link")]
pub async fn ask_for_link(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LinkRequestForm>,
) -> Result<HttpResponse, PageError> {
    check_form_token(&req, &form.csrf)?;
    let accounts = &state.accounts;
    let next = site_path(form.next.as_deref());
    let outcome = magic_link::request(
        &state.db,
        &form.email,
        attempt_from(&req),
        &accounts.throttle,
        &accounts.magic_link,
        now(),
    )
    .await?;
    match outcome {
        LinkRequest::Issued { to, secret } => {
            let minutes = (accounts.magic_link.ttl_secs + 59) / 60;
            // Back where the visitor was going, once the link signs them in.
            let path = match next {
                Some(n) => format!(
                    "/login/link/{}?{}",
                    secret.encode(),
                    serde_urlencoded::to_string([("next", n)]).unwrap_or_default()
                ),
                None => format!("/login/link/{}", secret.encode()),
            };
            let link = state.mail.link(&path);
            let body = format!(
                "Open this link to sign in to Marquee (it works once, for {minutes} minutes):\r\n\
                 \r\n{link}\r\n\r\nIf you did not ask for it, ignore this email.\r\n"
            );
            let letter = Letter {
                to,
                subject: "Your sign-in link".into(),
                body,
            };
            state.mail.send_later(letter, "sign-in link");
        }
        LinkRequest::NoAccount | LinkRequest::OverMailBudget => {}
        LinkRequest::Throttled { retry_after_secs } => {
            tracing::info!(ip = %client_ip(&req), retry_after_secs, "sign-in link refused: too many requests");
            let message = LoginMessage::Error(format!(
                "Too many requests for sign-in links. Try again in {retry_after_secs} s."
            ));
            let mut resp = login_page(
                &req,
                &state,
                StatusCode::TOO_MANY_REQUESTS,
                &form.email,
                next,
                message,
            )?;
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            return Ok(resp);
        }
    }
    // The same answer whether or not the account exists.
    let notice =
        LoginMessage::Notice("If an account uses this email, a sign-in link is on its way.".into());
    login_page(&req, &state, StatusCode::OK, &form.email, next, notice)
}

#[get("/login/link/{token}")]
pub async fn open_link(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let Some(secret) = Secret::parse(&token) else {
        return link_gone(&state);
    };
    if !magic_link::is_live(&state.db, secret, now()).await? {
        return link_gone(&state);
    }
    let (csrf, cookie) = form_token(&req);
    let resp = page(
        &state,
        "sign_in_link.html",
        StatusCode::OK,
        minijinja::context! { csrf },
    )?;
    Ok(private(resp, cookie))
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// The confirm page's form posts to its own address, so `next` comes in the query.
#[post("/login/link/{token}")]
pub async fn confirm_link(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
    query: web::Query<NextQuery>,
    form: web::Form<ConfirmForm>,
) -> Result<HttpResponse, PageError> {
    check_form_token(&req, &form.csrf)?;
    let Some(secret) = Secret::parse(&token) else {
        return link_gone(&state);
    };
    match magic_link::redeem(&state.db, secret, now()).await {
        Ok(user) => {
            tracing::info!(user = user.id.0, "signed in with an emailed link");
            let to = safe_next(query.next.as_deref(), &user);
            start_session(&req, &state, &user, &to).await
        }
        Err(AccountsError::LinkNotValid) => link_gone(&state),
        Err(e) => Err(e.into()),
    }
}
