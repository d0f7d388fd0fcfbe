//! `/admin/settings`: the settings kept in the database, grouped, with pinned ones shown
//! read-only and why; saving applies them at once (`services::SettingsService`). A test
//! email goes to the signed-in person through the running SMTP settings.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Serialize;
use serde_json::Value;

use super::render;
use crate::accounts::roles::{Permission, perm};
use crate::http::AppState;
use crate::http::session::{Admin, PageError, Viewer, see_other};
use crate::mail::Letter;
use crate::services::stripe_connection::{self, ConnectionReport};
use crate::settings::{SettingView, SettingsError};

impl From<SettingsError> for PageError {
    fn from(e: SettingsError) -> Self {
        match e {
            e @ (SettingsError::Unknown(_) | SettingsError::Invalid(_)) => {
                PageError::BadRequest(e.to_string())
            }
            e @ SettingsError::Pinned { .. } => PageError::Conflict(e.to_string()),
            e @ SettingsError::NotAllowed { .. } => PageError::Forbidden(e.to_string()),
            e @ SettingsError::PasswordNeeded => PageError::BadRequest(e.to_string()),
            other => PageError::internal(other),
        }
    }
}

#[derive(Serialize)]
struct Group {
    name: &'static str,
    settings: Vec<SettingView>,
}

fn groups(views: Vec<SettingView>) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    for view in views {
        match out.iter_mut().find(|g| g.name == view.group) {
            Some(g) => g.settings.push(view),
            None => out.push(Group {
                name: view.group,
                settings: vec![view],
            }),
        }
    }
    out
}

/// Settings → Stripe: the address to paste into Stripe, whether a key is saved (and may be
/// cleared here), and the last connection test's report.
#[derive(Serialize)]
struct StripePanel {
    webhook_url: String,
    key_set: bool,
    secret_set: bool,
    /// Why the dashboard cannot clear the key (set in the settings file or environment).
    pinned: Option<String>,
    report: Option<ConnectionReport>,
}

/// Where Stripe sends events for this site: its public address, else the one this
/// request came to.
fn webhook_url(state: &AppState, req: &HttpRequest) -> String {
    format!(
        "{}/stripe/webhook",
        crate::http::storefront::public_base(state, req)
    )
}

fn stripe_panel(
    state: &AppState,
    req: &HttpRequest,
    report: Option<ConnectionReport>,
) -> StripePanel {
    let views = state.settings.view();
    let view = |key: &str| views.iter().find(|v| v.key == key);
    let key = view("stripe.secret_key");
    StripePanel {
        webhook_url: webhook_url(state, req),
        key_set: key.is_some_and(|v| v.is_set),
        secret_set: view("stripe.webhook_secret").is_some_and(|v| v.is_set),
        pinned: key
            .and_then(|v| v.pinned.clone())
            .or_else(|| view("stripe.webhook_secret").and_then(|v| v.pinned.clone())),
        report,
    }
}

async fn settings_page(
    state: &AppState,
    req: &HttpRequest,
    viewer: &Viewer,
    status: StatusCode,
    error: Option<String>,
    notice: Option<String>,
    report: Option<ConnectionReport>,
) -> Result<HttpResponse, PageError> {
    let stripe = stripe_panel(state, req, report);
    let groups = groups(state.settings.view());
    let can_write = viewer.user().role.may(Permission::SettingsWrite);
    // The keys this person may change (`Spec::needs`); the rest show read-only.
    let editable: Vec<&str> = crate::settings::SPECS
        .iter()
        .filter(|s| can_write && viewer.user().role.may(s.needs))
        .map(|s| s.key)
        .collect();
    render(
        state,
        viewer,
        "/admin/settings",
        "admin/settings.html",
        status,
        minijinja::context! {
            groups => minijinja::Value::from(minijinja::value::Serde(&groups)),
            can_write, editable, error, notice, mail_on => state.mail.is_on(),
            stripe => minijinja::Value::from(minijinja::value::Serde(&stripe)),
            may_clear_stripe => can_write && viewer.user().role.may(Permission::BillingWrite),
        },
    )
}

#[get("/admin/settings")]
pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: Admin<perm::SettingsRead>,
    query: web::Query<BTreeMap<String, String>>,
) -> Result<HttpResponse, PageError> {
    let notice = query
        .get("saved")
        .map(|n| format!("Saved {n} change{}.", if n == "1" { "" } else { "s" }));
    let notice = notice.or_else(|| {
        query
            .contains_key("stripe-cleared")
            .then(|| "The Stripe keys were cleared: Stripe is off.".to_owned())
    });
    settings_page(
        &state,
        &req,
        &admin.viewer,
        StatusCode::OK,
        None,
        notice,
        None,
    )
    .await
}

#[post("/admin/settings")]
pub async fn save(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: Admin<perm::SettingsWrite>,
) -> Result<HttpResponse, PageError> {
    let form: BTreeMap<String, String> = admin.viewer.form()?;
    let views = state.settings.view();
    // Only fields the form shows and the dashboard may change; an empty secret keeps the
    // one set, and a size sent back as the page showed it keeps the exact one set (20 GiB
    // shows as "21.5 GB", which would read back as 21,500,000,000 bytes).
    let changes: BTreeMap<String, Value> = views
        .iter()
        .filter(|v| v.pinned.is_none())
        .filter_map(|v| {
            let submitted = form.get(v.key)?;
            let kept = match v.kind {
                "secret" => submitted.is_empty(),
                "bytes" => v
                    .value
                    .as_ref()
                    .and_then(Value::as_u64)
                    .is_some_and(|n| crate::size::format(n) == submitted.trim()),
                _ => false,
            };
            (!kept).then(|| (v.key.to_owned(), Value::String(submitted.clone())))
        })
        .collect();
    let role = admin.viewer.user().role;
    let granted: Vec<Permission> = Permission::ALL
        .iter()
        .copied()
        .filter(|p| role.may(*p))
        .collect();
    match state
        .settings
        .update(&admin.viewer.actor(), &granted, changes)
        .await
    {
        Ok(changed) => Ok(see_other(
            &format!("/admin/settings?saved={}", changed.len()),
            [],
        )),
        Err(
            e @ (SettingsError::Invalid(_)
            | SettingsError::Unknown(_)
            | SettingsError::Pinned { .. }
            | SettingsError::PasswordNeeded),
        ) => {
            let error = Some(format!("Nothing was saved: {e}"));
            settings_page(
                &state,
                &req,
                &admin.viewer,
                StatusCode::BAD_REQUEST,
                error,
                None,
                None,
            )
            .await
        }
        Err(e @ SettingsError::NotAllowed { .. }) => {
            let error = Some(format!("Nothing was saved: {e}"));
            settings_page(
                &state,
                &req,
                &admin.viewer,
                StatusCode::FORBIDDEN,
                error,
                None,
                None,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[post("/admin/settings/test-email")]
pub async fn test_email(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: Admin<perm::SettingsWrite>,
) -> Result<HttpResponse, PageError> {
    let to = admin.viewer.user().email.clone();
    let site = state.settings.settings.current().site.name.clone();
    let letter = Letter {
        to: to.clone(),
        subject: format!("Test email from {site}"),
        body: format!("This is a test email from {site}. Email works.\n"),
    };
    let (error, notice) = match state.mail.send(&letter).await {
        Ok(()) => (None, Some(format!("A test email was sent to {to}."))),
        Err(e) => (Some(format!("The test email was not sent: {e}")), None),
    };
    let status = if error.is_some() {
        StatusCode::BAD_GATEWAY
    } else {
        StatusCode::OK
    };
    settings_page(&state, &req, &admin.viewer, status, error, notice, None).await
}

/// "Test connection": the saved key and webhook secret checked against Stripe
/// (`services::stripe_connection`); the page shows the report.
#[post("/admin/settings/stripe/test")]
pub async fn test_stripe(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: Admin<perm::SettingsWrite>,
) -> Result<HttpResponse, PageError> {
    let config = state.settings.settings.current().stripe.clone();
    let report = stripe_connection::test_connection(config, webhook_url(&state, &req)).await;
    let status = if report.ok {
        StatusCode::OK
    } else {
        StatusCode::BAD_GATEWAY
    };
    settings_page(
        &state,
        &req,
        &admin.viewer,
        status,
        None,
        None,
        Some(report),
    )
    .await
}

/// Clears the saved secret key and webhook secret (Stripe off), through the same update
/// and permission check as saving them.
#[post("/admin/settings/stripe/clear")]
pub async fn clear_stripe(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: Admin<perm::SettingsWrite>,
) -> Result<HttpResponse, PageError> {
    let changes: BTreeMap<String, Value> = ["stripe.secret_key", "stripe.webhook_secret"]
        .into_iter()
        .map(|k| (k.to_owned(), Value::String(String::new())))
        .collect();
    let role = admin.viewer.user().role;
    let granted: Vec<Permission> = Permission::ALL
        .iter()
        .copied()
        .filter(|p| role.may(*p))
        .collect();
    match state
        .settings
        .update(&admin.viewer.actor(), &granted, changes)
        .await
    {
        Ok(_) => Ok(see_other("/admin/settings?stripe-cleared=1#stripe", [])),
        Err(e @ (SettingsError::Pinned { .. } | SettingsError::NotAllowed { .. })) => {
            let status = if matches!(e, SettingsError::Pinned { .. }) {
                StatusCode::CONFLICT
            } else {
                StatusCode::FORBIDDEN
            };
            let error = Some(format!("The Stripe keys were not cleared: {e}"));
            settings_page(&state, &req, &admin.viewer, status, error, None, None).await
        }
        Err(e) => Err(e.into()),
    }
}
