//! Which artwork a title has: one record per kind pointing at the resized files `images`
//! wrote. Viewer pages prefer it to a frame of the video.

use rusqlite::{Connection, params};
use serde::Serialize;

use super::CatalogError;
use crate::images::{ArtKind, Stored, file_name};

/// One piece of artwork as pages use it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Art {
    pub kind: ArtKind,
    pub key: String,
    pub widths: Vec<u32>,
}

impl Art {
    /// The public path of one width (`/img/<key>/<width>.jpg`).
    pub fn url(&self, width: u32) -> String {
        format!("/img/{}/{}", self.key, file_name(self.kind, width))
    }

    /// The largest width at most `want` (or the smallest there is).
    pub fn best(&self, want: u32) -> String {
        let width = self
            .widths
            .iter()
            .copied()
            .filter(|w| *w <= want)
            .max()
            .or_else(|| self.widths.first().copied())
            .unwrap_or(want);
        self.url(width)
    }

    /// `srcset` for an `<img>`: every width.
    pub fn srcset(&self) -> String {
        self.widths
            .iter()
            .map(|w| format!("{} {w}w", self.url(*w)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub fn set(
    tx: &Connection,
    title_id: &str,
    kind: ArtKind,
    stored: &Stored,
    now: i64,
) -> Result<(), CatalogError> {
    super::titles::get(tx, title_id)?;
    let widths = stored
        .widths
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    tx.execute(
        "INSERT INTO artwork (title_id, kind, key, widths, width, height, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (title_id, kind) DO UPDATE SET key = excluded.key, widths = excluded.widths,
             width = excluded.width, height = excluded.height, updated_at = excluded.updated_at",
        params![
            title_id,
            kind.as_str(),
            stored.key,
            widths,
            stored.width,
            stored.height,
            now
        ],
    )?;
    Ok(())
}

pub fn remove(tx: &Connection, title_id: &str, kind: ArtKind) -> Result<bool, CatalogError> {
    Ok(tx.execute(
        "DELETE FROM artwork WHERE title_id = ?1 AND kind = ?2",
        params![title_id, kind.as_str()],
    )? == 1)
}

pub fn of(conn: &Connection, title_id: &str) -> Result<Vec<Art>, CatalogError> {
    let mut stmt = conn.prepare_cached(
        "SELECT kind, key, widths FROM artwork WHERE title_id = ?1 ORDER BY kind",
    )?;
    let rows = stmt.query_map([title_id], |r| {
        let kind: String = r.get(0)?;
        let widths: String = r.get(2)?;
        Ok((kind, r.get::<_, String>(1)?, widths))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (kind, key, widths) = row?;
        let Some(kind) = ArtKind::parse(&kind) else {
            continue;
        };
        out.push(Art {
            kind,
            key,
            widths: widths.split(',').filter_map(|w| w.parse().ok()).collect(),
        });
    }
    Ok(out)
}

/// Every image key some title's artwork uses.
pub fn keys(conn: &Connection) -> Result<std::collections::HashSet<String>, CatalogError> {
    let mut stmt = conn.prepare("SELECT DISTINCT key FROM artwork")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
