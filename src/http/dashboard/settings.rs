//! `/admin/settings`: the settings kept in the database, grouped, with pinned ones shown
//! read-only and why; saving applies them at once (`services::SettingsService`). A test
//! email goes to the signed-in person through the running SMTP settings.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use serde::Serialize;
use serde_json::Value;

use super::render;
use crate::accounts::roles::{Permission, perm};
use crate::http::AppState;
use crate::http::session::{Admin, PageError, Viewer, see_other};
use crate::mail::Letter;
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

async fn settings_page(
    state: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    error: Option<String>,
    notice: Option<String>,
) -> Result<HttpResponse, PageError> {
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
        },
    )
}

#[get("/admin/settings")]
pub async fn show(
    state: web::Data<AppState>,
    admin: Admin<perm::SettingsRead>,
    query: web::Query<BTreeMap<String, String>>,
) -> Result<HttpResponse, PageError> {
    let notice = query
        .get("saved")
        .map(|n| format!("Saved {n} change{}.", if n == "1" { "" } else { "s" }));
    settings_page(&state, &admin.viewer, StatusCode::OK, None, notice).await
}

#[post("/admin/settings")]
pub async fn save(
    state: web::Data<AppState>,
    admin: Admin<perm::SettingsWrite>,
) -> Result<HttpResponse, PageError> {
    let form: BTreeMap<String, String> = admin.viewer.form()?;
    let views = state.settings.view();
    // Only fields the form shows and the dashboard may change; an empty secret keeps the
    // one set.
    let changes: BTreeMap<String, Value> = views
        .iter()
        .filter(|v| v.pinned.is_none())
        .filter_map(|v| {
            let submitted = form.get(v.key)?;
            (v.kind != "secret" || !submitted.is_empty())
                .then(|| (v.key.to_owned(), Value::String(submitted.clone())))
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
            settings_page(&state, &admin.viewer, StatusCode::BAD_REQUEST, error, None).await
        }
        Err(e @ SettingsError::NotAllowed { .. }) => {
            let error = Some(format!("Nothing was saved: {e}"));
            settings_page(&state, &admin.viewer, StatusCode::FORBIDDEN, error, None).await
        }
        Err(e) => Err(e.into()),
    }
}

#[post("/admin/settings/test-email")]
pub async fn test_email(
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
    settings_page(&state, &admin.viewer, status, error, notice).await
}
