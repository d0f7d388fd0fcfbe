//! `/admin/titles`: the catalog for editors. List and search, create, edit (details, media,
//! schedule), the readiness gate with exactly what is missing, publish and unpublish,
//! episodes and extras, delete.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};

use super::Saved;
use super::{render, when};
use crate::accounts::roles::{Permission, perm};
use crate::catalog::credits;
use crate::catalog::search::{self, Audience};
use crate::catalog::titles::{
    self, ExtraKind, Placement, PublishState, TitleFields, TitleKind, TitleQuery,
};
use crate::catalog::{self, AssetStatus, CatalogError, ListQuery};
use crate::http::AppState;
use crate::http::session::{Admin, PageError, see_other};
use crate::services::TitleServiceError;

const PAGE_SIZE: u32 = 50;

impl From<TitleServiceError> for PageError {
    fn from(e: TitleServiceError) -> Self {
        match e {
            TitleServiceError::Catalog(e) => e.into(),
            TitleServiceError::Image(crate::images::ImageError::Invalid(m)) => {
                PageError::BadRequest(m)
            }
            TitleServiceError::NeedsBilling(m) => PageError::Forbidden(m),
            other => PageError::internal(other),
        }
    }
}

impl From<CatalogError> for PageError {
    fn from(e: CatalogError) -> Self {
        match e {
            e @ (CatalogError::TitleNotFound(_) | CatalogError::NotFound(_)) => {
                PageError::NotFound(e.to_string())
            }
            e @ (CatalogError::Invalid(_) | CatalogError::NotReady(_)) => {
                PageError::BadRequest(e.to_string())
            }
            other => PageError::internal(other),
        }
    }
}

#[derive(Serialize)]
struct Row {
    id: String,
    name: String,
    kind: &'static str,
    status: &'static str,
    live: bool,
    changed: String,
}

fn status_str(s: PublishState) -> &'static str {
    match s {
        PublishState::Draft => "draft",
        PublishState::Published => "published",
    }
}

#[derive(Deserialize)]
pub struct ListParams {
    #[serde(default)]
    q: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    page: u32,
}

#[get("/admin/titles")]
pub async fn list(
    state: web::Data<AppState>,
    admin: Admin<perm::CatalogRead>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, PageError> {
    let kind = match params.kind.as_str() {
        "" => None,
        k => Some(
            TitleKind::parse(k)
                .ok_or_else(|| PageError::BadRequest(format!("unknown kind {k:?}")))?,
        ),
    };
    let status = match params.status.as_str() {
        "" => None,
        "draft" => Some(PublishState::Draft),
        "published" => Some(PublishState::Published),
        s => return Err(PageError::BadRequest(format!("unknown status {s:?}"))),
    };
    let q = params.q.trim().to_owned();
    let now = crate::clock::now();
    let query = TitleQuery {
        kind,
        status,
        name: None,
        limit: PAGE_SIZE,
        offset: params.page.saturating_mul(PAGE_SIZE),
    };
    let search_for = q.clone();
    let (found, total) = state
        .db
        .read(move |c| {
            if search_for.is_empty() {
                titles::list(c, &query)
            } else {
                let found = search::search(c, &search_for, Audience::Staff, PAGE_SIZE)?;
                let total = found.len() as u64;
                Ok((found, total))
            }
        })
        .await?;
    let rows: Vec<Row> = found
        .iter()
        .map(|t| Row {
            id: t.id.clone(),
            name: t.name.clone(),
            kind: t.kind.as_str(),
            status: status_str(t.status),
            live: t.is_live(now),
            changed: when(t.updated_at),
        })
        .collect();
    let pager = super::pager(
        "/admin/titles",
        &[
            ("q", q.as_str()),
            ("kind", params.kind.as_str()),
            ("status", params.status.as_str()),
        ],
        params.page,
        total,
        PAGE_SIZE,
    );
    let can_write = admin.viewer.user().role.may(Permission::CatalogWrite);
    render(
        &state,
        &admin.viewer,
        "/admin/titles",
        "admin/titles.html",
        StatusCode::OK,
        minijinja::context! {
            rows => minijinja::Value::from(minijinja::value::Serde(&rows)),
            pager => minijinja::Value::from(minijinja::value::Serde(&pager)),
            total, q, kind => &params.kind, status => &params.status, can_write,
        },
    )
}

#[derive(Deserialize)]
struct NewForm {
    name: String,
    kind: String,
}

#[post("/admin/titles")]
pub async fn create(
    state: web::Data<AppState>,
    admin: Admin<perm::CatalogWrite>,
) -> Result<HttpResponse, PageError> {
    let form: NewForm = admin.viewer.form()?;
    let placement = match form.kind.as_str() {
        "series" => Placement::Series,
        _ => Placement::Movie,
    };
    let fields = TitleFields {
        name: Some(form.name),
        ..TitleFields::default()
    };
    let created = state
        .titles
        .create(&admin.viewer.actor(), placement, fields)
        .await?;
    Ok(super::saved(
        &format!("/admin/titles/{}", created.title.id),
        Saved::TitleCreated,
    ))
}

#[derive(Serialize)]
struct ChildRow {
    id: String,
    name: String,
    season: Option<i64>,
    episode: Option<i64>,
    extra_kind: Option<&'static str>,
    media: String,
    status: &'static str,
    live: bool,
}

#[derive(Serialize)]
struct AssetChoice {
    id: String,
    title: String,
    status: &'static str,
}

/// `YYYY-MM-DDTHH:MM` in UTC, as a `datetime-local` input holds it.
pub(super) fn local_input(t: Option<i64>) -> String {
    let Some(t) = t else { return String::new() };
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// A `datetime-local` value (UTC) as Unix seconds; empty is 0 (clear).
pub(super) fn parse_input(what: &str, s: &str) -> Result<i64, PageError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(0);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let with_seconds =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    time::PrimitiveDateTime::parse(s, &format)
        .or_else(|_| time::PrimitiveDateTime::parse(s, &with_seconds))
        .map(|t| t.assume_utc().unix_timestamp())
        .map_err(|_| PageError::BadRequest(format!("{what}: {s:?} is not a date and time")))
}

#[get("/admin/titles/{id}")]
pub async fn detail(
    state: web::Data<AppState>,
    admin: Admin<perm::CatalogRead>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let detail = state.titles.detail(&id).await?;
    let parent = detail.title.parent_id.clone();
    let (assets, parent_name) = state
        .db
        .read(move |c| {
            let query = ListQuery {
                status: None,
                title: None,
                limit: 500,
                offset: 0,
            };
            let (assets, _) = catalog::list(c, &query)?;
            let parent_name = match parent {
                Some(p) => Some(titles::get(c, &p)?.name),
                None => None,
            };
            Ok::<_, CatalogError>((assets, parent_name))
        })
        .await?;
    let assets: Vec<AssetChoice> = assets
        .into_iter()
        .filter(|a| a.status != AssetStatus::Failed)
        .map(|a| AssetChoice {
            status: a.status.as_str(),
            id: a.id,
            title: a.title,
        })
        .collect();
    let now = crate::clock::now();
    let rows: Vec<ChildRow> = detail
        .children
        .iter()
        .map(|(c, media)| ChildRow {
            id: c.id.clone(),
            name: c.name.clone(),
            season: c.season_number,
            episode: c.episode_number,
            extra_kind: c.extra_kind.map(ExtraKind::as_str),
            media: serde_json::to_value(media)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
                .replace('_', " "),
            status: status_str(c.status),
            live: c.is_live(now),
        })
        .collect();
    let (episodes, extras): (Vec<&ChildRow>, Vec<&ChildRow>) =
        rows.iter().partition(|r| r.extra_kind.is_none());
    let last = episodes.last();
    let next_season = last.and_then(|e| e.season).unwrap_or(1);
    let next_episode = last.and_then(|e| e.episode).map_or(1, |e| e + 1);
    let t = &detail.title;
    let view_href = match t.kind {
        TitleKind::Movie | TitleKind::Series => Some(format!("/title/{}", t.id)),
        _ => Some(format!("/watch/{}", t.id)),
    };
    let media = serde_json::to_value(detail.media)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let can_write = admin.viewer.user().role.may(Permission::CatalogWrite);
    let art: std::collections::BTreeMap<&str, String> = detail
        .art
        .iter()
        .map(|a| (a.kind.as_str(), a.best(480)))
        .collect();
    let access = access_section(&state, &admin.viewer, &t.id).await?;
    render(
        &state,
        &admin.viewer,
        "/admin/titles",
        "admin/title.html",
        StatusCode::OK,
        minijinja::context! {
            t => minijinja::Value::from(minijinja::value::Serde(t)),
            genres => &detail.genres, tags => &detail.tags,
            people => credits::to_lines(&detail.people), missing => &detail.missing,
            live => detail.live, media, view_href, parent_name,
            episodes => minijinja::Value::from(minijinja::value::Serde(&episodes)),
            extras => minijinja::Value::from(minijinja::value::Serde(&extras)),
            assets => minijinja::Value::from(minijinja::value::Serde(&assets)),
            publish_at => local_input(t.publish_at), expire_at => local_input(t.expire_at),
            next_season, next_episode, can_write, art,
            access => minijinja::Value::from(minijinja::value::Serde(&access)),
        },
    )
}

/// The title's access level form, for those who may read billing.
#[derive(Serialize)]
struct AccessSection {
    form: super::paywall::LevelForm,
    /// The level in force, in words, and where it is set.
    effective: String,
    plans: Vec<(String, String)>,
    can_write: bool,
}

async fn access_section(
    state: &AppState,
    viewer: &crate::http::session::Viewer,
    id: &str,
) -> Result<Option<AccessSection>, PageError> {
    let role = viewer.user().role;
    if !role.may(Permission::BillingRead) {
        return Ok(None);
    }
    let (id, title_id) = (id.to_owned(), id.to_owned());
    let (own, free_preview, effective, all_plans) = state
        .db
        .read(move |c| {
            let own = crate::access::store::own_level(c, &id)?;
            let effective = crate::access::store::title_access(c, &id)?;
            let plans = crate::access::plans::list(c)?;
            Ok::<_, crate::access::AccessError>((
                own,
                effective.as_ref().is_some_and(|e| e.free_preview),
                effective,
                plans,
            ))
        })
        .await?;
    let effective = match effective {
        Some(e) => {
            let names = crate::http::words::Names::load(state, vec![e.title_id.clone()]).await?;
            names.level_in_force(&e.level, &e.title_id, &title_id)
        }
        None => String::new(),
    };
    Ok(Some(AccessSection {
        form: super::paywall::LevelForm::of(own.as_ref(), free_preview),
        effective,
        plans: all_plans
            .into_iter()
            .filter(|p| !p.archived)
            .map(|p| (p.id, p.fields.name))
            .collect(),
        can_write: role.may(Permission::BillingWrite),
    }))
}

#[derive(Deserialize)]
struct EditForm {
    name: String,
    #[serde(default)]
    synopsis: String,
    #[serde(default)]
    year: String,
    #[serde(default)]
    age_rating: String,
    #[serde(default)]
    languages: String,
    genres: Option<String>,
    tags: Option<String>,
    people: Option<String>,
    asset_id: Option<String>,
    #[serde(default)]
    publish_at: String,
    #[serde(default)]
    expire_at: String,
}

fn list_field(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

#[post("/admin/titles/{id}")]
pub async fn save(
    state: web::Data<AppState>,
    admin: Admin<perm::CatalogWrite>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let form: EditForm = admin.viewer.form()?;
    let year = match form.year.trim() {
        "" => 0,
        y => y
            .parse()
            .map_err(|_| PageError::BadRequest(format!("year: {y:?} is not a year")))?,
    };
    let fields = TitleFields {
        name: Some(form.name),
        synopsis: Some(form.synopsis),
        year: Some(year),
        age_rating: Some(form.age_rating),
        languages: Some(list_field(&form.languages)),
        asset_id: form.asset_id,
        genres: form.genres.as_deref().map(list_field),
        tags: form.tags.as_deref().map(list_field),
        people: form
            .people
            .as_deref()
            .map(credits::parse_lines)
            .transpose()
            .map_err(|e| PageError::BadRequest(e.to_string()))?,
        publish_at: Some(parse_input("publish at", &form.publish_at)?),
        expire_at: Some(parse_input("hide after", &form.expire_at)?),
    };
    state
        .titles
        .update(
            &admin.viewer.actor(),
            &id,
            fields,
            admin.viewer.user().role.may(Permission::BillingWrite),
        )
        .await?;
    Ok(super::saved(
        &format!("/admin/titles/{id}"),
        Saved::TitleSaved,
    ))
}

#[post("/admin/titles/{id}/publish")]
pub async fn publish(
    state: web::Data<AppState>,
    admin: Admin<perm::CatalogWrite>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let _: CsrfOnly = admin.viewer.form()?;
    match state.titles.publish(&admin.viewer.actor(), &id).await {
        Ok(_) => Ok(super::saved(
            &format!("/admin/titles/{id}"),
            Saved::TitlePublished,
        )),
        // The page lists what is missing.
        Err(TitleServiceError::Catalog(CatalogError::NotReady(_))) => {
            Ok(see_other(&format!("/admin/titles/{id}"), []))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct CsrfOnly {}

#[post("/admin/titles/{id}/unpublish")]
pub async fn unpublish(
    state: web::Data<AppState>,
    admin: Admin<perm::CatalogWrite>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let _: CsrfOnly = admin.viewer.form()?;
    state.titles.unpublish(&admin.viewer.actor(), &id).await?;
    Ok(super::saved(
        &format!("/admin/titles/{id}"),
        Saved::TitleUnpublished,
    ))
}

#[post("/admin/titles/{id}/delete")]
pub async fn delete(
    state: web::Data<AppState>,
    admin: Admin<perm::CatalogWrite>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let _: CsrfOnly = admin.viewer.form()?;
    let may_set_access = admin.viewer.user().role.may(Permission::BillingWrite);
    let title = state
        .titles
        .delete(&admin.viewer.actor(), &id, may_set_access)
        .await?;
    let back = match title.parent_id {
        Some(parent) => format!("/admin/titles/{parent}"),
        None => "/admin/titles".into(),
    };
    Ok(super::saved(&back, Saved::TitleDeleted))
}

#[derive(Deserialize)]
struct ChildForm {
    name: String,
    #[serde(default)]
    season: String,
    #[serde(default)]
    episode: String,
    #[serde(default)]
    extra_kind: String,
    #[serde(default)]
    asset_id: String,
}

fn number(what: &str, s: &str) -> Result<i64, PageError> {
    s.trim()
        .parse()
        .map_err(|_| PageError::BadRequest(format!("{what}: {s:?} is not a number")))
}

#[post("/admin/titles/{id}/episodes")]
pub async fn add_episode(
    state: web::Data<AppState>,
    admin: Admin<perm::CatalogWrite>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let form: ChildForm = admin.viewer.form()?;
    let placement = Placement::Episode {
        series_id: id.to_string(),
        season: number("season", &form.season)?,
        episode: number("episode", &form.episode)?,
    };
    add_child(&state, &admin, &id, placement, form).await
}

#[post("/admin/titles/{id}/extras")]
pub async fn add_extra(
    state: web::Data<AppState>,
    admin: Admin<perm::CatalogWrite>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let form: ChildForm = admin.viewer.form()?;
    let kind = ExtraKind::parse(&form.extra_kind)
        .ok_or_else(|| PageError::BadRequest(format!("unknown extra {:?}", form.extra_kind)))?;
    let placement = Placement::Extra {
        parent_id: id.to_string(),
        kind,
    };
    add_child(&state, &admin, &id, placement, form).await
}

async fn add_child(
    state: &AppState,
    admin: &Admin<perm::CatalogWrite>,
    parent: &str,
    placement: Placement,
    form: ChildForm,
) -> Result<HttpResponse, PageError> {
    let done = match placement {
        Placement::Extra { .. } => Saved::ExtraAdded,
        _ => Saved::EpisodeAdded,
    };
    let fields = TitleFields {
        name: Some(form.name),
        asset_id: (!form.asset_id.is_empty()).then_some(form.asset_id),
        ..TitleFields::default()
    };
    state
        .titles
        .create(&admin.viewer.actor(), placement, fields)
        .await?;
    Ok(super::saved(&format!("/admin/titles/{parent}"), done))
}

/// The title a form's typed name picks (`catalog::title_names::pick`): `Ok` with its id and
/// label, or `Err` with a sentence saying why none was picked, for the page to show.
pub(super) async fn pick_title(
    state: &AppState,
    typed: &str,
) -> Result<Result<(String, String), String>, PageError> {
    use crate::catalog::title_names::{self, Picked};
    let typed = typed.trim().to_owned();
    let asked = typed.clone();
    let picked = state
        .db
        .read(move |c| title_names::pick(c, &asked))
        .await
        .map_err(PageError::internal)?;
    Ok(match picked {
        Picked::One { id, label } => Ok((id, label)),
        Picked::Nothing => Err(format!(
            "No title is called “{typed}”. Check the spelling, or start typing and choose one from the list."
        )),
        Picked::Several(labels) => Err(format!(
            "Several titles are called “{typed}”: {}. Type or choose the one you mean.",
            labels.join("; ")
        )),
    })
}

#[derive(Deserialize)]
pub struct NamesQuery {
    #[serde(default)]
    q: String,
}

/// The title pickers' suggestions as the operator types (`admin.js`): up to 20 labels
/// containing `q`, as JSON.
#[get("/admin/title-names")]
pub async fn title_names(
    state: web::Data<AppState>,
    _admin: Admin<perm::BillingRead>,
    query: web::Query<NamesQuery>,
) -> Result<HttpResponse, PageError> {
    let typed: String = query.q.chars().take(200).collect();
    let labels = state
        .db
        .read(move |c| crate::catalog::title_names::suggest(c, &typed, 20))
        .await
        .map_err(PageError::internal)?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(labels))
}
