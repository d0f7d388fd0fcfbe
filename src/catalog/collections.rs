//! Collections: hand-picked, ordered sets of titles ("Festival winners") that viewers
//! browse at `/collection/<slug>` and rails can draw from.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::titles::{self, Title};
use super::{CatalogError, visibility};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Collection {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub description: String,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectionFields {
    pub name: Option<String>,
    pub description: Option<String>,
    /// The titles in order (movies and series).
    pub titles: Option<Vec<String>>,
}

const MAX_TITLES: usize = 500;

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Collection> {
    Ok(Collection {
        id: row.get(0)?,
        name: row.get(1)?,
        slug: row.get(2)?,
        description: row.get(3)?,
    })
}

pub fn list(conn: &Connection) -> Result<Vec<Collection>, CatalogError> {
    let mut stmt =
        conn.prepare("SELECT id, name, slug, description FROM collections ORDER BY name")?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn find(conn: &Connection, id_or_slug: &str) -> Result<Option<Collection>, CatalogError> {
    Ok(conn
        .query_row(
            "SELECT id, name, slug, description FROM collections WHERE id = ?1 OR slug = ?1",
            [id_or_slug],
            from_row,
        )
        .optional()?)
}

fn check(conn: &Connection, f: &CollectionFields) -> Result<(), CatalogError> {
    if let Some(name) = &f.name
        && (titles::slug(name).is_empty()
            || name.chars().count() > 100
            || name.chars().any(char::is_control))
    {
        return Err(CatalogError::Invalid(
            "a collection's name is 1 to 100 characters with a letter or digit".into(),
        ));
    }
    if f.description.as_ref().is_some_and(|d| d.len() > 2000) {
        return Err(CatalogError::Invalid(
            "the description is at most 2000 characters".into(),
        ));
    }
    if let Some(ids) = &f.titles {
        if ids.len() > MAX_TITLES {
            return Err(CatalogError::Invalid(format!(
                "at most {MAX_TITLES} titles"
            )));
        }
        for id in ids {
            if titles::get(conn, id)?.parent_id.is_some() {
                return Err(CatalogError::Invalid(
                    "collections hold movies and series".into(),
                ));
            }
        }
    }
    Ok(())
}

pub fn create(
    tx: &Connection,
    id: &str,
    fields: &CollectionFields,
    now: i64,
) -> Result<(), CatalogError> {
    check(tx, fields)?;
    let name = fields
        .name
        .as_deref()
        .map(str::trim)
        .ok_or_else(|| CatalogError::Invalid("a collection needs a name".into()))?;
    let slug = free_slug(tx, &titles::slug(name), None)?;
    tx.execute(
        "INSERT INTO collections (id, name, slug, description, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![
            id,
            name,
            slug,
            fields.description.as_deref().unwrap_or(""),
            now
        ],
    )?;
    if let Some(ids) = &fields.titles {
        set_items(tx, id, ids)?;
    }
    Ok(())
}

fn free_slug(tx: &Connection, base: &str, own: Option<&str>) -> Result<String, CatalogError> {
    let mut slug = base.to_string();
    for n in 2.. {
        let taken: Option<String> = tx
            .query_row("SELECT id FROM collections WHERE slug = ?1", [&slug], |r| {
                r.get(0)
            })
            .optional()?;
        match taken {
            Some(id) if Some(id.as_str()) != own => slug = format!("{base}-{n}"),
            _ => break,
        }
    }
    Ok(slug)
}

pub fn update(
    tx: &Connection,
    id: &str,
    fields: &CollectionFields,
    now: i64,
) -> Result<(), CatalogError> {
    check(tx, fields)?;
    let current =
        find(tx, id)?.ok_or_else(|| CatalogError::Invalid(format!("no collection {id}")))?;
    let slug = match &fields.name {
        Some(name) => free_slug(tx, &titles::slug(name), Some(&current.id))?,
        None => current.slug,
    };
    tx.execute(
        "UPDATE collections SET name = coalesce(?2, name), slug = ?3,
                description = coalesce(?4, description), updated_at = ?5 WHERE id = ?1",
        params![
            current.id,
            fields.name.as_deref().map(str::trim),
            slug,
            fields.description,
            now
        ],
    )?;
    if let Some(ids) = &fields.titles {
        set_items(tx, &current.id, ids)?;
    }
    Ok(())
}

fn set_items(tx: &Connection, id: &str, ids: &[String]) -> Result<(), CatalogError> {
    tx.execute(
        "DELETE FROM collection_items WHERE collection_id = ?1",
        [id],
    )?;
    for (position, title) in ids.iter().enumerate() {
        tx.execute(
            "INSERT OR IGNORE INTO collection_items (collection_id, title_id, position) VALUES (?1, ?2, ?3)",
            params![id, title, position as i64],
        )?;
    }
    Ok(())
}

pub fn delete(tx: &Connection, id: &str) -> Result<(), CatalogError> {
    if tx.execute("DELETE FROM collections WHERE id = ?1", [id])? == 0 {
        return Err(CatalogError::Invalid(format!("no collection {id}")));
    }
    // Rails drawing from it would show nothing; they go with it.
    tx.execute(
        "DELETE FROM rails WHERE kind = 'collection' AND source = ?1",
        [id],
    )?;
    Ok(())
}

/// Every title in the collection, in order (for editors).
pub fn items(conn: &Connection, id: &str) -> Result<Vec<Title>, CatalogError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {} FROM collection_items ci JOIN titles t ON t.id = ci.title_id
         WHERE ci.collection_id = ?1 ORDER BY ci.position",
        titles::COLUMNS
    ))?;
    let rows = stmt.query_map([id], titles::from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The live titles of a collection, in order (for viewers).
pub fn live_items(conn: &Connection, id: &str, now: i64) -> Result<Vec<Title>, CatalogError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {} FROM collection_items ci JOIN titles t ON t.id = ci.title_id
         WHERE ci.collection_id = ?2 AND {} ORDER BY ci.position",
        titles::COLUMNS,
        visibility::live_sql(1)
    ))?;
    let rows = stmt.query_map(params![now, id], titles::from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}
