//! `/admin/alerts`: quality alerts (a figure over the last full hour against a threshold,
//! by email or webhook), listed with when each last fired; added and removed by those who
//! may change settings, since an alert sends mail and calls URLs.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};

use super::{Saved, render};
use crate::accounts::roles::perm;
use crate::analytics::alerts::{self, Metric, NewAlert};
use crate::http::AppState;
use crate::http::session::{Admin, PageError};
use crate::webhooks::target::TargetPolicy;

#[derive(Serialize)]
struct Row {
    id: i64,
    metric: &'static str,
    threshold: f64,
    min_plays: i64,
    channel: String,
    target: String,
    fired: String,
}

fn analytics_error(e: crate::analytics::AnalyticsError) -> PageError {
    match e {
        crate::analytics::AnalyticsError::Invalid(m) => PageError::BadRequest(m),
        other => PageError::internal(other),
    }
}

#[get("/admin/alerts")]
pub async fn list(
    state: web::Data<AppState>,
    admin: Admin<perm::SettingsRead>,
) -> Result<HttpResponse, PageError> {
    let all = state
        .db
        .read(|c| alerts::list(c).map_err(analytics_error))
        .await?;
    // A webhook URL is often its own credential: readers see only where it goes.
    let full = admin
        .viewer
        .user()
        .role
        .may(crate::accounts::roles::Permission::SettingsWrite);
    let rows: Vec<Row> = all
        .into_iter()
        .map(|a| Row {
            id: a.id,
            metric: a.metric.label(),
            threshold: a.threshold,
            min_plays: a.min_plays,
            channel: a.channel.clone(),
            target: if full || a.channel != "webhook" {
                a.target
            } else {
                url::Url::parse(&a.target).map_or("(hidden)".into(), |u| {
                    format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or(""))
                })
            },
            fired: a.fired_hour.map_or("never".into(), |h| {
                time::OffsetDateTime::from_unix_timestamp(h)
                    .map(|t| format!("{} {:02}:00 UTC", t.date(), t.hour()))
                    .unwrap_or_default()
            }),
        })
        .collect();
    let metrics: Vec<(&str, &str)> = Metric::ALL.iter().map(|m| (m.name(), m.label())).collect();
    render(
        &state,
        &admin.viewer,
        "/admin/alerts",
        "admin/alerts.html",
        StatusCode::OK,
        minijinja::context! {
            alerts => minijinja::Value::from(minijinja::value::Serde(&rows)),
            metrics => minijinja::Value::from(minijinja::value::Serde(&metrics)),
        },
    )
}

#[derive(Deserialize)]
pub struct AlertForm {
    metric: String,
    threshold: f64,
    min_plays: i64,
    channel: String,
    target: String,
}

#[post("/admin/alerts")]
pub async fn add(
    state: web::Data<AppState>,
    admin: Admin<perm::SettingsWrite>,
) -> Result<HttpResponse, PageError> {
    let form: AlertForm = admin.viewer.form()?;
    let metric = Metric::parse(&form.metric)
        .ok_or_else(|| PageError::BadRequest(format!("no figure {:?}", form.metric)))?;
    let actor = admin.viewer.actor();
    let now = crate::clock::now();
    let policy = TargetPolicy::new(&state.settings.settings.current().webhooks.allow_private);
    state
        .db
        .write(move |tx| -> Result<(), PageError> {
            let new = NewAlert {
                metric,
                threshold: form.threshold,
                min_plays: form.min_plays,
                channel: &form.channel,
                target: &form.target,
            };
            let id = alerts::add(tx, &new, &policy, now).map_err(analytics_error)?;
            crate::audit::record(
                tx,
                &actor,
                "alert.create",
                &format!("alert:{id}"),
                serde_json::json!({"metric": metric.name(), "threshold": form.threshold,
                                   "channel": form.channel, "target": form.target}),
                now,
            )
            .map_err(PageError::internal)
        })
        .await?;
    Ok(super::saved("/admin/alerts", Saved::AlertAdded))
}

#[post("/admin/alerts/{id}/delete")]
pub async fn delete(
    state: web::Data<AppState>,
    admin: Admin<perm::SettingsWrite>,
    path: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    super::remove_audited(
        &state,
        &admin.viewer,
        "alert",
        "alert.delete",
        path.into_inner(),
        alerts::remove,
    )
    .await?;
    Ok(super::saved("/admin/alerts", Saved::AlertDeleted))
}

/// Checks the alerts now (they are checked every minute anyway).
#[post("/admin/alerts/check")]
pub async fn check(
    state: web::Data<AppState>,
    _admin: Admin<perm::SettingsWrite>,
) -> Result<HttpResponse, PageError> {
    state.alerts_wake.notify_one();
    Ok(super::saved("/admin/alerts", Saved::AlertsChecked))
}
