//! `/api/v1/titles`: the catalog as editors manage it (movies, series with their episodes,
//! extras), with the readiness gate on publish.

use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody, JsonBody};
use crate::accounts::roles::{Permission, perm};
use crate::catalog::credits::Credit;
use crate::catalog::publishing::MediaState;
use crate::catalog::search::{self, Audience};
use crate::catalog::titles::{
    self, ExtraKind, Placement, PublishState, Title, TitleFields, TitleKind, TitleQuery,
};
use crate::services::TitleDetail;

const MAX_PAGE: u32 = 200;

/// A title in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct TitleSummary {
    pub id: String,
    pub kind: TitleKind,
    pub name: String,
    pub status: PublishState,
    pub year: Option<i64>,
    pub season_number: Option<i64>,
    pub episode_number: Option<i64>,
    pub extra_kind: Option<ExtraKind>,
    pub asset_id: Option<String>,
    /// Whether viewers see it now.
    pub live: bool,
    pub publish_at: Option<i64>,
    pub expire_at: Option<i64>,
    pub updated_at: i64,
}

impl TitleSummary {
    fn of(t: &Title, now: i64) -> Self {
        TitleSummary {
            id: t.id.clone(),
            kind: t.kind,
            name: t.name.clone(),
            status: t.status,
            year: t.year,
            season_number: t.season_number,
            episode_number: t.episode_number,
            extra_kind: t.extra_kind,
            asset_id: t.asset_id.clone(),
            live: t.is_live(now),
            publish_at: t.publish_at,
            expire_at: t.expire_at,
            updated_at: t.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChildView {
    #[serde(flatten)]
    pub title: TitleSummary,
    pub media: MediaState,
}

/// One title with everything an editor needs to publish it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TitleView {
    #[serde(flatten)]
    pub summary: TitleSummary,
    pub parent_id: Option<String>,
    pub synopsis: String,
    pub age_rating: String,
    pub languages: Vec<String>,
    pub genres: Vec<String>,
    pub tags: Vec<String>,
    /// Cast and crew in billing order.
    pub people: Vec<Credit>,
    pub media: MediaState,
    /// What keeps the title from being published; empty when it is ready.
    pub missing: Vec<String>,
    /// Episodes by season and number, then extras.
    pub children: Vec<ChildView>,
    pub published_at: Option<i64>,
    pub created_at: i64,
    /// Uploaded artwork: kind → its largest image's URL.
    pub artwork: std::collections::BTreeMap<String, String>,
}

impl TitleView {
    pub fn of(d: TitleDetail) -> Self {
        let now = crate::clock::now();
        TitleView {
            summary: TitleSummary::of(&d.title, now),
            parent_id: d.title.parent_id,
            synopsis: d.title.synopsis,
            age_rating: d.title.age_rating,
            languages: d.title.languages,
            genres: d.genres,
            tags: d.tags,
            people: d.people,
            media: d.media,
            missing: d.missing,
            children: d
                .children
                .iter()
                .map(|(c, media)| ChildView {
                    title: TitleSummary::of(c, now),
                    media: *media,
                })
                .collect(),
            published_at: d.title.published_at,
            created_at: d.title.created_at,
            artwork: d
                .art
                .iter()
                .map(|a| (a.kind.as_str().to_owned(), a.best(u32::MAX)))
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListParams {
    /// Search (names, synopses, people, tags; prefixes; accents ignored), best match first.
    q: Option<String>,
    /// movie, series, episode or extra (default: movies and series).
    kind: Option<String>,
    /// draft or published.
    status: Option<String>,
    /// Page size, 1 to 200 (default 50).
    limit: Option<u32>,
    offset: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TitlePage {
    items: Vec<TitleSummary>,
    total: u64,
    limit: u32,
    offset: u32,
}

/// List or search titles (drafts included).
#[utoipa::path(params(ListParams), responses(
    (status = 200, body = TitlePage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("api_key" = ["catalog:read"])))]
#[get("/api/v1/titles")]
pub async fn list(
    _caller: Caller<perm::CatalogRead>,
    state: web::Data<AppState>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let limit = params.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let kind = match params.kind.as_deref() {
        None | Some("") => None,
        Some(k) => Some(TitleKind::parse(k).ok_or_else(|| {
            ApiError::bad_request(format!(
                "unknown kind {k:?}; use movie, series, episode or extra"
            ))
        })?),
    };
    let status = match params.status.as_deref() {
        None | Some("") => None,
        Some("draft") => Some(PublishState::Draft),
        Some("published") => Some(PublishState::Published),
        Some(s) => {
            return Err(ApiError::bad_request(format!(
                "unknown status {s:?}; use draft or published"
            )));
        }
    };
    let offset = params.offset.unwrap_or(0);
    let now = crate::clock::now();
    let (items, total) = match params.q.clone().filter(|q| !q.trim().is_empty()) {
        Some(q) => {
            let found = state
                .db
                .read(move |c| search::search(c, &q, Audience::Staff, limit))
                .await?;
            let total = found.len() as u64;
            (found, total)
        }
        None => {
            let query = TitleQuery {
                kind,
                status,
                name: None,
                limit,
                offset,
            };
            state.db.read(move |c| titles::list(c, &query)).await?
        }
    };
    Ok(HttpResponse::Ok().json(TitlePage {
        items: items.iter().map(|t| TitleSummary::of(t, now)).collect(),
        total,
        limit,
        offset,
    }))
}

/// One title, with its episodes or extras and what it still needs before publishing.
#[utoipa::path(params(("id" = String, Path, description = "Title id")), responses(
    (status = 200, body = TitleView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = ["catalog:read"])))]
#[get("/api/v1/titles/{id}")]
pub async fn get_one(
    _caller: Caller<perm::CatalogRead>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(TitleView::of(state.titles.detail(&id).await?)))
}

/// A new title. `kind` says where it goes: a movie or a series on its own, an episode in a
/// series (`series_id`, `season`, `episode`), an extra of a title (`parent_id`,
/// `extra_kind`). It starts as a draft.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewTitle {
    pub kind: TitleKind,
    pub series_id: Option<String>,
    pub season: Option<i64>,
    pub episode: Option<i64>,
    pub parent_id: Option<String>,
    pub extra_kind: Option<ExtraKind>,
    #[serde(flatten)]
    pub fields: TitleFields,
}

impl NewTitle {
    /// Where-it-goes keys and the title's fields, each refusing keys it does not know
    /// (serde cannot refuse unknown keys through `flatten`).
    fn from_json(body: serde_json::Value) -> Result<NewTitle, ApiError> {
        const PLACEMENT: [&str; 6] = [
            "kind",
            "series_id",
            "season",
            "episode",
            "parent_id",
            "extra_kind",
        ];
        let serde_json::Value::Object(all) = body else {
            return Err(ApiError::bad_request("the body must be a JSON object"));
        };
        let (place, fields): (serde_json::Map<_, _>, serde_json::Map<_, _>) = all
            .into_iter()
            .partition(|(k, _)| PLACEMENT.contains(&k.as_str()));
        #[derive(Deserialize)]
        struct Place {
            kind: TitleKind,
            series_id: Option<String>,
            season: Option<i64>,
            episode: Option<i64>,
            parent_id: Option<String>,
            extra_kind: Option<ExtraKind>,
        }
        let bad = |e: serde_json::Error| ApiError::bad_request(e.to_string());
        let p: Place = serde_json::from_value(place.into()).map_err(bad)?;
        Ok(NewTitle {
            kind: p.kind,
            series_id: p.series_id,
            season: p.season,
            episode: p.episode,
            parent_id: p.parent_id,
            extra_kind: p.extra_kind,
            fields: serde_json::from_value(fields.into()).map_err(bad)?,
        })
    }
}

pub fn placement(
    kind: TitleKind,
    series_id: Option<String>,
    season: Option<i64>,
    episode: Option<i64>,
    parent_id: Option<String>,
    extra_kind: Option<ExtraKind>,
) -> Result<Placement, ApiError> {
    Ok(match kind {
        TitleKind::Movie => Placement::Movie,
        TitleKind::Series => Placement::Series,
        TitleKind::Episode => Placement::Episode {
            series_id: series_id
                .ok_or_else(|| ApiError::bad_request("an episode needs series_id"))?,
            season: season.unwrap_or(1),
            episode: episode.ok_or_else(|| ApiError::bad_request("an episode needs episode"))?,
        },
        TitleKind::Extra => Placement::Extra {
            parent_id: parent_id
                .ok_or_else(|| ApiError::bad_request("an extra needs parent_id"))?,
            kind: extra_kind.unwrap_or(ExtraKind::Trailer),
        },
    })
}

/// Create a title (a draft).
#[utoipa::path(request_body = NewTitle, responses(
    (status = 201, body = TitleView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody)), security(("api_key" = ["catalog:write"])))]
#[post("/api/v1/titles")]
pub async fn create(
    caller: Caller<perm::CatalogWrite>,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let new = NewTitle::from_json(body.parse()?)?;
    let placement = placement(
        new.kind,
        new.series_id,
        new.season,
        new.episode,
        new.parent_id,
        new.extra_kind,
    )?;
    let detail = state
        .titles
        .create(&caller.actor(), placement, new.fields)
        .await?;
    Ok(HttpResponse::Created().json(TitleView::of(detail)))
}

/// Change a title's fields. Unlinking a paid title's media (or linking it other media) also
/// needs `billing:write`: the media would be a free title's, or free to link to one.
#[utoipa::path(params(("id" = String, Path, description = "Title id")), request_body = TitleFields,
    responses((status = 200, body = TitleView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "A paid title's media taken away from it, without billing:write"),
    (status = 404, body = ErrorBody)), security(("api_key" = ["catalog:write"])))]
#[patch("/api/v1/titles/{id}")]
pub async fn update(
    caller: Caller<perm::CatalogWrite>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let fields: TitleFields = body.parse()?;
    let may_set_access = caller.may(Permission::BillingWrite);
    let detail = state
        .titles
        .update(&caller.actor(), &id, fields, may_set_access)
        .await?;
    Ok(HttpResponse::Ok().json(TitleView::of(detail)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublishResult {
    #[serde(flatten)]
    pub title: TitleView,
    /// Episodes published with their series.
    pub episodes_published: Vec<String>,
    /// Episodes left in draft, each with what it is missing.
    pub episodes_left: Vec<(String, Vec<String>)>,
}

/// Publish a title (a series takes its ready episodes along). 409 lists what is missing.
#[utoipa::path(params(("id" = String, Path, description = "Title id")), responses(
    (status = 200, body = PublishResult), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody)), security(("api_key" = ["catalog:write"])))]
#[post("/api/v1/titles/{id}/publish")]
pub async fn publish(
    caller: Caller<perm::CatalogWrite>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (detail, done) = state.titles.publish(&caller.actor(), &id).await?;
    Ok(HttpResponse::Ok().json(PublishResult {
        title: TitleView::of(detail),
        episodes_published: done.episodes_published,
        episodes_left: done.episodes_left,
    }))
}

/// Back to draft: viewers stop seeing it, and its media stops playing, at once.
#[utoipa::path(params(("id" = String, Path, description = "Title id")), responses(
    (status = 200, body = TitleView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = ["catalog:write"])))]
#[post("/api/v1/titles/{id}/unpublish")]
pub async fn unpublish(
    caller: Caller<perm::CatalogWrite>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let detail = state.titles.unpublish(&caller.actor(), &id).await?;
    Ok(HttpResponse::Ok().json(TitleView::of(detail)))
}

/// Delete a title with its episodes and extras; their media stays in the library. A paid
/// title with media (or with paid episodes or extras with media) needs `billing:write` too.
#[utoipa::path(params(("id" = String, Path, description = "Title id")), responses(
    (status = 204), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody, description = "A paid title with media, without billing:write"),
    (status = 404, body = ErrorBody)),
    security(("api_key" = ["catalog:write"])))]
#[delete("/api/v1/titles/{id}")]
pub async fn remove(
    caller: Caller<perm::CatalogWrite>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let may_set_access = caller.may(Permission::BillingWrite);
    state
        .titles
        .delete(&caller.actor(), &id, may_set_access)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_refused_also_inside_a_new_title() {
        let parse = |s: &str| NewTitle::from_json(serde_json::from_str(s).unwrap());
        let new =
            parse(r#"{"kind": "episode", "series_id": "s", "episode": 2, "name": "x"}"#).unwrap();
        assert_eq!(new.fields.name.as_deref(), Some("x"));
        assert_eq!(new.episode, Some(2));
        assert!(parse(r#"{"kind": "movie", "nmae": "x"}"#).is_err());
        assert!(parse(r#"{"name": "x"}"#).is_err());
        assert!(parse(r#"[]"#).is_err());
        assert!(serde_json::from_str::<TitleFields>(r#"{"synopsys": "x"}"#).is_err());
    }
}

fn art_kind(kind: &str) -> Result<crate::images::ArtKind, ApiError> {
    crate::images::ArtKind::parse(kind).ok_or_else(|| {
        ApiError::bad_request(format!(
            "unknown artwork {kind:?}; use poster, backdrop or logo"
        ))
    })
}

/// Set a title's poster (2:3), backdrop (16:9) or logo: the body is the image (JPEG, PNG or
/// WebP, at most 20 MB). It is cropped to the kind's shape and written in a few widths,
/// served from `/img/...` with long cache lifetimes.
#[utoipa::path(params(("id" = String, Path, description = "Title id"),
    ("kind" = String, Path, description = "poster, backdrop or logo")),
    request_body(content = Vec<u8>, content_type = "image/jpeg"),
    responses((status = 200, body = TitleView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)), security(("api_key" = ["catalog:write"])))]
#[put("/api/v1/titles/{id}/artwork/{kind}")]
pub async fn put_artwork(
    caller: Caller<perm::CatalogWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    mut body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    use futures_util::StreamExt;
    let (id, kind) = path.into_inner();
    let kind = art_kind(&kind)?;
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(e.to_string()))?;
        if bytes.len() + chunk.len() > crate::images::MAX_BYTES {
            return Err(ApiError::new(
                super::error::ErrorCode::PayloadTooLarge,
                "the image is larger than 20 MB",
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    let detail = state
        .titles
        .set_artwork(&caller.actor(), &id, kind, bytes)
        .await?;
    Ok(HttpResponse::Ok().json(TitleView::of(detail)))
}

/// Remove a title's artwork of one kind (pages fall back to a frame of the video).
#[utoipa::path(params(("id" = String, Path, description = "Title id"),
    ("kind" = String, Path, description = "poster, backdrop or logo")),
    responses((status = 200, body = TitleView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody)), security(("api_key" = ["catalog:write"])))]
#[delete("/api/v1/titles/{id}/artwork/{kind}")]
pub async fn delete_artwork(
    caller: Caller<perm::CatalogWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, kind) = path.into_inner();
    let detail = state
        .titles
        .remove_artwork(&caller.actor(), &id, art_kind(&kind)?)
        .await?;
    Ok(HttpResponse::Ok().json(TitleView::of(detail)))
}
