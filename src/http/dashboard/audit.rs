//! `/admin/audit`: who changed what and when, newest first, filtered by action, actor,
//! target and date.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use serde::{Deserialize, Serialize};

use super::{render, when};
use crate::accounts::roles::perm;
use crate::audit::{self, Filter};
use crate::http::AppState;
use crate::http::session::{Admin, PageError};

const PAGE_SIZE: u32 = 100;

#[derive(Deserialize)]
pub struct AuditParams {
    #[serde(default)]
    action: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    target: String,
    /// `YYYY-MM-DD` (UTC), inclusive.
    #[serde(default)]
    from: String,
    /// `YYYY-MM-DD` (UTC), inclusive.
    #[serde(default)]
    to: String,
    /// The smallest id of the page before (older entries follow it).
    before: Option<i64>,
}

#[derive(Serialize)]
struct Row {
    when: String,
    actor: String,
    action: String,
    target: String,
    detail: String,
}

/// Midnight UTC of a `YYYY-MM-DD` day, in Unix seconds.
pub fn day_start(day: &str) -> Result<i64, PageError> {
    let parsed = time_of_day(day)
        .ok_or_else(|| PageError::BadRequest(format!("{day:?} is not a date like 2026-11-23")))?;
    Ok(parsed)
}

fn time_of_day(day: &str) -> Option<i64> {
    let mut parts = day.splitn(3, '-');
    let (y, m, d): (i64, i64, i64) = (
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    );
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * 86_400)
}

/// The filter the page's (and the API's) parameters describe.
pub fn filter_of(
    action: &str,
    actor: &str,
    target: &str,
    from: &str,
    to: &str,
    before: Option<i64>,
    limit: u32,
) -> Result<Filter, PageError> {
    let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
    Ok(Filter {
        action: some(action),
        actor: some(actor),
        target: some(target),
        since: some(from).map(|d| day_start(&d)).transpose()?,
        until: some(to)
            .map(|d| day_start(&d).map(|t| t + 86_400))
            .transpose()?,
        before_id: before,
        limit,
    })
}

#[get("/admin/audit")]
pub async fn show(
    state: web::Data<AppState>,
    admin: Admin<perm::AuditRead>,
    params: web::Query<AuditParams>,
) -> Result<HttpResponse, PageError> {
    let p = &params;
    let filter = filter_of(
        &p.action, &p.actor, &p.target, &p.from, &p.to, p.before, PAGE_SIZE,
    )?;
    let entries = state
        .db
        .read(move |c| audit::list(c, &filter).map_err(PageError::internal))
        .await?;
    let older = (entries.len() == PAGE_SIZE as usize)
        .then(|| entries.last().map(|e| e.id))
        .flatten()
        .map(|id| {
            let query = serde_urlencoded::to_string([
                ("action", p.action.as_str()),
                ("actor", p.actor.as_str()),
                ("target", p.target.as_str()),
                ("from", p.from.as_str()),
                ("to", p.to.as_str()),
                ("before", &id.to_string()),
            ])
            .unwrap_or_default();
            format!("/admin/audit?{query}")
        });
    let rows: Vec<Row> = entries
        .into_iter()
        .map(|e| Row {
            when: when(e.at),
            actor: e.actor_label,
            action: e.action,
            target: e.target,
            detail: e.detail.to_string(),
        })
        .collect();
    render(
        &state,
        &admin.viewer,
        "/admin/audit",
        "admin/audit.html",
        StatusCode::OK,
        minijinja::context! {
            rows => minijinja::Value::from(minijinja::value::Serde(&rows)),
            action => &p.action, actor => &p.actor, target => &p.target,
            from => &p.from, to => &p.to, older,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_days_in_utc() {
        assert_eq!(time_of_day("1970-01-01"), Some(0));
        assert_eq!(time_of_day("2026-11-23"), Some(1_795_392_000));
        assert_eq!(time_of_day("2000-03-01"), Some(951_868_800));
        assert_eq!(time_of_day("2026-13-01"), None);
        assert_eq!(time_of_day("yesterday"), None);
    }
}
