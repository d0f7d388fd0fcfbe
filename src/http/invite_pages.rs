//! `/invite/{token}`: the invited person sets a name and password; the account is created
//! with the invited email and role and signed in. Sending invitations (`deliver`) is shared
//! by the dashboard and the API: by email when SMTP is on, else the link goes back to the
//! admin to pass on.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;

use super::AppState;
use super::account_pages::{link_gone, private, safe_next, start_session};
use super::session::{PageError, check_form_token, form_token};
use super::ui::page;
use crate::accounts::invites::{self, Invite};
use crate::accounts::secret::Secret;
use crate::accounts::setup::NewAccount;
use crate::accounts::{AccountsError, passwords};
use crate::jobs::runner::now;
use crate::mail::Letter;

/// Emails the invitation, or, with SMTP off, returns the link for the admin to pass on
/// (and the log says the email was not sent).
pub fn deliver(state: &AppState, invite: &Invite, secret: &Secret) -> Option<String> {
    let link = state.mail.link(&format!("/invite/{}", secret.encode()));
    if !state.mail.is_on() {
        tracing::warn!(
            invite = invite.id,
            "invitation not emailed: SMTP is not configured; the dashboard shows the link to the admin"
        );
        return Some(link);
    }
    let letter = Letter {
        to: invite.email.clone(),
        subject: "You are invited to Marquee".into(),
        body: format!(
            "You have been invited to Marquee as {}.\n\nOpen this link to choose your password (it works once, for 7 days):\n{link}\n\nIf you did not expect this, ignore this email.\n",
            invite.role
        ),
    };
    state.mail.send_later(letter, "invitation");
    None
}

#[derive(Deserialize)]
pub struct AcceptForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    csrf: String,
}

fn secret_of(token: &str) -> Option<Secret> {
    Secret::parse(token)
}

fn accept_page(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    invited: (&str, &str),
    name: &str,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let (csrf, cookie) = form_token(req);
    let (email, role) = invited;
    let min = passwords::MIN_CHARS;
    let resp = page(
        state,
        "invite.html",
        status,
        minijinja::context! { csrf, email, role, name, error, min },
    )?;
    Ok(private(resp, cookie))
}

#[get("/invite/{token}")]
pub async fn accept_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let Some(secret) = secret_of(&token) else {
        return link_gone(&state);
    };
    match invites::open(&state.db, secret, now()).await? {
        Some((email, role)) => accept_page(
            &req,
            &state,
            StatusCode::OK,
            (&email, role.as_str()),
            "",
            None,
        ),
        None => link_gone(&state),
    }
}

#[post("/invite/{token}")]
pub async fn accept(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
    form: web::Form<AcceptForm>,
) -> Result<HttpResponse, PageError> {
    check_form_token(&req, &form.csrf)?;
    let Some(secret) = secret_of(&token) else {
        return link_gone(&state);
    };
    let Some((email, role)) = invites::open(&state.db, secret.clone(), now()).await? else {
        return link_gone(&state);
    };
    let again = |error: String| {
        let invited = (email.as_str(), role.as_str());
        accept_page(
            &req,
            &state,
            StatusCode::BAD_REQUEST,
            invited,
            &form.name,
            Some(error),
        )
    };
    if form.password != form.confirm {
        return again("The two passwords differ.".into());
    }
    let new = NewAccount {
        email: String::new(),
        display_name: form.name.clone(),
        password: form.password.clone(),
    };
    match invites::accept(&state.db, secret, new, now()).await {
        Ok(user) => {
            tracing::info!(user = user.id.0, role = %user.role, "an invitation was accepted");
            let home = safe_next(None, &user);
            start_session(&req, &state, &user, &home).await
        }
        Err(AccountsError::LinkNotValid) => link_gone(&state),
        Err(AccountsError::Invalid(m)) => again(m),
        Err(e @ AccountsError::EmailTaken(_)) => again(e.to_string()),
        Err(e) => Err(e.into()),
    }
}
