//! `/admin/rails` and `/admin/collections`: the home page as editors arrange it (add,
//! rename, reorder with buttons, remove rails; pick the titles of hand-picked rails) and the
//! collections rails and pages draw from. Every change is live on the next page view.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};

use super::Saved;
use super::render;
use crate::accounts::roles::{Permission, perm};
use crate::catalog::collections::{self, CollectionFields};
use crate::catalog::picks::PickEdit;
use crate::catalog::rails::{self, RailFields, RailKind};
use crate::catalog::titles::{self, Title, TitleQuery};
use crate::catalog::{CatalogError, browse};
use crate::http::AppState;
use crate::http::session::{Admin, PageError};
use crate::services::titles::audited;

#[derive(Serialize)]
struct RailRow {
    id: i64,
    name: String,
    kind_label: &'static str,
    source_label: Option<String>,
    max_items: i64,
    hand_picked: bool,
    /// Hand-picked rails: their titles in order.
    items: Vec<Choice>,
    item_ids: Vec<String>,
}

#[derive(Serialize)]
struct Choice {
    id: String,
    name: String,
    live: bool,
}

fn kind_label(kind: RailKind) -> &'static str {
    match kind {
        RailKind::Hero => "hero banner",
        RailKind::Manual => "hand-picked",
        RailKind::Newest => "newest",
        RailKind::Collection => "collection",
        RailKind::Genre => "genre",
        RailKind::ContinueWatching => "continue watching",
        RailKind::BecauseYouWatched => "because you watched",
        RailKind::Trending => "trending this week",
        RailKind::NewInYourGenres => "new in your genres",
        RailKind::MyList => "my list",
    }
}

/// Titles as the editor's lists show them, leaving out the ones already `chosen`.
fn choices(all: &[Title], chosen: &[String], now: i64) -> Vec<Choice> {
    all.iter()
        .filter(|t| !chosen.contains(&t.id))
        .map(|t| Choice {
            id: t.id.clone(),
            name: t.name.clone(),
            live: t.is_live(now),
        })
        .collect()
}

fn every_title(c: &rusqlite::Connection) -> Result<Vec<Title>, CatalogError> {
    let query = TitleQuery {
        limit: 2000,
        ..TitleQuery::default()
    };
    let (mut list, _) = titles::list(c, &query)?;
    list.sort_by_key(|t| t.name.to_lowercase());
    Ok(list)
}

#[get("/admin/rails")]
pub async fn show(
    state: web::Data<AppState>,
    admin: Admin<perm::CatalogRead>,
) -> Result<HttpResponse, PageError> {
    let now = crate::clock::now();
    let (rows, all, genres, collections, default_home) = state
        .db
        .read(move |c| {
            let all = every_title(c)?;
            let default_home = rails::is_default_home(c)?;
            let collections = collections::list(c)?;
            let mut rows = Vec::new();
            for rail in rails::list(c)? {
                let items = rails::items(c, rail.id)?;
                let source_label = match rail.kind {
                    RailKind::Collection => collections
                        .iter()
                        .find(|col| Some(&col.id) == rail.source.as_ref())
                        .map(|col| col.name.clone()),
                    RailKind::Genre => rail.source.clone(),
                    _ => None,
                };
                rows.push(RailRow {
                    id: rail.id,
                    name: rail.name,
                    kind_label: kind_label(rail.kind),
                    source_label,
                    max_items: rail.max_items,
                    hand_picked: rail.kind.hand_picked(),
                    item_ids: items.iter().map(|t| t.id.clone()).collect(),
                    items: choices(&items, &[], now),
                });
            }
            let genres = browse::all_genres(c)?;
            Ok::<_, CatalogError>((rows, all, genres, collections, default_home))
        })
        .await?;
    let catalog = choices(&all, &[], now);
    let can_write = admin.viewer.user().role.may(Permission::CatalogWrite);
    render(
        &state,
        &admin.viewer,
        "/admin/rails",
        "admin/rails.html",
        StatusCode::OK,
        minijinja::context! {
            rails => minijinja::Value::from(minijinja::value::Serde(&rows)),
            catalog => minijinja::Value::from(minijinja::value::Serde(&catalog)),
            genres => minijinja::Value::from(minijinja::value::Serde(&genres)),
            collections => minijinja::Value::from(minijinja::value::Serde(&collections)),
            can_write,
            default_home,
        },
    )
}

#[derive(Deserialize)]
struct NewRailForm {
    name: String,
    kind: String,
    #[serde(default)]
    genre: String,
    #[serde(default)]
    collection: String,
}

#[post("/admin/rails")]
pub async fn create(
    state: web::Data<AppState>,
    admin: Admin<perm::CatalogWrite>,
) -> Result<HttpResponse, PageError> {
    let form: NewRailForm = admin.viewer.form()?;
    let kind = RailKind::parse(&form.kind)
        .ok_or_else(|| PageError::BadRequest(format!("unknown rail kind {:?}", form.kind)))?;
    let source = match kind {
        RailKind::Genre => Some(form.genre),
        RailKind::Collection => Some(form.collection),
        _ => None,
    }
    .filter(|s| !s.is_empty());
    let fields = RailFields {
        name: Some(form.name),
        source,
        ..RailFields::default()
    };
    let now = crate::clock::now();
    audited(&state.db, &admin.viewer.actor(), "rail.create", move |tx| {
        let id = rails::create(tx, kind, &fields, now)?;
        Ok((
            id,
            id.to_string(),
            serde_json::json!({"kind": kind, "name": fields.name}),
        ))
    })
    .await?;
    Ok(super::saved("/admin/rails", Saved::RailAdded))
}

#[derive(Deserialize)]
struct RailForm {
    name: String,
    #[serde(default)]
    max_items: String,
}

#[post("/admin/rails/{id}")]
pub async fn save(
    state: web::Data<AppState>,
    admin: Admin<perm::CatalogWrite>,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let form: RailForm = admin.viewer.form()?;
    let id = id.into_inner();
    let max_items = match form.max_items.trim() {
        "" => None,
        n => Some(
            n.parse()
                .map_err(|_| PageError::BadRequest(format!("{n:?} is not a number")))?,
        ),
    };
    audited(&state.db, &admin.viewer.actor(), "rail.update", move |tx| {
        let fields = RailFields {
            name: Some(form.name),
            max_items,
            ..RailFields::default()
        };
        rails::update(tx, id, &fields, crate::clock::now())?;
        Ok(((), id.to_string(), serde_json::json!({"name": fields.name})))
    })
    .await?;
    Ok(super::saved("/admin/rails", Saved::RailSaved))
}

/// One step on a hand-picked list: `action` is add, remove, up or down.
#[derive(Deserialize)]
struct PickForm {
    action: String,
    title: String,
}

fn pick_edit(form: PickForm) -> Result<PickEdit, PageError> {
    PickEdit::from_form(&form.action, form.title).map_err(|e| PageError::BadRequest(e.to_string()))
}

#[post("/admin/rails/{id}/items")]
pub async fn edit_rail_items(
    state: web::Data<AppState>,
    admin: Admin<perm::CatalogWrite>,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let edit = pick_edit(admin.viewer.form()?)?;
    let id = id.into_inner();
    audited(&state.db, &admin.viewer.actor(), "rail.update", move |tx| {
        let mut ids: Vec<String> = rails::items(tx, id)?.into_iter().map(|t| t.id).collect();
        edit.apply(&mut ids)?;
        let fields = RailFields {
            titles: Some(ids),
            ..RailFields::default()
        };
        rails::update(tx, id, &fields, crate::clock::now())?;
        Ok((
            (),
            id.to_string(),
            serde_json::json!({"titles": fields.titles}),
        ))
    })
    .await?;
    Ok(super::saved(
        &format!("/admin/rails#rail-{id}"),
        Saved::RailItems,
    ))
}

#[derive(Deserialize)]
struct MoveForm {
    by: i64,
}

#[post("/admin/rails/{id}/move")]
pub async fn shift(
    state: web::Data<AppState>,
    admin: Admin<perm::CatalogWrite>,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let form: MoveForm = admin.viewer.form()?;
    let id = id.into_inner();
    let by = form.by.signum();
    audited(&state.db, &admin.viewer.actor(), "rail.move", move |tx| {
        rails::shift(tx, id, by)?;
        Ok(((), id.to_string(), serde_json::json!({"by": by})))
    })
    .await?;
    Ok(super::saved("/admin/rails", Saved::RailMoved))
}

#[post("/admin/rails/{id}/delete")]
pub async fn remove(
    state: web::Data<AppState>,
    admin: Admin<perm::CatalogWrite>,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    audited(&state.db, &admin.viewer.actor(), "rail.delete", move |tx| {
        let rail = rails::delete(tx, id)?;
        Ok(((), id.to_string(), serde_json::json!({"name": rail.name})))
    })
    .await?;
    Ok(super::saved("/admin/rails", Saved::RailRemoved))
}

#[derive(Deserialize)]
struct NewCollectionForm {
    name: String,
}

#[post("/admin/collections")]
pub async fn create_collection(
    state: web::Data<AppState>,
    admin: Admin<perm::CatalogWrite>,
) -> Result<HttpResponse, PageError> {
    let form: NewCollectionForm = admin.viewer.form()?;
    let id = titles::new_title_id();
    let fields = CollectionFields {
        name: Some(form.name),
        ..CollectionFields::default()
    };
    state
        .titles
        .create_collection(
            &admin.viewer.actor(),
            admin.viewer.user().role.may(Permission::BillingWrite),
            id.clone(),
            fields,
        )
        .await?;
    Ok(super::saved(
        &format!("/admin/collections/{id}"),
        Saved::CollectionCreated,
    ))
}

#[get("/admin/collections/{id}")]
pub async fn collection(
    state: web::Data<AppState>,
    admin: Admin<perm::CatalogRead>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let now = crate::clock::now();
    let found = state
        .db
        .read(move |c| {
            let Some(col) = collections::find(c, &id)? else {
                return Ok::<_, CatalogError>(None);
            };
            let items = collections::items(c, &col.id)?;
            Ok(Some((col, items, every_title(c)?)))
        })
        .await?;
    let Some((col, items, all)) = found else {
        return Err(PageError::NotFound("no such collection".into()));
    };
    let col_id = col.id.clone();
    let priced = state
        .db
        .read(move |c| crate::access::store::collection_has_level(c, &col_id))
        .await?;
    let item_ids: Vec<String> = items.iter().map(|t| t.id.clone()).collect();
    let catalog = choices(&all, &item_ids, now);
    let items = choices(&items, &[], now);
    let role = admin.viewer.user().role;
    let can_write = role.may(Permission::CatalogWrite);
    // The titles of a collection with a level (public too) are billing's: editors may
    // reorder and rename only.
    let can_pick = can_write && (!priced || role.may(Permission::BillingWrite));
    render(
        &state,
        &admin.viewer,
        "/admin/rails",
        "admin/collection.html",
        StatusCode::OK,
        minijinja::context! {
            c => minijinja::Value::from(minijinja::value::Serde(&col)),
            items => minijinja::Value::from(minijinja::value::Serde(&items)),
            catalog => minijinja::Value::from(minijinja::value::Serde(&catalog)), can_write,
            can_pick, priced,
        },
    )
}

#[derive(Deserialize)]
struct CollectionForm {
    name: String,
    #[serde(default)]
    description: String,
}

#[post("/admin/collections/{id}")]
pub async fn save_collection(
    state: web::Data<AppState>,
    admin: Admin<perm::CatalogWrite>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let form: CollectionForm = admin.viewer.form()?;
    let fields = CollectionFields {
        name: Some(form.name),
        description: Some(form.description),
        titles: None,
    };
    let id = id.into_inner();
    let detail = serde_json::json!({"name": fields.name});
    state
        .titles
        .update_collection(
            &admin.viewer.actor(),
            admin.viewer.user().role.may(Permission::BillingWrite),
            id.clone(),
            fields,
            detail,
        )
        .await?;
    Ok(super::saved(
        &format!("/admin/collections/{id}"),
        Saved::CollectionSaved,
    ))
}

#[post("/admin/collections/{id}/items")]
pub async fn edit_collection_items(
    state: web::Data<AppState>,
    admin: Admin<perm::CatalogWrite>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let edit = pick_edit(admin.viewer.form()?)?;
    let id = id.into_inner();
    let target = id.clone();
    let may_set_access = admin.viewer.user().role.may(Permission::BillingWrite);
    state
        .titles
        .collection_change(
            &admin.viewer.actor(),
            may_set_access,
            "collection.update",
            move |tx| {
                // By its id: the address may name it by slug.
                let id = collections::find(tx, &target)?
                    .ok_or_else(|| CatalogError::Invalid(format!("no collection {target}")))?
                    .id;
                let mut ids: Vec<String> = collections::items(tx, &id)?
                    .into_iter()
                    .map(|t| t.id)
                    .collect();
                edit.apply(&mut ids)?;
                let fields = CollectionFields {
                    titles: Some(ids),
                    ..CollectionFields::default()
                };
                collections::update(tx, &id, &fields, crate::clock::now())?;
                Ok(((), id, serde_json::json!({"titles": fields.titles})))
            },
        )
        .await?;
    Ok(super::saved(
        &format!("/admin/collections/{id}"),
        Saved::CollectionItems,
    ))
}

#[post("/admin/collections/{id}/delete")]
pub async fn delete_collection(
    state: web::Data<AppState>,
    admin: Admin<perm::CatalogWrite>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    state
        .titles
        .delete_collection(
            &admin.viewer.actor(),
            admin.viewer.user().role.may(Permission::BillingWrite),
            id.into_inner(),
        )
        .await?;
    Ok(super::saved("/admin/rails", Saved::CollectionDeleted))
}
