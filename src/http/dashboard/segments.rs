//! `/admin/segments`: saved filters over members. One form holds every condition (each
//! used when filled in); as it is edited, `admin-segments.js` posts it to
//! `/admin/segments/preview`, which answers the count and the first members, so the
//! operator sees who a filter selects before saving it.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use serde::Serialize;

use super::Saved;
use super::audit::day_start;
use super::render;
use crate::accounts::roles::perm;
use crate::analytics::segments::{self, Condition, Filter, PreviewMember, Segment};
use crate::http::AppState;
use crate::http::session::{Admin, PageError};

const PREVIEW_SIZE: usize = 20;
const DEFAULT_WATCH_DAYS: u32 = 14;
const DEFAULT_PREVIOUS_DAYS: u32 = 28;
/// How long a saved segment's page, and the live preview, wait for beacons in flight.
const SAVED_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
const TYPING_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// The form's fields, as text, for showing a filter back in the form.
#[derive(Debug, Default, Serialize)]
struct FormState {
    name: String,
    plan: String,
    statuses: Vec<String>,
    renewal_days: String,
    trial_days: String,
    payment_failed: bool,
    not_seen_days: String,
    seen_days: String,
    watch_days: String,
    watch_previous_days: String,
    watch_percent: String,
    genres: String,
    finished_at_least: String,
    signed_up_from: String,
    signed_up_to: String,
}

fn day_text(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .map(|d| d.date().to_string())
        .unwrap_or_default()
}

impl FormState {
    fn of(name: &str, filter: &Filter) -> FormState {
        let mut f = FormState {
            name: name.to_string(),
            watch_days: DEFAULT_WATCH_DAYS.to_string(),
            watch_previous_days: DEFAULT_PREVIOUS_DAYS.to_string(),
            ..Default::default()
        };
        for c in &filter.conditions {
            match c {
                Condition::Plan { plan, statuses } => {
                    f.plan = plan.clone().unwrap_or_default();
                    f.statuses = statuses.clone();
                }
                Condition::RenewalWithin { days } => f.renewal_days = days.to_string(),
                Condition::TrialEndingWithin { days } => f.trial_days = days.to_string(),
                Condition::PaymentFailed {} => f.payment_failed = true,
                Condition::NotSeenFor { days } => f.not_seen_days = days.to_string(),
                Condition::SeenWithin { days } => f.seen_days = days.to_string(),
                Condition::WatchChange {
                    days,
                    previous_days,
                    percent,
                } => {
                    f.watch_days = days.to_string();
                    f.watch_previous_days = previous_days.to_string();
                    f.watch_percent = percent.to_string();
                }
                Condition::Genres { genres } => f.genres = genres.join(", "),
                Condition::Finished { at_least } => f.finished_at_least = at_least.to_string(),
                Condition::SignedUp { from, to } => {
                    f.signed_up_from = day_text(*from);
                    f.signed_up_to = day_text(to - 86_400);
                }
            }
        }
        f
    }
}

/// Reads the form (repeated `statuses`) into a name and a filter; a field left empty adds
/// no condition.
fn filter_of(body: &[u8]) -> Result<(String, Filter), PageError> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    let number = |k: &str, what: &str| -> Result<Option<u32>, PageError> {
        match get(k).as_str() {
            "" => Ok(None),
            v => v
                .parse()
                .map(Some)
                .map_err(|_| PageError::BadRequest(format!("{what}: a whole number"))),
        }
    };
    let mut c = Vec::new();
    let statuses: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "statuses")
        .map(|(_, v)| v.clone())
        .collect();
    if !statuses.is_empty() {
        let plan = get("plan");
        c.push(Condition::Plan {
            plan: (!plan.is_empty()).then_some(plan),
            statuses,
        });
    }
    if let Some(days) = number("renewal_days", "renewal within")? {
        c.push(Condition::RenewalWithin { days });
    }
    if let Some(days) = number("trial_days", "trial ending within")? {
        c.push(Condition::TrialEndingWithin { days });
    }
    if !get("payment_failed").is_empty() {
        c.push(Condition::PaymentFailed {});
    }
    if let Some(days) = number("not_seen_days", "not played for")? {
        c.push(Condition::NotSeenFor { days });
    }
    if let Some(days) = number("seen_days", "played within")? {
        c.push(Condition::SeenWithin { days });
    }
    let percent = get("watch_percent");
    if !percent.is_empty() {
        c.push(Condition::WatchChange {
            days: number("watch_days", "watch-time days")?.unwrap_or(DEFAULT_WATCH_DAYS),
            previous_days: number("watch_previous_days", "previous days")?
                .unwrap_or(DEFAULT_PREVIOUS_DAYS),
            percent: percent
                .parse()
                .map_err(|_| PageError::BadRequest("watch-time change: a whole number".into()))?,
        });
    }
    let genres: Vec<String> = get("genres")
        .split(',')
        .map(|g| g.trim().to_string())
        .filter(|g| !g.is_empty())
        .collect();
    if !genres.is_empty() {
        c.push(Condition::Genres { genres });
    }
    if let Some(at_least) = number("finished_at_least", "finished titles")? {
        c.push(Condition::Finished { at_least });
    }
    let (from, to) = (get("signed_up_from"), get("signed_up_to"));
    if !from.is_empty() || !to.is_empty() {
        let from = if from.is_empty() {
            0
        } else {
            day_start(&from)?
        };
        let to = if to.is_empty() {
            i64::MAX / 2
        } else {
            day_start(&to)? + 86_400
        };
        c.push(Condition::SignedUp { from, to });
    }
    let filter = Filter { conditions: c };
    filter
        .check()
        .map_err(|e| PageError::BadRequest(e.to_string()))?;
    Ok((get("name"), filter))
}

#[derive(Serialize)]
struct PreviewRow {
    id: i64,
    email: String,
    name: String,
    plan: String,
    renews: String,
    last_played: String,
}

impl From<PreviewMember> for PreviewRow {
    fn from(m: PreviewMember) -> Self {
        PreviewRow {
            id: m.id,
            email: m.email,
            name: m.name,
            plan: match (m.plan, m.status) {
                (Some(p), Some(s)) => format!("{p} ({s})"),
                _ => "none".into(),
            },
            renews: m.period_end.map(day_text).unwrap_or_default(),
            last_played: m.last_played.map_or("never".into(), day_text),
        }
    }
}

#[derive(Serialize)]
struct Preview {
    count: usize,
    members: Vec<PreviewRow>,
}

/// Who a filter selects now, after waiting (at most `wait`) for beacons still in flight
/// to be written and rolled up; the live preview waits less so typing stays quick.
async fn members_of(
    state: &AppState,
    filter: Filter,
    wait: std::time::Duration,
) -> Result<Vec<i64>, PageError> {
    let now = crate::clock::now();
    let beacons = state.beacons.clone();
    let _ = tokio::task::spawn_blocking(move || beacons.sync(wait)).await;
    let main = state.db.clone();
    state
        .events
        .read(move |events| {
            main.read_blocking(|c| -> Result<_, crate::analytics::AnalyticsError> {
                segments::evaluate(c, Some(events), &filter, now)
            })
        })
        .await
        .map_err(|e| match e {
            crate::analytics::AnalyticsError::Invalid(m) => PageError::BadRequest(m),
            other => PageError::internal(other),
        })
}

async fn preview_of(
    state: &AppState,
    filter: Filter,
    wait: std::time::Duration,
) -> Result<Preview, PageError> {
    let members = members_of(state, filter, wait).await?;
    let count = members.len();
    let main = state.db.clone();
    let now = crate::clock::now();
    let rows = state
        .events
        .read(move |events| {
            main.read_blocking(|c| segments::preview(c, events, &members, PREVIEW_SIZE, now))
        })
        .await
        .map_err(PageError::internal)?;
    Ok(Preview {
        count,
        members: rows.into_iter().map(PreviewRow::from).collect(),
    })
}

#[derive(Serialize)]
struct SegmentRow {
    id: i64,
    name: String,
    broken: bool,
}

async fn plans(state: &AppState) -> Result<Vec<(String, String)>, PageError> {
    state
        .db
        .read(|c| -> Result<_, crate::db::DbError> {
            let mut stmt = c.prepare(
                "SELECT id, name FROM plans WHERE archived_at IS NULL ORDER BY position, name",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
        .map_err(PageError::internal)
}

async fn page(
    state: &AppState,
    admin: &Admin<perm::MembersRead>,
    editing: Option<Segment>,
) -> Result<HttpResponse, PageError> {
    let saved = state
        .db
        .read(|c| segments::list(c).map_err(PageError::internal))
        .await?;
    // Counts are not worked out for the list (each is a full evaluation); a segment's
    // page shows its own.
    let rows: Vec<SegmentRow> = saved
        .into_iter()
        .map(|s| SegmentRow {
            id: s.id,
            name: s.name,
            broken: s.broken,
        })
        .collect();
    let (form, id, shown) = match &editing {
        Some(s) => (
            FormState::of(&s.name, &s.filter),
            Some(s.id),
            Some(preview_of(state, s.filter.clone(), SAVED_WAIT).await?),
        ),
        None => (FormState::of("", &Filter::default()), None, None),
    };
    render(
        state,
        &admin.viewer,
        "/admin/segments",
        "admin/segments.html",
        StatusCode::OK,
        minijinja::context! {
            segments => minijinja::Value::from(minijinja::value::Serde(&rows)),
            form => minijinja::Value::from(minijinja::value::Serde(&form)),
            plans => minijinja::Value::from(minijinja::value::Serde(&plans(state).await?)),
            id,
            preview => minijinja::Value::from(minijinja::value::Serde(&shown)),
            segments_js => state.ui.static_url("admin-segments.js"),
        },
    )
}

#[get("/admin/segments")]
pub async fn list(
    state: web::Data<AppState>,
    admin: Admin<perm::MembersRead>,
) -> Result<HttpResponse, PageError> {
    page(&state, &admin, None).await
}

#[get("/admin/segments/{id}")]
pub async fn edit(
    state: web::Data<AppState>,
    admin: Admin<perm::MembersRead>,
    path: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let id = path.into_inner();
    let segment = state
        .db
        .read(move |c| segments::get(c, id).map_err(PageError::internal))
        .await?
        .ok_or_else(|| PageError::NotFound("no such segment".into()))?;
    page(&state, &admin, Some(segment)).await
}

#[post("/admin/segments/preview")]
pub async fn preview(
    state: web::Data<AppState>,
    admin: Admin<perm::MembersRead>,
) -> Result<HttpResponse, PageError> {
    let (_, filter) = filter_of(admin.viewer.form_bytes())?;
    let shown = preview_of(&state, filter, TYPING_WAIT).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(shown))
}

/// Saves a new segment (`/admin/segments`) or changes one (`/admin/segments/{id}`).
async fn save(
    state: &AppState,
    admin: &Admin<perm::MembersWrite>,
    id: Option<i64>,
) -> Result<HttpResponse, PageError> {
    let (name, filter) = filter_of(admin.viewer.form_bytes())?;
    let actor = admin.viewer.actor();
    let now = crate::clock::now();
    let saved = state
        .db
        .write(move |tx| -> Result<i64, PageError> {
            let saved = segments::save(tx, id, &name, &filter, now).map_err(|e| match e {
                crate::analytics::AnalyticsError::Invalid(m) => PageError::BadRequest(m),
                other => PageError::internal(other),
            })?;
            crate::audit::record(
                tx,
                &actor,
                if id.is_some() {
                    "segment.change"
                } else {
                    "segment.create"
                },
                &format!("segment:{saved}"),
                serde_json::json!({ "name": name, "filter": filter }),
                now,
            )
            .map_err(PageError::internal)?;
            Ok(saved)
        })
        .await?;
    Ok(super::saved(
        &format!("/admin/segments/{saved}"),
        Saved::SegmentSaved,
    ))
}

#[post("/admin/segments")]
pub async fn create(
    state: web::Data<AppState>,
    admin: Admin<perm::MembersWrite>,
) -> Result<HttpResponse, PageError> {
    save(&state, &admin, None).await
}

#[post("/admin/segments/{id}")]
pub async fn change(
    state: web::Data<AppState>,
    admin: Admin<perm::MembersWrite>,
    path: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    save(&state, &admin, Some(path.into_inner())).await
}

#[post("/admin/segments/{id}/delete")]
pub async fn delete(
    state: web::Data<AppState>,
    admin: Admin<perm::MembersWrite>,
    path: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    super::remove_audited(
        &state,
        &admin.viewer,
        "segment",
        "segment.delete",
        path.into_inner(),
        segments::delete,
    )
    .await?;
    Ok(super::saved("/admin/segments", Saved::SegmentDeleted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_reads_into_a_filter_and_back() {
        let body = b"name=At+risk&plan=club&statuses=active&statuses=trialing&renewal_days=21\
&watch_percent=-50&watch_days=14&watch_previous_days=28&genres=Drama%2C+Crime&csrf=x";
        let (name, filter) = filter_of(body).unwrap();
        assert_eq!(name, "At risk");
        assert_eq!(filter.conditions.len(), 4);
        assert!(filter.conditions.contains(&Condition::WatchChange {
            days: 14,
            previous_days: 28,
            percent: -50
        }));
        let back = FormState::of(&name, &filter);
        assert_eq!(back.statuses, ["active", "trialing"]);
        assert_eq!(back.genres, "Drama, Crime");
        assert_eq!(back.renewal_days, "21");
        assert!(filter_of(b"renewal_days=soon").is_err());
        assert!(filter_of(b"renewal_days=0").is_err());
        assert!(filter_of(b"statuses=gold").is_err());
        assert_eq!(filter_of(b"").unwrap().1, Filter::default());
    }
}
