//! A viewer's own account, beyond the account page itself: changing their name, email and
//! password, their receipts, "My list", their data as a file, and deleting the account.
//! Each handler parses, calls one `accounts` / `services::my_account` function, and sends
//! the browser back to a page that says, in words, what happened.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;

use super::AppState;
use super::account_pages::{link_gone, private};
use super::recovery_pages::{ConfirmForm, link_button_page};
use super::session::{
    PageError, Viewer, attempt_from, check_form_token, form_token, see_other,
    session_cookie_removal,
};
use super::ui::page;
use crate::accounts::email::Email;
use crate::accounts::profile::{self, EmailChange};
use crate::accounts::secret::Secret;
use crate::accounts::signin::{self, SignIn};
use crate::accounts::tokens::TokenKind;
use crate::accounts::{AccountsError, passwords, recovery};
use crate::jobs::runner::now;
use crate::mail::Letter;
use crate::services::members::Cancel;
use crate::services::my_account::{self, MyAccountError};

impl From<MyAccountError> for PageError {
    fn from(e: MyAccountError) -> Self {
        match e {
            MyAccountError::Accounts(e) => e.into(),
            MyAccountError::SubscriptionLive(m) => PageError::Conflict(m),
            other => PageError::internal(other),
        }
    }
}

/// A day as people read it: "6 January", with the year when it is not within the next
/// eleven months or so.
pub(super) fn day(secs: i64, now: i64) -> String {
    let Ok(at) = time::OffsetDateTime::from_unix_timestamp(secs) else {
        return String::new();
    };
    let month = at.month().to_string();
    if (now - 30 * 86_400..now + 300 * 86_400).contains(&secs) {
        format!("{} {month}", at.day())
    } else {
        format!("{} {month} {}", at.day(), at.year())
    }
}

/// What the account page says after a change (`/account?done=…`).
pub(super) fn done_notice(done: &str) -> Option<&'static str> {
    Some(match done {
        "name" => "Your name is saved.",
        "email-sent" => {
            "We sent a link to the new address. Your email changes when you open it; until then it stays as it is."
        }
        "email-changed" => "Your email address is changed.",
        "email-later" => "Several emails went to that address in the last hour; try again later.",
        "password" => "Your password is changed. Every other device was signed out.",
        "list-added" => "Saved to your list.",
        "list-removed" => "Taken off your list.",
        "delete-sent" => {
            "We sent a link to your email address. Your account is deleted when you open it."
        }
        _ => return None,
    })
}

fn back_to_account(done: &str) -> HttpResponse {
    see_other(&format!("/account?done={done}"), [])
}

/// Why a change on the account page was refused (bad input changes nothing). The address
/// carries only the code and the page writes the sentence, so no link can put words of
/// its own on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    WrongPassword,
    TooManyTries,
    NameInvalid,
    EmailInvalid,
    EmailSame,
    NoEmail,
    PasswordsDiffer,
    PasswordRule,
    /// `profile::may_change_credentials` says no.
    AddressUnproven,
}

impl Refusal {
    const ALL: [Refusal; 9] = [
        Refusal::WrongPassword,
        Refusal::TooManyTries,
        Refusal::NameInvalid,
        Refusal::EmailInvalid,
        Refusal::EmailSame,
        Refusal::NoEmail,
        Refusal::PasswordsDiffer,
        Refusal::PasswordRule,
        Refusal::AddressUnproven,
    ];

    fn code(self) -> &'static str {
        match self {
            Refusal::WrongPassword => "password-wrong",
            Refusal::TooManyTries => "password-tries",
            Refusal::NameInvalid => "name",
            Refusal::EmailInvalid => "email",
            Refusal::EmailSame => "email-same",
            Refusal::NoEmail => "no-email",
            Refusal::PasswordsDiffer => "passwords-differ",
            Refusal::PasswordRule => "password-rule",
            Refusal::AddressUnproven => "address-unproven",
        }
    }

    pub(super) fn parse(code: &str) -> Option<Refusal> {
        Refusal::ALL.into_iter().find(|r| r.code() == code)
    }

    pub(super) fn sentence(self) -> String {
        match self {
            Refusal::WrongPassword => {
                "That is not your current password; nothing was changed.".into()
            }
            Refusal::TooManyTries => {
                "Too many wrong passwords: wait a few minutes and try again; nothing was changed."
                    .into()
            }
            Refusal::NameInvalid => format!(
                "A name is at most {} characters, without control characters.",
                crate::accounts::users::MAX_DISPLAY_NAME
            ),
            Refusal::EmailInvalid => "That is not an email address we can use.".into(),
            Refusal::EmailSame => "That is your email address already.".into(),
            Refusal::NoEmail => "This server cannot send email, so an address cannot be \
                                 confirmed; ask the operator."
                .into(),
            Refusal::PasswordsDiffer => "The two new passwords differ; nothing was changed.".into(),
            Refusal::AddressUnproven => "To choose a password or a new email address, first \
                                         open the link in the welcome email sent to your \
                                         address (or ask for a new one with “Forgot your \
                                         password?” on the sign-in page). Nothing was changed."
                .into(),
            Refusal::PasswordRule => format!(
                "A password is {} to {} characters; nothing was changed.",
                passwords::MIN_CHARS,
                passwords::MAX_CHARS
            ),
        }
    }
}

fn refused(why: Refusal) -> HttpResponse {
    see_other(&format!("/account?error={}", why.code()), [])
}

/// Whether `password` is the account's current one (counted like a sign-in, so guessing
/// it here is throttled as guessing it at sign-in is). `Err`: the sentence to show.
async fn check_current_password(
    req: &HttpRequest,
    state: &AppState,
    email: &str,
    password: String,
) -> Result<Result<(), Refusal>, PageError> {
    let outcome = signin::sign_in(
        &state.db,
        email,
        password,
        attempt_from(req),
        &state.accounts.throttle,
        now(),
    )
    .await?;
    Ok(match outcome {
        SignIn::SignedIn(_) => Ok(()),
        SignIn::Refused => Err(Refusal::WrongPassword),
        SignIn::Throttled { .. } => Err(Refusal::TooManyTries),
    })
}

#[derive(Deserialize)]
struct NameForm {
    #[serde(default)]
    name: String,
}

#[post("/account/name")]
pub async fn change_name(
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, PageError> {
    let form: NameForm = viewer.form()?;
    let user = viewer.user().clone();
    match state
        .db
        .write(move |tx| profile::set_name(tx, &user, &form.name, now()))
        .await
    {
        Ok(()) => Ok(back_to_account("name")),
        Err(AccountsError::Invalid(_)) => Ok(refused(Refusal::NameInvalid)),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct EmailForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// A link to the new address; the change happens when it is opened there.
#[post("/account/email")]
pub async fn change_email(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, PageError> {
    let form: EmailForm = viewer.form()?;
    if !state.mail.is_on() {
        return Ok(refused(Refusal::NoEmail));
    }
    let Ok(new) = Email::parse(&form.email) else {
        return Ok(refused(Refusal::EmailInvalid));
    };
    let user = viewer.user().clone();
    if !profile::may_change_credentials(&user, viewer.session.created_at) {
        return Ok(refused(Refusal::AddressUnproven));
    }
    if user.password_hash.is_some()
        && let Err(m) = check_current_password(&req, &state, &user.email, form.password).await?
    {
        return Ok(refused(m));
    }
    let to = new.address.clone();
    let asked = user.clone();
    let change = state
        .db
        .write(move |tx| profile::request_email_change(tx, &asked, &new, now()))
        .await?;
    let site = state.settings.settings.current().site.name.clone();
    match change {
        EmailChange::LinkMade(secret) => {
            let link = state
                .mail
                .link(&format!("/account/email/{}", secret.encode()));
            state.mail.send_later(
                Letter {
                    to,
                    subject: format!("Confirm your new email address for {site}"),
                    body: format!(
                        "Someone signed in to an account on {site} asked to use this address \
                         for it. If it was you, open this link (it works once, for a day):\r\n\r\n\
                         {link}\r\n\r\nIf not, ignore this email; nothing changes.\r\n"
                    ),
                },
                "email change link",
            );
            Ok(back_to_account("email-sent"))
        }
        EmailChange::Taken => {
            // The page reads the same; the address's owner learns of it.
            state.mail.send_later(
                Letter {
                    to,
                    subject: format!("Your address on {site}"),
                    body: format!(
                        "Someone asked to move another account on {site} to this address. You \
                         already have an account with it, so nothing changed.\r\n"
                    ),
                },
                "email change refused",
            );
            Ok(back_to_account("email-sent"))
        }
        EmailChange::Same => Ok(refused(Refusal::EmailSame)),
        EmailChange::Later => Ok(back_to_account("email-later")),
    }
}

#[get("/account/email/{token}")]
pub async fn confirm_email_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    link_button_page(&req, &state, &token, TokenKind::ChangeEmail).await
}

#[post("/account/email/{token}")]
pub async fn confirm_email(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
    form: web::Form<ConfirmForm>,
) -> Result<HttpResponse, PageError> {
    check_form_token(&req, &form.csrf)?;
    let Some(secret) = Secret::parse(&token) else {
        return link_gone(&state);
    };
    let changed = state
        .db
        .write(move |tx| profile::confirm_email_change(tx, &secret, now()))
        .await;
    match changed {
        Ok((before, after)) => {
            tracing::info!(user = after.id.0, "email address changed");
            let site = state.settings.settings.current().site.name.clone();
            state.mail.send_later(
                Letter {
                    to: before.email,
                    subject: format!("Your email address on {site} was changed"),
                    body: format!(
                        "The email address of your account on {site} was changed to {}. \
                         If you did not do this, contact the operator of {site} at once.\r\n",
                        after.email
                    ),
                },
                "email changed notice",
            );
            let resp = page(
                &state,
                "verified.html",
                StatusCode::OK,
                minijinja::context! { email => after.email },
            )?;
            Ok(private(resp, None))
        }
        Err(AccountsError::LinkNotValid) => link_gone(&state),
        Err(AccountsError::EmailTaken(_)) => Err(PageError::Conflict(
            "Another account uses that address now, so yours was not changed.".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

/// A new password, after the current one (an account without one sets its first); every
/// other session ends.
#[post("/account/password")]
pub async fn change_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, PageError> {
    let form: PasswordForm = viewer.form()?;
    let user = viewer.user().clone();
    if form.password != form.confirm {
        return Ok(refused(Refusal::PasswordsDiffer));
    }
    if passwords::check_new(&form.password).is_err() {
        return Ok(refused(Refusal::PasswordRule));
    }
    if !profile::may_change_credentials(&user, viewer.session.created_at) {
        return Ok(refused(Refusal::AddressUnproven));
    }
    if user.password_hash.is_some()
        && let Err(m) = check_current_password(&req, &state, &user.email, form.current).await?
    {
        return Ok(refused(m));
    }
    let hash = passwords::hash(form.password).await?;
    let keep = viewer.session.id;
    let ended = state
        .db
        .write(move |tx| profile::change_password(tx, &user, &hash, keep, now()))
        .await?;
    tracing::info!(
        user = viewer.user().id.0,
        other_sessions = ended,
        "password changed"
    );
    Ok(back_to_account("password"))
}

/// The member's invoices and receipts, as Stripe keeps them.
#[get("/account/receipts")]
pub async fn receipts(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, PageError> {
    let stripe = state.settings.settings.current().stripe.clone();
    let now = now();
    let (rows, unavailable) =
        match my_account::receipts(&state.db, &stripe, viewer.user().id, now).await {
            Ok(found) => (found.unwrap_or_default(), false),
            Err(e) => {
                tracing::warn!(error = %e, "receipts could not be listed at Stripe");
                (Vec::new(), true)
            }
        };
    let locale = super::account_pages::viewer_locale(&req);
    let rows: Vec<minijinja::Value> = rows
        .iter()
        .map(|r| {
            let what = match (r.description.is_empty(), r.invoice) {
                _ if r.bought.is_some() => match r.bought.as_ref().map(|(k, t)| (k.as_str(), t)) {
                    Some(("rent", title)) => format!("Rental of {title}"),
                    Some(("buy", title)) => format!("{title}, yours for good"),
                    Some((_, title)) if !title.is_empty() => format!("Ticket for {title}"),
                    _ => "A pay-per-view ticket".to_owned(),
                },
                (false, _) => r.description.clone(),
                (true, true) => "Subscription".to_owned(),
                (true, false) => "Payment".to_owned(),
            };
            minijinja::context! {
                day => day(r.at, now),
                amount => crate::money::format(r.amount, &r.currency, &locale),
                what,
                refunded => r.refunded,
                url => r.url.clone(),
                invoice => r.invoice,
            }
        })
        .collect();
    let resp = page(
        &state,
        "account_receipts.html",
        StatusCode::OK,
        minijinja::context! { rows, unavailable },
    )?;
    Ok(private(resp, None))
}

/// Everything the member can see about themselves, as a JSON file to keep.
#[get("/account/data.json")]
pub async fn download_data(
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, PageError> {
    let data = my_account::export(
        &state.db,
        viewer.user().clone(),
        state.accounts.sessions,
        now(),
    )
    .await?;
    let body = serde_json::to_string_pretty(&data).map_err(PageError::internal)?;
    let mut resp = HttpResponse::Ok()
        .content_type("application/json; charset=utf-8")
        .body(body);
    resp.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"my-account.json\""),
    );
    Ok(private(resp, None))
}

/// The deletion page: what goes, what happens to a subscription, and the form.
#[get("/account/delete")]
pub async fn delete_form(
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, PageError> {
    delete_page(&state, &viewer, StatusCode::OK, None).await
}

async fn delete_page(
    state: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let now = now();
    let plans: Vec<minijinja::Value> = my_account::live_plans(&state.db, viewer.user().id, now)
        .await?
        .into_iter()
        .map(|p| minijinja::context! { name => p.plan, until => day(p.period_end, now) })
        .collect();
    let blocked = match my_account::may_delete(&state.db, viewer.user().clone()).await {
        Ok(()) => None,
        Err(MyAccountError::Accounts(AccountsError::NotAllowed(m))) => Some(m),
        Err(e) => return Err(e.into()),
    };
    let resp = page(
        state,
        "account_delete.html",
        status,
        minijinja::context! {
            csrf => viewer.csrf_token(),
            plans,
            has_password => viewer.user().password_hash.is_some(),
            email_links => state.mail.is_on(),
            blocked,
            error,
        },
    )?;
    Ok(private(resp, None))
}

#[derive(Deserialize)]
struct DeleteForm {
    #[serde(default)]
    password: String,
    /// `now` or `period_end`: how a live subscription ends at Stripe.
    #[serde(default)]
    subscription: String,
}

fn cancel_of(choice: &str) -> Cancel {
    match choice {
        "period_end" => Cancel::AtPeriodEnd,
        _ => Cancel::AtOnce,
    }
}

/// Deletes the account (with the password), or emails a confirmation link to an account
/// that has none.
#[post("/account/delete")]
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, PageError> {
    let form: DeleteForm = viewer.form()?;
    let user = viewer.user().clone();
    if user.password_hash.is_none() {
        if !state.mail.is_on() {
            return delete_page(
                &state,
                &viewer,
                StatusCode::BAD_REQUEST,
                Some(
                    "This server cannot send email; ask the operator to delete your account."
                        .into(),
                ),
            )
            .await;
        }
        let (to, asked) = (user.email.clone(), user.clone());
        let issued = state
            .db
            .write(move |tx| profile::issue_deletion_link(tx, &asked, now()))
            .await?;
        let Some(secret) = issued else {
            return Ok(back_to_account("email-later"));
        };
        let link = state.mail.link(&format!(
            "/account/delete/{}?subscription={}",
            secret.encode(),
            if cancel_of(&form.subscription) == Cancel::AtPeriodEnd {
                "period_end"
            } else {
                "now"
            }
        ));
        let site = state.settings.settings.current().site.name.clone();
        state.mail.send_later(
            Letter {
                to,
                subject: format!("Confirm deleting your account on {site}"),
                body: format!(
                    "Open this link to delete your account on {site} and everything it holds \
                     (it works once, for a day):\r\n\r\n{link}\r\n\r\nIf you did not ask for \
                     this, ignore this email; nothing changes.\r\n"
                ),
            },
            "account deletion link",
        );
        return Ok(back_to_account("delete-sent"));
    }
    if let Err(m) = check_current_password(&req, &state, &user.email, form.password).await? {
        return delete_page(
            &state,
            &viewer,
            StatusCode::UNAUTHORIZED,
            Some(m.sentence()),
        )
        .await;
    }
    match delete_now(&state, user, cancel_of(&form.subscription)).await {
        Ok(()) => Ok(see_other(
            "/account/deleted",
            [session_cookie_removal(&req)],
        )),
        Err(PageError::Conflict(m)) | Err(PageError::Forbidden(m)) => {
            delete_page(&state, &viewer, StatusCode::CONFLICT, Some(m)).await
        }
        Err(e) => Err(e),
    }
}

async fn delete_now(
    state: &AppState,
    user: crate::accounts::users::User,
    how: Cancel,
) -> Result<(), PageError> {
    let stripe = state.settings.settings.current().stripe.clone();
    let id = user.id.0;
    my_account::delete_own_account(&state.db, &stripe, user, how, now()).await?;
    super::members_api::forget_viewing(state, id).await;
    tracing::info!(user = id, "a member deleted their own account");
    Ok(())
}

#[derive(Deserialize)]
pub struct DeleteLinkQuery {
    subscription: Option<String>,
}

#[get("/account/delete/{token}")]
pub async fn delete_link_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
    query: web::Query<DeleteLinkQuery>,
) -> Result<HttpResponse, PageError> {
    let Some(secret) = Secret::parse(&token) else {
        return link_gone(&state);
    };
    if !recovery::is_live(&state.db, TokenKind::DeleteAccount, secret, now()).await? {
        return link_gone(&state);
    }
    let (csrf, cookie) = form_token(&req);
    let subscription = query.subscription.clone().unwrap_or_default();
    let resp = page(
        &state,
        "account_delete_link.html",
        StatusCode::OK,
        minijinja::context! { csrf, subscription },
    )?;
    Ok(private(resp, cookie))
}

#[derive(Deserialize)]
pub struct DeleteLinkForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    subscription: String,
}

#[post("/account/delete/{token}")]
pub async fn delete_with_link(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
    form: web::Form<DeleteLinkForm>,
) -> Result<HttpResponse, PageError> {
    check_form_token(&req, &form.csrf)?;
    let Some(secret) = Secret::parse(&token) else {
        return link_gone(&state);
    };
    // The link is used in its own transaction; a refusal afterwards (Stripe down) asks
    // for a new one.
    let user = match state
        .db
        .write(move |tx| profile::use_deletion_link(tx, &secret, now()))
        .await
    {
        Ok(user) => user,
        Err(AccountsError::LinkNotValid) => return link_gone(&state),
        Err(e) => return Err(e.into()),
    };
    delete_now(&state, user, cancel_of(&form.subscription)).await?;
    Ok(see_other(
        "/account/deleted",
        [session_cookie_removal(&req)],
    ))
}

#[get("/account/deleted")]
pub async fn deleted(state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let resp = page(
        &state,
        "account_deleted.html",
        StatusCode::OK,
        minijinja::context! {},
    )?;
    Ok(private(resp, None))
}

/// "My list" for one title: a page of this viewer's own (the title page may come from a
/// shared cache, so it cannot know), saying whether the title is on the list, with the
/// button that changes it.
#[get("/my-list/{id}")]
pub async fn my_list_page(
    state: web::Data<AppState>,
    viewer: Viewer,
    id: web::Path<String>,
    query: web::Query<MyListQuery>,
) -> Result<HttpResponse, PageError> {
    let (user, title_id, now) = (viewer.user().id.0, id.into_inner(), now());
    let found = state
        .db
        .read(move |c| {
            let title = crate::catalog::my_list::live(c, &title_id, now)?;
            let saved = crate::catalog::my_list::contains(c, user, &title.id)?;
            Ok::<_, crate::catalog::CatalogError>((title, saved))
        })
        .await;
    let (title, saved) = match found {
        Ok(found) => found,
        Err(crate::catalog::CatalogError::TitleNotFound(_)) => {
            return Err(PageError::NotFound("There is no such title.".into()));
        }
        Err(e) => return Err(PageError::internal(e)),
    };
    let notice = match query.done.as_deref() {
        Some("added") => Some(format!("{} is on your list.", title.name)),
        Some("removed") => Some(format!("{} is off your list.", title.name)),
        _ => None,
    };
    let resp = page(
        &state,
        "my_list.html",
        StatusCode::OK,
        minijinja::context! {
            csrf => viewer.csrf_token(),
            id => title.id,
            name => title.name,
            saved,
            notice,
        },
    )?;
    Ok(private(resp, None))
}

#[derive(Deserialize)]
pub struct MyListQuery {
    done: Option<String>,
}

#[derive(Deserialize)]
struct MyListForm {
    /// `add` or `remove`.
    #[serde(default)]
    action: String,
    /// Where to go after (`/account`), else this title's My list page.
    #[serde(default)]
    next: String,
}

#[post("/my-list/{id}")]
pub async fn my_list_change(
    state: web::Data<AppState>,
    viewer: Viewer,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let form: MyListForm = viewer.form()?;
    let (user, title_id, now) = (viewer.user().id.0, id.into_inner(), now());
    let add = match form.action.as_str() {
        "add" => true,
        "remove" => false,
        _ => return Err(PageError::BadRequest("Choose to add or to remove.".into())),
    };
    let id = title_id.clone();
    let changed = state
        .db
        .write(move |tx| {
            if add {
                crate::catalog::my_list::add(tx, user, &id, now).map(drop)
            } else {
                crate::catalog::my_list::remove(tx, user, &id).map(drop)
            }
        })
        .await;
    match changed {
        Ok(()) => {}
        Err(crate::catalog::CatalogError::TitleNotFound(_)) => {
            return Err(PageError::NotFound("There is no such title.".into()));
        }
        Err(e) => return Err(PageError::internal(e)),
    }
    let done = if add { "added" } else { "removed" };
    let to = if form.next == "/account" {
        format!("/account?done=list-{done}")
    } else {
        let encoded: String = url::form_urlencoded::byte_serialize(title_id.as_bytes()).collect();
        format!("/my-list/{encoded}?done={done}")
    };
    Ok(see_other(&to, []))
}
