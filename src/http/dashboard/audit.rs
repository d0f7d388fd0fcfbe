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
    // Titles and plans by their names: every string of the entries that may be an id.
    let mut mentioned = Vec::new();
    for e in &entries {
        mentioned.push(
            e.target
                .split_once(':')
                .map_or(e.target.as_str(), |(_, id)| id)
                .to_owned(),
        );
        strings_in(&e.detail, &mut mentioned);
    }
    let names = crate::http::words::Names::load(&state, mentioned).await?;
    let rows: Vec<Row> = entries
        .into_iter()
        .map(|e| Row {
            when: when(e.at),
            actor: e.actor_label,
            action: e.action,
            target: target_text(&names, &e.target),
            detail: detail_text(&names, "", &e.detail),
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

fn strings_in(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|i| strings_in(i, out)),
        serde_json::Value::Object(map) => map.values().for_each(|i| strings_in(i, out)),
        _ => {}
    }
}

/// "the series Kelp Forest", "the plan Explorer", "member 4".
fn target_text(names: &crate::http::words::Names, target: &str) -> String {
    match target.split_once(':') {
        Some(("title", id)) => names.title_with_kind(id),
        Some(("plan", id)) => format!("the plan {}", names.plan(id)),
        Some((kind, id)) => format!("{} {id}", kind.replace('_', " ")),
        // Some entries name a title by its bare id.
        None if names.known_title(target).is_some() => names.title_with_kind(target),
        None => target.to_owned(),
    }
}

/// An entry's details as "key: value" pairs, titles and plans by name, prices in major
/// units, rather than JSON.
fn detail_text(names: &crate::http::words::Names, key: &str, v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => "none".into(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        // Times are Unix seconds under these keys.
        Value::Number(n) if key == "until" || key.ends_with("_at") => {
            n.as_i64().map_or_else(|| n.to_string(), when)
        }
        Value::Number(n) => n.to_string(),
        Value::String(s) if key == "currency" => s.to_uppercase(),
        Value::String(s) => names
            .known_title(s)
            .or_else(|| key.contains("plan").then(|| names.known_plan(s)).flatten())
            .unwrap_or_else(|| s.clone()),
        Value::Array(items) if items.is_empty() => "none".into(),
        Value::Array(items) => items
            .iter()
            .map(|i| detail_text(names, key, i))
            .collect::<Vec<_>>()
            .join(", "),
        Value::Object(map) => {
            if let (Some(amount), Some(currency)) = (
                map.get("amount").and_then(Value::as_i64),
                map.get("currency").and_then(Value::as_str),
            ) && map.len() == 2
            {
                return crate::http::watch::money(amount, currency);
            }
            // A grant's scope: `{"scope": "plan"|"title", "id": …}`.
            if let (Some(scope), Some(id)) = (
                map.get("scope").and_then(Value::as_str),
                map.get("id").and_then(Value::as_str),
            ) && map.len() == 2
            {
                return match scope {
                    "plan" => format!("the plan {}", names.plan(id)),
                    _ => names.title_with_kind(id),
                };
            }
            // Amounts beside their currency are minor units.
            let currency = map.get("currency").and_then(Value::as_str);
            let pairs: Vec<String> = map
                .iter()
                .map(|(k, v)| {
                    let shown = match (currency, v.as_i64()) {
                        (Some(c), Some(minor)) if k.ends_with("amount") => {
                            crate::http::watch::money(minor, c)
                        }
                        _ => detail_text(names, k, v),
                    };
                    format!("{}: {shown}", k.replace('_', " "))
                })
                .collect();
            if key.is_empty() {
                pairs.join("; ")
            } else {
                format!("({})", pairs.join("; "))
            }
        }
    }
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
